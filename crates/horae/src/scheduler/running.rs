//! The set of jobs a node is running (DESIGN.md invariant 4).
//!
//! A node never starts a job id it is already running: [`RunningJobs::claim`] refuses a
//! second claim, and releasing an id that is not there is a no-op, never a panic (the
//! APScheduler 4 crash was a `KeyError` on exactly that).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use crate::model::JobId;

/// One running job: its fencing token and a way to stop it.
#[derive(Debug, Clone)]
pub struct RunningJob {
    /// The lease token the job was acquired with.
    pub lease_token: u64,
    /// Cancelled when the job must stop (lease lost, shutdown).
    pub cancel: CancellationToken,
    lease_lost: Arc<AtomicBool>,
}

impl RunningJob {
    /// Whether the job was stopped because this node lost its lease.
    pub fn lease_lost(&self) -> bool {
        self.lease_lost.load(Ordering::SeqCst)
    }
}

/// The jobs this node is running, shared by the job processor and the lease keeper.
#[derive(Debug, Clone, Default)]
pub struct RunningJobs {
    inner: Arc<Mutex<HashMap<JobId, RunningJob>>>,
}

impl RunningJobs {
    /// An empty set.
    pub fn new() -> RunningJobs {
        RunningJobs::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, RunningJob>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Claims `id` for running; `None` if it is already running here.
    pub fn claim(&self, id: JobId, lease_token: u64) -> Option<RunningJob> {
        let mut running = self.lock();
        if running.contains_key(&id) {
            return None;
        }
        let job = RunningJob {
            lease_token,
            cancel: CancellationToken::new(),
            lease_lost: Arc::new(AtomicBool::new(false)),
        };
        running.insert(id, job.clone());
        Some(job)
    }

    /// Forgets `id` (no-op if absent).
    pub fn release(&self, id: &JobId) {
        self.lock().remove(id);
    }

    /// How many jobs are running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no job is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The running jobs with their lease tokens.
    pub fn leases(&self) -> Vec<(JobId, u64)> {
        self.lock()
            .iter()
            .map(|(id, job)| (*id, job.lease_token))
            .collect()
    }

    /// Stops the given job because this node lost its lease on it (outcome `lease_lost`;
    /// nothing is released, since the store would refuse it).
    pub fn lose_lease(&self, id: &JobId) {
        if let Some(job) = self.lock().get(id) {
            job.lease_lost.store(true, Ordering::SeqCst);
            job.cancel.cancel();
        }
    }

    /// Stops every running job (outcome `cancelled`).
    pub fn cancel_all(&self) {
        for job in self.lock().values() {
            job.cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_never_claimed_twice_and_release_never_panics() {
        let running = RunningJobs::new();
        let id = JobId::new(jiff::Timestamp::UNIX_EPOCH);
        assert!(running.claim(id, 1).is_some());
        assert!(running.claim(id, 2).is_none(), "second claim refused");
        assert_eq!(running.leases(), [(id, 1)]);
        running.release(&id);
        running.release(&id);
        assert!(running.is_empty());
        assert!(
            running.claim(id, 3).is_some(),
            "claimable again after release"
        );
    }
}
