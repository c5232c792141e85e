//! Opening whichever SQL store a URL names — the entry point for programs configured with a
//! store URL (the daemon, admin commands, benchmarks).
//!
//! [`SqlStore::open`] waits for the server while it is unreachable (retrying with backoff
//! for [`OpenOptions::connect_timeout`], reporting each failed attempt), creates the
//! database when the server lacks it, connects and brings the schema up to date, and says
//! which schema version it found and which is now in place. A failure that retrying cannot
//! fix — bad credentials, a database that cannot be created, a malformed URL — is returned
//! at once.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use horae::error::StoreError;
use horae::store::{DataStore, StoreResult};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::codec::driver_error;
use crate::common::redacted;
use crate::prefix::TablePrefix;
use crate::retry::{Attempt, GaveUp, Unreachable, retry_while_transient};
use crate::{MysqlOptions, MysqlStore, PostgresOptions, PostgresStore, SqliteOptions, SqliteStore};

/// The longest one attempt to reach a server may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest: a final attempt near the deadline still gets this long.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Which database a store URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `sqlite:` — a file or `:memory:`.
    Sqlite,
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://` — MySQL 8 or MariaDB 10.6+.
    Mysql,
}

impl Dialect {
    /// The database's name for messages: `SQLite`, `PostgreSQL`, `MySQL`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL",
        }
    }

    /// A short lowercase id: `sqlite`, `postgres`, `mysql`.
    pub fn id(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }
}

/// A validated SQL store URL: `sqlite://path/horae.db` (or `sqlite:horae.db`,
/// `sqlite::memory:`), `postgres://user:password@host:5432/database`,
/// `mysql://user:password@host:3306/database` (`mariadb://` is the same). Displays with its
/// password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    dialect: Dialect,
    url: String,
}

impl StoreUrl {
    /// Checks a URL's scheme and syntax (without connecting); `mariadb://` becomes
    /// `mysql://`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for another scheme, a malformed URL, or a MySQL URL that names
    /// no database. The message shows the URL without its password.
    pub fn parse(url: &str) -> StoreResult<StoreUrl> {
        let shown = redacted(url);
        let invalid = |e: sqlx::Error| StoreError::Invalid(format!("store URL {shown:?}: {e}"));
        let (dialect, url) = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map_err(invalid)?;
            (Dialect::Sqlite, url.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url).map_err(invalid)?;
            (Dialect::Postgres, url.to_owned())
        } else if let Some(rest) = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
        {
            let url = format!("mysql://{rest}");
            let options = MySqlConnectOptions::from_str(&url).map_err(invalid)?;
            if options.get_database().is_none_or(str::is_empty) {
                return Err(StoreError::Invalid(format!(
                    "store URL {shown:?} names no database (mysql://user:password@host:3306/database)"
                )));
            }
            (Dialect::Mysql, url)
        } else {
            return Err(StoreError::Invalid(format!(
                "store URL {shown:?}: expected sqlite:, postgres://, postgresql://, mysql:// or mariadb://"
            )));
        };
        Ok(StoreUrl { dialect, url })
    }

    /// Which database the URL names.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The URL to connect with, password included.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with its password (if any) replaced by `***`.
    pub fn redacted(&self) -> String {
        redacted(&self.url)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreUrl")
            .field("dialect", &self.dialect)
            .field("url", &self.redacted())
            .finish()
    }
}

/// How [`SqlStore::open`] and [`SqlStore::connect`] connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// The table prefix (default `horae_`).
    pub prefix: TablePrefix,
    /// Connections in the pool; `None` keeps the store's default.
    pub max_connections: Option<u32>,
    /// How long [`SqlStore::open`] keeps retrying while the server is unreachable (default
    /// 60 s); zero makes one attempt.
    pub connect_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            prefix: TablePrefix::default(),
            max_connections: None,
            connect_timeout: Duration::from_secs(60),
        }
    }
}

/// A store opened by [`SqlStore::open`], with what opening it did.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The store, its schema up to date.
    pub store: SqlStore,
    /// The schema version found before migrating (0: no tables of this prefix yet).
    pub from_version: u32,
    /// The schema version now in place.
    pub to_version: u32,
    /// Whether the database (or SQLite file) had to be created.
    pub created_database: bool,
}

