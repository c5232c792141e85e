//! The PostgreSQL event broker: `LISTEN`/`NOTIFY` between the nodes sharing a database.
//!
//! A [`Relay`] fans events out within the process and skips echoes; a background task
//! listens on the channel `<prefix>_events` and feeds it the events of other nodes;
//! publishing is one `SELECT pg_notify(...)` on a small pool. Messages are the shared
//! envelope `{"origin": ..., "event": ...}` ([`horae::broker::envelope`]), so an instance
//! skips the echoes of its own events.
//!
//! `NOTIFY` payloads must be shorter than 8000 bytes. A larger envelope is stored in the
//! table `<prefix>_event_payloads` (created on connect) and the notification carries only
//! `{"origin": ..., "ref": <row id>}`; receivers fetch the row. Stored payloads older than
//! [`PgBrokerOptions::payload_retention`] are deleted now and then by publishers.

mod receiver;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use horae::broker::{EventBroker, Relay, Subscription};
use horae::clock::BoxFuture;
use horae::error::BrokerError;
use horae::event::{Event, EventKind};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use self::receiver::Receiver;
use horae::backoff::Gate;

use crate::common::redacted;

/// The largest envelope sent inline: PostgreSQL refuses `NOTIFY` payloads of 8000 bytes
/// or more.
const MAX_INLINE_PAYLOAD: usize = 7999;

/// The longest prefix that keeps `<prefix>_event_payloads` within PostgreSQL's 63-byte
/// identifiers.
const MAX_PREFIX_LEN: usize = 63 - "_event_payloads".len();

/// Settings of a [`PgBroker`]. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgBrokerOptions {
    /// Prefix of the channel `<prefix>_events` and the table `<prefix>_event_payloads`:
    /// ASCII letters, digits and underscores, at most 48 of them. Nodes share events when
    /// they use the same database and prefix. Default `horae`.
    pub prefix: String,
    /// How long connecting may take, at [`PgBroker::connect`] and on each reconnection of
    /// the listener. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one publish may wait for the server (including for a connection) before it
    /// fails. Default 2 s.
    pub publish_timeout: Duration,
    /// How often the listening connection is pinged, so that a connection that died
    /// silently (no TCP reset) is noticed and replaced. Default 15 s.
    pub health_check_interval: Duration,
    /// How long large payloads stay in the payload table; receivers must fetch them within
    /// this time. Default 5 minutes.
    pub payload_retention: Duration,
    /// Connections for publishing and fetching large payloads. Default 2.
    pub max_connections: u32,
    /// Events buffered per local subscriber before a slow one skips events. Default
    /// [`horae::broker::DEFAULT_CAPACITY`].
    pub capacity: usize,
}

impl Default for PgBrokerOptions {
    fn default() -> PgBrokerOptions {
        PgBrokerOptions {
            prefix: "horae".to_owned(),
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(2),
            health_check_interval: Duration::from_secs(15),
            payload_retention: Duration::from_secs(5 * 60),
            max_connections: 2,
            capacity: horae::broker::DEFAULT_CAPACITY,
        }
    }
}

impl PgBrokerOptions {
    /// These options with the prefix `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> PgBrokerOptions {
        self.prefix = prefix.into();
        self
    }
}

/// The notification sent in place of a large envelope: where to fetch it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    origin: String,
    #[serde(rename = "ref")]
    id: i64,
}

/// An [`EventBroker`] sharing events between nodes through PostgreSQL `LISTEN`/`NOTIFY`.
///
/// Clones share one pool and one set of local subscribers. The background task that
/// receives events stops when the last clone is dropped or on [`close`](PgBroker::close);
/// subscriptions then end.
#[derive(Clone)]
pub struct PgBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Its URL is the server's without the password. Dropped with the last clone, which
    /// stops the background task.
    relay: Relay,
    pool: PgPool,
    gate: Gate,
    /// Stores a large envelope and notifies its reference, in one statement.
    store_sql: Arc<str>,
    /// Deletes stored payloads older than the retention.
    cleanup_sql: Arc<str>,
    payload_retention: Duration,
    /// When stored payloads were last cleaned up.
    last_cleanup: Mutex<Option<Instant>>,
    publish_timeout: Duration,
}

