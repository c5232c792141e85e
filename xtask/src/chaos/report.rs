//! The experiment's report: the verdict of every check, as text on standard output and as
//! `report.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::ChaosArgs;
use super::analysis::{FaultWindow, Findings, Problems};
use super::audit::Audit;
use super::cluster::Exit;

/// What the report is made of.
pub(crate) struct Inputs<'a> {
    pub(crate) args: &'a ChaosArgs,
    pub(crate) first_fire: Timestamp,
    pub(crate) until: Timestamp,
    pub(crate) faults: Vec<FaultWindow>,
    pub(crate) stalls: Vec<FaultWindow>,
    pub(crate) findings: Findings,
    pub(crate) audit: &'a Audit,
    pub(crate) job_results: BTreeMap<String, usize>,
    pub(crate) drained_in: Duration,
    pub(crate) panics: Vec<String>,
    pub(crate) lease_losses: BTreeMap<String, usize>,
    pub(crate) node_starts: u32,
    pub(crate) killed_job_processes: usize,
    pub(crate) unexpected_exits: Vec<Exit>,
    pub(crate) final_exits: Vec<Exit>,
    pub(crate) elapsed: Duration,
    pub(crate) out: &'a Path,
}

/// The settings of the run.
#[derive(Debug, Serialize)]
pub(crate) struct Settings {
    nodes: usize,
    schedules: usize,
    duration_s: f64,
    lease_ms: u128,
    kill_every_s: f64,
    seed: u64,
    max_p99_ms: u128,
    first_fire_time: Timestamp,
    last_checked_fire_time: Timestamp,
    store: String,
    broker: String,
}

/// The report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// Whether every check passed.
    pub(crate) passed: bool,
    /// The checks that failed, one line each.
    failures: Vec<String>,
    settings: Settings,
    faults: Vec<FaultWindow>,
    /// Stretches in which a node answered no health probe in time, by no fault.
    stalls: Vec<FaultWindow>,
    #[serde(flatten)]
    findings: Findings,
    job_results: BTreeMap<String, usize>,
    drained_in_s: f64,
    panics: Vec<String>,
    lease_losses_logged: BTreeMap<String, usize>,
    node_starts: u32,
    killed_job_processes: usize,
    audit_rows_malformed: Vec<(usize, String)>,
    audit_orphan_ends: usize,
    unexpected_node_exits: Vec<Exit>,
    final_node_exits: Vec<Exit>,
    elapsed_s: f64,
    files: String,
}

impl Report {
    /// The report, with its verdict.
    pub(crate) fn new(inputs: Inputs<'_>) -> Report {
        let Inputs {
            args,
            first_fire,
            until,
            faults,
            stalls,
            findings,
            audit,
            job_results,
            drained_in,
            panics,
            lease_losses,
            node_starts,
            killed_job_processes,
            unexpected_exits,
            final_exits,
            elapsed,
            out,
        } = inputs;
        let mut failures = Vec::new();
        let mut problem = |what: &str, problems: &Problems| {
            if problems.count > 0 {
                failures.push(format!("{} {what}", problems.count));
            }
        };
        problem("fire times missing (lost)", &findings.missing);
        problem(
            "fire times still queued after the drain (a backlog)",
            &findings.queued,
        );
        problem("runs of fire times no schedule has", &findings.unexpected);
        problem("fire times never completed", &findings.never_completed);
        problem(
            "duplicate starts while a lease was valid",
            &findings.duplicate_starts_with_valid_lease,
        );
        if findings.expected == 0 {
            failures.push("no fire time was due: nothing was checked".to_owned());
        }
        if !panics.is_empty() {
            failures.push(format!("{} panics in the node logs", panics.len()));
        }
        if !unexpected_exits.is_empty() {
            failures.push(format!(
                "{} nodes exited on their own",
                unexpected_exits.len()
            ));
        }
        let unclean = final_exits.iter().filter(|exit| !exit.clean).count();
        if unclean > 0 {
            failures.push(format!("{unclean} nodes did not stop cleanly on SIGTERM"));
        }
        if !audit.malformed.is_empty() {
            failures.push(format!("{} malformed audit rows", audit.malformed.len()));
        }
        let kills = faults
            .iter()
            .filter(|f| f.class == super::analysis::FaultClass::KillNode)
            .count();
        if kills > 0 && findings.reruns_after_fault == 0 {
            failures.push("the faults hit no running job: no job was ever re-run".to_owned());
        }
        let max_p99_ms = args.max_p99.as_secs_f64() * 1000.0;
        if findings.lateness.p99_ms > max_p99_ms {
            failures.push(format!(
                "p99 start lateness outside fault windows {:.0} ms > {max_p99_ms:.0} ms",
                findings.lateness.p99_ms
            ));
        }
        Report {
            passed: failures.is_empty(),
            failures,
            settings: Settings {
                nodes: args.nodes,
                schedules: args.schedules,
                duration_s: args.duration.as_secs_f64(),
                lease_ms: args.lease.as_millis(),
                kill_every_s: args.kill_every.as_secs_f64(),
                seed: args.seed,
                max_p99_ms: args.max_p99.as_millis(),
                first_fire_time: first_fire,
                last_checked_fire_time: until,
                store: args.pg_url.clone(),
                broker: args.redis_url.clone(),
            },
            faults,
            stalls,
            findings,
            job_results,
            drained_in_s: drained_in.as_secs_f64(),
            panics,
            lease_losses_logged: lease_losses,
            node_starts,
            killed_job_processes,
            audit_rows_malformed: audit.malformed.clone(),
            audit_orphan_ends: audit.orphan_ends,
            unexpected_node_exits: unexpected_exits,
            final_node_exits: final_exits,
            elapsed_s: elapsed.as_secs_f64(),
            files: out.display().to_string(),
        }
    }

