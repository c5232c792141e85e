//! `horae run`: runs a node — the scheduler and workers over the configured store and
//! broker, the command and HTTP executors, and the HTTP API and dashboard.
//!
//! Start-up: read and check the configuration (exit 2 on any error); open the store,
//! waiting with backoff while its server is unreachable (up to `store.connect_timeout`,
//! then exit 1); connect the broker likewise; reconcile the tasks and schedules the config
//! declares (see [`crate::reconcile`]); bind the HTTP address (exit 1 if taken); start.
//! Standard output then shows one line naming the node and one with the dashboard's URL.
//!
//! SIGINT or SIGTERM stops the node gracefully: no new work is taken, running jobs get
//! `node.stop_grace_period` to finish (then they are cancelled and their processes
//! killed), leases are released, and the process exits with status 0. A second signal, a
//! second or more after the first, stops at once (exit 1).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use horae::scheduler::{Scheduler, SchedulerConfig};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Failure;
use crate::backend::{self, Backend};
use crate::config::{HttpSettings, Settings};
use crate::executor;
use crate::reconcile::reconcile;

/// A signal repeated within this time of the first is not a request to stop at once.
const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// How long a stopping node waits for HTTP requests under way (a long poll, say).
const HTTP_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// `horae run` arguments (the config file is the global `--config`).
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Check the configuration (file and environment) and exit: status 0 and a summary when
    /// it is valid, 2 and the error otherwise. Nothing is opened or started.
    #[arg(long)]
    check: bool,
}

/// Runs `horae run` with the resolved settings.
pub(crate) fn run(args: RunArgs, settings: Settings) -> Result<(), Failure> {
    if args.check {
        println!(
            "{}: ok ({} tasks, {} schedules; store {}, broker {}, http {})",
            settings
                .source
                .as_ref()
                .map_or_else(|| "defaults".to_owned(), |p| p.display().to_string()),
            settings.tasks.len(),
            settings.schedules.len(),
            redact(&settings.store.url),
            redact(&settings.broker_url),
            settings.http.bind,
        );
        return Ok(());
    }
    crate::logging::init("info")?;
    executor::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let result = runtime.block_on(daemon(settings));
    // Whatever is still running (after a forced stop) is dropped: commands are killed.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    horae_sql::StoreUrl::parse(url).map_or_else(|_| url.to_owned(), |u| u.redacted())
}

/// Runs the node until a signal stops it.
async fn daemon(settings: Settings) -> Result<(), Failure> {
    let mut signals = Signals::new()?;
    let node = tokio::select! {
        node = start(&settings) => node?,
        name = signals.next() => {
            tracing::info!("{name} received during start-up; exiting");
            return Ok(());
        }
    };
    let name = signals.next().await;
    tracing::info!(
        "{name} received: stopping (running jobs get up to {} to finish)",
        horae::duration::format_duration(settings.node.stop_grace_period)
    );
    let received = tokio::time::Instant::now();
    let stopping = node.stop();
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            () = &mut stopping => {
                tracing::info!("stopped");
                return Ok(());
            }
            again = signals.next() => {
                // Tools such as `timeout` signal the process and its group at once: a
                // repeat that close to the first is the same request.
                if received.elapsed() < REPEAT_WINDOW {
                    continue;
                }
                tracing::warn!("{again} received again: stopping at once");
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "stopped at once by a second {again}"
                )));
            }
        }
    }
}

/// A started node.
pub(crate) struct Node {
    scheduler: Scheduler,
    backend: Backend,
    http: Option<HttpServer>,
}

impl Node {
    /// The node's scheduler.
    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The address the HTTP server listens on.
    pub(crate) fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|http| http.addr)
    }

    /// Stops the scheduler gracefully, then the HTTP server, then closes the store.
    pub(crate) async fn stop(self) {
        self.scheduler.stop().await;
        if let Some(http) = self.http {
            http.stop().await;
        }
        self.backend.close().await;
    }
}

