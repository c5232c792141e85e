//! `horae bench soak`: many schedules for a long time, watched for leaks and drift
//! (issue 6, part 4).
//!
//! 1. **Insert.** M interval schedules of one task (unlimited `max_running_jobs`, no result
//!    rows), ids `s0` … `s{M-1}`, first fire times spread evenly over one period P, are
//!    written straight into the store (`DataStore::add_schedule`, the scheduler's own
//!    path minus its per-schedule task lookup and event), by [`insert_workers`] tasks at
//!    once. The first fire time lies after the insertion ends: a throwaway calibration
//!    batch (`calibrate-*`, removed again) measures the insert rate first, and the first
//!    fire is put at 1.5 × the estimated insert time + 5 s (the calibration sees an empty
//!    table; into PostgreSQL the rate fell by a fifth on the way to a million rows).
//!    `first_fire_after_insert_s` reports the time to spare (negative: the insertion
//!    overran). Progress (rows/s, ETA) goes to stderr every few seconds.
//! 2. **Run.** The nodes start when the insertion is done and run D seconds from the first
//!    fire time. Every `--sample-every` seconds a [`Sample`] is taken — and printed on
//!    stderr — with the process's RSS, threads and open file descriptors, for PostgreSQL the
//!    server's connections and the tables' dead row versions and sizes, and the fires and
//!    their lateness in the window. The sample at 0 s is the baseline, taken at the first
//!    fire time. Lateness values are kept per window only; the whole run's percentiles come
//!    from a [`Histogram`].
//! 3. **Drain and count.** After D seconds the nodes get up to [`DRAIN`] to run the fire
//!    times due by then, then stop. `missed` counts the fire times due in the run (first
//!    fire time to first fire time + D) that never ran; `extra_fires` those that ran twice.
//!
//! The verdict `stable` holds when, judged from the end of the first window on (the
//! baseline and the first window are warm-up: pools fill, caches grow):
//! - memory is flat: the last RSS is at most 10 % (and 8 MiB) above the first;
//! - connections are flat (PostgreSQL): the count moved by at most 2 and never exceeded
//!   what the nodes may open (each its pool and [`LEASE_CONNECTIONS`]);
//! - lateness is stable: the last window's p99 is at most 2 × the first window's + 50 ms;
//! - no fire time was missed.
//!
//! Otherwise `unstable_because` lists the rules broken, also printed on stderr.
//!
//! PostgreSQL figures come over a connection of their own (`application_name` …
//! `-monitor`, not counted). The nodes' pools connect with `application_name`
//! `horae-bench-<pid>`, so `connections` counts this run's connections only;
//! `db_connections` counts every connection to the database but the monitor's. Both count
//! client backends only: a parallel query's workers carry their leader's
//! `application_name` but are no connections (they come and go with each such query).
//! The figures are read with `COPY (SELECT …) TO STDOUT`, the one statement the driver
//! runs without a query API in this crate. MySQL and SQLite runs report no connection
//! counts.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use horae::model::{ConflictPolicy, Job, Schedule, ScheduleId, TaskId};
use horae::scheduler::Scheduler;
use horae::scheduler::handler::Handler;
use horae::store::DataStore;
use horae::trigger::Trigger;
use horae_sql::{Dialect, StoreUrl, TablePrefix};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    BenchArgs, Stores, bench_task, percentile, pool_size, runtime_error, schedulers, start_all,
    stop_all,
};
use crate::Failure;

use self::monitor::{Monitor, ServerFigures, process_figures};

mod monitor;

/// How long the nodes may run after the D seconds to work off the fire times due by then.
const DRAIN: Duration = Duration::from_secs(10);

/// How often insertion progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Connections a PostgreSQL store opens besides its pool, to extend leases (as
/// `horae_sql::PostgresOptions::max_connections` documents).
const LEASE_CONNECTIONS: u64 = 2;

/// Most schedules one soak inserts.
pub(super) const MAX_SCHEDULES: u64 = 10_000_000;

/// Most samples one soak takes.
pub(super) const MAX_SAMPLES: f64 = 100_000.0;

