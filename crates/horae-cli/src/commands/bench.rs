//! `horae bench jobs|schedules|daemon|soak`: the workloads of
//! `shared/bench/apscheduler_peer.py`, with the same JSON keys, so horae and APScheduler 4
//! can be compared in one session (DESIGN.md section 8), the daemon's overhead over the
//! library, and a long soak.
//!
//! - `jobs`: N no-op jobs are added one by one, then the scheduler starts; measures how fast
//!   they are acquired, run and released, with results kept for `--result-expiration`
//!   seconds (default 1 h, as the peer; 0 stores no result rows).
//! - `schedules`: M interval schedules firing every P seconds, spread over the period, run
//!   for D seconds; measures fires per second and start lateness (start minus fire time)
//!   in the steady state: fire times due in the first period after the nodes start are
//!   warm-up (`warmup_fires`), left out of the lateness figures.
//! - `daemon`: N jobs posted over HTTP to a node started in-process as `horae run` starts
//!   one ([`daemon`]); the same figures as `jobs`, with the POST latency.
//! - `soak`: M interval schedules inserted before any fires, then run for D seconds with a
//!   sample of memory, threads, file descriptors, server connections and lateness every
//!   `--sample-every` seconds, and a verdict on whether they stayed flat ([`soak`]). A
//!   workload of its own rather than an option of `schedules`: that one is the peer's
//!   (a 2 s lead, one run of the task at a time, every lateness value kept), the soak
//!   starts only after inserting, runs its task unlimited and keeps lateness per window.
//!
//! The `jobs` and `schedules` task keeps APScheduler 4's defaults unless
//! `--max-running-jobs` says otherwise: the peer's task runs one job at a time. The
//! `daemon` and `soak` tasks are unlimited unless it says otherwise.
//!
//! With `--nodes K`, K schedulers (`bench-1` … `bench-K`) share the work as K processes
//! would: each has its own connection pool to the one database (the memory store is simply
//! shared) and its own `max_concurrent_jobs`; they share one in-process event broker,
//! standing in for the network broker a cluster would use. Jobs and schedules are added
//! once, through `bench-1`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use horae::broker::{EventBroker, LocalBroker};
use horae::model::{ConflictPolicy, ExecutorKind, Schedule, ScheduleId, Task, TaskId};
use horae::scheduler::handler::Handler;
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::{AddScheduleOutcome, DataStore, MemoryStore};
use horae::trigger::Trigger;
use horae_sql::{Dialect, OpenOptions, SqlStore, StoreUrl, TablePrefix};
use serde_json::{Value, json};

use self::daemon::TaskKind;
use super::store::{ConnectArgs, open, parse_url};
use crate::Failure;

mod daemon;
mod soak;

/// `horae bench` arguments (the peer harness's flags).
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which workload to run.
    #[arg(value_enum)]
    workload: Workload,
    /// The data store: `memory`, `sqlite` (a fresh file in the temp directory, removed
    /// afterwards), `postgres` (`HORAE_PG_URL`, default
    /// `postgres://postgres@127.0.0.1:5432/horae_bench`) or `mysql` (`HORAE_MYSQL_URL`,
    /// default `mysql://root@127.0.0.1:3306/horae_bench`) — both in tables of a fresh
    /// prefix dropped afterwards, the database created if missing — or a store URL
    /// (`sqlite:///path/bench.db`, `postgres://...`, `mysql://...`, `mariadb://...`).
    #[arg(long, default_value = "memory")]
    store: String,
    /// Jobs to run (`jobs`, `daemon`).
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Each node's max_concurrent_jobs.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Schedules to run (`schedules`, `soak`).
    #[arg(long, default_value_t = 1_000)]
    schedules: u64,
    /// Seconds between fires of each schedule (`schedules`, `soak`).
    #[arg(long, default_value_t = 1.0)]
    period: f64,
    /// Seconds to run the schedules for (`schedules`, `soak`).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds between the samples of the `soak` workload.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    sample_every: f64,
    /// Give up on the `jobs` and `daemon` workloads after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// The task's max_running_jobs; 0 = unlimited. The default for `jobs` and `schedules`
    /// is 1, APScheduler 4's task default, which the peer harness uses: one run of the task
    /// at a time; for `daemon` and `soak` it is unlimited, so `--concurrency` is the only
    /// cap.
    #[arg(long)]
    max_running_jobs: Option<u32>,
    /// Seconds each `jobs` / `daemon` job's result is kept; 0 stores no result row
    /// (APScheduler 4's job default). The default 3600 is what the peer harness asks for.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    result_expiration: u64,
    /// Nodes sharing the store (`bench-1` … `bench-K`), each with its own connection pool
    /// (SQL: up to 16 connections, 64 / K from 5 nodes on) and `--concurrency` (`jobs`,
    /// `schedules`, `soak`; `daemon` runs one node).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// HTTP clients posting the `daemon` jobs at once, each over its own keep-alive
    /// connection.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// The `daemon` task: `noop`, an async Rust handler returning null (the API and engine
    /// overhead), or `command`, the command executor running `true` (process spawning).
    #[arg(long, value_enum, default_value = "noop")]
    task: TaskKind,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print only the JSON result line (no progress, no samples on stderr).
    #[arg(long)]
    json: bool,
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// N no-op jobs.
    Jobs,
    /// M interval schedules.
    Schedules,
    /// N jobs posted to a node's HTTP API.
    Daemon,
    /// M interval schedules for a long time, sampled for leaks and drift.
    Soak,
}