/// Any of the SQL stores, chosen by URL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    inner: Inner,
    prefix: TablePrefix,
}

#[derive(Debug, Clone)]
enum Inner {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
    Mysql(MysqlStore),
}

impl SqlStore {
    /// Waits until the server answers, retrying with backoff while it is unreachable for up
    /// to `options.connect_timeout` and passing each failed attempt to `on_retry` (to log:
    /// it displays as `PostgreSQL at postgres://u:***@db/x is unreachable (connection
    /// refused); retrying in 1.2s`); then creates the database if the server lacks it,
    /// connects and applies the migrations the schema lacks.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server stayed unreachable until the timeout;
    /// at once, without retrying: [`StoreError::Other`] when the server refuses the
    /// connection (bad credentials) or the database is missing and cannot be created,
    /// [`StoreError::Invalid`] for a schema newer than this horae knows. Messages show the
    /// URL without its password.
    pub async fn open(
        url: &StoreUrl,
        options: &OpenOptions,
        mut on_retry: impl FnMut(&Unreachable),
    ) -> StoreResult<Opened> {
        let database = url.dialect.name();
        let shown = url.redacted();
        let found = retry_while_transient(
            options.connect_timeout,
            |left| probe(url, &options.prefix, left),
            |attempt, cause, retry_in| {
                on_retry(&Unreachable {
                    database,
                    url: shown.clone(),
                    cause: cause.to_owned(),
                    attempt,
                    retry_in,
                });
            },
        )
        .await
        .map_err(|gave_up| match gave_up {
            GaveUp::Fatal(error) => error,
            GaveUp::Unreachable {
                cause,
                attempts,
                elapsed,
            } => StoreError::Unavailable(format!(
                "{database} at {shown} is unreachable ({cause}); gave up after {:.1}s and {attempts} attempt{}",
                elapsed.as_secs_f64(),
                if attempts == 1 { "" } else { "s" }
            )),
        })?;
        if found.is_none() {
            create_database(url).await.map_err(|error| {
                StoreError::Other(format!(
                    "{database} at {shown}: the database does not exist and could not be created: {error}"
                ))
            })?;
        }
        let store = SqlStore::connect(url, options).await?;
        let to_version = store.migrate().await?;
        Ok(Opened {
            store,
            from_version: found.unwrap_or(0),
            to_version,
            created_database: found.is_none(),
        })
    }

