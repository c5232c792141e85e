//! `horae bench daemon`: the daemon's overhead over the library.
//!
//! A node is started in this process the way `horae run` starts one
//! ([`run::start_node`]): its settings come from config text through the config parser
//! (`[node] max_concurrent_jobs` from `--concurrency`, `[http] bind = "127.0.0.1:0"`), the
//! scheduler gets the daemon's command and HTTP executors, the metrics recorder is
//! installed and the HTTP API of `horae_server` serves on a free loopback port. Only the
//! store is the benchmark's (opened as for `jobs`, see [`Stores`]), with the daemon's
//! broker (`local`).
//!
//! The task (`bench-daemon`, unlimited `max_running_jobs` unless `--max-running-jobs`
//! says otherwise) is either
//! - `noop`: an async Rust handler returning null, configured on the node — what the HTTP
//!   API and the engine cost per job; or
//! - `command`: a `[[task]]` of the config running `true` through the daemon's command
//!   executor — what spawning a process costs on top.
//!
//! `--clients` K tasks, each with its own keep-alive HTTP client, then `POST
//! /api/v1/jobs` the N jobs between them as fast as the node answers (201 expected), while
//! the node runs them. Completions are counted from the node's `job_released` events.
//!
//! Figures: `add_jobs_per_s` (N over the time from the first POST to the last answer),
//! `jobs_per_s` (jobs that succeeded over `run_s`, the time from the first POST to the
//! last release), `http_p50_ms` / `http_p99_ms` / `http_max_ms` (POST latency). Unlike
//! `jobs`, which adds every job before the node starts, the jobs run while they are being
//! posted; `jobs_per_s` is the end-to-end throughput of a client feeding the daemon.
//! `peak_rss_mib` is this process's: node and clients together, not the commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use horae::event::{Event, EventKind};
use horae::model::{ExecutorKind, Task, TaskId};
use horae::scheduler::handler::Handler;
use horae::store::DataStore;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{BenchArgs, Stores, max_running_jobs, percentile, runtime_error};
use crate::Failure;
use crate::backend::{self, Backend};
use crate::commands::run::{self, Node};
use crate::config::Settings;
use crate::executor;

/// The id of the benchmark's task.
const TASK_ID: &str = "bench-daemon";

/// What the `daemon` workload's task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum TaskKind {
    /// An async Rust handler returning null.
    Noop,
    /// The command executor running `true`.
    Command,
}

impl TaskKind {
    /// The JSON `task_kind` value.
    fn name(self) -> &'static str {
        match self {
            TaskKind::Noop => "noop",
            TaskKind::Command => "command",
        }
    }
}

/// Runs the `daemon` workload on the first of `stores`.
pub(super) async fn bench_daemon(args: &BenchArgs, stores: &Stores) -> Result<Value, Failure> {
    // The node logs to stderr as under `horae run`, warnings only unless HORAE_LOG says more.
    crate::logging::init("warn")?;
    executor::http::install_crypto_provider();
    let settings = settings(args)?;
    let store = stores
        .nodes
        .first()
        .cloned()
        .ok_or_else(|| Failure::Runtime(anyhow::anyhow!("no store to run on")))?;
    let warn = |message: &str| tracing::warn!("{message}");
    let broker =
        backend::connect_broker(&settings.broker_url, settings.store.connect_timeout, &warn)
            .await?;
    // The pools are the benchmark's to close (and drop the tables of): none here.
    let backend = Backend::new(store, None, broker, args.store.clone());
    let node = run::start_node(&settings, backend).await?;
    let out = drive(args, &node).await;
    node.stop().await;
    out
}