/// Most nodes one run may start.
const MAX_NODES: usize = 64;

/// Most HTTP clients of the `daemon` workload.
const MAX_CLIENTS: usize = 4096;

/// What `--store` names.
enum Target {
    /// `memory`.
    Memory,
    /// `sqlite`: a fresh file in the temp directory.
    Scratch,
    /// `postgres` / `mysql`: the server from the environment, in tables of a fresh prefix.
    Server(Dialect),
    /// A store URL, used as given (default table prefix, tables kept).
    Url(StoreUrl),
}

impl Target {
    fn parse(store: &str) -> Result<Target, Failure> {
        Ok(match store {
            "memory" | "memory://" => Target::Memory,
            "sqlite" => Target::Scratch,
            "postgres" => Target::Server(Dialect::Postgres),
            "mysql" => Target::Server(Dialect::Mysql),
            url if url.contains(':') => Target::Url(parse_url("--store", url)?),
            other => {
                return Err(Failure::Usage(format!(
                    "--store {other}: use memory, sqlite, postgres, mysql or a store URL (sqlite:, postgres://, mysql://, mariadb://)"
                )));
            }
        })
    }

    /// The JSON `store` value: `memory`, `sqlite`, `postgres` or `mysql`.
    fn name(&self) -> &'static str {
        match self {
            Target::Memory => "memory",
            Target::Scratch => "sqlite",
            Target::Server(dialect) => dialect.id(),
            Target::Url(url) => url.dialect().id(),
        }
    }
}

/// The server a `postgres` / `mysql` store runs on: from the environment, or the local one.
fn server_url(dialect: Dialect) -> Result<StoreUrl, Failure> {
    let (variable, default) = match dialect {
        Dialect::Mysql => ("HORAE_MYSQL_URL", "mysql://root@127.0.0.1:3306/horae_bench"),
        Dialect::Postgres | Dialect::Sqlite => (
            "HORAE_PG_URL",
            "postgres://postgres@127.0.0.1:5432/horae_bench",
        ),
    };
    let url = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    let url = parse_url(variable, &url)?;
    if url.dialect() != dialect {
        return Err(Failure::Usage(format!(
            "{variable}: expected a {} URL, got {url}",
            dialect.name()
        )));
    }
    Ok(url)
}

