//! The chaos experiment (issue 6): does horae keep DESIGN.md section 3's promise — no fire
//! time lost, no job started twice while its lease holds, no crash — while nodes die and
//! the database and broker go away?
//!
//! 1. A fresh PostgreSQL database; a config with 200 schedules (interval and cron, every
//!    1–5 s) whose shell jobs append a start and an end row to an audit file, a quarter of
//!    them running three times longer than the lease ([`workload`]).
//! 2. Three `horae run` nodes on that database with a Redis broker ([`cluster`]).
//! 3. For `--duration` (default 10 minutes): a random node killed with `SIGKILL` every 30 s
//!    and restarted, one node frozen with `SIGSTOP` for twice the lease, PostgreSQL stopped
//!    and started once, Redis stopped and started once ([`plan`], [`services`]).
//! 4. A quiet drain, then `SIGTERM` to every node.
//! 5. The audit against every fire time the schedules must have produced ([`analysis`]),
//!    the store's job results, the nodes' logs (panics) and exit codes: a report on
//!    standard output, `report.json` and the node logs in `--out`.
//!
//! The run passes when no fire time is missing, still queued after the drain or
//! unexpected, every fire time has a run that finished, no duplicate start happened while a
//! lease was valid, no node panicked or exited on its own, every node stopped cleanly, the
//! faults hit running jobs, and the p99 start lateness outside the faults' windows is
//! within `--max-p99`.
//!
//! The experiment stops and starts PostgreSQL and Redis, so nothing else should use them
//! meanwhile. (Run under `flock`, use `flock -o`: the restarted servers would otherwise
//! inherit the lock's descriptor and hold it for good.)

mod analysis;
mod audit;
mod cluster;
mod plan;
mod probe;
mod report;
mod services;
mod workload;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use horae::store::DataStore;
use jiff::{SignedDuration, Timestamp};

use self::analysis::{Evidence, FaultClass, FaultWindow};
use self::cluster::Cluster;
use self::plan::{FaultKind, PlanSettings, PlannedFault};
use self::probe::Probes;
use self::report::Report;
use self::services::{Service, ServiceGuard};

/// `cargo xtask chaos` arguments.
#[derive(Debug, Args)]
pub(crate) struct ChaosArgs {
    /// How long faults strike, from the first fire time (`10m`, `120s`, `2m`).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    duration: Duration,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Schedules to run.
    #[arg(long, default_value_t = 200)]
    schedules: usize,
    /// The nodes' lease duration; the long task runs three times as long, a freeze lasts
    /// twice as long.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    lease: Duration,
    /// Time between two node kills.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    kill_every: Duration,
    /// How long PostgreSQL and Redis stay down when restarted.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    service_down_for: Duration,
    /// Seed of the fault plan and the schedules.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The run fails when the p99 start lateness outside fault windows exceeds this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    max_p99: Duration,
    /// The `horae` binary (default: `target/debug/horae`, built first with `cargo build`,
    /// or `target/release/horae` with `--release`).
    #[arg(long)]
    horae: Option<PathBuf>,
    /// Build and run the release binary.
    #[arg(long)]
    release: bool,
    /// Each node's `max_concurrent_jobs`.
    #[arg(long, default_value_t = 300)]
    max_concurrent_jobs: u32,
    /// The PostgreSQL database for the store; dropped and created at the start.
    #[arg(
        long,
        env = "HORAE_CHAOS_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/horae_chaos"
    )]
    pg_url: String,
    /// The Redis broker.
    #[arg(
        long,
        env = "HORAE_CHAOS_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Shell line that stops PostgreSQL.
    #[arg(
        long,
        default_value = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -n 1) main stop -m fast"
    )]
    pg_stop: String,
    /// Shell line that starts PostgreSQL.
    #[arg(
        long,
        default_value = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -n 1) main start"
    )]
    pg_start: String,
    /// Shell line that stops Redis.
    #[arg(long, default_value = "redis-cli -h 127.0.0.1 -p 6379 shutdown nosave")]
    redis_stop: String,
    /// Shell line that starts Redis.
    #[arg(
        long,
        default_value = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
    )]
    redis_start: String,
    /// A control run: the same cluster and workload with no fault at all (the baseline for
    /// lateness).
    #[arg(long)]
    no_faults: bool,
    /// Where the config, audit, node logs and report go (default
    /// `target/chaos/<UTC time>`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Parses `500ms`, `3s`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (use e.g. 500ms, 3s, 2m)"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {text:?} (ms, s, m, h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// How long before the first fire time the nodes start.
