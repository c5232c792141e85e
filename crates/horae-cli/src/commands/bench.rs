//! `horae bench jobs|schedules`: the workloads of `shared/bench/apscheduler_peer.py`, with
//! the same JSON keys, so horae and APScheduler 4 can be compared in one session
//! (DESIGN.md section 8).
//!
//! - `jobs`: N no-op jobs are added one by one, then the scheduler starts; measures how fast
//!   they are acquired, run and released, with results kept (expiration 1 h).
//! - `schedules`: M interval schedules firing every P seconds, spread over the period, run
//!   for D seconds; measures fires per second and start lateness (start minus fire time).
//!
//! The task keeps APScheduler 4's defaults unless `--max-running-jobs` says otherwise: the
//! peer's task runs one job at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use horae::model::{ConflictPolicy, ExecutorKind, Schedule, ScheduleId, Task, TaskId};
use horae::scheduler::handler::Handler;
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::{DataStore, MemoryStore};
use horae::trigger::Trigger;
use horae_sql::{PostgresOptions, PostgresStore, SqliteStore, TablePrefix};
use serde_json::{Value, json};

use crate::Failure;

/// `horae bench` arguments (the peer harness's flags).
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which workload to run.
    #[arg(value_enum)]
    workload: Workload,
    /// The data store: `memory`, `sqlite` (a fresh file in the temp directory, removed
    /// afterwards), `postgres` (`HORAE_PG_URL`, default the local server's `horae_bench`
    /// database, in tables of a fresh prefix dropped afterwards), or a store URL
    /// (`sqlite:///path/bench.db`, `postgres://...`).
    #[arg(long, default_value = "memory")]
    store: String,
    /// Jobs to run (`jobs`).
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// The node's max_concurrent_jobs.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Schedules to run (`schedules`).
    #[arg(long, default_value_t = 1_000)]
    schedules: u64,
    /// Seconds between fires of each schedule (`schedules`).
    #[arg(long, default_value_t = 1.0)]
    period: f64,
    /// Seconds to run the schedules for (`schedules`).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Give up on the `jobs` workload after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// The task's max_running_jobs; 0 = unlimited. The default 1 is APScheduler 4's task
    /// default, which the peer harness uses: one run of the task at a time.
    #[arg(long, default_value_t = 1)]
    max_running_jobs: u32,
    /// Nodes sharing the store.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Print only the JSON result line.
    #[arg(long)]
    json: bool,
}

/// The two workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// N no-op jobs.
    Jobs,
    /// M interval schedules.
    Schedules,
}

