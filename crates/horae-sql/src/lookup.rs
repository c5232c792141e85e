//! Statements whose SQL is the same in every dialect but for its placeholders, which the
//! query builder writes per database: the read-only lookups, and the node records.

use horae::clock::BoxFuture;
use horae::error::StoreError;
use horae::model::{Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task};
use horae::store::StoreResult;
use sqlx::{Database, Executor, IntoArguments, Pool, QueryBuilder};

use crate::codec::driver_error;
use crate::prefix::TablePrefix;
use crate::rows::{
    self, JOB_COLUMNS, NODE_COLUMNS, RESULT_COLUMNS, ReadRow, SCHEDULE_COLUMNS, TASK_COLUMNS,
};

/// The lookups of a [`DataStore`](horae::store::DataStore) that read one table, on a
/// connection pool of any dialect.
pub(crate) trait Lookups {
    /// All tasks, by id.
    fn tasks<'a>(&'a self, prefix: &'a TablePrefix) -> BoxFuture<'a, StoreResult<Vec<Task>>>;
    /// A schedule by id.
    fn schedule<'a>(
        &'a self,
        prefix: &'a TablePrefix,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>>;
    /// All schedules, by id.
    fn schedules<'a>(
        &'a self,
        prefix: &'a TablePrefix,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>>;
    /// All jobs, oldest first.
    fn jobs<'a>(&'a self, prefix: &'a TablePrefix) -> BoxFuture<'a, StoreResult<Vec<Job>>>;
    /// A stored result by job id.
    fn result<'a>(
        &'a self,
        prefix: &'a TablePrefix,
        id: &'a JobId,
    ) -> BoxFuture<'a, StoreResult<Option<JobResult>>>;
    /// Up to `limit` stored results, the latest `finished_at` first (ties by job id,
    /// descending): a bounded scan of the results' finish-time index.
    fn results<'a>(
        &'a self,
        prefix: &'a TablePrefix,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<JobResult>>>;
    /// All node records, by id.
    fn nodes<'a>(&'a self, prefix: &'a TablePrefix) -> BoxFuture<'a, StoreResult<Vec<NodeInfo>>>;
}

