//! The checks: the audit's runs against the fire times the schedules must produce and the
//! faults that struck.
//!
//! - **Missing**: an expected fire time with no run and no job in the store — a lost fire
//!   time. (One whose job is still queued is counted apart: a backlog, not a loss.)
//! - **Unexpected**: a run for a fire time no schedule has — a fire time invented or shifted.
//! - **Never completed**: an expected fire time none of whose runs finished (every attempt
//!   was killed; the tasks retry an abandoned job 20 times, so this means a job was dropped).
//! - **Duplicate start while a lease was valid**: a second run of the same fire time that
//!   started although nothing could have ended the first run's lease: no fault struck the
//!   first run's node (kill, freeze), it did not stall (see [`super::probe`]) and the
//!   database did not go away between the two starts. Re-runs after such a fault are expected — that is how a dead node's job is
//!   retried — and counted apart, with those that overlapped the first run (its process
//!   was still alive, as when a frozen node's job outlives its lease).
//! - **Lateness**: first start minus fire time, for fire times outside every fault's window
//!   (from 1 s before the fault to `settle` after it ended) and after the cluster warmed up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::audit::Run;

/// What a fault did, for deciding whom it affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FaultClass {
    /// A node was killed (and later restarted).
    KillNode,
    /// A node was frozen (and later resumed).
    FreezeNode,
    /// The database was down.
    Database,
    /// The broker was down.
    Broker,
    /// A node did not answer its health probe in time: stalled on its own, by no fault.
    Stall,
}

/// A fault as it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FaultWindow {
    /// What it did.
    pub(crate) class: FaultClass,
    /// The node it struck (node faults).
    pub(crate) node: Option<String>,
    /// When it began.
    pub(crate) start: Timestamp,
    /// When it ended (node restarted or resumed, service started again).
    pub(crate) end: Timestamp,
    /// How it reads in the report.
    pub(crate) description: String,
}

impl FaultWindow {
    /// Whether this fault can end the lease of a job `node` was running.
    fn can_end_lease_of(&self, node: &str) -> bool {
        match self.class {
            FaultClass::KillNode | FaultClass::FreezeNode | FaultClass::Stall => {
                self.node.as_deref() == Some(node)
            }
            FaultClass::Database => true,
            FaultClass::Broker => false,
        }
    }

    /// Whether the fault was under way at some point of `from..=to`.
    fn overlaps(&self, from: Timestamp, to: Timestamp) -> bool {
        self.start <= to && self.end >= from
    }
}

/// Everything the checks look at.
#[derive(Debug)]
pub(crate) struct Evidence<'a> {
    /// Each schedule's fire times from the first to [`Evidence::until`].
    pub(crate) expected: &'a HashMap<String, Vec<Timestamp>>,
    /// The (schedule, fire time) of jobs still queued in the store at the end.
    pub(crate) queued: &'a HashSet<(String, Timestamp)>,
    /// The audit's runs.
    pub(crate) runs: &'a [Run],
    /// The faults that struck.
    pub(crate) faults: &'a [FaultWindow],
    /// Stalls of nodes no fault caused: they excuse re-runs but stay in the lateness.
    pub(crate) stalls: &'a [FaultWindow],
    /// The last fire time checked; runs of later fire times are ignored.
    pub(crate) until: Timestamp,
    /// Fire times before this are warm-up, left out of the lateness figures.
    pub(crate) warm_until: Timestamp,
    /// How long after a fault ended its effects may last (lease expiry, reconnection).
    pub(crate) settle: Duration,
}

/// At most this many examples of each problem are listed.
const EXAMPLES: usize = 20;

/// A list of problems: how many, and the first few.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Problems {
    /// How many there are.
    pub(crate) count: usize,
    /// The first [`EXAMPLES`] of them.
    pub(crate) examples: Vec<String>,
}

impl Problems {
    fn push(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }
}

/// Lateness percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Lateness {
    /// Fire times measured.
    pub(crate) samples: usize,
    /// Median.
    pub(crate) p50_ms: f64,
    /// 99th percentile.
    pub(crate) p99_ms: f64,
    /// Largest.
    pub(crate) max_ms: f64,
}

impl Lateness {
    fn of(mut values: Vec<f64>) -> Lateness {
        values.sort_by(f64::total_cmp);
        let at = |p: f64| -> f64 {
            if values.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1] * 1000.0
        };
        Lateness {
            samples: values.len(),
            p50_ms: at(50.0),
            p99_ms: at(99.0),
            max_ms: values.last().copied().unwrap_or(0.0) * 1000.0,
        }
    }
}

