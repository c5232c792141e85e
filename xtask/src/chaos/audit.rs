//! The audit: one tab-separated row per job start and per job end, appended by the jobs
//! themselves (a single `write` on a file opened with `O_APPEND`, so rows from concurrent
//! jobs never interleave).
//!
//! Columns: `start`/`end`, schedule id, scheduled fire time (RFC 3339), node id, attempt,
//! job id, and the wall-clock time of the row in seconds since the Unix epoch with
//! microseconds (bash's `$EPOCHREALTIME`). [`read`] pairs each end with its start into
//! [`Run`]s.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

/// One execution of a job attempt, as the audit shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    /// The schedule.
    pub(crate) schedule: String,
    /// The scheduled fire time.
    pub(crate) fire_time: Timestamp,
    /// The node that ran it.
    pub(crate) node: String,
    /// The job's attempt (1-based).
    pub(crate) attempt: u32,
    /// The job id.
    pub(crate) job: String,
    /// When the job process started.
    pub(crate) start: Timestamp,
    /// When it finished its work; `None` when it was killed first.
    pub(crate) end: Option<Timestamp>,
}

/// The audit file's runs, in the order they started, and the rows it could not read.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    /// Every run.
    pub(crate) runs: Vec<Run>,
    /// Rows that are not well-formed (a job killed in the middle of its write would leave
    /// one; none is expected), with their line numbers.
    pub(crate) malformed: Vec<(usize, String)>,
    /// `end` rows without a matching `start`.
    pub(crate) orphan_ends: usize,
}

/// Reads the audit file at `path` (a missing file is an empty audit).
///
/// # Errors
///
/// When the file exists but cannot be read.
pub(crate) fn read(path: &Path) -> Result<Audit> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    Ok(parse(&text))
}

/// Parses the audit's text.
pub(crate) fn parse(text: &str) -> Audit {
    let mut audit = Audit::default();
    // Runs without an end yet, by (job, attempt, node): indexes into `audit.runs`.
    let mut open: HashMap<(String, u32, String), Vec<usize>> = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let row = match Row::parse(line) {
            Ok(row) => row,
            Err(error) => {
                audit
                    .malformed
                    .push((number + 1, format!("{error:#}: {line:?}")));
                continue;
            }
        };
        let key = (row.job.clone(), row.attempt, row.node.clone());
        if row.is_start {
            open.entry(key).or_default().push(audit.runs.len());
            audit.runs.push(Run {
                schedule: row.schedule,
                fire_time: row.fire_time,
                node: row.node,
                attempt: row.attempt,
                job: row.job,
                start: row.at,
                end: None,
            });
        } else {
            // The latest start of this attempt on this node before the end.
            let starts = open.entry(key).or_default();
            let found = starts
                .iter()
                .rposition(|&index| audit.runs.get(index).is_some_and(|run| run.start <= row.at));
            match found {
                Some(position) => {
                    let index = starts.remove(position);
                    if let Some(run) = audit.runs.get_mut(index) {
                        run.end = Some(row.at);
                    }
                }
                None => audit.orphan_ends += 1,
            }
        }
    }
    audit
}

/// One audit row.
struct Row {
    is_start: bool,
    schedule: String,
    fire_time: Timestamp,
    node: String,
    attempt: u32,
    job: String,
    at: Timestamp,
}

impl Row {
    fn parse(line: &str) -> Result<Row> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [event, schedule, fire_time, node, attempt, job, at] = fields[..] else {
            bail!("{} fields instead of 7", fields.len());
        };
        let is_start = match event {
            "start" => true,
            "end" => false,
            other => bail!("unknown event {other:?}"),
        };
        Ok(Row {
            is_start,
            schedule: schedule.to_owned(),
            fire_time: fire_time
                .parse()
                .with_context(|| format!("fire time {fire_time:?}"))?,
            node: node.to_owned(),
            attempt: attempt
                .parse()
                .with_context(|| format!("attempt {attempt:?}"))?,
            job: job.to_owned(),
            at: epoch_seconds(at)?,
        })
    }
}

/// `$EPOCHREALTIME` (`1765065600.123456`) as a timestamp.
fn epoch_seconds(text: &str) -> Result<Timestamp> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let seconds: i64 = seconds.parse().with_context(|| format!("time {text:?}"))?;
    let digits = &fraction[..fraction.len().min(6)];
    let micros: i64 = format!("{digits:0<6}")
        .parse()
        .with_context(|| format!("time {text:?}"))?;
    Timestamp::from_microsecond(seconds * 1_000_000 + micros)
        .with_context(|| format!("time {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRE: &str = "2026-12-07T00:00:03+00:00";

    fn row(event: &str, node: &str, attempt: u32, at: &str) -> String {
        format!("{event}\ts001\t{FIRE}\t{node}\t{attempt}\tjob-1\t{at}\n")
    }

    #[test]
    fn ends_pair_with_their_start() {
        let text = [
            row("start", "chaos-1", 1, "1765065603.100000"),
            row("start", "chaos-2", 2, "1765065610.5"),
            row("end", "chaos-2", 2, "1765065611.000001"),
        ]
        .concat();
        let audit = parse(&text);
        assert!(audit.malformed.is_empty());
        assert_eq!(audit.runs.len(), 2);
        assert_eq!(audit.runs[0].end, None);
        assert_eq!(
            audit.runs[0].start,
            Timestamp::from_microsecond(1_765_065_603_100_000).unwrap()
        );
        assert_eq!(
            audit.runs[1].end,
            Some(Timestamp::from_microsecond(1_765_065_611_000_001).unwrap())
        );
        assert_eq!(audit.runs[1].fire_time, FIRE.parse::<Timestamp>().unwrap());
        assert_eq!(audit.runs[1].attempt, 2);
    }

    #[test]
    fn bad_rows_are_reported_not_fatal() {
        let text = format!(
            "start\ts001\n{}end\ts001\t{FIRE}\tchaos-9\t1\tjob-9\t1765065611.0\nbogus\ta\tb\tc\td\te\tf\n",
            row("start", "chaos-1", 1, "1765065603.1")
        );
        let audit = parse(&text);
        assert_eq!(audit.runs.len(), 1);
        assert_eq!(audit.malformed.len(), 2);
        assert_eq!(audit.orphan_ends, 1);
    }
}