/// Opens everything, reconciles the config, starts the node and says so on standard output.
async fn start(settings: &Settings) -> Result<Node, Failure> {
    let warn = |message: &str| tracing::warn!("{message}");
    let backend = backend::open(&settings.store, &settings.broker_url, &warn).await?;
    let store_shown = backend.store_shown.clone();
    let node = start_node(settings, backend).await?;
    println!(
        "horae {} node {} ({}) running: store {}, broker {}, {} tasks and {} schedules from {}",
        env!("CARGO_PKG_VERSION"),
        settings.node.id,
        settings.node.role,
        store_shown,
        redact(&settings.broker_url),
        settings.tasks.len(),
        settings.schedules.len(),
        settings
            .source
            .as_ref()
            .map_or_else(|| "no config file".to_owned(), |p| p.display().to_string()),
    );
    if let Some(addr) = node.http_addr() {
        println!("dashboard: http://{addr}/");
    }
    Ok(node)
}

/// Starts a node on an open backend: installs the metrics recorder, builds the scheduler
/// with the command and HTTP executors, reconciles the config's tasks and schedules, binds
/// the HTTP address and starts the scheduler and the HTTP server. Prints nothing (`horae
/// bench daemon` runs a node this way too).
pub(crate) async fn start_node(settings: &Settings, backend: Backend) -> Result<Node, Failure> {
    // Before the scheduler runs, so the engine's metrics are recorded from the start.
    let metrics = match horae_server::install_metrics() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!("{error}; /metrics is disabled");
            None
        }
    };
    let handler = executor::action_handler().map_err(|e| Failure::Runtime(e.into()))?;
    let node = &settings.node;
    let scheduler = Scheduler::builder()
        .store(backend.store.clone())
        .broker(backend.broker.clone())
        .config(SchedulerConfig {
            node_id: node.id.clone(),
            role: node.role,
            lease_duration: node.lease_duration,
            max_concurrent_jobs: node.max_concurrent_jobs,
            poll_interval: node.poll_interval,
            stop_grace_period: node.stop_grace_period,
            ..SchedulerConfig::default()
        })
        .action_handler(handler)
        .build()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let report = reconcile(&scheduler, &settings.tasks, &settings.schedules)
        .await
        .map_err(|e| Failure::Runtime(anyhow::Error::new(e).context("reconciling the config")))?;
    tracing::info!(
        tasks_created = report.tasks_created,
        tasks_updated = report.tasks_updated,
        schedules_created = report.schedules_created,
        schedules_updated = report.schedules_updated,
        schedules_replaced = report.schedules_replaced,
        unchanged = report.unchanged,
        "config reconciled"
    );
    let listener = bind(&settings.http).await?;
    scheduler.start().await;
    let http = HttpServer::start(listener, &settings.http, &scheduler, metrics)?;
    Ok(Node {
        scheduler,
        backend,
        http: Some(http),
    })
}

/// Binds the HTTP address (before the node starts, so a taken port fails the start).
async fn bind(settings: &HttpSettings) -> Result<tokio::net::TcpListener, Failure> {
    horae_server::check_bind(settings.bind, settings.token.as_deref())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|error| {
            Failure::Runtime(anyhow::anyhow!(
                "cannot listen on {} (http.bind): {error}",
                settings.bind
            ))
        })
}

/// The HTTP API, events, metrics and dashboard of `horae_server`, serving in a task.
struct HttpServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    fn start(
        listener: tokio::net::TcpListener,
        settings: &HttpSettings,
        scheduler: &Scheduler,
        metrics: Option<horae_server::PrometheusHandle>,
    ) -> Result<HttpServer, Failure> {
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.into()))?;
        let mut state =
            horae_server::AppState::new(scheduler.clone()).with_token(settings.token.clone());
        if let Some(metrics) = metrics {
            state = state.with_metrics(metrics);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(horae_server::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Ok(HttpServer { addr, stop, task })
    }

    /// Stops accepting, lets requests under way finish for a while, then drops them.
    async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(HTTP_STOP_TIMEOUT, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "the HTTP server failed"),
            Ok(Err(error)) => tracing::warn!(%error, "the HTTP server task failed"),
            Err(_) => task.abort(),
        }
    }
}

/// SIGINT and SIGTERM.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> Result<Signals, Failure> {
        let listen = |kind| signal(kind).map_err(|e| Failure::Runtime(e.into()));
        Ok(Signals {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