const LEAD: Duration = Duration::from_secs(20);

/// How long a starting node may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How much longer than the minimum drain the experiment waits for queued jobs.
const MAX_EXTRA_DRAIN: Duration = Duration::from_secs(120);

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Runs the experiment; `Ok(false)` when a check failed.
///
/// # Errors
///
/// When the experiment cannot run: bad settings, PostgreSQL or Redis unreachable, the
/// binary missing, a node that never becomes ready.
pub(crate) fn run(args: &ChaosArgs) -> Result<bool> {
    let began = Instant::now();
    let faults_planned = if args.no_faults {
        Vec::new()
    } else {
        plan::plan(&PlanSettings {
            duration: args.duration,
            kill_every: args.kill_every,
            lease: args.lease,
            service_down_for: args.service_down_for,
            nodes: args.nodes,
            seed: args.seed,
        })?
    };
    let horae = horae_binary(args)?;
    let out = output_dir(args)?;
    let database = Service {
        name: "PostgreSQL",
        address: services::host_port(&args.pg_url, 5432),
        stop: args.pg_stop.clone(),
        start: args.pg_start.clone(),
    };
    let broker = Service {
        name: "Redis",
        address: services::host_port(&args.redis_url, 6379),
        stop: args.redis_stop.clone(),
        start: args.redis_start.clone(),
    };
    for service in [&database, &broker] {
        if !service.is_up() {
            bail!(
                "{} does not answer on {}; start it first",
                service.name,
                service.address
            );
        }
    }
    let _guard = ServiceGuard(vec![database.clone(), broker.clone()]);
    let runtime = tokio::runtime::Runtime::new().context("starting a tokio runtime")?;
    runtime.block_on(services::recreate_database(&args.pg_url))?;

    let first_fire = Timestamp::from_second(Timestamp::now().as_second() + LEAD.as_secs() as i64)?;
    let until = first_fire + SignedDuration::try_from(args.duration)?;
    let schedules = workload::schedules(args.schedules, first_fire, args.seed);
    let audit_path = out.join("audit.tsv");
    let config_path = out.join("horae.toml");
    let config = workload::config_toml(
        &workload::ClusterSettings {
            store_url: &args.pg_url,
            broker_url: &args.redis_url,
            lease: args.lease,
            audit: &audit_path,
            max_concurrent_jobs: args.max_concurrent_jobs,
        },
        &schedules,
    )?;
    std::fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;
    eprintln!(
        "chaos: {} nodes, {} schedules, lease {:?}, {:?} of faults from {first_fire}; files in {}",
        args.nodes,
        args.schedules,
        args.lease,
        args.duration,
        out.display()
    );
    for fault in &faults_planned {
        eprintln!(
            "chaos:   planned at +{:>4}s: {}",
            fault.at.as_secs(),
            fault.kind
        );
    }

    let mut cluster = Cluster::new(args.nodes, &horae, &config_path, &out)?;
    // The first node migrates the schema; the others start once it is ready.
    cluster.start(0)?;
    cluster.wait_ready(0, READY_TIMEOUT)?;
    for index in 1..args.nodes {
        cluster.start(index)?;
    }
    for index in 1..args.nodes {
        cluster.wait_ready(index, READY_TIMEOUT)?;
    }
    let warm_until = Timestamp::now().max(first_fire) + SignedDuration::try_from(args.lease)?;
    let probes = Probes::start(&cluster.addresses(), args.lease / 3);
    for index in 0..args.nodes {
        probes.arm(index);
    }
    eprintln!("chaos: {} nodes ready", args.nodes);

    let mut progress = Progress::new(&audit_path, first_fire, faults_planned.len());
    let mut faults = Vec::new();
    let mut killed_jobs = 0;
    for planned in &faults_planned {
        let at = first_fire + SignedDuration::try_from(planned.at)?;
        progress.wait_until(at, &mut cluster, faults.len());
        let window = strike(
            planned,
            &mut cluster,
            &probes,
            &database,
            &broker,
            &mut killed_jobs,
        )?;
        eprintln!("chaos: {}", window.description);
        faults.push(window);
    }
    progress.wait_until(until, &mut cluster, faults.len());
    // At least long enough for the last fire times' long jobs and a retry of one killed at
    // the end; then until no job of a checked fire time is queued, or `MAX_EXTRA_DRAIN`.
    let drain = workload::long_run(args.lease) * 2 + args.lease * 3 + Duration::from_secs(5);
    eprintln!("chaos: faults over; draining for at least {drain:?}");
    let drain_started = Instant::now();
    progress.wait_until(
        Timestamp::now() + SignedDuration::try_from(drain)?,
        &mut cluster,
        faults.len(),
    );
    let store = runtime
        .block_on(horae_sql::PostgresStore::connect(&args.pg_url))
        .context("connecting to the store after the faults")?;
    loop {
        let queued = runtime.block_on(queued_jobs(&store, until))?;
        if queued.is_empty() {
            break;
        }
        if drain_started.elapsed() > drain + MAX_EXTRA_DRAIN {
            eprintln!(
                "chaos: {} jobs of checked fire times still queued; giving up",
                queued.len()
            );
            break;
        }
        eprintln!(
            "chaos: {} jobs of checked fire times still queued; waiting",
            queued.len()
        );
        progress.wait_until(
            Timestamp::now() + SignedDuration::from_secs(5),
            &mut cluster,
            faults.len(),
        );
    }
    let drained_in = drain_started.elapsed();
    eprintln!("chaos: stopping the nodes (SIGTERM)");
    let stalls = probes.finish();
    let final_exits = cluster.stop_all(Duration::from_secs(90));
    database.start()?;
    broker.start()?;

    let audit = audit::read(&audit_path)?;
    let mut expected = HashMap::new();
    for schedule in &schedules {
        expected.insert(schedule.id.clone(), workload::fire_times(schedule, until)?);
    }
    let queued = runtime.block_on(queued_jobs(&store, until))?;
    let findings = analysis::analyse(&Evidence {
        expected: &expected,
        queued: &queued,
        runs: &audit.runs,
        faults: &faults,
        stalls: &stalls,
        until,
        warm_until,
        settle: args.lease + Duration::from_secs(3),
    });
    let checked_jobs: HashSet<&str> = audit
        .runs
        .iter()
        .filter(|run| run.fire_time <= until)
        .map(|run| run.job.as_str())
        .collect();
    let job_results = runtime.block_on(result_outcomes(&store, &checked_jobs))?;
    let mut panics = Vec::new();
    let mut lease_losses = BTreeMap::new();
    for (node, log) in cluster.logs() {
        let text = cluster::read_log(&log);
        for line in text.lines().filter(|line| line.contains("panicked")) {
            panics.push(format!("{node}: {line}"));
        }
        let lost = text
            .lines()
            .filter(|line| line.contains("lease lost"))
            .count();
        lease_losses.insert(node, lost);
    }
    let report = Report::new(report::Inputs {
        args,
        first_fire,
        until,
        faults,
        stalls,
        findings,
        audit: &audit,
        job_results,
        drained_in,
        panics,
        lease_losses,
        node_starts: cluster.nodes.iter().map(|node| node.starts).sum(),
        killed_job_processes: killed_jobs,
        unexpected_exits: std::mem::take(&mut cluster.unexpected_exits),
        final_exits,
        elapsed: began.elapsed(),
        out: &out,
    });
    print!("{}", report.to_text());
    let json_path = out.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("chaos: report written to {}", json_path.display());
    Ok(report.passed)
}

