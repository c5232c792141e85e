//! Pieces of store behaviour that every SQL dialect shares.

use std::collections::HashSet;
use std::time::Duration;

use horae::error::{ObjectKind, StoreError};
use horae::model::{Job, JobId, JobOutcome, JobResult};
use horae::store::{DEAD_NODE_RETENTION, JobBatch, JobRelease, JobReleaseRequest};
use jiff::Timestamp;

use crate::codec;

/// `at + duration`, saturating at the largest timestamp (as the engine does).
pub(crate) fn add(at: Timestamp, duration: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The bound `b` of the dead-node deletion `lease_duration_us <= b - last_heartbeat`, which
/// is `last_heartbeat + lease + DEAD_NODE_RETENTION <= now` rearranged so that no sum can
/// overflow `BIGINT` (a lease may be stored as `i64::MAX`; timestamps stay far from the
/// limits): `now - DEAD_NODE_RETENTION` in microseconds.
pub(crate) fn dead_node_bound(now: Timestamp) -> i64 {
    codec::micros(now).saturating_sub(codec::duration_micros(DEAD_NODE_RETENTION))
}

/// Whether releasing writes a result row as well as the job change.
pub(crate) fn release_keeps_result(release: &JobRelease) -> bool {
    release_result(release).should_store()
}

/// The result a release records.
pub(crate) fn release_result(release: &JobRelease) -> &JobResult {
    match release {
        JobRelease::Finish(result) | JobRelease::Retry { result, .. } => result,
    }
}

/// The assignments of an `UPDATE` that queues a job again as its next attempt, not before
/// `at` (an SQL expression, evaluated once per assignment); `greatest` is the dialect's
/// two-argument maximum (`MAX` in SQLite, `GREATEST` elsewhere).
pub(crate) fn requeue_assignments(at: &str, greatest: &str) -> String {
    format!(
        "attempt = attempt + 1, started_at = NULL, acquired_by = NULL, acquired_until = NULL, \
         not_before = {at}, ready_at = {greatest}(created_at, {at})"
    )
}

/// The releases of a batch that reach the database: each job's first request, in batch
/// order. A later request for the same job would find it released already, so
/// [`settle_releases`] reports it lost.
pub(crate) fn first_releases(releases: &[JobReleaseRequest]) -> Vec<&JobReleaseRequest> {
    let mut seen = HashSet::with_capacity(releases.len());
    releases
        .iter()
        .filter(|request| seen.insert(request.id))
        .collect()
}

/// Settles a release batch once the database accepted the fenced changes of the jobs in
/// `held`: returns the ids the node no longer held, in batch order (repeated requests for a
/// job included), and the results of the accepted releases that ask to be kept.
pub(crate) fn settle_releases<'a>(
    releases: &'a [JobReleaseRequest],
    held: &HashSet<JobId>,
) -> (Vec<JobId>, Vec<&'a JobResult>) {
    let mut settled = HashSet::with_capacity(held.len());
    let mut lost = Vec::new();
    let mut kept = Vec::new();
    for request in releases {
        if held.contains(&request.id) && settled.insert(request.id) {
            let result = release_result(&request.release);
            if result.should_store() {
                kept.push(result);
            }
        } else {
            lost.push(request.id);
        }
    }
    (lost, kept)
}

/// Whether a job can no longer start at `now`: its start deadline has passed.
pub(crate) fn past_deadline(job: &Job, now: Timestamp) -> bool {
    job.start_deadline.is_some_and(|deadline| deadline < now)
}

/// Splits jobs just acquired (in hand-out order) into the batch to run and the releases
/// that finish the ones past their start deadline as `missed_start_deadline`; the store
/// writes those releases, then [`record_missed`] completes the batch.
pub(crate) fn split_missed(jobs: Vec<Job>, now: Timestamp) -> (JobBatch, Vec<JobReleaseRequest>) {
    let (missed, acquired): (Vec<_>, Vec<_>) =
        jobs.into_iter().partition(|job| past_deadline(job, now));
    let releases = missed
        .iter()
        .map(|job| JobReleaseRequest {
            id: job.id,
            lease_token: job.lease_token,
            release: JobRelease::Finish(missed_deadline(job, now)),
        })
        .collect();
    let batch = JobBatch {
        acquired,
        missed: Vec::new(),
    };
    (batch, releases)
}

/// Records in `batch` the results of the missed-deadline releases the store accepted (those
/// not `lost`).
pub(crate) fn record_missed(
    batch: &mut JobBatch,
    releases: Vec<JobReleaseRequest>,
    lost: &[JobId],
) {
    batch.missed = releases
        .into_iter()
        .filter(|request| !lost.contains(&request.id))
        .map(|request| match request.release {
            JobRelease::Finish(result) | JobRelease::Retry { result, .. } => result,
        })
        .collect();
}

/// The result of a job found past its start deadline at acquisition.
pub(crate) fn missed_deadline(job: &Job, now: Timestamp) -> JobResult {
    let mut result = JobResult::new(job, JobOutcome::MissedStartDeadline, None, now);
    result.error = Some("the job could not start before its start deadline".to_owned());
    result
}

/// The result of a started job whose node stopped renewing its lease.
pub(crate) fn abandoned(job: &Job, now: Timestamp) -> JobResult {
    let node = job.acquired_by.as_deref().unwrap_or_default();
    let mut result = JobResult::new(job, JobOutcome::Abandoned, job.started_at, now);
    result.error = Some(format!(
        "node '{node}' stopped renewing the lease while the job was running"
    ));
    result
}

/// An unknown object.
pub(crate) fn not_found(kind: ObjectKind, id: &impl ToString) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}

/// A fenced operation found the job no longer held by the caller.
pub(crate) fn lease_lost(id: &JobId) -> StoreError {
    StoreError::LeaseLost {
        job_id: id.to_string(),
    }
}

/// `url` with its password (if any) replaced by `***`, for error messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settling_a_batch_reports_lost_and_repeated_releases() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let task = horae::model::TaskId::new("t").unwrap();
        let request = |keep: bool| {
            let mut job = Job::new(task.clone(), now);
            if keep {
                job.result_expiration_time = Duration::from_secs(60);
            }
            JobReleaseRequest {
                id: job.id,
                lease_token: 1,
                release: JobRelease::Finish(JobResult::new(&job, JobOutcome::Success, None, now)),
            }
        };
        let (kept, dropped, gone) = (request(true), request(false), request(true));
        let again = JobReleaseRequest {
            release: JobRelease::Retry {
                result: release_result(&kept.release).clone(),
                at: now,
            },
            ..kept.clone()
        };
        let batch = vec![kept.clone(), dropped.clone(), gone.clone(), again];
        assert_eq!(first_releases(&batch).len(), 3);
        let held = HashSet::from([kept.id, dropped.id]);
        let (lost, results) = settle_releases(&batch, &held);
        assert_eq!(lost, vec![gone.id, kept.id], "the repeated request is lost");
        assert_eq!(results, vec![release_result(&kept.release)]);
    }

    #[test]
    fn passwords_never_reach_messages() {
        for (url, shown) in [
            (
                "postgres://horae:s3cret@db:5432/horae",
                "postgres://horae:***@db:5432/horae",
            ),
            (
                "mysql://root:p@ss@db/x?ssl=1",
                "mysql://root:***@db/x?ssl=1",
            ),
            ("postgres://db/horae", "postgres://db/horae"),
            ("postgres://u@db/x", "postgres://u@db/x"),
            ("postgres://db/x?note=a@b:c", "postgres://db/x?note=a@b:c"),
        ] {
            assert_eq!(redacted(url), shown);
        }
    }
}