/// The `application_name` of this process's store connections.
fn application_name() -> String {
    format!("horae-bench-{}", std::process::id())
}

/// `url` with the nodes' `application_name` (PostgreSQL only; others unchanged), so the
/// monitor can tell this run's connections from others to the same database.
pub(super) fn tagged(url: StoreUrl) -> Result<StoreUrl, Failure> {
    if url.dialect() != Dialect::Postgres {
        return Ok(url);
    }
    with_parameter(&url, &application_name())
}

/// `url` with `application_name=name` appended (a later parameter wins).
fn with_parameter(url: &StoreUrl, name: &str) -> Result<StoreUrl, Failure> {
    let text = url.as_str();
    let separator = if text.contains('?') { '&' } else { '?' };
    StoreUrl::parse(&format!("{text}{separator}application_name={name}")).map_err(runtime_error)
}

/// Runs the soak on the nodes of `stores`; `url` is the SQL store's, tagged by [`tagged`].
pub(super) async fn bench_soak(
    args: &BenchArgs,
    stores: &Stores,
    url: Option<&StoreUrl>,
) -> Result<Value, Failure> {
    let nodes = schedulers(args, &stores.nodes)?;
    let out = soak(args, stores, &nodes, url).await;
    if out.is_err() {
        stop_all(&nodes).await;
    }
    out
}

/// Where every schedule's fire times lie: schedule `i` first fires at
/// `anchor + period × i / M`, then every `period` (microseconds).
#[derive(Debug, Clone, Copy)]
struct Grid {
    anchor_us: i64,
    period_us: i64,
    schedules: u64,
}

impl Grid {
    /// Schedule `i`'s first fire time in microseconds.
    fn first_us(&self, i: u64) -> i64 {
        let offset = i128::from(self.period_us) * i128::from(i) / i128::from(self.schedules.max(1));
        self.anchor_us
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// The index of the schedule `id` fired by, when `fire` is one of its grid's times.
    fn slot(&self, id: &str, fire: Timestamp) -> Option<usize> {
        let i: u64 = id.strip_prefix('s')?.parse().ok()?;
        if i >= self.schedules {
            return None;
        }
        let offset = fire.as_microsecond() - self.first_us(i);
        if offset >= 0 && offset % self.period_us == 0 {
            usize::try_from(i).ok()
        } else {
            None
        }
    }

    /// How many fire times of all schedules lie at or before `t_us` (from the anchor on).
    fn due_by(&self, t_us: i64) -> u64 {
        (0..self.schedules)
            .map(|i| {
                let since = t_us - self.first_us(i);
                if since < 0 {
                    0
                } else {
                    u64::try_from(since / self.period_us).unwrap_or(0) + 1
                }
            })
            .sum()
    }
}

/// What the task's handler records.
struct Recorder {
    /// Set once the first fire time is known (after calibration).
    grid: OnceLock<Grid>,
    /// The end of the run (microseconds): fire times after it are not counted.
    end_us: OnceLock<i64>,
    /// Lateness (ms) of the fires run since the last sample.
    window: Mutex<Vec<f64>>,
    /// Fires of each schedule with a fire time in the run.
    per_schedule: Vec<AtomicU32>,
    /// Fires with a fire time in the run.
    fires: AtomicU64,
    /// Fires that are no soak schedule's grid time (none expected).
    stray: AtomicU64,
}

impl Recorder {
    fn new(schedules: u64) -> Result<Recorder, Failure> {
        let count = usize::try_from(schedules)
            .map_err(|_| Failure::Usage("--schedules is too large".to_owned()))?;
        Ok(Recorder {
            grid: OnceLock::new(),
            end_us: OnceLock::new(),
            window: Mutex::new(Vec::new()),
            per_schedule: (0..count).map(|_| AtomicU32::new(0)).collect(),
            fires: AtomicU64::new(0),
            stray: AtomicU64::new(0),
        })
    }