    /// Connects once (no waiting, no database creation) and brings the schema up to date —
    /// for further pools once [`SqlStore::open`] succeeded.
    ///
    /// # Errors
    ///
    /// As the store's `connect_with`.
    pub async fn connect(url: &StoreUrl, options: &OpenOptions) -> StoreResult<SqlStore> {
        let prefix = options.prefix.clone();
        let inner = match url.dialect {
            Dialect::Sqlite => {
                let defaults = SqliteOptions::default();
                let options = SqliteOptions {
                    prefix: prefix.clone(),
                    max_connections: options.max_connections.unwrap_or(defaults.max_connections),
                    ..defaults
                };
                Inner::Sqlite(SqliteStore::connect_with(&url.url, options).await?)
            }
            Dialect::Postgres => {
                let defaults = PostgresOptions::default();
                let options = PostgresOptions {
                    prefix: prefix.clone(),
                    max_connections: options.max_connections.unwrap_or(defaults.max_connections),
                    ..defaults
                };
                Inner::Postgres(PostgresStore::connect_with(&url.url, options).await?)
            }
            Dialect::Mysql => {
                let defaults = MysqlOptions::default();
                let options = MysqlOptions {
                    prefix: prefix.clone(),
                    max_connections: options.max_connections.unwrap_or(defaults.max_connections),
                    ..defaults
                };
                Inner::Mysql(MysqlStore::connect_with(&url.url, options).await?)
            }
        };
        Ok(SqlStore { inner, prefix })
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
            Inner::Mysql(_) => Dialect::Mysql,
        }
    }

    /// The table prefix.
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }

    /// The store, for a [`horae::scheduler::Scheduler`].
    pub fn data_store(&self) -> Arc<dyn DataStore> {
        match &self.inner {
            Inner::Sqlite(store) => Arc::new(store.clone()),
            Inner::Postgres(store) => Arc::new(store.clone()),
            Inner::Mysql(store) => Arc::new(store.clone()),
        }
    }

    /// Applies the migrations the schema lacks; returns the version now in place.
    ///
    /// # Errors
    ///
    /// As the store's `migrate`.
    pub async fn migrate(&self) -> StoreResult<u32> {
        match &self.inner {
            Inner::Sqlite(store) => store.migrate().await,
            Inner::Postgres(store) => store.migrate().await,
            Inner::Mysql(store) => store.migrate().await,
        }
    }

    /// Drops every table of this store's prefix — all its tasks, schedules, jobs, results
    /// and node records. For benchmarks and tests; irreversible.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn drop_tables(&self) -> StoreResult<()> {
        const TABLES: &str =
            "{p}nodes, {p}results, {p}jobs, {p}schedules, {p}tasks, {p}schema_version";
        match &self.inner {
            Inner::Postgres(store) => store.drop_tables().await,
            Inner::Mysql(store) => {
                let sql = self.prefix.apply(&format!("DROP TABLE IF EXISTS {TABLES}"));
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(store.pool())
                    .await
                    .map_err(driver_error)?;
                Ok(())
            }
            Inner::Sqlite(store) => {
                // SQLite drops one table per statement.
                let sql: String = TABLES
                    .split(", ")
                    .map(|table| format!("DROP TABLE IF EXISTS {table};"))
                    .collect();
                sqlx::raw_sql(AssertSqlSafe(self.prefix.apply(&sql)))
                    .execute(store.pool())
                    .await
                    .map_err(driver_error)?;
                Ok(())
            }
        }
    }

    /// Closes the connection pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite(store) => store.pool().close().await,
            Inner::Postgres(store) => store.close().await,
            Inner::Mysql(store) => store.pool().close().await,
        }
    }
}

/// The schema version recorded under `prefix` on connection `conn`: 0 when the version
/// table does not exist. (A macro: the three connection types share no usable trait bound.)
macro_rules! schema_version {
    ($conn:expr, $prefix:expr) => {{
        let sql = $prefix.apply("SELECT MAX(version) FROM {p}schema_version");
        match sqlx::query_scalar::<_, Option<i64>>(AssertSqlSafe(sql))
            .fetch_one($conn)
            .await
        {
            Ok(version) => Ok(u32::try_from(version.unwrap_or(0)).unwrap_or(u32::MAX)),
            Err(error) if is_undefined_table(&error) => Ok(0),
            Err(error) => Err(error),
        }
    }};
}

/// One attempt to reach the server: the schema version under `prefix` (0 without tables),
/// or `None` when the server answered but has no such database (or the SQLite file does
/// not exist).
async fn probe(url: &StoreUrl, prefix: &TablePrefix, left: Duration) -> Attempt<Option<u32>> {
    let limit = left.clamp(MIN_ATTEMPT_TIMEOUT, ATTEMPT_TIMEOUT);
    let attempt = async {
        match url.dialect {
            Dialect::Sqlite => {
                // Not a server: open the file without creating it.
                let options = SqliteConnectOptions::from_str(&url.url)?.create_if_missing(false);
                let mut conn = SqliteConnection::connect_with(&options).await?;
                let version = schema_version!(&mut conn, prefix);
                let _ = conn.close().await;
                version
            }
            Dialect::Postgres => {
                let options = PgConnectOptions::from_str(&url.url)?;
                let mut conn = PgConnection::connect_with(&options).await?;
                let version = schema_version!(&mut conn, prefix);
                let _ = conn.close().await;
                version
            }
            Dialect::Mysql => {
                let options = MySqlConnectOptions::from_str(&url.url)?;
                let mut conn = MySqlConnection::connect_with(&options).await?;
                let version = schema_version!(&mut conn, prefix);
                let _ = conn.close().await;
                version
            }
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(version)) => Attempt::Reached(Some(version)),
        Ok(Err(error)) => classify(url, error),
        Err(_) => Attempt::Transient(format!("timed out after {:.1}s", limit.as_secs_f64())),
    }
}

