//! The workload: the cluster's config file, with two shell tasks that write the audit and
//! the schedules that run them, and the fire times those schedules must produce.
//!
//! Every job runs `bash`, which appends a `start` row to the audit file, sleeps for the
//! task's run time and appends an `end` row (see [`super::audit`]). The short task runs for
//! 200 ms; the long one for three lease durations, so its leases must be extended twice
//! before it ends. Every fourth schedule runs the long task every 3–5 s; the others run
//! the short one every 1–5 s. Half the schedules are interval triggers, half cron triggers
//! on the second field (`*/k`) in assorted time zones. All start at the same instant, fire
//! every fire time (`coalesce = "all"`, no misfire grace limit) and keep their results
//! for an hour; the tasks have no limit on concurrent runs and retry an abandoned job up to
//! 20 times.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use horae::trigger::Trigger;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::plan::SplitMix64;

/// The short task's id.
pub(crate) const SHORT_TASK: &str = "chaos-short";
/// The long task's id.
pub(crate) const LONG_TASK: &str = "chaos-long";

/// The job script: one audit row at the start, one at the end.
const SCRIPT: &str = r#"audit() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$HORAE_SCHEDULE_ID" "$HORAE_SCHEDULED_FIRE_TIME" \
    "$HORAE_NODE_ID" "$HORAE_ATTEMPT" "$HORAE_JOB_ID" "$EPOCHREALTIME" >>"$CHAOS_AUDIT"
}
audit start
sleep "$CHAOS_RUN_FOR"
audit end
"#;

/// Time zones of the cron schedules (second-field crons fire at the same instants in all).
const ZONES: [&str; 4] = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"];

/// One schedule of the workload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduleSpec {
    /// Its id (`s000` …).
    pub(crate) id: String,
    /// [`SHORT_TASK`] or [`LONG_TASK`].
    pub(crate) task: &'static str,
    /// Its trigger, as JSON (DESIGN.md section 4).
    pub(crate) trigger: Value,
}

/// `count` schedules, all starting at `start`, chosen by `seed`.
pub(crate) fn schedules(count: usize, start: Timestamp, seed: u64) -> Vec<ScheduleSpec> {
    let mut rng = SplitMix64(seed ^ 0x5eed);
    (0..count)
        .map(|i| {
            let long = i % 4 == 0;
            let period = if long {
                3 + rng.below(3)
            } else {
                1 + rng.below(5)
            };
            let trigger = if i % 2 == 0 {
                json!({"type": "interval", "seconds": period, "start_time": start.to_string()})
            } else {
                let zone = ZONES[(rng.below(ZONES.len() as u64)) as usize];
                json!({
                    "type": "cron", "second": format!("*/{period}"),
                    "timezone": zone, "start_time": start.to_string(),
                })
            };
            ScheduleSpec {
                id: format!("s{i:03}"),
                task: if long { LONG_TASK } else { SHORT_TASK },
                trigger,
            }
        })
        .collect()
}

/// Every fire time of `schedule` up to and including `until`.
///
/// # Errors
///
/// When the trigger is invalid (never for the workload's own schedules).
pub(crate) fn fire_times(schedule: &ScheduleSpec, until: Timestamp) -> Result<Vec<Timestamp>> {
    let mut trigger = Trigger::from_json(&schedule.trigger, Timestamp::now())
        .with_context(|| format!("schedule {}: trigger {}", schedule.id, schedule.trigger))?;
    let mut times = Vec::new();
    while let Some(next) = trigger
        .next()
        .with_context(|| format!("schedule {}", schedule.id))?
    {
        let at = next.timestamp();
        if at > until {
            break;
        }
        times.push(at);
    }
    Ok(times)
}

/// What the config file holds besides the schedules.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSettings<'a> {
    /// The PostgreSQL store URL.
    pub(crate) store_url: &'a str,
    /// The broker URL.
    pub(crate) broker_url: &'a str,
    /// The nodes' lease duration.
    pub(crate) lease: Duration,
    /// The audit file the jobs append to.
    pub(crate) audit: &'a Path,
    /// Each node's `max_concurrent_jobs`.
    pub(crate) max_concurrent_jobs: u32,
}

/// How long the long task runs, for a lease: three lease durations.
pub(crate) fn long_run(lease: Duration) -> Duration {
    lease * 3
}