    fn record(&self, job: &Job) {
        let (Some(fire), Some(id)) = (job.scheduled_fire_time, &job.schedule_id) else {
            self.stray.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let late_ms =
            (Timestamp::now().as_microsecond() - fire.as_microsecond()).max(0) as f64 / 1000.0;
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(late_ms);
        let slot = self
            .grid
            .get()
            .and_then(|grid| grid.slot(id.as_str(), fire));
        match (
            slot.and_then(|i| self.per_schedule.get(i)),
            self.end_us.get(),
        ) {
            (Some(count), Some(&end)) if fire.as_microsecond() <= end => {
                count.fetch_add(1, Ordering::Relaxed);
                self.fires.fetch_add(1, Ordering::Relaxed);
            }
            (Some(_), _) => {}
            (None, _) => {
                self.stray.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The lateness values recorded since the last call, sorted.
    fn take_window(&self) -> Vec<f64> {
        let mut values =
            std::mem::take(&mut *self.window.lock().unwrap_or_else(|p| p.into_inner()));
        values.sort_by(f64::total_cmp);
        values
    }

    /// `(missed, extra)`: fire times due in the run without a fire, and fires beyond one per
    /// fire time, given the grid and the run's end.
    fn misses(&self, grid: &Grid, end_us: i64) -> (u64, u64) {
        let (mut missed, mut extra) = (0, 0);
        for (i, count) in (0u64..).zip(&self.per_schedule) {
            let since = end_us - grid.first_us(i);
            let expected = if since < 0 {
                0
            } else {
                u64::try_from(since / grid.period_us).unwrap_or(0) + 1
            };
            let got = u64::from(count.load(Ordering::Relaxed));
            missed += expected.saturating_sub(got);
            extra += got.saturating_sub(expected);
        }
        (missed, extra)
    }
}

/// Lateness values counted in buckets 1 % wide from 1 µs up: a whole run's percentiles
/// (within 1 %) without keeping every value.
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: f64,
}

/// The first bucket's upper bound, in ms.
const HISTOGRAM_FLOOR_MS: f64 = 0.001;
/// Each bucket's upper bound over the previous one's.
const HISTOGRAM_GROWTH: f64 = 1.01;
/// Buckets: the last starts at about 5 hours; longer values go there too.
const HISTOGRAM_BUCKETS: usize = 2_400;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; HISTOGRAM_BUCKETS],
            total: 0,
            max: 0.0,
        }
    }

    fn add(&mut self, ms: f64) {
        let bucket = if ms <= HISTOGRAM_FLOOR_MS {
            0
        } else {
            ((ms / HISTOGRAM_FLOOR_MS).ln() / HISTOGRAM_GROWTH.ln()).ceil() as usize
        };
        if let Some(count) = self.counts.get_mut(bucket.min(HISTOGRAM_BUCKETS - 1)) {
            *count += 1;
        }
        self.total += 1;
        self.max = self.max.max(ms);
    }

    /// The upper bound of the bucket holding percentile `p` (0–100), at most the maximum;
    /// 0 when empty.
    fn percentile(&self, p: f64) -> f64 {
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in (0i32..).zip(&self.counts) {
            seen += count;
            if seen >= rank {
                return (HISTOGRAM_FLOOR_MS * HISTOGRAM_GROWTH.powi(bucket)).min(self.max);
            }
        }
        self.max
    }
}

/// One sample of the run.
struct Sample {
    elapsed_s: f64,
    rss_mib: f64,
    threads: u64,
    open_fds: u64,
    /// PostgreSQL's figures, when the store is PostgreSQL.
    server: Option<ServerFigures>,
    fires: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Fire times due by the sample that had not run yet.
    backlog: u64,
}

impl Sample {
    fn json(&self) -> Value {
        let mut out = json!({
            "elapsed_s": self.elapsed_s, "rss_mib": self.rss_mib, "threads": self.threads,
            "open_fds": self.open_fds, "fires": self.fires, "lateness_p50_ms": self.p50_ms,
            "lateness_p99_ms": self.p99_ms, "lateness_max_ms": self.max_ms, "backlog": self.backlog,
        });
        if let (Some(server), Value::Object(map)) = (&self.server, &mut out) {
            map.insert("connections".into(), json!(server.connections));
            map.insert("db_connections".into(), json!(server.db_connections));
            map.insert("schedules_dead_tuples".into(), json!(server.schedules_dead));
            map.insert("jobs_dead_tuples".into(), json!(server.jobs_dead));
            map.insert("schedules_table_mib".into(), json!(server.schedules_mib));
            map.insert("jobs_table_mib".into(), json!(server.jobs_mib));
        }
        out
    }