pub(crate) fn run(args: BenchArgs) -> Result<(), Failure> {
    let target = Target::parse(&args.store)?;
    if args.nodes == 0 || args.nodes > MAX_NODES {
        return Err(Failure::Usage(format!(
            "--nodes must be between 1 and {MAX_NODES}"
        )));
    }
    if args.concurrency == 0
        || args.jobs == 0 && !matches!(args.workload, Workload::Schedules | Workload::Soak)
    {
        return Err(Failure::Usage(
            "--concurrency and --jobs must be at least 1".to_owned(),
        ));
    }
    if args.workload == Workload::Daemon && args.nodes != 1 {
        return Err(Failure::Usage(
            "--nodes: the daemon workload runs one node".to_owned(),
        ));
    }
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        return Err(Failure::Usage(format!(
            "--clients must be between 1 and {MAX_CLIENTS}"
        )));
    }
    if !(args.period > 0.0
        && args.period.is_finite()
        && args.duration > 0.0
        && args.duration.is_finite())
    {
        return Err(Failure::Usage(
            "--period and --duration must be positive numbers of seconds".to_owned(),
        ));
    }
    if args.workload == Workload::Soak {
        check_soak(&args)?;
    }
    let url = match &target {
        Target::Server(dialect) => Some(server_url(*dialect)?),
        Target::Url(url) => Some(url.clone()),
        Target::Memory | Target::Scratch => None,
    };
    let url = match url {
        Some(url) if args.workload == Workload::Soak => Some(soak::tagged(url)?),
        url => url,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let scratch = matches!(target, Target::Scratch).then(ScratchFile::new);
    let url = match (&scratch, url) {
        (Some(file), _) => Some(
            StoreUrl::parse(&format!("sqlite://{}", file.0.display()))
                .map_err(|e| Failure::Runtime(e.into()))?,
        ),
        (None, url) => url,
    };
    let mut out = runtime.block_on(async {
        let stores = match &url {
            None => Stores::memory(args.nodes),
            Some(url) => {
                let fresh = matches!(target, Target::Server(_));
                Stores::open(url, fresh, &args).await?
            }
        };
        let out = match args.workload {
            Workload::Daemon => daemon::bench_daemon(&args, &stores).await,
            Workload::Soak => soak::bench_soak(&args, &stores, url.as_ref()).await,
            Workload::Jobs | Workload::Schedules => bench_library(&args, &stores).await,
        };
        stores.close().await;
        out
    })?;
    drop(scratch);
    if let Value::Object(map) = &mut out {
        map.insert("system".into(), json!("horae"));
        map.insert("store".into(), json!(target.name()));
        map.insert("nodes".into(), json!(args.nodes));
        map.insert("peak_rss_mib".into(), json!(peak_rss_mib()));
    }
    if !args.json {
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Failure::Runtime(e.into()))?
        );
    }
    println!("{out}");
    Ok(())
}

/// The `soak` workload's own limits.
fn check_soak(args: &BenchArgs) -> Result<(), Failure> {
    if args.schedules == 0 || args.schedules > soak::MAX_SCHEDULES {
        return Err(Failure::Usage(format!(
            "--schedules must be between 1 and {} for the soak workload",
            soak::MAX_SCHEDULES
        )));
    }
    if !(args.sample_every > 0.0
        && args.sample_every.is_finite()
        && args.duration / args.sample_every <= soak::MAX_SAMPLES)
    {
        return Err(Failure::Usage(format!(
            "--sample-every must be a positive number of seconds, at most {} samples per run",
            soak::MAX_SAMPLES
        )));
    }
    Ok(())
}

/// Runs the `jobs` or `schedules` workload on library schedulers, one per store.
async fn bench_library(args: &BenchArgs, stores: &Stores) -> Result<Value, Failure> {
    let nodes = schedulers(args, &stores.nodes)?;
    let out = match args.workload {
        Workload::Schedules => bench_schedules(args, &nodes).await,
        Workload::Jobs | Workload::Daemon | Workload::Soak => bench_jobs(args, &nodes).await,
    };
    if out.is_err() {
        // The workload failed half-way: stop what it started before closing.
        stop_all(&nodes).await;
    }
    out
}

/// A database file in the temp directory, removed with its WAL files when dropped.
struct ScratchFile(std::path::PathBuf);