/// PostgreSQL 42P01, MySQL 1146, SQLite "no such table".
fn is_undefined_table(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql.number() == 1146;
    }
    db.code().as_deref() == Some("42P01") || db.message().starts_with("no such table")
}

/// Sorts a failed attempt: unreachable (retry), no such database (reached, create it), or
/// refused for good.
fn classify(url: &StoreUrl, error: sqlx::Error) -> Attempt<Option<u32>> {
    let database = url.dialect.name();
    let shown = url.redacted();
    match error {
        sqlx::Error::Io(io) => Attempt::Transient(io_cause(&io)),
        sqlx::Error::Protocol(message) => Attempt::Transient(message),
        sqlx::Error::PoolTimedOut => Attempt::Transient("timed out".to_owned()),
        sqlx::Error::Database(db) => {
            let (code, number) = match db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                Some(mysql) => (None, Some(mysql.number())),
                None => (db.code().map(|c| c.into_owned()), None),
            };
            match (url.dialect, code.as_deref(), number) {
                // invalid_catalog_name, ER_BAD_DB_ERROR, SQLITE_CANTOPEN.
                (Dialect::Postgres, Some("3D000"), _)
                | (Dialect::Mysql, _, Some(1049))
                | (Dialect::Sqlite, Some("14"), _) => Attempt::Reached(None),
                // too_many_connections, cannot_connect_now (starting up), admin/crash
                // shutdown; MySQL too many connections, shutdown in progress, too many
                // user connections; SQLite busy/locked.
                (Dialect::Postgres, Some("53300" | "57P01" | "57P02" | "57P03"), _)
                | (Dialect::Mysql, _, Some(1040 | 1053 | 1203))
                | (Dialect::Sqlite, Some("5" | "6"), _) => {
                    Attempt::Transient(db.message().to_owned())
                }
                _ => Attempt::Fatal(StoreError::Other(format!(
                    "{database} at {shown} refused the connection: {}",
                    db.message()
                ))),
            }
        }
        sqlx::Error::Configuration(e) => {
            Attempt::Fatal(StoreError::Invalid(format!("store URL {shown:?}: {e}")))
        }
        other => Attempt::Fatal(StoreError::Other(format!(
            "cannot connect to {database} at {shown}: {other}"
        ))),
    }
}

/// A short cause for a connection failure: `connection refused`, or the full message when
/// the kind alone says little (a failed DNS lookup).
fn io_cause(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::NotConnected
        | ErrorKind::TimedOut
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::NetworkDown
        | ErrorKind::AddrNotAvailable
        | ErrorKind::UnexpectedEof => error.kind().to_string(),
        _ => error.to_string(),
    }
}

/// Creates the database `url` names (SQLite: nothing to do, connecting creates the file).
async fn create_database(url: &StoreUrl) -> StoreResult<()> {
    match url.dialect {
        Dialect::Sqlite => Ok(()),
        Dialect::Postgres => PostgresStore::create_database_if_missing(&url.url).await,
        Dialect::Mysql => create_mysql_database(url).await,
    }
}