    /// The stderr line.
    fn line(&self) -> String {
        let server = self.server.as_ref().map_or_else(String::new, |s| {
            format!(
                " | conns {} (db {}) | dead tuples schedules {} jobs {} | tables {:.0}+{:.0} MiB",
                s.connections,
                s.db_connections,
                s.schedules_dead,
                s.jobs_dead,
                s.schedules_mib,
                s.jobs_mib
            )
        });
        format!(
            "soak: {:>6.0} s | rss {:.1} MiB | threads {} | fds {} | fires {} | lateness p50 {:.1} p99 {:.1} max {:.1} ms | backlog {}{server}",
            self.elapsed_s,
            self.rss_mib,
            self.threads,
            self.open_fds,
            self.fires,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.backlog
        )
    }
}

/// How many tasks insert schedules at once: the memory store takes one lock per insert
/// (two keep both cores busy); a server's pool queues twice its size so no connection
/// idles between a worker's inserts.
fn insert_workers(stores: &Stores, args: &BenchArgs) -> usize {
    if stores.pools.is_empty() {
        2
    } else {
        usize::try_from(pool_size(args.nodes)).unwrap_or(16) * 2
    }
}

/// What to insert: `count` schedules named `{prefix}{i}` on `grid`.
struct Batch {
    prefix: &'static str,
    count: u64,
    grid: Grid,
    task_id: TaskId,
}

impl Batch {
    fn schedule(&self, i: u64) -> Result<Schedule, Failure> {
        let first = Timestamp::from_microsecond(self.grid.first_us(i)).map_err(runtime_error)?;
        let spec = json!({"type": "interval", "microseconds": self.grid.period_us, "start_time": first.to_string()});
        let mut trigger = Trigger::from_json(&spec, first).map_err(runtime_error)?;
        // As Scheduler::insert_schedule does: the trigger yields the first fire time.
        let next = trigger
            .next()
            .map_err(runtime_error)?
            .map(|t| t.timestamp());
        let id = ScheduleId::new(format!("{}{i}", self.prefix)).map_err(runtime_error)?;
        let mut schedule = Schedule::new(id, self.task_id.clone(), trigger);
        schedule.job_result_expiration_time = Duration::ZERO;
        schedule.next_fire_time = next;
        Ok(schedule)
    }
}

/// Inserts `batch` with `workers` tasks, worker `w` taking schedules `w`, `w + workers`, …;
/// prints progress every few seconds unless `quiet`. Returns the seconds it took.
async fn insert(
    store: &Arc<dyn DataStore>,
    batch: Batch,
    workers: usize,
    quiet: bool,
) -> Result<f64, Failure> {
    let began = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let count = batch.count;
    let batch = Arc::new(batch);
    let workers = u64::try_from(workers.max(1)).unwrap_or(1);
    let mut running = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (store, done, batch) = (store.clone(), done.clone(), batch.clone());
        running.spawn(async move {
            let mut i = worker;
            while i < batch.count {
                let schedule = batch.schedule(i)?;
                store
                    .add_schedule(schedule, ConflictPolicy::Replace)
                    .await
                    .map_err(runtime_error)?;
                done.fetch_add(1, Ordering::Relaxed);
                i += workers;
            }
            Ok::<(), Failure>(())
        });
    }
    let mut report =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    while !running.is_empty() {
        tokio::select! {
            joined = running.join_next() => match joined {
                Some(Ok(Ok(()))) | None => {}
                Some(Ok(Err(failure))) => return Err(failure),
                Some(Err(error)) => return Err(runtime_error(error)),
            },
            _ = report.tick(), if !quiet => {
                let inserted = done.load(Ordering::Relaxed);
                let rate = inserted as f64 / began.elapsed().as_secs_f64();
                let eta = count.saturating_sub(inserted) as f64 / rate.max(1e-9);
                eprintln!("soak: inserted {inserted}/{count} schedules ({rate:.0}/s, ETA {eta:.0} s)");
            }
        }
    }
    Ok(began.elapsed().as_secs_f64())
}