    /// The report as text.
    pub(crate) fn to_text(&self) -> String {
        let f = &self.findings;
        let s = &self.settings;
        let mut text = String::new();
        let mut line = |l: String| {
            text.push_str(&l);
            text.push('\n');
        };
        line(String::new());
        line(format!(
            "chaos report — {} nodes, {} schedules, lease {} ms, {:.0} s of faults from {} (seed {})",
            s.nodes, s.schedules, s.lease_ms, s.duration_s, s.first_fire_time, s.seed
        ));
        line(format!("faults ({}):", self.faults.len()));
        for fault in &self.faults {
            line(format!("  {}", fault.description));
        }
        let longest = self
            .stalls
            .iter()
            .map(|stall| stall.end.duration_since(stall.start).as_secs_f64())
            .fold(0.0, f64::max);
        line(format!(
            "stalls (a node slower than lease/3 to answer /healthz, no fault): {} (longest {longest:.1} s)",
            self.stalls.len()
        ));
        line(format!(
            "fire times: expected {}, produced {}, missing {}, still queued {}, unexpected {}",
            f.expected, f.produced, f.missing.count, f.queued.count, f.unexpected.count
        ));
        line(format!(
            "completed: {} fire times ({} never completed)",
            f.completed, f.never_completed.count
        ));
        line(format!(
            "runs: {} starts, {} killed before finishing ({} job processes killed with their nodes); by attempt {}",
            f.starts,
            f.killed_runs,
            self.killed_job_processes,
            self.attempts_text()
        ));
        line(format!(
            "abandoned and retried: {} re-runs after a fault or stall ended the lease ({} while the earlier process was still working)",
            f.reruns_after_fault, f.reruns_overlapping
        ));
        line(format!(
            "duplicate starts while a lease was valid: {}",
            f.duplicate_starts_with_valid_lease.count
        ));
        line(format!(
            "job results in the store: {}",
            map_text(&self.job_results)
        ));
        line(format!(
            "drained in {:.0} s after the faults",
            self.drained_in_s
        ));
        line(format!(
            "lease losses logged: {}",
            map_text(&self.lease_losses_logged)
        ));
        line(format!(
            "node starts: {} (restarts after kills included)",
            self.node_starts
        ));
        line(format!("panics in logs: {}", self.panics.len()));
        line(format!(
            "start lateness outside fault windows: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} fire times; {} in fault windows left out)",
            f.lateness.p50_ms,
            f.lateness.p99_ms,
            f.lateness.max_ms,
            f.lateness.samples,
            f.lateness_excluded
        ));
        line(format!(
            "start lateness, every fire time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            f.lateness_all.p50_ms, f.lateness_all.p99_ms, f.lateness_all.max_ms
        ));
        line(format!(
            "nodes at the end: {}",
            self.final_node_exits
                .iter()
                .map(|exit| format!("{} {}", exit.node, exit.status))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (title, problems) in [
            ("missing", &f.missing),
            ("still queued", &f.queued),
            ("unexpected", &f.unexpected),
            ("never completed", &f.never_completed),
            ("duplicate starts", &f.duplicate_starts_with_valid_lease),
        ] {
            for example in &problems.examples {
                line(format!("  {title}: {example}"));
            }
        }
        for panic in self.panics.iter().take(20) {
            line(format!("  panic: {panic}"));
        }
        for exit in &self.unexpected_node_exits {
            line(format!(
                "  exited on its own: {} {}",
                exit.node, exit.status
            ));
        }
        line(format!(
            "files: {} (took {:.0} s)",
            self.files, self.elapsed_s
        ));
        if self.passed {
            line("PASSED: every check held".to_owned());
        } else {
            line(format!("FAILED: {}", self.failures.join("; ")));
        }
        text
    }

    fn attempts_text(&self) -> String {
        let mut text = String::new();
        for (attempt, count) in &self.findings.attempts {
            if !text.is_empty() {
                text.push_str(", ");
            }
            let _ = write!(text, "#{attempt}: {count}");
        }
        text
    }
}

fn map_text(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(key, count)| format!("{key} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}