/// What the checks found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Findings {
    /// Fire times the schedules must produce.
    pub(crate) expected: usize,
    /// Of those, fire times with at least one run.
    pub(crate) produced: usize,
    /// Expected fire times without a run and without a job in the store: lost.
    pub(crate) missing: Problems,
    /// Expected fire times without a run whose job is still queued (a backlog the drain
    /// did not clear).
    pub(crate) queued: Problems,
    /// Runs of fire times no schedule has.
    pub(crate) unexpected: Problems,
    /// Expected fire times with at least one finished run.
    pub(crate) completed: usize,
    /// Expected fire times whose every run was killed.
    pub(crate) never_completed: Problems,
    /// Runs of the checked fire times.
    pub(crate) starts: usize,
    /// Runs that did not finish (their process was killed).
    pub(crate) killed_runs: usize,
    /// Second and later runs of a fire time after a fault ended the first run's lease.
    pub(crate) reruns_after_fault: usize,
    /// Of those, runs that started while the earlier run's process was still working (it
    /// finished later, as a frozen node's job may).
    pub(crate) reruns_overlapping: usize,
    /// Second runs of a fire time while the first run's lease was valid (must be 0).
    pub(crate) duplicate_starts_with_valid_lease: Problems,
    /// Runs by attempt number.
    pub(crate) attempts: BTreeMap<u32, usize>,
    /// Start lateness outside the faults' windows, after warm-up.
    pub(crate) lateness: Lateness,
    /// Start lateness of every checked fire time, faults included.
    pub(crate) lateness_all: Lateness,
    /// Fire times left out of `lateness` for falling in a fault's window.
    pub(crate) lateness_excluded: usize,
}

/// Runs the checks.
pub(crate) fn analyse(evidence: &Evidence<'_>) -> Findings {
    let mut findings = Findings::default();
    let mut by_fire: HashMap<(&str, Timestamp), Vec<&Run>> = HashMap::new();
    for run in evidence
        .runs
        .iter()
        .filter(|run| run.fire_time <= evidence.until)
    {
        by_fire
            .entry((run.schedule.as_str(), run.fire_time))
            .or_default()
            .push(run);
        findings.starts += 1;
        *findings.attempts.entry(run.attempt).or_default() += 1;
        if run.end.is_none() {
            findings.killed_runs += 1;
        }
    }
    let settle = SignedDuration::try_from(evidence.settle).unwrap_or(SignedDuration::MAX);
    let mut clean_lateness = Vec::new();
    let mut all_lateness = Vec::new();
    let mut known = 0usize;
    for (schedule, times) in evidence.expected {
        for &fire_time in times.iter().filter(|&&t| t <= evidence.until) {
            findings.expected += 1;
            let Some(runs) = by_fire.get_mut(&(schedule.as_str(), fire_time)) else {
                if evidence.queued.contains(&(schedule.clone(), fire_time)) {
                    findings.queued.push(|| format!("{schedule} @ {fire_time}"));
                } else {
                    findings
                        .missing
                        .push(|| format!("{schedule} @ {fire_time}"));
                }
                continue;
            };
            known += 1;
            findings.produced += 1;
            runs.sort_by_key(|run| run.start);
            if runs.iter().any(|run| run.end.is_some()) {
                findings.completed += 1;
            } else {
                findings.never_completed.push(|| {
                    format!(
                        "{schedule} @ {fire_time}: {} run(s), none finished",
                        runs.len()
                    )
                });
            }
            check_reruns(runs, evidence.faults, evidence.stalls, &mut findings);
            let late = runs[0].start.duration_since(fire_time).as_secs_f64();
            all_lateness.push(late);
            let in_window = evidence.faults.iter().any(|fault| {
                fire_time >= fault.start - SignedDuration::from_secs(1)
                    && fire_time <= fault.end.saturating_add(settle).unwrap_or(Timestamp::MAX)
            });
            if in_window {
                findings.lateness_excluded += 1;
            } else if fire_time >= evidence.warm_until {
                clean_lateness.push(late);
            }
        }
    }
    if known < by_fire.len() {
        let mut extra: Vec<_> = by_fire
            .iter()
            .filter(|((schedule, fire_time), _)| {
                evidence
                    .expected
                    .get(*schedule)
                    .is_none_or(|times| times.binary_search(fire_time).is_err())
            })
            .collect();
        extra.sort_by_key(|((schedule, fire_time), _)| (*schedule, *fire_time));
        for ((schedule, fire_time), runs) in extra {
            findings.unexpected.push(|| {
                format!(
                    "{schedule} @ {fire_time}: {} run(s) of a fire time it does not have",
                    runs.len()
                )
            });
        }
    }
    findings.lateness = Lateness::of(clean_lateness);
    findings.lateness_all = Lateness::of(all_lateness);
    findings
}