impl Inner {
    /// Whether a cleanup of stored payloads is due; if so, the next one is not before
    /// a tenth of the retention has passed.
    fn cleanup_due(&self) -> bool {
        let mut last = self
            .last_cleanup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match *last {
            Some(at) if now.duration_since(at) < self.payload_retention / 10 => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

impl fmt::Debug for PgBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBroker")
            .field("url", &self.inner.relay.url())
            .field("channel", &self.inner.relay.channel())
            .field("origin", &self.inner.relay.origin())
            .finish_non_exhaustive()
    }
}

/// Checks that `prefix` makes valid channel and table names.
fn validate_prefix(prefix: &str) -> Result<(), BrokerError> {
    let problem = if prefix.is_empty() {
        "is empty".to_owned()
    } else if prefix.len() > MAX_PREFIX_LEN {
        format!("is longer than {MAX_PREFIX_LEN} characters")
    } else if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        "may only contain ASCII letters, digits and underscores".to_owned()
    } else {
        return Ok(());
    };
    Err(BrokerError::Invalid(format!(
        "invalid PostgreSQL broker prefix '{prefix}': the prefix {problem}"
    )))
}

impl PgBroker {
    /// Connects to the PostgreSQL server at `url` (`postgres://user:password@host:port/db`),
    /// creates the payload table when missing, listens on the channel `<prefix>_events` and
    /// starts receiving events from other nodes in a background task on the current Tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Invalid`] for a malformed URL or prefix; [`BrokerError::Unavailable`]
    /// naming the server (never the password) when it cannot be reached within the connect
    /// timeout.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), horae::error::BrokerError> {
    /// use horae::broker::EventBroker;
    /// use horae::event::EventKind;
    /// use horae_sql::{PgBroker, PgBrokerOptions};
    ///
    /// let options = PgBrokerOptions::default().with_prefix("billing");
    /// let broker = PgBroker::connect("postgres://horae:secret@db/horae", options).await?;
    /// assert_eq!(broker.channel(), "billing_events");
    /// let mut added = broker.subscribe_to(&[EventKind::TaskAdded]);
    /// while let Some(event) = added.recv().await {
    ///     println!("{event:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, options: PgBrokerOptions) -> Result<PgBroker, BrokerError> {
        validate_prefix(&options.prefix)?;
        let shown = redacted(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(BrokerError::Invalid(format!(
                "invalid PostgreSQL url '{shown}': it must start with postgres:// or postgresql://"
            )));
        }
        let connect_options: PgConnectOptions = url.parse().map_err(|error| {
            BrokerError::Invalid(format!("invalid PostgreSQL url '{shown}': {error}"))
        })?;
        let unavailable = |error: String| {
            BrokerError::Unavailable(format!(
                "cannot connect to PostgreSQL at '{shown}': {error}"
            ))
        };

        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.publish_timeout)
            .connect_lazy_with(connect_options.clone());
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.connect_timeout)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(connect_options.clone());

        let table = format!("\"{}_event_payloads\"", options.prefix);
        let channel = format!("{}_events", options.prefix);
        let (relay, inbox) = Relay::new("PostgreSQL", shown.as_str(), channel, options.capacity);
        let receiver = Receiver {
            listen_pool,
            pool: pool.clone(),
            inbox,
            fetch_sql: format!("SELECT payload FROM {table} WHERE id = $1").into(),
            connect_timeout: options.connect_timeout,
            health_check_interval: options.health_check_interval.max(Duration::from_millis(10)),
        };
        // A first, direct connection tells why the server cannot be reached (a pool only
        // says that it timed out), and creates the payload table.
        let setup = async {
            let mut connection = PgConnection::connect_with(&connect_options).await?;
            let created = sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {table} (id BIGSERIAL PRIMARY KEY, \
                 payload TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )))
            .execute(&mut connection)
            .await;
            let _ = connection.close().await;
            match created {
                // Nodes creating the table at once may collide in the catalog; then
                // another one created it.
                Err(sqlx::Error::Database(error))
                    if matches!(error.code().as_deref(), Some("23505" | "42P07")) =>
                {
                    Ok(())
                }
                other => other.map(|_| ()),
            }
        };
        match tokio::time::timeout(options.connect_timeout, setup).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(unavailable(error.to_string())),
            Err(_) => {
                return Err(unavailable(format!(
                    "timed out after {} ms",
                    options.connect_timeout.as_millis()
                )));
            }
        }
        // Listen before returning, so that events published once `connect` returned reach
        // this node.
        let listener = receiver.listen().await.map_err(unavailable)?;

        tracing::debug!(url = %shown, channel = %relay.channel(), origin = %relay.origin(), "PostgreSQL broker connected");
        let inner = Inner {
            relay,
            pool,
            gate: Gate::new(),
            store_sql: format!(
                "WITH stored AS (INSERT INTO {table} (payload) VALUES ($3) RETURNING id) \
                 SELECT pg_notify($1, json_build_object('origin', $2::text, 'ref', id)::text) \
                 FROM stored"
            )
            .into(),
            cleanup_sql: format!(
                "DELETE FROM {table} WHERE created_at < now() - make_interval(secs => $1)"
            )
            .into(),
            payload_retention: options.payload_retention,
            last_cleanup: Mutex::new(None),
            publish_timeout: options.publish_timeout,
        };
        tokio::spawn(receiver.run(listener));
        Ok(PgBroker {
            inner: Arc::new(inner),
        })
    }

    /// The channel this broker listens and notifies on (`<prefix>_events`).
    pub fn channel(&self) -> &str {
        self.inner.relay.channel()
    }

    /// This broker instance's id, which tags the events it publishes.
    pub fn origin(&self) -> &str {
        self.inner.relay.origin()
    }

    /// Stops receiving events, for every clone: the background task ends, local
    /// subscriptions end once it has, and later publishes fail. Dropping the last clone
    /// does the same.
    pub fn close(&self) {
        self.inner.relay.close();
    }

    /// Whether [`close`](PgBroker::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.relay.is_closed()
    }

    /// Sends an envelope to the other nodes: inline when it fits a notification, else
    /// stored in the payload table with a reference notified.
    async fn send(&self, payload: Vec<u8>) -> Result<(), BrokerError> {
        let inner = &*self.inner;
        let (shown, channel) = (inner.relay.url(), inner.relay.channel());
        if let Err(remaining) = inner.gate.check() {
            return Err(BrokerError::Unavailable(format!(
                "PostgreSQL at '{shown}' is unreachable; retrying in {} ms",
                remaining.as_millis()
            )));
        }
        let payload = String::from_utf8(payload)
            .map_err(|error| BrokerError::Serialization(error.to_string()))?;
        let large = payload.len() > MAX_INLINE_PAYLOAD;
        let notify = async {
            if large {
                sqlx::query(AssertSqlSafe(inner.store_sql.clone()))
                    .bind(channel)
                    .bind(inner.relay.origin())
                    .bind(&payload)
                    .execute(&inner.pool)
                    .await
            } else {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(&payload)
                    .execute(&inner.pool)
                    .await
            }
        };
        let error = match tokio::time::timeout(inner.publish_timeout, notify).await {
            Ok(Ok(_)) => {
                inner.gate.succeeded();
                if large && inner.cleanup_due() {
                    self.clean_up().await;
                }
                return Ok(());
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("timed out after {} ms", inner.publish_timeout.as_millis()),
        };
        let delay = inner.gate.failed();
        tracing::debug!(url = %shown, %error, retry_in = ?delay, "publishing to PostgreSQL failed");
        Err(BrokerError::Unavailable(format!(
            "cannot publish to PostgreSQL at '{shown}': {error}"
        )))
    }

    /// Deletes stored payloads older than the retention; a failure is only logged.
    async fn clean_up(&self) {
        let inner = &*self.inner;
        let delete = sqlx::query(AssertSqlSafe(inner.cleanup_sql.clone()))
            .bind(inner.payload_retention.as_secs_f64())
            .execute(&inner.pool);
        match tokio::time::timeout(inner.publish_timeout, delete).await {
            Ok(Ok(done)) => {
                tracing::debug!(
                    deleted = done.rows_affected(),
                    "cleaned up stored event payloads"
                );
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot clean up stored event payloads"),
            Err(_) => tracing::warn!("cleaning up stored event payloads timed out"),
        }
    }
}

impl EventBroker for PgBroker {
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BrokerError>> {
        self.inner
            .relay
            .publish(event, |payload| self.send(payload))
    }

    /// A subscription to events of `kinds`; one made after [`close`](PgBroker::close) has
    /// already ended.
    fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription {
        self.inner.relay.subscribe_to(kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_make_valid_identifiers() {
        for good in [
            "horae",
            "t0123456789abcdef",
            "My_App_2",
            &"p".repeat(MAX_PREFIX_LEN),
        ] {
            assert!(validate_prefix(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "horae-test",
            "a b",
            "naïve",
            "x\"; DROP",
            &"p".repeat(49),
        ] {
            let error = validate_prefix(bad).unwrap_err();
            assert!(matches!(error, BrokerError::Invalid(_)), "{bad}: {error}");
        }
    }

    #[test]
    fn references_parse_and_envelopes_are_not_references() {
        let reference: Reference =
            serde_json::from_str(r#"{"origin" : "node-1", "ref" : 42}"#).unwrap();
        assert_eq!((reference.origin.as_str(), reference.id), ("node-1", 42));
        assert!(
            serde_json::from_str::<Reference>(r#"{"origin":"x","event":{"type":"task_added"}}"#)
                .is_err()
        );
    }
}
