//! Stall detection: a thread per node asks `GET /healthz` every 250 ms and records every
//! stretch in which the node, while it should be up, took longer than a third of the lease
//! to answer (or did not answer). Such a node cannot renew its leases in time either, so a
//! re-run of one of its jobs during the stall is expected, not a duplicate; the report lists
//! the stalls, which no fault caused.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::analysis::{FaultClass, FaultWindow};
use super::cluster::http_status;

/// Not probed: killed, frozen or stopped on purpose.
const OFF: u8 = 0;
/// Probed, but a stall counts only once it has answered (starting, resuming).
const ARMING: u8 = 1;
/// Expected to answer.
const WATCHING: u8 = 2;

/// How often a node is asked.
const PERIOD: Duration = Duration::from_millis(250);

/// The probe threads of a cluster.
#[derive(Debug)]
pub(crate) struct Probes {
    states: Vec<Arc<AtomicU8>>,
    stop: Arc<AtomicBool>,
    stalls: Arc<Mutex<Vec<FaultWindow>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Probes {
    /// Starts one probe per `(node id, port)`, each off until [`Probes::arm`]; a stall is an
    /// answer slower than `threshold`.
    pub(crate) fn start(nodes: &[(String, u16)], threshold: Duration) -> Probes {
        let stop = Arc::new(AtomicBool::new(false));
        let stalls = Arc::new(Mutex::new(Vec::new()));
        let mut states = Vec::new();
        let mut threads = Vec::new();
        for (id, port) in nodes {
            let state = Arc::new(AtomicU8::new(OFF));
            states.push(state.clone());
            let (id, port, stop, stalls) = (id.clone(), *port, stop.clone(), stalls.clone());
            threads.push(std::thread::spawn(move || {
                watch(&id, port, threshold, &state, &stop, &stalls);
            }));
        }
        Probes {
            states,
            stop,
            stalls,
            threads,
        }
    }

    /// Node `index` should answer from its next answer on (after a start or a resume).
    pub(crate) fn arm(&self, index: usize) {
        if let Some(state) = self.states.get(index) {
            state.store(ARMING, Ordering::SeqCst);
        }
    }

    /// Node `index` is down or frozen on purpose.
    pub(crate) fn disarm(&self, index: usize) {
        if let Some(state) = self.states.get(index) {
            state.store(OFF, Ordering::SeqCst);
        }
    }

    /// Stops probing; returns the stalls seen.
    pub(crate) fn finish(self) -> Vec<FaultWindow> {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            let _ = thread.join();
        }
        let mut stalls =
            std::mem::take(&mut *self.stalls.lock().unwrap_or_else(|p| p.into_inner()));
        stalls.sort_by_key(|stall| stall.start);
        stalls
    }
}

fn watch(
    id: &str,
    port: u16,
    threshold: Duration,
    state: &AtomicU8,
    stop: &AtomicBool,
    stalls: &Mutex<Vec<FaultWindow>>,
) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stalled_since: Option<Timestamp> = None;
    while !stop.load(Ordering::SeqCst) {
        let asked_at = Timestamp::now();
        let clock = Instant::now();
        let answered = http_status(addr, "/healthz") == Some(200);
        let took = clock.elapsed();
        match state.load(Ordering::SeqCst) {
            OFF => stalled_since = None,
            ARMING => {
                if answered {
                    // Armed only if nothing disarmed it meanwhile.
                    let _ = state.compare_exchange(
                        ARMING,
                        WATCHING,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
                stalled_since = None;
            }
            _ if answered && took < threshold => {
                if let Some(since) = stalled_since.take() {
                    record(stalls, id, since, Timestamp::now());
                }
            }
            _ => {
                stalled_since.get_or_insert(asked_at);
            }
        }
        std::thread::sleep(PERIOD.saturating_sub(took));
    }
    if let Some(since) = stalled_since {
        record(stalls, id, since, Timestamp::now());
    }
}

fn record(stalls: &Mutex<Vec<FaultWindow>>, id: &str, start: Timestamp, end: Timestamp) {
    let seconds = end.duration_since(start).as_secs_f64();
    stalls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(FaultWindow {
            class: FaultClass::Stall,
            node: Some(id.to_owned()),
            start,
            end,
            description: format!(
                "{id} stalled (no /healthz answer in time) — {start} to {end} ({seconds:.1} s)"
            ),
        });
}