impl ScratchFile {
    fn new() -> ScratchFile {
        let name = format!("horae-bench-{}.db", uuid::Uuid::now_v7());
        ScratchFile(std::env::temp_dir().join(name))
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The nodes' stores: one per node (the same memory store, or a pool each).
struct Stores {
    nodes: Vec<Arc<dyn DataStore>>,
    /// The SQL pools, to close (and drop the tables of, with `drop_tables`) afterwards.
    pools: Vec<SqlStore>,
    drop_tables: bool,
}

impl Stores {
    fn memory(nodes: usize) -> Stores {
        let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
        Stores {
            nodes: vec![store; nodes],
            pools: Vec::new(),
            drop_tables: false,
        }
    }

    /// Opens `url` once per node (waiting for the server first); `fresh`: in tables of a
    /// new prefix, dropped by [`Stores::close`].
    async fn open(url: &StoreUrl, fresh: bool, args: &BenchArgs) -> Result<Stores, Failure> {
        let prefix = if fresh {
            let id = uuid::Uuid::now_v7().simple().to_string();
            TablePrefix::new(format!("bench{}_", &id[id.len() - 12..]))
                .map_err(|e| Failure::Runtime(e.into()))?
        } else {
            TablePrefix::default()
        };
        // SQLite has one writer anyway; servers get a pool per node, as processes would.
        let options = OpenOptions {
            prefix,
            max_connections: (url.dialect() != Dialect::Sqlite).then_some(pool_size(args.nodes)),
            connect_timeout: args.connect.connect_timeout,
        };
        let first = open(url, &options).await?.store;
        let mut stores = Stores {
            nodes: vec![first.data_store()],
            pools: vec![first],
            drop_tables: fresh,
        };
        while stores.pools.len() < args.nodes {
            match SqlStore::connect(url, &options).await {
                Ok(store) => {
                    stores.nodes.push(store.data_store());
                    stores.pools.push(store);
                }
                Err(error) => {
                    stores.close().await;
                    return Err(Failure::Runtime(error.into()));
                }
            }
        }
        Ok(stores)
    }

    /// Drops the benchmark's tables (when it made them) and closes the pools.
    async fn close(self) {
        if self.drop_tables
            && let Some(store) = self.pools.first()
            && let Err(error) = store.drop_tables().await
        {
            eprintln!("warning: could not drop the benchmark's tables: {error}");
        }
        for pool in &self.pools {
            pool.close().await;
        }
    }
}

/// Each node's pool of server connections with `nodes` nodes: 16, or 64 / K from 5 nodes
/// on (at least 2).
fn pool_size(nodes: usize) -> u32 {
    u32::try_from(64 / nodes.max(1)).unwrap_or(16).clamp(2, 16)
}

/// One scheduler per store, `bench-1` … `bench-K`, sharing one event broker.
fn schedulers(args: &BenchArgs, stores: &[Arc<dyn DataStore>]) -> Result<Vec<Scheduler>, Failure> {
    let broker: Arc<dyn EventBroker> = Arc::new(LocalBroker::new());
    stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            Scheduler::builder()
                .store(store.clone())
                .broker(broker.clone())
                .config(SchedulerConfig {
                    node_id: format!("bench-{}", i + 1),
                    max_concurrent_jobs: args.concurrency,
                    cleanup_interval: Duration::from_secs(365 * 86_400),
                    ..SchedulerConfig::default()
                })
                .build()
                .map_err(|e| Failure::Runtime(e.into()))
        })
        .collect()
}

/// The node jobs and schedules are added through.
fn entry_node(nodes: &[Scheduler]) -> Result<&Scheduler, Failure> {
    nodes
        .first()
        .ok_or_else(|| Failure::Runtime(anyhow::anyhow!("no nodes to run")))
}

/// Starts every node.
async fn start_all(nodes: &[Scheduler]) {
    for node in nodes {
        node.start().await;
    }
}

/// Stops every node, all at once.
async fn stop_all(nodes: &[Scheduler]) {
    let stopping: Vec<_> = nodes
        .iter()
        .cloned()
        .map(|node| tokio::spawn(async move { node.stop().await }))
        .collect();
    for stop in stopping {
        let _ = stop.await;
    }
}

/// The benchmark's task, with the requested `max_running_jobs`.
fn bench_task(id: &TaskId, args: &BenchArgs) -> Task {
    let mut task = Task::new(id.clone(), ExecutorKind::Async);
    task.max_running_jobs = max_running_jobs(args);
    task
}

/// The task's `max_running_jobs` (`None`: unlimited): `--max-running-jobs` (0 for
/// unlimited), by default 1 (APScheduler 4's) — unlimited for `daemon`.
fn max_running_jobs(args: &BenchArgs) -> Option<u32> {
    let default = match args.workload {
        Workload::Daemon | Workload::Soak => 0,
        Workload::Jobs | Workload::Schedules => 1,
    };
    Some(args.max_running_jobs.unwrap_or(default)).filter(|&max| max > 0)
}