/// Carries out one planned fault and returns it as it happened.
fn strike(
    planned: &PlannedFault,
    cluster: &mut Cluster,
    probes: &Probes,
    database: &Service,
    broker: &Service,
    killed_jobs: &mut usize,
) -> Result<FaultWindow> {
    let start = Timestamp::now();
    let (class, node) = match planned.kind {
        FaultKind::KillNode { node, down_for } => {
            probes.disarm(node);
            *killed_jobs += cluster.kill(node)?;
            std::thread::sleep(down_for);
            cluster.start(node)?;
            probes.arm(node);
            (FaultClass::KillNode, Some(node))
        }
        FaultKind::FreezeNode { node, frozen_for } => {
            probes.disarm(node);
            cluster.freeze(node)?;
            std::thread::sleep(frozen_for);
            cluster.thaw(node)?;
            probes.arm(node);
            (FaultClass::FreezeNode, Some(node))
        }
        FaultKind::RestartDatabase { down_for } => {
            database.stop()?;
            std::thread::sleep(down_for);
            database.start()?;
            (FaultClass::Database, None)
        }
        FaultKind::RestartBroker { down_for } => {
            broker.stop()?;
            std::thread::sleep(down_for);
            broker.start()?;
            (FaultClass::Broker, None)
        }
    };
    let end = Timestamp::now();
    let node_id = node
        .and_then(|index| cluster.nodes.get(index))
        .map(|node| node.id.clone());
    Ok(FaultWindow {
        class,
        node: node_id,
        start,
        end,
        description: format!(
            "{} — {start} to {end} ({:.1} s)",
            planned.kind,
            end.duration_since(start).as_secs_f64()
        ),
    })
}

