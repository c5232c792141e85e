//! The background task of a [`PgBroker`](super::PgBroker): it listens on the channel and
//! hands the events of other nodes to the local subscribers, fetching large payloads from
//! the payload table, and reconnects with backoff whenever the connection is lost.

use std::sync::Arc;
use std::time::Duration;

use horae::backoff::Backoff;
use horae::broker::RelayInbox;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgListener, PgPool};

use super::Reference;

/// What the listening task needs; it holds no reference to the broker's shared state, so
/// dropping the last broker clone stops it.
pub(super) struct Receiver {
    /// A pool of one connection, which the listener takes (and retakes after a loss).
    pub(super) listen_pool: PgPool,
    /// The publishing pool, used here to fetch large payloads.
    pub(super) pool: PgPool,
    /// Its URL is the server's without the password, for logs.
    pub(super) inbox: RelayInbox,
    /// `SELECT payload FROM <payload table> WHERE id = $1`.
    pub(super) fetch_sql: Arc<str>,
    pub(super) connect_timeout: Duration,
    pub(super) health_check_interval: Duration,
}

impl Receiver {
    /// A listener on the channel, within the connect timeout.
    pub(super) async fn listen(&self) -> Result<PgListener, String> {
        let connect = async {
            let mut listener = PgListener::connect_with(&self.listen_pool).await?;
            listener.listen(self.inbox.channel()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(listener)) => Ok(listener),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "timed out after {} ms",
                self.connect_timeout.as_millis()
            )),
        }
    }

    /// Delivers the events of other nodes until stopped, listening again with backoff
    /// whenever the connection is lost. Events sent while no connection listened are lost,
    /// which costs latency only.
    pub(super) async fn run(self, listener: PgListener) {
        let (shown, channel) = (self.inbox.url(), self.inbox.channel());
        let mut backoff = Backoff::new();
        let mut listener = Some(listener);
        loop {
            let mut current = match listener.take() {
                Some(current) => current,
                None => {
                    let attempt = tokio::select! {
                        () = self.inbox.stopped() => return,
                        attempt = self.listen() => attempt,
                    };
                    match attempt {
                        Ok(current) => {
                            tracing::info!(url = %shown, channel, "listening to PostgreSQL again");
                            backoff.reset();
                            current
                        }
                        Err(error) => {
                            let delay = backoff.next_delay();
                            tracing::warn!(url = %shown, %error, retry_in = ?delay, "cannot listen to PostgreSQL");
                            tokio::select! {
                                () = self.inbox.stopped() => return,
                                () = tokio::time::sleep(delay) => continue,
                            }
                        }
                    }
                }
            };
            let mut health_check = tokio::time::interval_at(
                tokio::time::Instant::now() + self.health_check_interval,
                self.health_check_interval,
            );
            health_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // `try_recv` is cancel safe: it consumes a message only once it is complete.
                tokio::select! {
                    () = self.inbox.stopped() => return,
                    received = current.try_recv() => match received {
                        Ok(Some(notification)) => self.handle(notification.payload()).await,
                        // The connection was lost and has been re-established (listening
                        // again); whatever was sent in between is lost.
                        Ok(None) => {
                            tracing::warn!(url = %shown, channel, "the PostgreSQL listener reconnected; events in the gap were lost");
                        }
                        Err(error) => {
                            tracing::warn!(url = %shown, %error, "lost the PostgreSQL listener connection");
                            break;
                        }
                    },
                    _ = health_check.tick() => {
                        let ping = sqlx::query("SELECT 1").execute(&mut current);
                        match tokio::time::timeout(self.connect_timeout, ping).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => {
                                tracing::warn!(url = %shown, %error, "PostgreSQL listener health check failed");
                                break;
                            }
                            Err(_) => {
                                tracing::warn!(url = %shown, "PostgreSQL listener health check timed out");
                                break;
                            }
                        }
                    }
                }
            }
            // Dropping the listener returns its connection to the pool, which tests it
            // before handing it out again.
            drop(current);
            let delay = backoff.next_delay();
            tokio::select! {
                () = self.inbox.stopped() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Delivers one notification: an envelope, or a reference to a stored large one.
    /// Echoes of this instance's own events and malformed messages are skipped.
    async fn handle(&self, payload: &str) {
        let Ok(reference) = serde_json::from_str::<Reference>(payload) else {
            self.inbox.incoming(payload.as_bytes());
            return;
        };
        if self.inbox.is_own(&reference.origin) {
            return;
        }
        let fetch = sqlx::query_scalar::<_, String>(AssertSqlSafe(self.fetch_sql.clone()))
            .bind(reference.id)
            .fetch_optional(&self.pool);
        match tokio::time::timeout(self.connect_timeout, fetch).await {
            Ok(Ok(Some(stored))) => self.inbox.incoming(stored.as_bytes()),
            Ok(Ok(None)) => {
                tracing::warn!(
                    channel = self.inbox.channel(),
                    id = reference.id,
                    "skipping a large event whose stored payload is gone"
                );
            }
            Ok(Err(error)) => {
                tracing::warn!(channel = self.inbox.channel(), id = reference.id, %error, "cannot fetch a large event's payload");
            }
            Err(_) => {
                tracing::warn!(
                    channel = self.inbox.channel(),
                    id = reference.id,
                    "fetching a large event's payload timed out"
                );
            }
        }
    }
}