/// The value at percentile `p` (0–100) of `sorted` (ascending); 0 when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = (p / 100.0 * sorted.len() as f64) as usize;
    sorted
        .get(index.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

fn runtime_error(error: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::Runtime(error.into())
}

/// ` (bench-1 510, bench-2 490)` when several nodes ran jobs; empty for one.
fn per_node(counts: &[AtomicU64]) -> String {
    if counts.len() < 2 {
        return String::new();
    }
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, count)| format!("bench-{} {}", i + 1, count.load(Ordering::Relaxed)))
        .collect();
    format!(" ({})", parts.join(", "))
}

async fn bench_jobs(args: &BenchArgs, nodes: &[Scheduler]) -> Result<Value, Failure> {
    let entry = entry_node(nodes)?;
    let done = Arc::new(AtomicU64::new(0));
    let ran: Arc<Vec<AtomicU64>> = Arc::new(nodes.iter().map(|_| AtomicU64::new(0)).collect());
    let task_id = TaskId::new("noop").map_err(runtime_error)?;
    for (i, node) in nodes.iter().enumerate() {
        let (done, ran) = (done.clone(), ran.clone());
        node.configure_task(
            bench_task(&task_id, args),
            Handler::from_async(move |_| {
                done.fetch_add(1, Ordering::Relaxed);
                if let Some(count) = ran.get(i) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                async { Ok(Value::Null) }
            }),
        )
        .await
        .map_err(runtime_error)?;
    }
    let added = Instant::now();
    let mut last_report = Instant::now();
    for n in 0..args.jobs {
        if last_report.elapsed() >= Duration::from_secs(1) && !args.json {
            eprintln!("jobs: {n}/{} added", args.jobs);
            last_report = Instant::now();
        }
        let mut job = entry.new_job(&task_id, Vec::new());
        job.result_expiration_time = Duration::from_secs(args.result_expiration);
        entry.add_job(job).await.map_err(runtime_error)?;
    }
    let add_s = added.elapsed().as_secs_f64();
    let started = Instant::now();
    start_all(nodes).await;
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    // Finished when every handler ran and every job was released from the store.
    loop {
        let ran_total = done.load(Ordering::Relaxed);
        if ran_total >= args.jobs
            && entry
                .store()
                .get_jobs()
                .await
                .map_err(runtime_error)?
                .is_empty()
        {
            break;
        }
        if started.elapsed() > timeout {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(1) && !args.json {
            eprintln!(
                "jobs: {ran_total}/{} run after {:.1} s{}",
                args.jobs,
                started.elapsed().as_secs_f64(),
                per_node(&ran)
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let run_s = started.elapsed().as_secs_f64();
    let remaining = entry.store().get_jobs().await.map_err(runtime_error)?.len() as u64;
    let completed = args
        .jobs
        .saturating_sub(remaining)
        .min(done.load(Ordering::Relaxed));
    stop_all(nodes).await;
    if nodes.len() > 1 && !args.json {
        eprintln!("jobs: {completed} completed{}", per_node(&ran));
    }
    Ok(json!({
        "workload": "jobs", "jobs": args.jobs, "completed": completed,
        "result_expiration_s": args.result_expiration,
        "add_jobs_per_s": args.jobs as f64 / add_s, "jobs_per_s": completed as f64 / run_s, "run_s": run_s,
    }))
}

async fn bench_schedules(args: &BenchArgs, nodes: &[Scheduler]) -> Result<Value, Failure> {
    let entry = entry_node(nodes)?;
    // (fire time, lateness in seconds) of every fire.
    let lateness: Arc<Mutex<Vec<(jiff::Timestamp, f64)>>> =
        Arc::new(Mutex::new(Vec::with_capacity(
            (args.schedules as f64 * args.duration / args.period * 1.1).min(5e7) as usize,
        )));
    let fired: Arc<Vec<AtomicU64>> = Arc::new(nodes.iter().map(|_| AtomicU64::new(0)).collect());
    let task_id = TaskId::new("lateness").map_err(runtime_error)?;
    for (i, node) in nodes.iter().enumerate() {
        let (record, fired) = (lateness.clone(), fired.clone());
        node.configure_task(
            bench_task(&task_id, args),
            Handler::from_async(move |ctx| {
                if let Some(fire) = ctx.job.scheduled_fire_time {
                    let late = jiff::Timestamp::now().duration_since(fire).as_secs_f64();
                    record
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((fire, late));
                }
                if let Some(count) = fired.get(i) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                async { Ok(Value::Null) }
            }),
        )
        .await
        .map_err(runtime_error)?;
    }
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let period_us = (args.period * 1e6) as i64;
    // Added several at a time: one by one, a SQL store takes longer than the 2 s lead.
    let mut adding = tokio::task::JoinSet::new();
    for i in 0..args.schedules {
        let offset =
            jiff::SignedDuration::from_micros(period_us * i as i64 / args.schedules as i64);
        let first = (start + offset)
            .round(jiff::Unit::Microsecond)
            .map_err(runtime_error)?;
        let spec =
            json!({"type": "interval", "microseconds": period_us, "start_time": first.to_string()});
        let trigger = Trigger::from_json(&spec, first).map_err(runtime_error)?;
        let id = ScheduleId::new(format!("s{i}")).map_err(runtime_error)?;
        let mut schedule = Schedule::new(id, task_id.clone(), trigger);
        schedule.job_result_expiration_time = Duration::ZERO;
        if adding.len() >= ADD_CONCURRENCY {
            join_added(&mut adding).await?;
        }
        let entry = entry.clone();
        adding.spawn(async move {
            entry
                .insert_schedule(schedule, ConflictPolicy::Replace)
                .await
        });
    }
    while !adding.is_empty() {
        join_added(&mut adding).await?;
    }
    let started = jiff::Timestamp::now();
    start_all(nodes).await;
    let total = Duration::from_secs_f64(2.0 + args.duration);
    let began = Instant::now();
    while began.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1).min(total.saturating_sub(began.elapsed()))).await;
        if !args.json {
            let fires = lateness.lock().unwrap_or_else(|p| p.into_inner()).len();
            eprintln!(
                "schedules: {fires} fires after {:.1} s{}",
                began.elapsed().as_secs_f64(),
                per_node(&fired)
            );
        }
    }
    stop_all(nodes).await;
    let fires = std::mem::take(&mut *lateness.lock().unwrap_or_else(|p| p.into_inner()));
    // Lateness is the steady state's: fire times due from one period after the nodes
    // started. The first period is warm-up: adding the schedules may outlast the 2 s lead
    // (a SQL store adds a few thousand per second), leaving a backlog to catch up.
    let fire_count = fires.len();
    let warm = started + jiff::SignedDuration::from_micros(period_us);
    let mut values: Vec<f64> = fires
        .into_iter()
        .filter_map(|(fire, late)| (fire >= warm).then_some(late))
        .collect();
    let warmup = fire_count - values.len();
    values.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&values, p);
    Ok(json!({
        "workload": "schedules", "schedules": args.schedules, "period_s": args.period, "duration_s": args.duration,
        "fires_expected": args.schedules as f64 * args.duration / args.period, "fires": fire_count,
        "fires_per_s": fire_count as f64 / args.duration, "warmup_fires": warmup,
        "lateness_p50_ms": pct(50.0) * 1000.0, "lateness_p99_ms": pct(99.0) * 1000.0,
        "lateness_max_ms": values.last().copied().unwrap_or(0.0) * 1000.0,
    }))
}

/// How many schedules the `schedules` workload adds at once.
const ADD_CONCURRENCY: usize = 16;

/// Waits for one schedule being added; its failure fails the benchmark.
async fn join_added(
    adding: &mut tokio::task::JoinSet<Result<AddScheduleOutcome, horae::Error>>,
) -> Result<(), Failure> {
    match adding.join_next().await {
        Some(Ok(Ok(_))) | None => Ok(()),
        Some(Ok(Err(error))) => Err(runtime_error(error)),
        Some(Err(error)) => Err(runtime_error(error)),
    }
}

/// The process's peak resident set size in MiB (`VmHWM`), or 0 where unavailable.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
