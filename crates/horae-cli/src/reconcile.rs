//! Bringing the store in line with the tasks and schedules a config file declares, at every
//! start of every node (DESIGN.md section 7).
//!
//! A task is stored when it is missing or differs from its declaration, and left alone
//! otherwise. A schedule is created when missing. A stored schedule carries, in its
//! `metadata` under [`CONFIG_KEY`], fingerprints of the declaration it was made from: one of
//! the trigger as written (`cron` / `interval` / `at` / `trigger` and `timezone`) and one of
//! everything else (task, arguments, `paused`, coalescing, misfire grace time, jitter,
//! result expiration, metadata). At a restart with an unchanged declaration the schedule is
//! not touched, so its next fire time stays and no fire time runs twice. When only the
//! options changed, the schedule is rewritten with its trigger state and fire times kept.
//! When the trigger changed (or the stored schedule was not made from a config), it is
//! replaced with the new trigger, whose fire times start after the old last fire time.
//!
//! Schedules and tasks that a config no longer declares are left in the store (several nodes
//! with different files may share it); remove them with `horae schedule remove` and
//! `horae task remove`. `paused` is declarative: an operator's `horae schedule pause` lasts
//! until the declaration changes.

use std::collections::HashMap;
use std::time::Duration;

use horae::duration::format_duration;
use horae::model::{ConflictPolicy, Schedule, Task, TaskId};
use horae::scheduler::Scheduler;
use horae::store::AddScheduleOutcome;
use horae::trigger::Trigger;
use serde_json::{Value, json};

use crate::config::ScheduleDecl;
use crate::spec::fingerprint;

/// The schedule metadata key holding the fingerprints of the config declaration.
pub(crate) const CONFIG_KEY: &str = "horae_config";

/// The most fire times skipped to start a changed trigger after the old last fire time.
const MAX_SKIPPED_FIRE_TIMES: usize = 100_000;

/// What reconciling did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Tasks stored for the first time.
    pub(crate) tasks_created: usize,
    /// Tasks whose stored definition was replaced.
    pub(crate) tasks_updated: usize,
    /// Schedules created.
    pub(crate) schedules_created: usize,
    /// Schedules whose options were rewritten, trigger state and fire times kept.
    pub(crate) schedules_updated: usize,
    /// Schedules replaced with a new trigger.
    pub(crate) schedules_replaced: usize,
    /// Declarations that matched the store.
    pub(crate) unchanged: usize,
}

