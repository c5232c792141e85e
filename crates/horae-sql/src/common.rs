//! Pieces of store behaviour that every SQL dialect shares.

use std::time::Duration;

use horae::error::{ObjectKind, StoreError};
use horae::model::{Job, JobId, JobOutcome, JobResult};
use horae::store::JobRelease;
use jiff::Timestamp;

/// `at + duration`, saturating at the largest timestamp (as the engine does).
pub(crate) fn add(at: Timestamp, duration: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
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