pub(crate) fn run(args: BenchArgs) -> Result<(), Failure> {
    let known = ["memory", "sqlite", "postgres"];
    let url = ["sqlite:", "postgres://", "postgresql://"];
    if !(known.contains(&args.store.as_str()) || url.iter().any(|u| args.store.starts_with(u))) {
        return Err(Failure::Usage(format!(
            "--store {}: use memory, sqlite, postgres or a sqlite:/postgres:// URL (mysql arrives with its store)",
            args.store
        )));
    }
    if args.nodes != 1 {
        return Err(Failure::Usage(
            "--nodes: several nodes need a shared SQL store; use 1 with memory".to_owned(),
        ));
    }
    if args.concurrency == 0 || args.jobs == 0 && args.workload == Workload::Jobs {
        return Err(Failure::Usage(
            "--concurrency and --jobs must be at least 1".to_owned(),
        ));
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let scratch = (args.store == "sqlite").then(ScratchFile::new);
    let mut out = runtime.block_on(async {
        let (store, cleanup) = open_store(&args, scratch.as_ref()).await?;
        let out = match args.workload {
            Workload::Jobs => bench_jobs(&args, store).await,
            Workload::Schedules => bench_schedules(&args, store).await,
        };
        if let Some(postgres) = cleanup
            && let Err(error) = postgres.drop_tables().await
        {
            eprintln!("warning: could not drop the benchmark's tables: {error}");
        }
        out
    })?;
    drop(scratch);
    if let Value::Object(map) = &mut out {
        map.insert("system".into(), json!("horae"));
        map.insert("store".into(), json!(args.store));
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

/// The store to benchmark, and the PostgreSQL store whose tables to drop afterwards.
async fn open_store(
    args: &BenchArgs,
    scratch: Option<&ScratchFile>,
) -> Result<(Arc<dyn DataStore>, Option<PostgresStore>), Failure> {
    let url = match (scratch, args.store.as_str()) {
        (Some(file), _) => format!("sqlite://{}", file.0.display()),
        (None, "memory") => return Ok((Arc::new(MemoryStore::new()), None)),
        (None, "postgres") => {
            let url = std::env::var("HORAE_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/horae_bench".to_owned());
            PostgresStore::create_database_if_missing(&url)
                .await
                .map_err(runtime_error)?;
            let id = uuid::Uuid::now_v7().simple().to_string();
            let options = PostgresOptions {
                prefix: TablePrefix::new(format!("bench{}_", &id[id.len() - 12..]))
                    .map_err(runtime_error)?,
                max_connections: 16,
                ..PostgresOptions::default()
            };
            let store = PostgresStore::connect_with(&url, options)
                .await
                .map_err(runtime_error)?;
            return Ok((Arc::new(store.clone()), Some(store)));
        }
        (None, url) => url.to_owned(),
    };
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(&url).await.map_err(runtime_error)?;
        Ok((Arc::new(store), None))
    } else {
        let store = PostgresStore::connect(&url).await.map_err(runtime_error)?;
        Ok((Arc::new(store), None))
    }
}

fn scheduler(args: &BenchArgs, store: Arc<dyn DataStore>) -> Result<Scheduler, Failure> {
    Scheduler::builder()
        .store(store)
        .config(SchedulerConfig {
            node_id: "bench".to_owned(),
            max_concurrent_jobs: args.concurrency,
            cleanup_interval: Duration::from_secs(365 * 86_400),
            ..SchedulerConfig::default()
        })
        .build()
        .map_err(|e| Failure::Runtime(e.into()))
}

/// The benchmark's task, with the requested `max_running_jobs`.
fn bench_task(id: &TaskId, args: &BenchArgs) -> Task {
    let mut task = Task::new(id.clone(), ExecutorKind::Async);
    task.max_running_jobs = (args.max_running_jobs > 0).then_some(args.max_running_jobs);
    task
}

fn runtime_error(error: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::Runtime(error.into())
}

async fn bench_jobs(args: &BenchArgs, store: Arc<dyn DataStore>) -> Result<Value, Failure> {
    let scheduler = scheduler(args, store)?;
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    let task_id = TaskId::new("noop").map_err(runtime_error)?;
    scheduler
        .configure_task(
            bench_task(&task_id, args),
            Handler::from_async(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
                async { Ok(Value::Null) }
            }),
        )
        .await
        .map_err(runtime_error)?;
    let added = Instant::now();
    let mut last_report = Instant::now();
    for n in 0..args.jobs {
        if last_report.elapsed() >= Duration::from_secs(1) && !args.json {
            eprintln!("jobs: {n}/{} added", args.jobs);
            last_report = Instant::now();
        }
        let mut job = scheduler.new_job(&task_id, Vec::new());
        job.result_expiration_time = Duration::from_secs(3600);
        scheduler.add_job(job).await.map_err(runtime_error)?;
    }
    let add_s = added.elapsed().as_secs_f64();
    let started = Instant::now();
    scheduler.start().await;
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    // Finished when every handler ran and every job was released from the store.
    loop {
        let ran = done.load(Ordering::Relaxed);
        if ran >= args.jobs
            && scheduler
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
                "jobs: {ran}/{} run after {:.1} s",
                args.jobs,
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let run_s = started.elapsed().as_secs_f64();
    let remaining = scheduler
        .store()
        .get_jobs()
        .await
        .map_err(runtime_error)?
        .len() as u64;
    let completed = args
        .jobs
        .saturating_sub(remaining)
        .min(done.load(Ordering::Relaxed));
    scheduler.stop().await;
    Ok(json!({
        "workload": "jobs", "jobs": args.jobs, "completed": completed,
        "add_jobs_per_s": args.jobs as f64 / add_s, "jobs_per_s": completed as f64 / run_s, "run_s": run_s,
    }))
}

async fn bench_schedules(args: &BenchArgs, store: Arc<dyn DataStore>) -> Result<Value, Failure> {
    let scheduler = scheduler(args, store)?;
    let lateness: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::with_capacity(
        (args.schedules as f64 * args.duration / args.period * 1.1).min(5e7) as usize,
    )));
    let record = lateness.clone();
    let task_id = TaskId::new("lateness").map_err(runtime_error)?;
    scheduler
        .configure_task(
            bench_task(&task_id, args),
            Handler::from_async(move |ctx| {
                if let Some(fire) = ctx.job.scheduled_fire_time {
                    let late = jiff::Timestamp::now().duration_since(fire).as_secs_f64();
                    record.lock().unwrap_or_else(|p| p.into_inner()).push(late);
                }
                async { Ok(Value::Null) }
            }),
        )
        .await
        .map_err(runtime_error)?;
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let period_us = (args.period * 1e6) as i64;
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
        scheduler
            .insert_schedule(schedule, ConflictPolicy::Replace)
            .await
            .map_err(runtime_error)?;
    }
    scheduler.start().await;
    let total = Duration::from_secs_f64(2.0 + args.duration);
    let began = Instant::now();
    while began.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1).min(total.saturating_sub(began.elapsed()))).await;
        if !args.json {
            let fires = lateness.lock().unwrap_or_else(|p| p.into_inner()).len();
            eprintln!(
                "schedules: {fires} fires after {:.1} s",
                began.elapsed().as_secs_f64()
            );
        }
    }
    scheduler.stop().await;
    let mut values = std::mem::take(&mut *lateness.lock().unwrap_or_else(|p| p.into_inner()));
    values.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        values
            .get(((p / 100.0 * values.len() as f64) as usize).min(values.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(json!({
        "workload": "schedules", "schedules": args.schedules, "period_s": args.period, "duration_s": args.duration,
        "fires_expected": args.schedules as f64 * args.duration / args.period, "fires": values.len(),
        "fires_per_s": values.len() as f64 / args.duration,
        "lateness_p50_ms": pct(50.0) * 1000.0, "lateness_p99_ms": pct(99.0) * 1000.0,
        "lateness_max_ms": values.last().copied().unwrap_or(0.0) * 1000.0,
    }))
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