/// Reconciles `tasks` and `schedules` through `scheduler` (which publishes the events).
///
/// # Errors
///
/// A store failure, or a trigger that fails to compute its fire times.
pub(crate) async fn reconcile(
    scheduler: &Scheduler,
    tasks: &[Task],
    schedules: &[ScheduleDecl],
) -> Result<Report, horae::Error> {
    let mut report = Report::default();
    let store = scheduler.store();
    for task in tasks {
        let stored = store.get_task(&task.id).await?;
        if stored.as_ref() == Some(task) {
            report.unchanged += 1;
            continue;
        }
        if scheduler.put_task(task.clone()).await? {
            tracing::info!(task = %task.id, "task created");
            report.tasks_created += 1;
        } else {
            tracing::info!(task = %task.id, "task updated: its definition changed");
            report.tasks_updated += 1;
        }
    }
    let by_id: HashMap<&TaskId, &Task> = tasks.iter().map(|task| (&task.id, task)).collect();
    for decl in schedules {
        let task = by_id.get(&decl.task_id).copied();
        let marker = marker(decl, task);
        let stored = store.get_schedule(&decl.id).await?;
        let (schedule, change) = match stored {
            None => (
                new_schedule(scheduler, decl, &marker, None)?,
                Change::Created,
            ),
            Some(stored) => match stored.metadata.get(CONFIG_KEY) {
                Some(old) if *old == marker => {
                    report.unchanged += 1;
                    continue;
                }
                Some(old) if old.get("trigger") == marker.get("trigger") => {
                    let mut schedule = from_decl(decl, &marker, stored.trigger.clone());
                    schedule.next_fire_time = stored.next_fire_time;
                    schedule.last_fire_time = stored.last_fire_time;
                    (schedule, Change::Updated)
                }
                _ => (
                    new_schedule(scheduler, decl, &marker, stored.last_fire_time)?,
                    Change::Replaced,
                ),
            },
        };
        let next = schedule.next_fire_time;
        let policy = match change {
            Change::Created => ConflictPolicy::DoNothing,
            Change::Updated | Change::Replaced => ConflictPolicy::Replace,
        };
        let outcome = scheduler.insert_schedule(schedule, policy).await?;
        match (change, outcome) {
            (_, AddScheduleOutcome::Kept) => report.unchanged += 1,
            (Change::Created, _) => {
                tracing::info!(schedule = %decl.id, "schedule created");
                report.schedules_created += 1;
            }
            (Change::Updated, _) => {
                tracing::info!(schedule = %decl.id, next_fire_time = ?next, "schedule updated (its options changed; its fire times are kept)");
                report.schedules_updated += 1;
            }
            (Change::Replaced, _) => {
                tracing::info!(schedule = %decl.id, "schedule replaced (its trigger changed)");
                report.schedules_replaced += 1;
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Created,
    Updated,
    Replaced,
}

/// The fingerprints of a declaration: `{"trigger": ..., "options": ...}`.
pub(crate) fn marker(decl: &ScheduleDecl, task: Option<&Task>) -> Value {
    let human = |d: Option<Duration>| d.map(format_duration);
    // The schedule takes the task's misfire grace time when it has none of its own.
    let misfire = decl
        .misfire_grace_time
        .or_else(|| task.and_then(|t| t.misfire_grace_time));
    let options = json!({
        "task": decl.task_id,
        "args": decl.args,
        "kwargs": decl.kwargs,
        "paused": decl.paused,
        "coalesce": decl.coalesce,
        "misfire_grace_time": human(misfire),
        "max_jitter": human(decl.max_jitter),
        "job_result_expiration_time": format_duration(decl.job_result_expiration_time),
        "metadata": decl.metadata,
    });
    json!({"trigger": fingerprint(&decl.trigger), "options": fingerprint(&options)})
}

/// The schedule for `decl` with `trigger` and no fire times yet.
fn from_decl(decl: &ScheduleDecl, marker: &Value, trigger: Trigger) -> Schedule {
    let mut schedule = Schedule::new(decl.id.clone(), decl.task_id.clone(), trigger);
    schedule.args.clone_from(&decl.args);
    schedule.kwargs.clone_from(&decl.kwargs);
    schedule.paused = decl.paused;
    schedule.coalesce = decl.coalesce;
    schedule.misfire_grace_time = decl.misfire_grace_time;
    schedule.max_jitter = decl.max_jitter;
    schedule.job_result_expiration_time = decl.job_result_expiration_time;
    schedule.metadata.clone_from(&decl.metadata);
    schedule
        .metadata
        .insert(CONFIG_KEY.to_owned(), marker.clone());
    schedule
}

/// A schedule with a fresh trigger (an omitted start time is now); with `after`, its fire
/// times start after that instant, so a replaced schedule never repeats a fire time.
fn new_schedule(
    scheduler: &Scheduler,
    decl: &ScheduleDecl,
    marker: &Value,
    after: Option<jiff::Timestamp>,
) -> Result<Schedule, horae::Error> {
    let mut trigger = Trigger::from_json(&decl.trigger, scheduler.now())?;
    let Some(after) = after else {
        return Ok(from_decl(decl, marker, trigger));
    };
    let mut next = trigger.next()?.map(|t| t.timestamp());
    let mut skipped = 0;
    while next.is_some_and(|at| at <= after) && skipped < MAX_SKIPPED_FIRE_TIMES {
        next = trigger.next()?.map(|t| t.timestamp());
        skipped += 1;
    }
    let mut schedule = from_decl(decl, marker, trigger);
    schedule.next_fire_time = next;
    schedule.last_fire_time = Some(after);
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use horae::clock::VirtualClock;
    use horae::model::{CoalescePolicy, ExecutorKind, ScheduleId};
    use serde_json::Map;

    use super::*;

    fn task() -> Task {
        Task::new(TaskId::new("t").unwrap(), ExecutorKind::Command)
    }

    fn decl(trigger: Value) -> ScheduleDecl {
        ScheduleDecl {
            id: ScheduleId::new("s").unwrap(),
            task_id: TaskId::new("t").unwrap(),
            trigger,
            args: Vec::new(),
            kwargs: Map::new(),
            paused: false,
            coalesce: CoalescePolicy::Latest,
            misfire_grace_time: None,
            max_jitter: None,
            job_result_expiration_time: Duration::ZERO,
            metadata: Map::new(),
        }
    }

    fn interval(seconds: u64) -> Value {
        json!({"type": "interval", "seconds": seconds, "microseconds": 0})
    }

    fn scheduler(clock: &Arc<VirtualClock>) -> Scheduler {
        Scheduler::builder()
            .node_id("test")
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_declaration_leaves_the_schedule_alone() {
        let clock = Arc::new(VirtualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let scheduler = scheduler(&clock);
        let tasks = [task()];
        let first = reconcile(&scheduler, &tasks, &[decl(interval(60))])
            .await
            .unwrap();
        assert_eq!((first.tasks_created, first.schedules_created), (1, 1));
        let id = ScheduleId::new("s").unwrap();
        let stored = scheduler.store().get_schedule(&id).await.unwrap().unwrap();
        // An interval fires first at its start.
        assert_eq!(
            stored.next_fire_time,
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );
        assert!(stored.metadata.contains_key(CONFIG_KEY));

        // A restart later: nothing changes, the next fire time stays.
        tokio::time::advance(Duration::from_secs(30)).await;
        let again = reconcile(&scheduler, &tasks, &[decl(interval(60))])
            .await
            .unwrap();
        assert_eq!(
            again,
            Report {
                unchanged: 2,
                ..Report::default()
            }
        );
        assert_eq!(
            scheduler.store().get_schedule(&id).await.unwrap().unwrap(),
            stored
        );

        // An operator's pause survives a restart with the same declaration.
        scheduler.pause_schedule(&id).await.unwrap();
        reconcile(&scheduler, &tasks, &[decl(interval(60))])
            .await
            .unwrap();
        assert!(
            scheduler
                .store()
                .get_schedule(&id)
                .await
                .unwrap()
                .unwrap()
                .paused
        );
    }

    #[tokio::test(start_paused = true)]
    async fn changed_options_keep_the_fire_times() {
        let clock = Arc::new(VirtualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let scheduler = scheduler(&clock);
        let tasks = [task()];
        reconcile(&scheduler, &tasks, &[decl(interval(60))])
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        let mut changed = decl(interval(60));
        changed.args = vec![json!(1)];
        let report = reconcile(&scheduler, &tasks, &[changed]).await.unwrap();
        assert_eq!(report.schedules_updated, 1);
        let id = ScheduleId::new("s").unwrap();
        let stored = scheduler.store().get_schedule(&id).await.unwrap().unwrap();
        assert_eq!(stored.args, vec![json!(1)]);
        assert_eq!(
            stored.next_fire_time,
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_trigger_replaces_the_schedule_after_its_last_fire_time() {
        let clock = Arc::new(VirtualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let scheduler = scheduler(&clock);
        let mut tasks = vec![task()];
        let cron = json!({"type": "cron", "expr": "*/5 * * * *"});
        reconcile(&scheduler, &tasks, &[decl(cron)]).await.unwrap();
        let id = ScheduleId::new("s").unwrap();
        // Pretend it fired at 00:05 and the node restarts at the same instant with a
        // trigger that would fire at 00:05 again.
        let mut stored = scheduler.store().get_schedule(&id).await.unwrap().unwrap();
        stored.last_fire_time = Some("2026-01-01T00:05:00Z".parse().unwrap());
        scheduler
            .insert_schedule(stored, ConflictPolicy::Replace)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(300)).await;
        let every_minute = json!({"type": "cron", "expr": "* * * * *"});
        let report = reconcile(&scheduler, &tasks, &[decl(every_minute)])
            .await
            .unwrap();
        assert_eq!(report.schedules_replaced, 1);
        let stored = scheduler.store().get_schedule(&id).await.unwrap().unwrap();
        assert_eq!(
            stored.next_fire_time,
            Some("2026-01-01T00:06:00Z".parse().unwrap())
        );

        // A changed task is stored again; the same one is not.
        tasks[0].timeout = Some(Duration::from_secs(5));
        let report = reconcile(&scheduler, &tasks, &[]).await.unwrap();
        assert_eq!(report.tasks_updated, 1);
        let report = reconcile(&scheduler, &tasks, &[]).await.unwrap();
        assert_eq!(report.unchanged, 1);
    }

    #[test]
    fn the_task_misfire_grace_time_counts_as_an_option() {
        let mut task = task();
        let plain = marker(&decl(interval(1)), Some(&task));
        task.misfire_grace_time = Some(Duration::from_secs(5));
        let with_grace = marker(&decl(interval(1)), Some(&task));
        assert_eq!(plain["trigger"], with_grace["trigger"]);
        assert_ne!(plain["options"], with_grace["options"]);
    }
}