/// How many schedules the calibration inserts: 2 % of the run's, 200 to 20,000.
fn calibration_size(schedules: u64) -> u64 {
    (schedules / 50).clamp(200, 20_000)
}

/// Inserts and removes a throwaway batch; returns the insert rate per second.
async fn calibrate(
    store: &Arc<dyn DataStore>,
    task_id: &TaskId,
    args: &BenchArgs,
    period_us: i64,
    workers: usize,
) -> Result<f64, Failure> {
    let count = calibration_size(args.schedules);
    // A day ahead: the nodes are not running yet, and these are gone before they start.
    let anchor = Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let batch = Batch {
        prefix: "calibrate-",
        count,
        grid: Grid {
            anchor_us: anchor.as_microsecond(),
            period_us,
            schedules: count,
        },
        task_id: task_id.clone(),
    };
    let took = insert(store, batch, workers, true).await?;
    let ids: Vec<ScheduleId> = (0..count)
        .map(|i| ScheduleId::new(format!("calibrate-{i}")))
        .collect::<Result<_, _>>()
        .map_err(runtime_error)?;
    for chunk in ids.chunks(1_000) {
        store.remove_schedules(chunk).await.map_err(runtime_error)?;
    }
    Ok(count as f64 / took.max(1e-6))
}

/// Percentiles of one window's sorted lateness values: `(p50, p99, max)`.
fn window_figures(values: &[f64]) -> (f64, f64, f64) {
    (
        percentile(values, 50.0),
        percentile(values, 99.0),
        values.last().copied().unwrap_or(0.0),
    )
}

/// Sleeps until `deadline` (a wall-clock time).
async fn sleep_until(deadline: Timestamp) {
    let left = deadline.as_microsecond() - Timestamp::now().as_microsecond();
    if left > 0 {
        tokio::time::sleep(Duration::from_micros(left.unsigned_abs())).await;
    }
}

async fn soak(
    args: &BenchArgs,
    stores: &Stores,
    nodes: &[Scheduler],
    url: Option<&StoreUrl>,
) -> Result<Value, Failure> {
    let store = stores
        .nodes
        .first()
        .ok_or_else(|| Failure::Runtime(anyhow::anyhow!("no nodes to run")))?;
    let prefix = stores
        .pools
        .first()
        .map_or_else(TablePrefix::default, |pool| pool.prefix().clone());
    let monitor = Monitor::connect(url, &prefix).await?;
    let out = soak_with(args, stores, nodes, store, monitor.as_ref()).await;
    if let Some(monitor) = monitor {
        monitor.close().await;
    }
    out
}