/// The node's settings, through the config parser as `horae run` reads them: one node
/// running `--concurrency` jobs at once, HTTP on a free loopback port, and for `command`
/// the task.
fn settings(args: &BenchArgs) -> Result<Settings, Failure> {
    let mut text = format!(
        "[node]\nid = \"bench-1\"\nmax_concurrent_jobs = {}\n\n[http]\nbind = \"127.0.0.1:0\"\n",
        args.concurrency
    );
    if args.task == TaskKind::Command {
        let max = max_running_jobs(args)
            .map_or_else(|| "\"unlimited\"".to_owned(), |max| max.to_string());
        text += &format!(
            "\n[[task]]\nid = \"{TASK_ID}\"\ncommand = [\"true\"]\nmax_running_jobs = {max}\n"
        );
    }
    let invalid = |error: crate::config::ConfigError| {
        Failure::Runtime(anyhow::anyhow!("the benchmark's node config: {error}"))
    };
    let settings =
        Settings::parse(&text, "bench daemon config", jiff::Timestamp::now()).map_err(invalid)?;
    settings.check().map_err(invalid)?;
    Ok(settings)
}

/// Completions counted from the `job_released` events of the task.
#[derive(Default)]
struct Released {
    /// Attempts released, whatever their outcome.
    all: AtomicU64,
    /// Of which succeeded.
    succeeded: AtomicU64,
    /// Events the subscription skipped because it fell behind.
    missed: AtomicU64,
}

/// Posts the jobs, waits for the node to run them and measures.
async fn drive(args: &BenchArgs, node: &Node) -> Result<Value, Failure> {
    let scheduler = node.scheduler();
    let task_id = TaskId::new(TASK_ID).map_err(runtime_error)?;
    if args.task == TaskKind::Noop {
        let mut task = Task::new(task_id.clone(), ExecutorKind::Async);
        task.max_running_jobs = max_running_jobs(args);
        scheduler
            .configure_task(task, Handler::from_async(|_| async { Ok(Value::Null) }))
            .await
            .map_err(runtime_error)?;
    }
    // As stored, so the line shows the cap the node applies (the config's for `command`).
    let task = scheduler
        .store()
        .get_task(&task_id)
        .await
        .map_err(runtime_error)?
        .ok_or_else(|| Failure::Runtime(anyhow::anyhow!("task {TASK_ID} was not stored")))?;
    let addr = node
        .http_addr()
        .ok_or_else(|| Failure::Runtime(anyhow::anyhow!("the node serves no HTTP")))?;
    let url = format!("http://{addr}/api/v1/jobs");
    let body = json!({
        "task_id": TASK_ID,
        "args": [],
        "result_expiration_time": args.result_expiration,
    })
    .to_string();

    let released = Arc::new(Released::default());
    let mut events = scheduler.subscribe_to(&[EventKind::JobReleased]);
    let counting = {
        let (released, task_id, jobs) = (released.clone(), task_id.clone(), args.jobs);
        tokio::spawn(async move {
            while released.all.load(Ordering::Relaxed) < jobs {
                let Some(event) = events.recv().await else {
                    break;
                };
                released.missed.store(events.missed(), Ordering::Relaxed);
                if let Event::JobReleased {
                    task_id: id,
                    outcome,
                    ..
                } = &*event
                    && *id == task_id
                {
                    if outcome.is_success() {
                        released.succeeded.fetch_add(1, Ordering::Relaxed);
                    }
                    released.all.fetch_add(1, Ordering::Relaxed);
                }
            }
            Instant::now()
        })
    };

    let posted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut posting = tokio::spawn(post_all(args.clients, url, body, args.jobs, posted.clone()));
    let mut counting = counting;
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    // (latencies and last answer, last release); `None`s when timed out.
    let waited = async {
        let mut answered: Option<(Vec<f64>, Instant)> = None;
        let mut finished: Option<Instant> = None;
        while answered.is_none() || finished.is_none() {
            tokio::select! {
                done = &mut counting, if finished.is_none() => {
                    finished = Some(done.map_err(runtime_error)?);
                }
                done = &mut posting, if answered.is_none() => {
                    answered = Some(done.map_err(runtime_error)??);
                }
                _ = tick.tick() => {
                    if !args.json {
                        eprintln!(
                            "daemon: {}/{} posted, {} run after {:.1} s",
                            posted.load(Ordering::Relaxed),
                            args.jobs,
                            released.all.load(Ordering::Relaxed),
                            started.elapsed().as_secs_f64(),
                        );
                    }
                    if started.elapsed() > timeout {
                        break;
                    }
                    // Events are best effort: had some been skipped, the store tells when
                    // every job is done.
                    if answered.is_some()
                        && released.missed.load(Ordering::Relaxed) > 0
                        && remaining(scheduler.store()).await? == 0
                    {
                        finished = Some(Instant::now());
                    }
                }
            }
        }
        Ok::<_, Failure>((answered, finished))
    }
    .await;
    counting.abort();
    posting.abort();
    let (Some((mut latencies, answered)), finished) = waited? else {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "timed out after {:.0} s with {} of {} jobs posted",
            started.elapsed().as_secs_f64(),
            posted.load(Ordering::Relaxed),
            args.jobs
        )));
    };
    // Timed out with jobs left: the figures so far.
    let finished = finished.unwrap_or_else(Instant::now);
    let missed = released.missed.load(Ordering::Relaxed);
    let mut completed = released.succeeded.load(Ordering::Relaxed);
    let all = released.all.load(Ordering::Relaxed);
    if missed > 0 {
        // Skipped events hide outcomes: count the jobs that left the store instead.
        eprintln!("warning: {missed} events skipped; completions counted from the store");
        completed = args
            .jobs
            .saturating_sub(remaining(scheduler.store()).await?);
    }
    let run_s = finished.duration_since(started).as_secs_f64();
    let add_s = answered.duration_since(started).as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let ms = |p: f64| percentile(&latencies, p) * 1000.0;
    Ok(json!({
        "workload": "daemon", "jobs": args.jobs, "completed": completed,
        "failed": all.saturating_sub(released.succeeded.load(Ordering::Relaxed)),
        "result_expiration_s": args.result_expiration,
        "add_jobs_per_s": args.jobs as f64 / add_s, "jobs_per_s": completed as f64 / run_s, "run_s": run_s,
        "http_p50_ms": ms(50.0), "http_p99_ms": ms(99.0), "http_max_ms": ms(100.0),
        "clients": args.clients, "task_kind": args.task.name(), "concurrency": args.concurrency,
        "max_running_jobs": task.max_running_jobs, "events_missed": missed,
    }))
}

