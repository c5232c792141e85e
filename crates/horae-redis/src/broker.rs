//! The Redis broker: a [`Relay`] for local fan-out and echo skipping, a pub/sub connection
//! feeding it from Redis in a background task, and a connection manager for publishing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use horae::backoff::{Backoff, Gate};
use horae::broker::{EventBroker, Relay, RelayInbox, Subscription};
use horae::clock::BoxFuture;
use horae::error::BrokerError;
use horae::event::{Event, EventKind};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};

/// Settings of a [`RedisBroker`]. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisBrokerOptions {
    /// Prefix of the pub/sub channel, which is `<prefix>.events`. Nodes share events when
    /// they use the same server and prefix. Default `horae`.
    pub prefix: String,
    /// How long connecting (at [`RedisBroker::connect`] and on each reconnection attempt)
    /// may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one publish may wait for Redis before it fails. Default 2 s.
    pub publish_timeout: Duration,
    /// How often the subscriber connection is pinged, so that a connection that died
    /// silently (no TCP reset) is noticed and replaced. Default 15 s.
    pub health_check_interval: Duration,
    /// Events buffered per local subscriber before a slow one skips events. Default
    /// [`horae::broker::DEFAULT_CAPACITY`].
    pub capacity: usize,
}

impl Default for RedisBrokerOptions {
    fn default() -> RedisBrokerOptions {
        RedisBrokerOptions {
            prefix: "horae".to_owned(),
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(2),
            health_check_interval: Duration::from_secs(15),
            capacity: horae::broker::DEFAULT_CAPACITY,
        }
    }
}

impl RedisBrokerOptions {
    /// These options with the channel prefix `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisBrokerOptions {
        self.prefix = prefix.into();
        self
    }
}

/// An [`EventBroker`] sharing events between nodes through Redis pub/sub.
///
/// Clones share one connection and one set of local subscribers. The background task that
/// receives events from Redis stops when the last clone is dropped or on
/// [`close`](RedisBroker::close); subscriptions then end.
#[derive(Clone)]
pub struct RedisBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Dropped with the last clone, which stops the background task.
    relay: Relay,
    publisher: ConnectionManager,
    gate: Gate,
    publish_timeout: Duration,
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.inner.relay.url())
            .field("channel", &self.inner.relay.channel())
            .field("origin", &self.inner.relay.origin())
            .finish_non_exhaustive()
    }
}

/// What the subscriber task needs; it holds no reference to [`Inner`], so dropping the
/// last broker clone stops it.
struct Receiver {
    client: redis::Client,
    inbox: RelayInbox,
    connect_timeout: Duration,
    health_check_interval: Duration,
}

impl RedisBroker {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host[:port][/db]`),
    /// subscribes to the channel `<prefix>.events` and starts receiving events from other
    /// nodes in a background task on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Invalid`] for a malformed URL or an empty prefix;
    /// [`BrokerError::Unavailable`] naming the URL when the server cannot be reached within
    /// the connect timeout.
    pub async fn connect(
        url: &str,
        options: RedisBrokerOptions,
    ) -> Result<RedisBroker, BrokerError> {
        if options.prefix.is_empty() {
            return Err(BrokerError::Invalid(
                "invalid redis broker options: the channel prefix is empty".to_owned(),
            ));
        }
        let client = redis::Client::open(url)
            .map_err(|error| BrokerError::Invalid(format!("invalid redis url '{url}': {error}")))?;
        let channel = format!("{}.events", options.prefix);
        let (relay, inbox) = Relay::new("redis", url, channel, options.capacity);
        let receiver = Receiver {
            client: client.clone(),
            inbox,
            connect_timeout: options.connect_timeout,
            health_check_interval: options.health_check_interval.max(Duration::from_millis(10)),
        };
        // Subscribe before returning, so that events published once `connect` returned
        // reach this node.
        let pubsub = receiver.subscribe().await.map_err(|error| {
            BrokerError::Unavailable(format!("cannot connect to redis at '{url}': {error}"))
        })?;

        let config = ConnectionManagerConfig::new()
            .set_min_delay(Duration::from_millis(100))
            .set_exponent_base(2.0)
            .set_max_delay(Duration::from_secs(10))
            .set_number_of_retries(16)
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.publish_timeout));
        let mut publisher =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|error| {
                BrokerError::Unavailable(format!("cannot connect to redis at '{url}': {error}"))
            })?;
        tokio::time::timeout(
            options.connect_timeout,
            redis::cmd("PING").query_async::<()>(&mut publisher),
        )
        .await
        .map_err(|_| {
            BrokerError::Unavailable(format!("cannot connect to redis at '{url}': timed out"))
        })?
        .map_err(|error| {
            BrokerError::Unavailable(format!("cannot connect to redis at '{url}': {error}"))
        })?;

        tracing::debug!(url, channel = %relay.channel(), origin = %relay.origin(), "redis broker connected");
        let inner = Inner {
            relay,
            publisher,
            gate: Gate::new(),
            publish_timeout: options.publish_timeout,
        };
        tokio::spawn(receiver.run(pubsub));
        Ok(RedisBroker {
            inner: Arc::new(inner),
        })
    }

    /// The pub/sub channel this broker uses (`<prefix>.events`).
    pub fn channel(&self) -> &str {
        self.inner.relay.channel()
    }

    /// This broker instance's id, which tags the events it publishes.
    pub fn origin(&self) -> &str {
        self.inner.relay.origin()
    }

    /// Stops receiving events from Redis, for every clone: the background task ends, local
    /// subscriptions end once it has, and later publishes fail. Dropping the last clone does
    /// the same.
    pub fn close(&self) {
        self.inner.relay.close();
    }

    /// Whether [`close`](RedisBroker::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.relay.is_closed()
    }

    async fn send(&self, payload: Vec<u8>) -> Result<(), BrokerError> {
        let inner = &*self.inner;
        let (url, channel) = (inner.relay.url(), inner.relay.channel());
        if let Err(remaining) = inner.gate.check() {
            return Err(BrokerError::Unavailable(format!(
                "redis at '{url}' is unreachable; retrying in {} ms",
                remaining.as_millis()
            )));
        }
        let mut publisher = inner.publisher.clone();
        let result = tokio::time::timeout(
            inner.publish_timeout,
            publisher.publish::<_, _, ()>(channel, payload),
        )
        .await;
        let error = match result {
            Ok(Ok(())) => {
                inner.gate.succeeded();
                return Ok(());
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("timed out after {} ms", inner.publish_timeout.as_millis()),
        };
        let delay = inner.gate.failed();
        tracing::debug!(url, %error, retry_in = ?delay, "publishing to redis failed");
        Err(BrokerError::Unavailable(format!(
            "cannot publish to redis at '{url}': {error}"
        )))
    }
}