async fn soak_with(
    args: &BenchArgs,
    stores: &Stores,
    nodes: &[Scheduler],
    store: &Arc<dyn DataStore>,
    monitor: Option<&Monitor>,
) -> Result<Value, Failure> {
    let quiet = args.json;
    let recorder = Arc::new(Recorder::new(args.schedules)?);
    let task_id = TaskId::new("soak").map_err(runtime_error)?;
    for node in nodes {
        let recorder = recorder.clone();
        node.configure_task(
            bench_task(&task_id, args),
            Handler::from_async(move |ctx| {
                recorder.record(&ctx.job);
                async { Ok(Value::Null) }
            }),
        )
        .await
        .map_err(runtime_error)?;
    }
    let period_us = ((args.period * 1e6) as i64).max(1);
    let workers = insert_workers(stores, args);

    // 1. Insert, the first fire time after the insertion's estimated end.
    let rate = calibrate(store, &task_id, args, period_us, workers).await?;
    let estimate_s = args.schedules as f64 / rate;
    let lead = Duration::from_secs_f64(1.5 * estimate_s + 5.0);
    let insert_began = Timestamp::now();
    let anchor = (insert_began + lead)
        .round(jiff::Unit::Microsecond)
        .map_err(runtime_error)?;
    let grid = Grid {
        anchor_us: anchor.as_microsecond(),
        period_us,
        schedules: args.schedules,
    };
    let end_us = anchor.as_microsecond() + (args.duration * 1e6) as i64;
    let _ = recorder.grid.set(grid);
    let _ = recorder.end_us.set(end_us);
    if !quiet {
        eprintln!(
            "soak: inserting {} schedules with {workers} workers (calibrated at {rate:.0}/s, estimate {estimate_s:.0} s); first fire at {anchor}",
            args.schedules
        );
    }
    let batch = Batch {
        prefix: "s",
        count: args.schedules,
        grid,
        task_id: task_id.clone(),
    };
    let insert_s = insert(store, batch, workers, quiet).await?;
    let insert_per_s = args.schedules as f64 / insert_s;
    let spare_s = (anchor.as_microsecond() - Timestamp::now().as_microsecond()) as f64 / 1e6;
    if !quiet {
        eprintln!(
            "soak: inserted {} schedules in {insert_s:.1} s ({insert_per_s:.0}/s); {}",
            args.schedules,
            if spare_s >= 0.0 {
                format!("first fire in {spare_s:.1} s")
            } else {
                format!("WARNING: {:.1} s past the first fire time", -spare_s)
            }
        );
    }

    // 2. Run, sampling.
    start_all(nodes).await;
    sleep_until(anchor).await;
    let mut samples: Vec<Sample> = Vec::new();
    let mut steady = Histogram::new();
    let mut all = Histogram::new();
    let mut first_window_p99 = None;
    let mut last_window_p99 = 0.0;
    let every_us = (args.sample_every * 1e6) as i64;
    let mut tick = 0i64;
    loop {
        let at_us = (anchor.as_microsecond() + tick * every_us).min(end_us);
        sleep_until(Timestamp::from_microsecond(at_us).map_err(runtime_error)?).await;
        let values = recorder.take_window();
        let (p50_ms, p99_ms, max_ms) = window_figures(&values);
        if tick > 0 {
            for &value in &values {
                all.add(value);
                if tick > 1 {
                    steady.add(value);
                }
            }
            first_window_p99.get_or_insert(p99_ms);
            last_window_p99 = p99_ms;
        }
        let (rss_mib, threads, open_fds) = process_figures();
        let server = match monitor {
            Some(monitor) => Some(monitor.read().await.map_err(|e| {
                Failure::Runtime(anyhow::anyhow!("reading PostgreSQL's figures: {e}"))
            })?),
            None => None,
        };
        let now_us = Timestamp::now().as_microsecond().min(end_us);
        let sample = Sample {
            elapsed_s: (at_us - anchor.as_microsecond()) as f64 / 1e6,
            rss_mib,
            threads,
            open_fds,
            server,
            fires: if tick == 0 { 0 } else { values.len() },
            p50_ms,
            p99_ms,
            max_ms,
            backlog: grid
                .due_by(now_us)
                .saturating_sub(recorder.fires.load(Ordering::Relaxed)),
        };
        if !quiet {
            eprintln!("{}", sample.line());
        }
        samples.push(sample);
        if at_us >= end_us {
            break;
        }
        tick += 1;
    }

    // 3. Drain, stop, count.
    let fires_expected = grid.due_by(end_us);
    let drain_began = Instant::now();
    while recorder.fires.load(Ordering::Relaxed) < fires_expected && drain_began.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_s = drain_began.elapsed().as_secs_f64();
    stop_all(nodes).await;
    let fires = recorder.fires.load(Ordering::Relaxed);
    let (missed, extra_fires) = recorder.misses(&grid, end_us);
    if steady.total == 0 {
        steady = all;
    }

    let judged: Vec<&Sample> = samples.iter().skip(1).collect();
    let rss = |pick: fn(&[&Sample]) -> Option<f64>| pick(&judged).unwrap_or(0.0);
    let rss_first = rss(|s| s.first().map(|s| s.rss_mib));
    let rss_last = rss(|s| s.last().map(|s| s.rss_mib));
    let rss_max = rss(|s| s.iter().map(|s| s.rss_mib).reduce(f64::max));
    let connections: Vec<u64> = judged
        .iter()
        .filter_map(|s| s.server.as_ref().map(|s| s.connections))
        .collect();
    let (connections_min, connections_max) = (
        connections.iter().min().copied(),
        connections.iter().max().copied(),
    );
    let first_p99 = first_window_p99.unwrap_or(0.0);
    let capacity = (u64::from(pool_size(args.nodes)) + LEASE_CONNECTIONS) * args.nodes as u64;
    let mut unstable = Vec::new();
    if rss_last > rss_first * 1.10 && rss_last > rss_first + 8.0 {
        unstable.push(format!(
            "memory grew: RSS {rss_first:.1} MiB after the first window, {rss_last:.1} MiB at the end (limit +10 % and +8 MiB)"
        ));
    }
    if let (Some(min), Some(max)) = (connections_min, connections_max) {
        if max - min > 2 {
            unstable.push(format!(
                "connections moved: between {min} and {max} (limit 2 apart)"
            ));
        }
        if max > capacity {
            unstable.push(format!(
                "connections {max} exceed what the nodes may open ({capacity})"
            ));
        }
    }
    if last_window_p99 > 2.0 * first_p99 + 50.0 {
        unstable.push(format!(
            "lateness drifted: p99 {first_p99:.1} ms in the first window, {last_window_p99:.1} ms in the last (limit 2 × first + 50 ms)"
        ));
    }
    if missed > 0 {
        unstable.push(format!("{missed} fire times due in the run never ran"));
    }
    if !quiet {
        if unstable.is_empty() {
            eprintln!("soak: stable");
        } else {
            eprintln!("soak: NOT stable: {}", unstable.join("; "));
        }
    }
    let duration_s = args.duration;
    Ok(json!({
        "workload": "soak", "schedules": args.schedules, "period_s": args.period,
        "duration_s": duration_s, "sample_every_s": args.sample_every,
        "insert_s": insert_s, "insert_per_s": insert_per_s, "insert_workers": workers,
        "first_fire_after_insert_s": spare_s,
        "fires_expected": fires_expected, "fires": fires, "fires_per_s": fires as f64 / duration_s,
        "missed": missed, "extra_fires": extra_fires,
        "stray_fires": recorder.stray.load(Ordering::Relaxed), "drain_s": drain_s,
        "lateness_p50_ms": steady.percentile(50.0), "lateness_p99_ms": steady.percentile(99.0),
        "lateness_max_ms": steady.max,
        "lateness_p99_first_window_ms": first_p99, "lateness_p99_last_window_ms": last_window_p99,
        "rss_first_mib": rss_first, "rss_last_mib": rss_last, "rss_max_mib": rss_max,
        "connections_min": connections_min, "connections_max": connections_max,
        "stable": unstable.is_empty(), "unstable_because": unstable,
        "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_places_and_counts_fire_times() {
        let grid = Grid {
            anchor_us: 1_000_000,
            period_us: 1_000,
            schedules: 4,
        };
        assert_eq!(
            (0..4).map(|i| grid.first_us(i)).collect::<Vec<_>>(),
            [1_000_000, 1_000_250, 1_000_500, 1_000_750]
        );
        let at = |us| Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(grid.slot("s2", at(1_002_500)), Some(2));
        assert_eq!(grid.slot("s2", at(1_002_501)), None);
        assert_eq!(grid.slot("s2", at(999_500)), None);
        assert_eq!(grid.slot("s4", at(1_000_000)), None);
        assert_eq!(grid.slot("calibrate-1", at(1_000_250)), None);
        assert_eq!(grid.due_by(999_999), 0);
        assert_eq!(grid.due_by(1_000_250), 2);
        assert_eq!(grid.due_by(1_001_000), 5);
    }

    #[test]
    fn histogram_percentiles_are_within_one_percent() {
        let mut histogram = Histogram::new();
        for i in 1..=1000 {
            histogram.add(f64::from(i));
        }
        let p99 = histogram.percentile(99.0);
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        let p50 = histogram.percentile(50.0);
        assert!((500.0..=505.0).contains(&p50), "{p50}");
        assert!((histogram.percentile(100.0) - 1000.0).abs() < f64::EPSILON);
        assert!(Histogram::new().percentile(99.0).abs() < f64::EPSILON);
    }
}
