//! The fault plan: which fault strikes when, fixed in advance from a seed so a run can be
//! repeated.
//!
//! Over a run of `duration`, starting `kill_every / 2` in and then every `kill_every`, a
//! random node is killed with `SIGKILL` (its job processes with it) and restarted 2–5 s
//! later. Halfway between two kills — where nothing else is happening — three more faults
//! strike once each, in this order at about 30 %, 55 % and 80 % of the run: one node is
//! frozen with `SIGSTOP` for twice the lease and resumed, PostgreSQL is stopped and started
//! again, and the broker (Redis) is stopped and started again.

use std::fmt;
use std::time::Duration;

/// One fault and when it strikes, counted from the first fire time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedFault {
    /// When it strikes, from the start of the run.
    pub(crate) at: Duration,
    /// What it does.
    pub(crate) kind: FaultKind,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// `SIGKILL` node `node` and its job processes, restart it after `down_for`.
    KillNode { node: usize, down_for: Duration },
    /// `SIGSTOP` node `node`, `SIGCONT` it after `frozen_for`.
    FreezeNode { node: usize, frozen_for: Duration },
    /// Stop PostgreSQL, start it again after `down_for`.
    RestartDatabase { down_for: Duration },
    /// Stop the broker, start it again after `down_for`.
    RestartBroker { down_for: Duration },
}

#[cfg(test)]
impl FaultKind {
    /// How long the fault lasts (its outage, before any recovery).
    pub(crate) fn length(self) -> Duration {
        match self {
            FaultKind::KillNode { down_for, .. }
            | FaultKind::RestartDatabase { down_for }
            | FaultKind::RestartBroker { down_for } => down_for,
            FaultKind::FreezeNode { frozen_for, .. } => frozen_for,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::KillNode { node, down_for } => {
                write!(f, "SIGKILL node {} (restart after {down_for:?})", node + 1)
            }
            FaultKind::FreezeNode { node, frozen_for } => {
                write!(f, "SIGSTOP node {} for {frozen_for:?}", node + 1)
            }
            FaultKind::RestartDatabase { down_for } => {
                write!(f, "stop PostgreSQL for {down_for:?}")
            }
            FaultKind::RestartBroker { down_for } => write!(f, "stop Redis for {down_for:?}"),
        }
    }
}

/// What the plan depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanSettings {
    /// Length of the run.
    pub(crate) duration: Duration,
    /// Time between two node kills.
    pub(crate) kill_every: Duration,
    /// The nodes' lease duration (a freeze lasts twice as long).
    pub(crate) lease: Duration,
    /// How long PostgreSQL and the broker stay down.
    pub(crate) service_down_for: Duration,
    /// Nodes in the cluster.
    pub(crate) nodes: usize,
    /// Seed of the random choices.
    pub(crate) seed: u64,
}

/// Why no plan fits the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanError(String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// Longest a killed node stays down.
const MAX_DOWN: Duration = Duration::from_secs(5);

/// Time kept free of faults at the end of the run.
const QUIET_END: Duration = Duration::from_secs(5);

/// The faults of one run, in time order; no two overlap.
///
/// # Errors
///
/// When the run is too short for three kills and the three one-off faults, when a freeze
/// (twice the lease) or a service outage does not fit between two kills, or with no nodes.
pub(crate) fn plan(settings: &PlanSettings) -> Result<Vec<PlannedFault>, PlanError> {
    let PlanSettings {
        duration,
        kill_every,
        lease,
        service_down_for,
        nodes,
        seed,
    } = *settings;
    if nodes < 2 {
        return Err(PlanError(format!(
            "the chaos cluster needs at least 2 nodes (one survives each fault), got {nodes}"
        )));
    }
    let half = kill_every / 2;
    let longest_one_off = (lease * 2).max(service_down_for);
    // A one-off fault sits halfway between two kills and must end before the next one.
    if longest_one_off + Duration::from_secs(2) > half.saturating_sub(MAX_DOWN) {
        return Err(PlanError(format!(
            "--kill-every {kill_every:?} leaves too little room between kills for a {:?} freeze \
             (twice the lease) or a {service_down_for:?} outage; use at least {:?}",
            lease * 2,
            (longest_one_off + MAX_DOWN + Duration::from_secs(2)) * 2
        )));
    }
    let mut rng = SplitMix64(seed);
    let mut faults = Vec::new();
    let mut at = half;
    while at + MAX_DOWN + QUIET_END <= duration {
        let node = rng.below(nodes as u64) as usize;
        let down_for = Duration::from_secs(2 + rng.below(4));
        faults.push(PlannedFault {
            at,
            kind: FaultKind::KillNode { node, down_for },
        });
        at += kill_every;
    }
    // The midpoints between kills, each followed by a kill (or the quiet end).
    let midpoints: Vec<Duration> = (1u32..)
        .map(|i| kill_every * i)
        .take_while(|&mid| mid + longest_one_off + QUIET_END <= duration)
        .collect();
    if faults.len() < 3 || midpoints.len() < 3 {
        return Err(PlanError(format!(
            "--duration {duration:?} is too short for three kills every {kill_every:?} and the \
             freeze and both restarts between them; use at least {:?}",
            kill_every * 4
        )));
    }
    let freeze_node = rng.below(nodes as u64) as usize;
    let one_offs = [
        FaultKind::FreezeNode {
            node: freeze_node,
            frozen_for: lease * 2,
        },
        FaultKind::RestartDatabase {
            down_for: service_down_for,
        },
        FaultKind::RestartBroker {
            down_for: service_down_for,
        },
    ];
    let mut next_slot = 0;
    for (placed, (kind, share)) in one_offs.into_iter().zip([0.30, 0.55, 0.80]).enumerate() {
        let wanted = duration.mul_f64(share);
        // The midpoint nearest the wanted time that is still free, leaving one for each
        // fault after this one.
        let last_usable = midpoints.len() - (one_offs.len() - placed);
        let slot = (next_slot..=last_usable)
            .min_by_key(|&i| midpoints[i].abs_diff(wanted))
            .unwrap_or(next_slot);
        faults.push(PlannedFault {
            at: midpoints[slot],
            kind,
        });
        next_slot = slot + 1;
    }
    faults.sort_by_key(|fault| fault.at);
    Ok(faults)
}

