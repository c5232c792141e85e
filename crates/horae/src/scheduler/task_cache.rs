//! Task definitions as the job processor sees them: read from the store at most once per
//! [`TASK_CACHE_TTL`] per task, and forgotten at once when a task event says it changed.
//!
//! A run needs its task's timeout and retry policy; reading them from the store for every
//! job would cost a round trip per job on a SQL store. A change to a task therefore applies
//! to jobs starting at most one TTL later (at once on this node, and on others when the
//! broker delivers the `task_updated` event). `max_running_jobs` is not read from here: the
//! store enforces it at acquisition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::{Clock, add};
use crate::model::{Task, TaskId};
use crate::store::DataStore;

/// How long a task read from the store is used without reading it again.
pub const TASK_CACHE_TTL: Duration = Duration::from_secs(1);

/// What the store said about a task (`None`: no such task), and when it was asked.
type Entry = (Timestamp, Option<Arc<Task>>);

/// Tasks by id, each with the time it was read (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct TaskCache {
    entries: Mutex<HashMap<TaskId, Entry>>,
}

impl TaskCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<TaskId, Entry>> {
        // Nothing panics while the map is locked.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The task, from the cache while fresh, else from the store. When the store fails, a
    /// stale entry is used if there is one (the run goes on with the last known settings).
    pub(crate) async fn get(
        &self,
        store: &dyn DataStore,
        clock: &dyn Clock,
        id: &TaskId,
    ) -> Option<Arc<Task>> {
        let now = clock.now();
        let cached = self.lock().get(id).cloned();
        if let Some((read_at, task)) = &cached
            && now < add(*read_at, TASK_CACHE_TTL)
        {
            return task.clone();
        }
        match store.get_task(id).await {
            Ok(task) => {
                let task = task.map(Arc::new);
                self.lock().insert(id.clone(), (now, task.clone()));
                task
            }
            Err(error) => {
                tracing::warn!(task = %id, %error, "could not read the task; using the last known settings");
                cached.and_then(|(_, task)| task)
            }
        }
    }

    /// Drops a task so the next run reads it again.
    pub(crate) fn forget(&self, id: &TaskId) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::model::ExecutorKind;
    use crate::store::MemoryStore;

    #[tokio::test(start_paused = true)]
    async fn tasks_are_reread_after_the_ttl_or_when_forgotten() {
        let clock = VirtualClock::new(Timestamp::UNIX_EPOCH);
        let store = MemoryStore::new();
        let id = TaskId::new("t").unwrap_or_else(|e| panic!("{e}"));
        let mut task = Task::new(id.clone(), ExecutorKind::Async);
        store.put_task(task.clone()).await.ok();
        let cache = TaskCache::default();
        let timeout = |t: Option<Arc<Task>>| t.and_then(|t| t.timeout);
        assert_eq!(timeout(cache.get(&store, &clock, &id).await), None);

        task.timeout = Some(Duration::from_secs(5));
        store.put_task(task).await.ok();
        assert_eq!(
            timeout(cache.get(&store, &clock, &id).await),
            None,
            "cached"
        );
        clock.sleep(TASK_CACHE_TTL).await;
        assert_eq!(
            timeout(cache.get(&store, &clock, &id).await),
            Some(Duration::from_secs(5)),
            "reread after the TTL"
        );

        store.remove_task(&id).await.ok();
        cache.forget(&id);
        assert_eq!(
            cache.get(&store, &clock, &id).await,
            None,
            "reread when forgotten"
        );
    }
}
