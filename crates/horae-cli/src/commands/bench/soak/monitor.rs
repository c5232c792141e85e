//! What the soak samples besides lateness: this process's RSS, threads and file
//! descriptors, and PostgreSQL's connections, dead row versions and table sizes, read over
//! a connection of the monitor's own.

use horae_sql::{Dialect, PostgresOptions, PostgresStore, StoreUrl, TablePrefix};

use super::{application_name, with_parameter};
use crate::Failure;
use crate::commands::bench::runtime_error;

/// What the PostgreSQL monitor reads.
pub(super) struct ServerFigures {
    pub(super) connections: u64,
    pub(super) db_connections: u64,
    pub(super) schedules_dead: u64,
    pub(super) jobs_dead: u64,
    pub(super) schedules_mib: f64,
    pub(super) jobs_mib: f64,
}

/// A connection of its own to the PostgreSQL database, for the server's figures.
pub(super) struct Monitor {
    store: PostgresStore,
    statement: String,
}

impl Monitor {
    /// Connects to the database of `url` (a PostgreSQL store of `prefix`); `None` for other
    /// stores.
    pub(super) async fn connect(
        url: Option<&StoreUrl>,
        prefix: &TablePrefix,
    ) -> Result<Option<Monitor>, Failure> {
        let Some(url) = url.filter(|url| url.dialect() == Dialect::Postgres) else {
            return Ok(None);
        };
        let name = application_name();
        let monitor_url = with_parameter(url, &format!("{name}-monitor"))?;
        let store = PostgresStore::connect_with(
            monitor_url.as_str(),
            PostgresOptions {
                prefix: prefix.clone(),
                max_connections: 1,
                vacuum_every: 0,
                ..PostgresOptions::default()
            },
        )
        .await
        .map_err(runtime_error)?;
        // The prefix is letters, digits and underscores (TablePrefix checks), the name ours.
        let table = |t: &str| format!("lower('{}{t}')", prefix.as_str());
        let (schedules, jobs) = (table("schedules"), table("jobs"));
        let statement = format!(
            "COPY (SELECT \
             (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
              AND pid <> pg_backend_pid() AND backend_type = 'client backend' \
              AND application_name = '{name}'), \
             (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
              AND pid <> pg_backend_pid() AND backend_type = 'client backend'), \
             (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname = {schedules}), \
             (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname = {jobs}), \
             (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_stat_user_tables WHERE relname = {schedules}), \
             (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_stat_user_tables WHERE relname = {jobs}) \
             ) TO STDOUT"
        );
        Ok(Some(Monitor { store, statement }))
    }

    /// The server's figures now.
    pub(super) async fn read(&self) -> Result<ServerFigures, String> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = conn
            .copy_out_raw(&self.statement)
            .await
            .map_err(|e| e.to_string())?;
        let mut text = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            text.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        }
        let text = String::from_utf8_lossy(&text);
        let numbers: Vec<u64> = text
            .trim()
            .split('\t')
            .map(|field| field.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("unexpected monitor row {text:?}: {e}"))?;
        let [
            connections,
            db_connections,
            schedules_dead,
            jobs_dead,
            schedules_bytes,
            jobs_bytes,
        ] = numbers[..]
        else {
            return Err(format!("unexpected monitor row {text:?}"));
        };
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        Ok(ServerFigures {
            connections,
            db_connections,
            schedules_dead,
            jobs_dead,
            schedules_mib: mib(schedules_bytes),
            jobs_mib: mib(jobs_bytes),
        })
    }

    pub(super) async fn close(self) {
        self.store.pool().close().await;
    }
}

/// `(RSS MiB, threads, open file descriptors)` of this process; zeros where unavailable.
pub(super) fn process_figures() -> (f64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64);
    (field("VmRSS:") as f64 / 1024.0, field("Threads:"), fds)
}