/// Jobs still in the store.
async fn remaining(store: &Arc<dyn DataStore>) -> Result<u64, Failure> {
    Ok(store.get_jobs().await.map_err(runtime_error)?.len() as u64)
}

/// `clients` clients post `jobs` jobs between them; the latencies of every POST (seconds)
/// and when the last was answered. A POST that fails or is not answered 201 fails all.
async fn post_all(
    clients: usize,
    url: String,
    body: String,
    jobs: u64,
    posted: Arc<AtomicU64>,
) -> Result<(Vec<f64>, Instant), Failure> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        // Its own client, hence its own keep-alive connection: K clients, K connections.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .build()
            .map_err(runtime_error)?;
        let (url, body, next, posted) = (url.clone(), body.clone(), next.clone(), posted.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < jobs {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(runtime_error)?;
                let status = response.status();
                let text = response.bytes().await.map_err(runtime_error)?;
                if status != StatusCode::CREATED {
                    return Err(Failure::Runtime(anyhow::anyhow!(
                        "POST {url}: {status}: {}",
                        String::from_utf8_lossy(&text)
                    )));
                }
                latencies.push(sent.elapsed().as_secs_f64());
                posted.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Failure>(latencies)
        });
    }
    let mut all = Vec::with_capacity(usize::try_from(jobs).unwrap_or(0));
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.map_err(runtime_error)??);
    }
    Ok((all, Instant::now()))
}
