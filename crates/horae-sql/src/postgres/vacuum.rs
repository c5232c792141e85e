//! Vacuuming the busy tables between autovacuum runs.
//!
//! Every acquisition and release leaves a dead row version behind, and a dead entry in each
//! index whose key it changed. Hand-out walks the queue indexes from their oldest end —
//! where the entries of rows already handed out gather — so until `VACUUM` removes those
//! entries every acquisition steps over more of them. At thousands of jobs a second,
//! autovacuum's cadence (a database is visited at most once per `autovacuum_naptime`, a
//! minute by default, and never where autovacuum is off) lets acquisitions slow down by
//! the second. The store therefore counts the row versions it makes dead in the jobs and
//! schedules tables and, every [`PostgresOptions::vacuum_every`](super::PostgresOptions)
//! of them, vacuums that table itself, in the background: one vacuum per table at a time
//! and node, `SKIP_LOCKED` (a vacuum already running elsewhere is as good) and
//! `TRUNCATE false` (shrinking the file would take an exclusive lock that stalls every
//! node). A small table vacuums in milliseconds. A failed vacuum is logged, never
//! returned: it only keeps acquisition fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::{AssertSqlSafe, PgPool};

use crate::prefix::TablePrefix;

/// The tables a store vacuums, with their dead-row counts.
#[derive(Debug)]
pub(super) struct Vacuums {
    pool: PgPool,
    /// Dead row versions between vacuums of a table; 0 never vacuums.
    every: u64,
    jobs: Table,
    schedules: Table,
}

/// One table's count of dead row versions since its last vacuum.
#[derive(Debug)]
struct Table {
    statement: String,
    dead: AtomicU64,
    /// Whether this store's vacuum of the table is under way.
    running: Arc<AtomicBool>,
}

impl Table {
    fn new(prefix: &TablePrefix, table: &str) -> Table {
        Table {
            statement: prefix.apply(&format!(
                "VACUUM (SKIP_LOCKED, TRUNCATE false) {{p}}{table}"
            )),
            dead: AtomicU64::new(0),
            running: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Vacuums {
    /// Vacuums of `prefix`'s tables over `pool`, each every `every` dead row versions.
    pub(super) fn new(pool: PgPool, prefix: &TablePrefix, every: u64) -> Vacuums {
        Vacuums {
            pool,
            every,
            jobs: Table::new(prefix, "jobs"),
            schedules: Table::new(prefix, "schedules"),
        }
    }

    /// Counts `rows` job row versions made dead (updated or deleted rows).
    pub(super) fn jobs_changed(&self, rows: usize) {
        self.changed(&self.jobs, rows);
    }

    /// Counts `rows` schedule row versions made dead.
    pub(super) fn schedules_changed(&self, rows: usize) {
        self.changed(&self.schedules, rows);
    }

    fn changed(&self, table: &Table, rows: usize) {
        if self.every == 0 || rows == 0 {
            return;
        }
        let rows = u64::try_from(rows).unwrap_or(u64::MAX);
        let dead = table
            .dead
            .fetch_add(rows, Ordering::Relaxed)
            .saturating_add(rows);
        if dead < self.every {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if table.running.swap(true, Ordering::AcqRel) {
            return;
        }
        table.dead.store(0, Ordering::Relaxed);
        let (pool, statement, running) = (
            self.pool.clone(),
            table.statement.clone(),
            table.running.clone(),
        );
        runtime.spawn(async move {
            if let Err(error) = sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
                .execute(&pool)
                .await
            {
                tracing::warn!(%error, statement, "vacuum failed");
            }
            running.store(false, Ordering::Release);
        });
    }
}