impl EventBroker for RedisBroker {
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BrokerError>> {
        self.inner
            .relay
            .publish(event, |payload| self.send(payload))
    }

    /// A subscription to events of `kinds`; one made after [`close`](RedisBroker::close)
    /// has already ended.
    fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription {
        self.inner.relay.subscribe_to(kinds)
    }
}

impl Receiver {
    /// A pub/sub connection subscribed to the channel.
    async fn subscribe(&self) -> Result<PubSub, String> {
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.inbox.channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "timed out after {} ms",
                self.connect_timeout.as_millis()
            )),
        }
    }

    /// Delivers the events of other nodes until stopped, resubscribing with backoff
    /// whenever the connection is lost.
    async fn run(self, pubsub: PubSub) {
        let (url, channel) = (self.inbox.url(), self.inbox.channel());
        let mut backoff = Backoff::new();
        let mut pubsub = Some(pubsub);
        loop {
            let connection = match pubsub.take() {
                Some(connection) => connection,
                None => {
                    let attempt = tokio::select! {
                        () = self.inbox.stopped() => return,
                        attempt = self.subscribe() => attempt,
                    };
                    match attempt {
                        Ok(connection) => {
                            tracing::info!(url, channel, "resubscribed to redis");
                            backoff.reset();
                            connection
                        }
                        Err(error) => {
                            let delay = backoff.next_delay();
                            tracing::warn!(url, %error, retry_in = ?delay, "cannot resubscribe to redis");
                            tokio::select! {
                                () = self.inbox.stopped() => return,
                                () = tokio::time::sleep(delay) => continue,
                            }
                        }
                    }
                }
            };
            let (mut sink, mut messages) = connection.split();
            let mut health_check = tokio::time::interval_at(
                tokio::time::Instant::now() + self.health_check_interval,
                self.health_check_interval,
            );
            loop {
                tokio::select! {
                    () = self.inbox.stopped() => return,
                    message = messages.next() => match message {
                        Some(message) => self.inbox.incoming(message.get_payload_bytes()),
                        None => break,
                    },
                    _ = health_check.tick() => {
                        let ping = sink.ping::<redis::Value>();
                        match tokio::time::timeout(self.connect_timeout, ping).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => {
                                tracing::warn!(url, %error, "redis pub/sub health check failed");
                                break;
                            }
                            Err(_) => {
                                tracing::warn!(url, "redis pub/sub health check timed out");
                                break;
                            }
                        }
                    }
                }
            }
            let delay = backoff.next_delay();
            tracing::warn!(url, retry_in = ?delay, "lost the redis pub/sub connection");
            tokio::select! {
                () = self.inbox.stopped() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}
