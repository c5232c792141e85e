//! The admin commands: `horae task|schedule|job|node ...`, run against the configured store
//! directly (no daemon needed).
//!
//! Each command opens the store named by `--store`, `HORAE_STORE_URL` or the config file
//! (default `sqlite://horae.db`) and builds a scheduler over it that is never started, so
//! fire times are computed and events published (through the configured broker, when it
//! is reachable) exactly as by the library. Output is an aligned table or `key: value`
//! lines; `--json` prints the model's JSON (its field names: `id`, `task_id`, `paused`,
//! `next_fire_time`, ...). Like the daemon, they create a missing SQLite file or database
//! and bring its schema up to date.
//!
//! Exit status: 0 on success; 2 for usage errors (bad flags, JSON, durations, triggers or
//! ids, a memory store); 1 for run-time errors, which include an unknown task, schedule or
//! job id, an id that already exists, a store that cannot be reached, and `job result` of a
//! job that did not succeed.

pub(crate) mod job;
pub(crate) mod node;
pub(crate) mod schedule;
mod show;
pub(crate) mod task;

use std::time::Duration;

use clap::Args;
use horae::error::StoreError;
use horae::scheduler::{Scheduler, SchedulerConfig};

use crate::Failure;
use crate::backend::{Backend, connect_broker, open_store};
use crate::config::{Settings, is_memory_url};

/// How long an admin command tries to reach a networked broker before it goes on without
/// one (its events then reach other nodes only through their polling).
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);

/// The flags every admin command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct AdminArgs {
    /// The store to work on (overrides the config file and HORAE_STORE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) store: Option<String>,
    /// Print JSON (the model's field names) instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// An open store with a scheduler over it that is never started.
pub(crate) struct Admin {
    pub(crate) scheduler: Scheduler,
    backend: Backend,
    pub(crate) json: bool,
}

impl Admin {
    /// Opens the configured store and broker.
    ///
    /// # Errors
    ///
    /// [`Failure::Usage`] for a memory store or a malformed URL; [`Failure::Runtime`] when
    /// the store cannot be opened.
    pub(crate) async fn open(settings: &Settings, json: bool) -> Result<Admin, Failure> {
        if is_memory_url(&settings.store.url) {
            return Err(Failure::Usage(
                "store.url: the memory store keeps nothing between commands; the admin commands need an sqlite:, postgres:// or mysql:// store".to_owned(),
            ));
        }
        let warn = |message: &str| eprintln!("warning: {message}");
        let (store, sql, store_shown) = open_store(&settings.store, &warn).await?;
        let broker = match connect_broker(&settings.broker_url, BROKER_TIMEOUT, &|_| {}).await {
            Ok(broker) => broker,
            Err(Failure::Usage(message)) => return Err(Failure::Usage(message)),
            Err(Failure::Runtime(error)) => {
                eprintln!(
                    "warning: {error:#}; going on without the broker (nodes notice changes when they poll)"
                );
                std::sync::Arc::new(horae::broker::LocalBroker::new())
            }
        };
        let scheduler = Scheduler::builder()
            .store(store.clone())
            .broker(broker.clone())
            .config(SchedulerConfig {
                node_id: format!("horae-cli-{}", std::process::id()),
                poll_interval: Duration::from_millis(200),
                ..SchedulerConfig::default()
            })
            .build()
            .map_err(|e| Failure::Runtime(e.into()))?;
        Ok(Admin {
            scheduler,
            backend: Backend::new(store, sql, broker, store_shown),
            json,
        })
    }

    /// Closes the store.
    pub(crate) async fn close(self) {
        self.backend.close().await;
    }
}

/// Runs an admin command on a fresh single-threaded runtime.
pub(crate) fn block_on<F: std::future::Future<Output = Result<(), Failure>>>(
    future: F,
) -> Result<(), Failure> {
    crate::logging::init("warn")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    runtime.block_on(future)
}

/// The exit status a library error calls for: 2 for invalid input, 1 otherwise (including
/// unknown and duplicate ids).
pub(crate) fn failure(error: horae::Error) -> Failure {
    match error {
        horae::Error::Validation(_) | horae::Error::Trigger(_) | horae::Error::Duration(_) => {
            Failure::Usage(error.to_string())
        }
        horae::Error::Store(StoreError::Invalid(message)) => Failure::Usage(message),
        other => Failure::Runtime(other.into()),
    }
}

/// A store error as a failure (see [`failure`]).
pub(crate) fn store_failure(error: StoreError) -> Failure {
    failure(error.into())
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Runtime(e.into()))?;
    println!("{text}");
    Ok(())
}