/// The job results of the jobs in `checked`, by outcome.
async fn result_outcomes(
    store: &horae_sql::PostgresStore,
    checked: &HashSet<&str>,
) -> Result<BTreeMap<String, usize>> {
    let mut outcomes = BTreeMap::new();
    for result in store.get_job_results(usize::MAX).await? {
        if checked.contains(result.job_id.to_string().as_str()) {
            *outcomes
                .entry(result.outcome.as_str().to_owned())
                .or_default() += 1;
        }
    }
    Ok(outcomes)
}

/// The (schedule, fire time) of every job of a fire time up to `until` still in the store.
async fn queued_jobs(
    store: &horae_sql::PostgresStore,
    until: Timestamp,
) -> Result<HashSet<(String, Timestamp)>> {
    Ok(store
        .get_jobs()
        .await?
        .into_iter()
        .filter_map(|job| {
            let fire = job.scheduled_fire_time.filter(|&fire| fire <= until)?;
            Some((job.schedule_id?.to_string(), fire))
        })
        .collect())
}

/// The `horae` binary to run, built first unless given.
fn horae_binary(args: &ChaosArgs) -> Result<PathBuf> {
    if let Some(path) = &args.horae {
        if !path.is_file() {
            bail!("--horae {}: no such file", path.display());
        }
        return Ok(path.clone());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--package", "horae-cli", "--bin", "horae"]);
    if args.release {
        build.arg("--release");
    }
    eprintln!("chaos: building horae ({:?})", build);
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let root = workspace_root();
    let path = root
        .join("target")
        .join(if args.release { "release" } else { "debug" })
        .join("horae");
    Ok(path)
}

/// The workspace's root directory (the parent of this crate's).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// The output directory, created.
fn output_dir(args: &ChaosArgs) -> Result<PathBuf> {
    let dir = match &args.out {
        Some(dir) => dir.clone(),
        None => {
            let stamp = Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
            workspace_root().join("target").join("chaos").join(stamp)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    Ok(dir)
}

/// Progress lines while the experiment runs, and the nodes' health between faults.
struct Progress<'a> {
    audit: &'a Path,
    first_fire: Timestamp,
    faults_planned: usize,
    last: Instant,
}

impl<'a> Progress<'a> {
    fn new(audit: &'a Path, first_fire: Timestamp, faults_planned: usize) -> Progress<'a> {
        Progress {
            audit,
            first_fire,
            faults_planned,
            last: Instant::now(),
        }
    }

    /// Sleeps until `at`, watching for nodes that exit on their own and printing progress.
    fn wait_until(&mut self, at: Timestamp, cluster: &mut Cluster, faults_done: usize) {
        loop {
            cluster.check_exits();
            if self.last.elapsed() >= PROGRESS_EVERY {
                self.last = Instant::now();
                let rows = std::fs::read(self.audit)
                    .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count())
                    .unwrap_or(0);
                eprintln!(
                    "chaos: {:+6.0}s  {}/{} nodes running, {rows} audit rows, {faults_done}/{} faults",
                    Timestamp::now()
                        .duration_since(self.first_fire)
                        .as_secs_f64(),
                    cluster.running(),
                    cluster.nodes.len(),
                    self.faults_planned,
                );
            }
            let left = at.duration_since(Timestamp::now());
            if left <= SignedDuration::ZERO {
                return;
            }
            let nap = Duration::try_from(left)
                .unwrap_or_default()
                .min(Duration::from_millis(250));
            std::thread::sleep(nap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("1e999s").is_err());
    }
}