/// `CREATE DATABASE IF NOT EXISTS` on the server of a MySQL URL.
pub(crate) async fn create_mysql_database(url: &StoreUrl) -> StoreResult<()> {
    let shown = url.redacted();
    let options = MySqlConnectOptions::from_str(&url.url)
        .map_err(|e| StoreError::Invalid(format!("store URL {shown:?}: {e}")))?;
    let database = options.get_database().unwrap_or_default().to_owned();
    if database.is_empty()
        || !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(StoreError::Invalid(format!(
            "database name {database:?}: use ASCII letters, digits and underscores"
        )));
    }
    let admin = options.database("information_schema");
    let mut conn = tokio::time::timeout(ATTEMPT_TIMEOUT, admin.connect())
        .await
        .map_err(|_| StoreError::Unavailable(format!("MySQL at {shown}: timed out")))?
        .map_err(driver_error)?;
    let created = sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4"
    )))
    .execute(&mut conn)
    .await
    .map_err(driver_error);
    let _ = conn.close().await;
    created.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_sorted_by_scheme_and_never_shown_with_passwords() {
        for (url, dialect) in [
            ("sqlite://horae.db", Dialect::Sqlite),
            ("sqlite::memory:", Dialect::Sqlite),
            ("postgres://u:secret@db:5432/x", Dialect::Postgres),
            ("postgresql://db/x", Dialect::Postgres),
            ("mysql://root:secret@db:3306/x", Dialect::Mysql),
        ] {
            let parsed = StoreUrl::parse(url).unwrap();
            assert_eq!(parsed.dialect(), dialect);
            assert!(!parsed.to_string().contains("secret"), "{parsed}");
            assert!(!format!("{parsed:?}").contains("secret"), "{parsed:?}");
        }
        let maria = StoreUrl::parse("mariadb://root:pw@db/x").unwrap();
        assert_eq!(maria.dialect(), Dialect::Mysql);
        assert_eq!(maria.as_str(), "mysql://root:pw@db/x");
        assert_eq!(maria.to_string(), "mysql://root:***@db/x");
        for bad in [
            "memory://",
            "redis://db",
            "horae.db",
            "mysql://root:pw@db",
            "postgres://u:pw@db:notaport/x",
        ] {
            let error = StoreUrl::parse(bad).unwrap_err();
            assert!(matches!(error, StoreError::Invalid(_)), "{bad}: {error}");
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
    }

    #[test]
    fn connection_failures_are_sorted_into_retry_create_or_fail() {
        let pg = StoreUrl::parse("postgres://u:pw@db/x").unwrap();
        let refused = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(
            matches!(classify(&pg, refused), Attempt::Transient(c) if c == "connection refused")
        );
        let config = sqlx::Error::Configuration("bad option".into());
        assert!(matches!(
            classify(&pg, config),
            Attempt::Fatal(StoreError::Invalid(m)) if !m.contains("pw@")
        ));
        let tls = sqlx::Error::Tls("certificate".into());
        assert!(matches!(classify(&pg, tls), Attempt::Fatal(_)));
    }

    #[tokio::test]
    async fn opening_a_fresh_sqlite_file_creates_and_migrates_it_once() {
        let file = horae_testkit::service::TempSqliteFile::new();
        let url = StoreUrl::parse(&file.url()).unwrap();
        let options = OpenOptions::default();
        let first = SqlStore::open(&url, &options, |n| panic!("{n}"))
            .await
            .unwrap();
        assert_eq!(first.from_version, 0);
        assert!(first.to_version >= 1);
        assert!(first.created_database);
        first.store.close().await;
        let second = SqlStore::open(&url, &options, |n| panic!("{n}"))
            .await
            .unwrap();
        assert_eq!(second.from_version, first.to_version);
        assert_eq!(second.to_version, first.to_version);
        assert!(!second.created_database);
        second.store.drop_tables().await.unwrap();
        assert_eq!(second.store.migrate().await.unwrap(), first.to_version);
        second.store.close().await;
    }

    #[tokio::test]
    async fn an_unreachable_server_is_retried_until_the_timeout() {
        let url = StoreUrl::parse("postgres://postgres:pw@127.0.0.1:1/x").unwrap();
        let options = OpenOptions {
            connect_timeout: Duration::from_millis(300),
            ..OpenOptions::default()
        };
        let mut notices = Vec::new();
        let error = SqlStore::open(&url, &options, |n| notices.push(n.to_string()))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
        let message = error.to_string();
        assert!(
            message.contains(
                "postgres://postgres:***@127.0.0.1:1/x is unreachable (connection refused)"
            ),
            "{message}"
        );
        assert!(!notices.is_empty());
        assert!(
            notices[0].starts_with(
                "PostgreSQL at postgres://postgres:***@127.0.0.1:1/x is unreachable (connection refused); retrying in"
            ),
            "{notices:?}"
        );
    }
}