/// Classifies the second and later runs of one fire time (`runs` sorted by start).
fn check_reruns(
    runs: &[&Run],
    faults: &[FaultWindow],
    stalls: &[FaultWindow],
    findings: &mut Findings,
) {
    for (index, later) in runs.iter().enumerate().skip(1) {
        let mut overlapping = false;
        let mut unexcused = None;
        for earlier in &runs[..index] {
            // A run that never finished was killed, at a time the audit does not show.
            overlapping |= earlier.end.is_some_and(|end| end > later.start);
            let excused = faults.iter().chain(stalls).any(|fault| {
                fault.can_end_lease_of(&earlier.node) && fault.overlaps(earlier.start, later.start)
            });
            if !excused && unexcused.is_none() {
                unexcused = Some(*earlier);
            }
        }
        match unexcused {
            Some(earlier) => findings.duplicate_starts_with_valid_lease.push(|| {
                format!(
                    "{} @ {}: attempt {} started on {} at {} after attempt {} started on {} at {}{} \
                     with no fault in between",
                    later.schedule,
                    later.fire_time,
                    later.attempt,
                    later.node,
                    later.start,
                    earlier.attempt,
                    earlier.node,
                    earlier.start,
                    match earlier.end {
                        Some(end) => format!(" and finished at {end}"),
                        None => " (never finished)".to_owned(),
                    },
                )
            }),
            None => {
                findings.reruns_after_fault += 1;
                if overlapping {
                    findings.reruns_overlapping += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64) -> Timestamp {
        Timestamp::from_microsecond(1_765_065_600_000_000 + (seconds * 1e6) as i64).unwrap()
    }

    fn run(fire: f64, node: &str, attempt: u32, start: f64, end: Option<f64>) -> Run {
        Run {
            schedule: "s000".to_owned(),
            fire_time: at(fire),
            node: node.to_owned(),
            attempt,
            job: format!("job-{fire}"),
            start: at(start),
            end: end.map(at),
        }
    }

    fn kill(node: &str, from: f64, to: f64) -> FaultWindow {
        FaultWindow {
            class: FaultClass::KillNode,
            node: Some(node.to_owned()),
            start: at(from),
            end: at(to),
            description: format!("kill {node}"),
        }
    }

    fn check(runs: &[Run], faults: &[FaultWindow]) -> Findings {
        let expected: HashMap<String, Vec<Timestamp>> = [(
            "s000".to_owned(),
            (0..10).map(|i| at(f64::from(i))).collect(),
        )]
        .into();
        analyse(&Evidence {
            expected: &expected,
            queued: &HashSet::from([("s000".to_owned(), at(9.0))]),
            runs,
            faults,
            stalls: &[],
            until: at(9.0),
            warm_until: at(0.0),
            settle: Duration::from_secs(2),
        })
    }

    fn every_fire_once() -> Vec<Run> {
        (0..10)
            .map(|i| {
                let fire = f64::from(i);
                run(fire, "n1", 1, fire + 0.01 * fire, Some(fire + 0.5))
            })
            .collect()
    }

    #[test]
    fn a_clean_run_passes_every_check() {
        let findings = check(&every_fire_once(), &[]);
        assert_eq!(findings.expected, 10);
        assert_eq!(findings.produced, 10);
        assert_eq!(findings.completed, 10);
        assert_eq!(findings.missing.count, 0);
        assert_eq!(findings.unexpected.count, 0);
        assert_eq!(findings.duplicate_starts_with_valid_lease.count, 0);
        assert_eq!(findings.lateness.samples, 10);
        assert!((findings.lateness.max_ms - 90.0).abs() < 1e-6);
        assert!((findings.lateness.p50_ms - 40.0).abs() < 1e-6);
    }

    #[test]
    fn a_lost_fire_time_is_missing_and_a_queued_one_is_not() {
        let mut runs = every_fire_once();
        runs.remove(9);
        runs.remove(4);
        let findings = check(&runs, &[]);
        assert_eq!(findings.missing.count, 1);
        assert!(findings.missing.examples[0].starts_with("s000 @ "));
        assert_eq!(findings.queued.count, 1);
        assert_eq!(findings.produced, 8);
    }

    #[test]
    fn a_fire_time_the_schedule_does_not_have_is_unexpected() {
        let mut runs = every_fire_once();
        runs.push(run(4.5, "n1", 1, 4.6, Some(5.0)));
        runs.push(Run {
            schedule: "s999".to_owned(),
            ..run(1.0, "n1", 1, 1.1, None)
        });
        assert_eq!(check(&runs, &[]).unexpected.count, 2);
    }

    #[test]
    fn a_second_start_without_a_fault_is_a_duplicate() {
        let mut runs = every_fire_once();
        // Finished, then started again elsewhere: the job ran twice.
        runs.push(run(2.0, "n2", 1, 3.0, Some(3.5)));
        // Started again while the first run was still working.
        runs.push(run(5.0, "n2", 2, 5.2, Some(5.9)));
        let findings = check(&runs, &[]);
        assert_eq!(findings.duplicate_starts_with_valid_lease.count, 2);
        assert_eq!(findings.reruns_after_fault, 0);
        // A fault on another node excuses nothing.
        let findings = check(&runs, &[kill("n3", 1.0, 8.0)]);
        assert_eq!(findings.duplicate_starts_with_valid_lease.count, 2);
    }

    #[test]
    fn a_rerun_after_its_node_was_killed_or_the_database_left_is_expected() {
        let mut runs = every_fire_once();
        runs[2].end = None;
        runs.push(run(2.0, "n2", 2, 6.0, Some(6.5)));
        runs.push(run(5.0, "n2", 2, 5.2, Some(5.9)));
        let database = FaultWindow {
            class: FaultClass::Database,
            node: None,
            start: at(5.05),
            end: at(5.1),
            description: "database".to_owned(),
        };
        let findings = check(&runs, &[kill("n1", 2.5, 4.0), database.clone()]);
        assert_eq!(findings.duplicate_starts_with_valid_lease.count, 0);
        assert_eq!(findings.reruns_after_fault, 2);
        assert_eq!(findings.reruns_overlapping, 1);
        assert_eq!(findings.killed_runs, 1);
        assert_eq!(findings.completed, 10);
        // The broker going away ends no lease.
        let broker = FaultWindow {
            class: FaultClass::Broker,
            ..database
        };
        let findings = check(&runs, &[kill("n1", 2.5, 4.0), broker]);
        assert_eq!(findings.duplicate_starts_with_valid_lease.count, 1);
    }

    #[test]
    fn a_stall_of_the_first_node_excuses_a_rerun_but_not_its_lateness() {
        let mut runs = every_fire_once();
        runs.push(run(5.0, "n2", 2, 5.2, Some(5.9)));
        let stall = FaultWindow {
            class: FaultClass::Stall,
            ..kill("n1", 5.1, 5.15)
        };
        let expected: HashMap<String, Vec<Timestamp>> = [(
            "s000".to_owned(),
            (0..10).map(|i| at(f64::from(i))).collect(),
        )]
        .into();
        let findings = analyse(&Evidence {
            expected: &expected,
            queued: &HashSet::new(),
            runs: &runs,
            faults: &[],
            stalls: &[stall],
            until: at(9.0),
            warm_until: at(0.0),
            settle: Duration::from_secs(2),
        });
        assert_eq!(findings.duplicate_starts_with_valid_lease.count, 0);
        assert_eq!(findings.reruns_after_fault, 1);
        assert_eq!(findings.lateness_excluded, 0);
    }

    #[test]
    fn a_fire_time_whose_runs_all_died_never_completed() {
        let mut runs = every_fire_once();
        runs[7].end = None;
        let findings = check(&runs, &[kill("n1", 7.2, 8.0)]);
        assert_eq!(findings.never_completed.count, 1);
        assert_eq!(findings.completed, 9);
    }

    #[test]
    fn lateness_leaves_out_fault_windows_and_warm_up() {
        let mut runs = every_fire_once();
        runs[6].start = at(6.0 + 30.0);
        let findings = check(&runs, &[kill("n1", 5.5, 6.5)]);
        // Fire times 5 (from 1 s before) to 8 (2 s settle after the end) are left out.
        assert_eq!(findings.lateness_excluded, 4);
        assert_eq!(findings.lateness.samples, 6);
        assert!(findings.lateness.max_ms < 100.0);
        assert!(findings.lateness_all.max_ms > 29_000.0);
    }
}