/// A small, seedable pseudo-random generator (SplitMix64): enough for picking nodes and
/// durations, and the same sequence on every machine.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`0` when `bound` is 0).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(duration_s: u64, seed: u64) -> PlanSettings {
        PlanSettings {
            duration: Duration::from_secs(duration_s),
            kill_every: Duration::from_secs(30),
            lease: Duration::from_secs(3),
            service_down_for: Duration::from_secs(3),
            nodes: 3,
            seed,
        }
    }

    #[test]
    fn every_fault_fits_and_none_overlap() {
        for duration in [120, 121, 150, 300, 600, 3600] {
            for seed in 0..50 {
                let faults = plan(&settings(duration, seed)).unwrap();
                let one_offs: Vec<_> = faults
                    .iter()
                    .filter(|f| !matches!(f.kind, FaultKind::KillNode { .. }))
                    .collect();
                assert_eq!(one_offs.len(), 3, "{duration} s: {faults:?}");
                assert!(matches!(one_offs[0].kind, FaultKind::FreezeNode { .. }));
                assert!(matches!(
                    one_offs[1].kind,
                    FaultKind::RestartDatabase { .. }
                ));
                assert!(matches!(one_offs[2].kind, FaultKind::RestartBroker { .. }));
                let kills = faults.len() - 3;
                assert!(kills >= 3, "{duration} s: {kills} kills");
                for pair in faults.windows(2) {
                    let end = pair[0].at + pair[0].kind.length();
                    assert!(
                        end + Duration::from_secs(2) <= pair[1].at,
                        "{pair:?} overlap"
                    );
                }
                let last = faults.last().unwrap();
                assert!(last.at + last.kind.length() + QUIET_END <= Duration::from_secs(duration));
            }
        }
    }

    #[test]
    fn the_one_off_faults_spread_over_a_long_run() {
        let faults = plan(&settings(600, 7)).unwrap();
        let at = |matcher: fn(&FaultKind) -> bool| {
            faults
                .iter()
                .find(|f| matcher(&f.kind))
                .unwrap()
                .at
                .as_secs()
        };
        assert_eq!(at(|k| matches!(k, FaultKind::FreezeNode { .. })), 180);
        assert_eq!(at(|k| matches!(k, FaultKind::RestartDatabase { .. })), 330);
        assert_eq!(at(|k| matches!(k, FaultKind::RestartBroker { .. })), 480);
        // A kill every 30 s from 15 s on: 20 in ten minutes.
        assert_eq!(faults.len() - 3, 20);
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        assert_eq!(plan(&settings(300, 42)), plan(&settings(300, 42)));
        assert_ne!(plan(&settings(300, 42)), plan(&settings(300, 43)));
    }

    #[test]
    fn plans_that_cannot_fit_are_refused() {
        assert!(plan(&settings(100, 1)).is_err());
        let mut tight = settings(600, 1);
        tight.lease = Duration::from_secs(10);
        assert!(
            plan(&tight)
                .unwrap_err()
                .to_string()
                .contains("--kill-every")
        );
        let mut lonely = settings(600, 1);
        lonely.nodes = 1;
        assert!(plan(&lonely).is_err());
    }
}