/// The short task's run time.
pub(crate) const SHORT_RUN: Duration = Duration::from_millis(200);

/// The config file shared by every node (node id and HTTP bind come from `HORAE_NODE_ID`
/// and `HORAE_HTTP_BIND`).
///
/// # Errors
///
/// When the audit path is not UTF-8 or the TOML cannot be written.
pub(crate) fn config_toml(
    settings: &ClusterSettings<'_>,
    schedules: &[ScheduleSpec],
) -> Result<String> {
    let audit = settings
        .audit
        .to_str()
        .context("the audit file's path must be UTF-8")?;
    let task = |id: &str, run_for: Duration| {
        json!({
            "id": id,
            "command": ["bash", "-c", SCRIPT],
            "env": {
                "CHAOS_AUDIT": audit,
                "CHAOS_RUN_FOR": format!("{:.3}", run_for.as_secs_f64()),
                "LC_ALL": "C",
            },
            "timeout": "2m",
            "max_running_jobs": "unlimited",
            "retry": {"max_attempts": 20, "initial": "200ms", "max": "2s"},
        })
    };
    let schedules: Vec<Value> = schedules
        .iter()
        .map(|schedule| {
            json!({
                "id": schedule.id,
                "task": schedule.task,
                "trigger": schedule.trigger,
                "coalesce": "all",
                "job_result_expiration_time": "1h",
            })
        })
        .collect();
    let config = json!({
        "node": {
            "role": "both",
            "max_concurrent_jobs": settings.max_concurrent_jobs,
            "lease_duration": format!("{}ms", settings.lease.as_millis()),
            "stop_grace_period": "30s",
            "poll_interval": "1s",
        },
        "store": {"url": settings.store_url, "connect_timeout": "5m"},
        "broker": {"url": settings.broker_url},
        "task": [task(SHORT_TASK, SHORT_RUN), task(LONG_TASK, long_run(settings.lease))],
        "schedule": schedules,
    });
    let table = toml::Value::try_from(config).context("the config as TOML")?;
    let text = toml::to_string(&table).context("writing the config as TOML")?;
    Ok(format!(
        "# The chaos cluster's config (written by `cargo xtask chaos`; every node reads it).\n{text}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Timestamp {
        "2026-12-07T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_schedules_mix_triggers_tasks_and_periods() {
        let schedules = schedules(200, start(), 1);
        assert_eq!(schedules.len(), 200);
        let long = schedules.iter().filter(|s| s.task == LONG_TASK).count();
        assert_eq!(long, 50);
        let cron = schedules
            .iter()
            .filter(|s| s.trigger["type"] == "cron")
            .count();
        assert_eq!(cron, 100);
        let until = start() + jiff::SignedDuration::from_secs(60);
        for schedule in &schedules {
            let times = fire_times(schedule, until).unwrap();
            assert_eq!(times[0], start(), "{schedule:?}");
            let gap = times[1].duration_since(times[0]).as_secs();
            assert!((1..=5).contains(&gap), "{schedule:?}");
            if schedule.task == LONG_TASK {
                assert!(gap >= 3, "{schedule:?}");
            }
            assert!(
                times
                    .windows(2)
                    .all(|w| w[1].duration_since(w[0]).as_secs() == gap)
            );
            assert_eq!(
                *times.last().unwrap(),
                start() + jiff::SignedDuration::from_secs(60 / gap * gap)
            );
        }
    }

    #[test]
    fn the_config_is_one_the_daemon_accepts() {
        let schedules = schedules(4, start(), 1);
        let settings = ClusterSettings {
            store_url: "postgres://postgres@127.0.0.1:5432/horae_chaos",
            broker_url: "redis://127.0.0.1:6379",
            lease: Duration::from_secs(3),
            audit: Path::new("/tmp/audit.tsv"),
            max_concurrent_jobs: 300,
        };
        let text = config_toml(&settings, &schedules).unwrap();
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(parsed["node"]["lease_duration"].as_str(), Some("3000ms"));
        assert_eq!(
            parsed["task"][1]["env"]["CHAOS_RUN_FOR"].as_str(),
            Some("9.000")
        );
        assert_eq!(parsed["schedule"].as_array().unwrap().len(), 4);
        assert_eq!(parsed["schedule"][0]["coalesce"].as_str(), Some("all"));
    }
}
