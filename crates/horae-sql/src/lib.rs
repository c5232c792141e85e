//! SQL data stores for horae: SQLite (the embedded default), with PostgreSQL and
//! MySQL/MariaDB to follow on the same schema.
//!
//! A store creates and upgrades its tables itself (versioned migrations, run on connect and
//! by [`SqliteStore::migrate`]), under a configurable table prefix so several horae
//! installations can share one database. Timestamps and durations are `BIGINT`
//! microseconds (they sort and compare the same in every database); arguments, keyword
//! arguments, metadata, triggers, retry policies, task actions and return values are JSON
//! columns. Besides the scheduling tables, each store keeps the nodes' heartbeat records.
//!
//! Every store passes the `horae-testkit` conformance suite.

mod codec;
mod common;
mod lookup;
pub mod mysql;
mod open;
mod pg_broker;
pub mod postgres;
mod prefix;
mod retry;
mod rows;
pub mod sqlite;

pub use self::mysql::{MysqlOptions, MysqlStore};
pub use self::open::{Dialect, OpenOptions, Opened, SqlStore, StoreUrl};
pub use self::pg_broker::{PgBroker, PgBrokerOptions};
pub use self::postgres::{PostgresOptions, PostgresStore};
pub use self::prefix::{DEFAULT_PREFIX, TablePrefix};
pub use self::retry::Unreachable;
pub use self::sqlite::{SqliteOptions, SqliteStore};