/// Writing and removing node heartbeat records, on a connection pool of any dialect.
pub(crate) trait NodeRecords {
    /// Inserts or replaces `node`'s record with `verb INTO ... VALUES (...) tail` (the
    /// dialect's upsert: `REPLACE` with no tail, or `INSERT` with an `ON CONFLICT` tail).
    fn record_node<'a>(
        &'a self,
        prefix: &'a TablePrefix,
        node: &'a NodeInfo,
        verb: &'a str,
        tail: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Removes a node's record; a missing one is not an error.
    fn remove_node<'a>(
        &'a self,
        prefix: &'a TablePrefix,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// Implements [`Lookups`] for the pools of the given drivers.
macro_rules! lookups {
    ($($db:ty),+) => {$(
        impl Lookups for Pool<$db> {
            fn tasks<'a>(&'a self, prefix: &'a TablePrefix) -> BoxFuture<'a, StoreResult<Vec<Task>>> {
                Box::pin(async move {
                    let sql = format!("SELECT {TASK_COLUMNS} FROM {{p}}tasks ORDER BY id");
                    all(self, prefix, &sql, rows::task).await
                })
            }

            fn schedule<'a>(
                &'a self,
                prefix: &'a TablePrefix,
                id: &'a ScheduleId,
            ) -> BoxFuture<'a, StoreResult<Option<Schedule>>> {
                Box::pin(async move {
                    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM {{p}}schedules WHERE id = ");
                    one(self, prefix, &sql, id.to_string(), rows::schedule).await
                })
            }

            fn schedules<'a>(
                &'a self,
                prefix: &'a TablePrefix,
            ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
                Box::pin(async move {
                    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM {{p}}schedules ORDER BY id");
                    all(self, prefix, &sql, rows::schedule).await
                })
            }

            fn jobs<'a>(&'a self, prefix: &'a TablePrefix) -> BoxFuture<'a, StoreResult<Vec<Job>>> {
                Box::pin(async move {
                    let sql = format!("SELECT {JOB_COLUMNS} FROM {{p}}jobs ORDER BY created_at, id");
                    all(self, prefix, &sql, rows::job).await
                })
            }

            fn result<'a>(
                &'a self,
                prefix: &'a TablePrefix,
                id: &'a JobId,
            ) -> BoxFuture<'a, StoreResult<Option<JobResult>>> {
                Box::pin(async move {
                    let sql = format!("SELECT {RESULT_COLUMNS} FROM {{p}}results WHERE job_id = ");
                    one(self, prefix, &sql, id.to_string(), rows::result).await
                })
            }

            fn results<'a>(
                &'a self,
                prefix: &'a TablePrefix,
                limit: usize,
            ) -> BoxFuture<'a, StoreResult<Vec<JobResult>>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {RESULT_COLUMNS} FROM {{p}}results \
                         ORDER BY finished_at DESC, job_id DESC LIMIT "
                    );
                    let mut query = QueryBuilder::<$db>::new(prefix.apply(&sql));
                    query.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                    let rows = query.build().fetch_all(self).await.map_err(driver_error)?;
                    rows.iter().map(rows::result).collect()
                })
            }

            fn nodes<'a>(
                &'a self,
                prefix: &'a TablePrefix,
            ) -> BoxFuture<'a, StoreResult<Vec<NodeInfo>>> {
                Box::pin(async move {
                    let sql = format!("SELECT {NODE_COLUMNS} FROM {{p}}nodes ORDER BY id");
                    all(self, prefix, &sql, rows::node).await
                })
            }
        }

        impl NodeRecords for Pool<$db> {
            fn record_node<'a>(
                &'a self,
                prefix: &'a TablePrefix,
                node: &'a NodeInfo,
                verb: &'a str,
                tail: &'a str,
            ) -> BoxFuture<'a, StoreResult<()>> {
                Box::pin(async move {
                    rows::upsert_node::<$db>(prefix, verb, node, tail)
                        .build()
                        .execute(self)
                        .await
                        .map_err(driver_error)?;
                    Ok(())
                })
            }

            fn remove_node<'a>(
                &'a self,
                prefix: &'a TablePrefix,
                id: &'a str,
            ) -> BoxFuture<'a, StoreResult<()>> {
                Box::pin(async move {
                    let mut query =
                        QueryBuilder::<$db>::new(prefix.apply("DELETE FROM {p}nodes WHERE id = "));
                    query.push_bind(id);
                    query.build().execute(self).await.map_err(driver_error)?;
                    Ok(())
                })
            }
        }
    )+};
}

lookups!(sqlx::Sqlite, sqlx::Postgres, sqlx::MySql);

/// The row of `select` (a `SELECT ... WHERE key =` under the table prefix) for `key`,
/// decoded; `None` when there is none.
async fn one<DB, T>(
    pool: &Pool<DB>,
    prefix: &TablePrefix,
    select: &str,
    key: String,
    decode: fn(&DB::Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError>
where
    DB: Database,
    DB::Row: ReadRow,
    DB::Arguments: IntoArguments<DB>,
    String: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
{
    let mut query = QueryBuilder::<DB>::new(prefix.apply(select));
    query.push_bind(key);
    let row = query
        .build()
        .fetch_optional(pool)
        .await
        .map_err(driver_error)?;
    row.as_ref().map(decode).transpose()
}

/// Every row of `select` (under the table prefix), decoded.
async fn all<DB, T>(
    pool: &Pool<DB>,
    prefix: &TablePrefix,
    select: &str,
    decode: fn(&DB::Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    DB: Database,
    DB::Row: ReadRow,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
{
    let rows = QueryBuilder::<DB>::new(prefix.apply(select))
        .build()
        .fetch_all(pool)
        .await
        .map_err(driver_error)?;
    rows.iter().map(decode).collect()
}
