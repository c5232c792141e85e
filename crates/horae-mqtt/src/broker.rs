//! The MQTT broker: a [`Relay`] for local fan-out and echo skipping, and an MQTT client
//! whose event loop, in a background task, feeds it the events of other nodes and
//! reconnects after failures.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use horae::backoff::Backoff;
use horae::broker::{EventBroker, Relay, RelayInbox, Subscription};
use horae::clock::BoxFuture;
use horae::error::BrokerError;
use horae::event::{Event, EventKind};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event as MqttEvent, EventLoop, Incoming, MqttOptions, Outgoing,
    QoS, Request, Subscribe, SubscribeReasonCode,
};

use crate::url;

/// The largest event message sent or accepted.
const MAX_PACKET_SIZE: usize = 1 << 20;
/// Requests (publishes) queued for the client's event loop.
const REQUEST_QUEUE: usize = 1024;

/// Settings of an [`MqttBroker`]. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MqttBrokerOptions {
    /// Prefix of the topic, which is `<prefix>/events`. Nodes share events when they use the
    /// same server and prefix. It must not contain the wildcards `+` or `#`. Default `horae`.
    pub prefix: String,
    /// The MQTT client id; it must be unique on the server. Default `None`: a fresh
    /// `horae-<uuid>` per broker instance.
    pub client_id: Option<String>,
    /// How long connecting (at [`MqttBroker::connect`] and on each reconnection attempt)
    /// may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one publish may wait for room in the client's queue. Default 2 s.
    pub publish_timeout: Duration,
    /// The MQTT keep-alive interval, in whole seconds (at least 1). Default 10 s.
    pub keep_alive: Duration,
    /// Events buffered per local subscriber before a slow one skips events. Default
    /// [`horae::broker::DEFAULT_CAPACITY`].
    pub capacity: usize,
}

impl Default for MqttBrokerOptions {
    fn default() -> MqttBrokerOptions {
        MqttBrokerOptions {
            prefix: "horae".to_owned(),
            client_id: None,
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(2),
            keep_alive: Duration::from_secs(10),
            capacity: horae::broker::DEFAULT_CAPACITY,
        }
    }
}

impl MqttBrokerOptions {
    /// These options with the topic prefix `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> MqttBrokerOptions {
        self.prefix = prefix.into();
        self
    }

    /// These options with the MQTT client id `client_id`.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> MqttBrokerOptions {
        self.client_id = Some(client_id.into());
        self
    }
}

/// An [`EventBroker`] sharing events between nodes through an MQTT server (QoS 1).
///
/// Clones share one connection and one set of local subscribers. The background task that
/// drives the connection stops when the last clone is dropped or on
/// [`close`](MqttBroker::close); subscriptions then end.
#[derive(Clone)]
pub struct MqttBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Its channel is the topic. Dropped with the last clone, which stops the background
    /// task.
    relay: Relay,
    client: AsyncClient,
    connected: Arc<AtomicBool>,
    client_id: String,
    publish_timeout: Duration,
}

impl fmt::Debug for MqttBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttBroker")
            .field("url", &self.inner.relay.url())
            .field("topic", &self.inner.relay.channel())
            .field("client_id", &self.inner.client_id)
            .field("origin", &self.inner.relay.origin())
            .finish_non_exhaustive()
    }
}

/// What the background task needs; it holds no reference to [`Inner`], so dropping the
/// last broker clone stops it.
struct Receiver {
    client: AsyncClient,
    inbox: RelayInbox,
    connected: Arc<AtomicBool>,
}

fn unavailable(url: &str, why: impl fmt::Display) -> BrokerError {
    BrokerError::Unavailable(format!("cannot connect to mqtt at '{url}': {why}"))
}

impl MqttBroker {
    /// Connects to the MQTT server at `url` (`mqtt://[user[:password]@]host[:port]`, port
    /// 1883 by default), subscribes to the topic `<prefix>/events` and starts receiving
    /// events from other nodes in a background task on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Invalid`] for a malformed URL or a prefix that is empty or holds a
    /// wildcard; [`BrokerError::Unavailable`] naming the URL when the server cannot be
    /// reached (or refuses the connection or the subscription) within the connect timeout.
    pub async fn connect(url: &str, options: MqttBrokerOptions) -> Result<MqttBroker, BrokerError> {
        let server = url::parse(url)?;
        if options.prefix.is_empty() || options.prefix.contains(['+', '#', '\0']) {
            return Err(BrokerError::Invalid(format!(
                "invalid mqtt broker options: the topic prefix '{}' is empty or holds a wildcard",
                options.prefix
            )));
        }
        let client_id = options
            .client_id
            .clone()
            .unwrap_or_else(|| format!("horae-{}", uuid::Uuid::now_v7().simple()));
        let mut mqtt = MqttOptions::new(client_id.clone(), server.host, server.port);
        mqtt.set_keep_alive(Duration::from_secs(options.keep_alive.as_secs().max(1)))
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE);
        if let Some((user, password)) = server.credentials {
            mqtt.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(mqtt, REQUEST_QUEUE);
        eventloop
            .network_options
            .set_connection_timeout(options.connect_timeout.as_secs().max(1));
        let topic = format!("{}/events", options.prefix);

        // Connect and subscribe before returning, so that events published once `connect`
        // returned reach this node.
        let handshake = async {
            wait_for(&mut eventloop, |event| match event {
                Incoming::ConnAck(ack) if ack.code == ConnectReturnCode::Success => Some(Ok(())),
                Incoming::ConnAck(ack) => Some(Err(format!("connection refused: {:?}", ack.code))),
                _ => None,
            })
            .await?;
            client
                .subscribe(topic.clone(), QoS::AtLeastOnce)
                .await
                .map_err(|error| error.to_string())?;
            wait_for(&mut eventloop, |event| match event {
                Incoming::SubAck(ack) => Some(check_suback(&ack.return_codes)),
                _ => None,
            })
            .await
        };
        tokio::time::timeout(options.connect_timeout, handshake)
            .await
            .map_err(|_| {
                unavailable(
                    url,
                    format_args!("timed out after {} ms", options.connect_timeout.as_millis()),
                )
            })?
            .map_err(|error| unavailable(url, error))?;

        tracing::debug!(url, topic, client_id, "mqtt broker connected");
        let (relay, inbox) = Relay::new("mqtt", url, topic, options.capacity);
        let receiver = Receiver {
            client: client.clone(),
            inbox,
            connected: Arc::new(AtomicBool::new(true)),
        };
        let inner = Inner {
            relay,
            client,
            connected: receiver.connected.clone(),
            client_id,
            publish_timeout: options.publish_timeout,
        };
        tokio::spawn(receiver.run(eventloop));
        Ok(MqttBroker {
            inner: Arc::new(inner),
        })
    }

    /// The topic this broker uses (`<prefix>/events`).
    pub fn topic(&self) -> &str {
        self.inner.relay.channel()
    }

    /// The MQTT client id of this broker instance.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// This broker instance's id, which tags the events it publishes.
    pub fn origin(&self) -> &str {
        self.inner.relay.origin()
    }

    /// Whether the connection to the server is up right now.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Disconnects from the server, for every clone: the background task ends, local
    /// subscriptions end, later subscriptions are ended from the start and later publishes
    /// fail. Dropping the last clone does the same.
    pub fn close(&self) {
        self.inner.relay.close();
    }

    /// Whether [`close`](MqttBroker::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.relay.is_closed()
    }

    async fn send(&self, payload: Vec<u8>) -> Result<(), BrokerError> {
        let inner = &*self.inner;
        let url = inner.relay.url();
        if !inner.connected.load(Ordering::Relaxed) {
            return Err(BrokerError::Unavailable(format!(
                "not connected to mqtt at '{url}'; reconnecting"
            )));
        }
        let publish = inner
            .client
            .publish(inner.relay.channel(), QoS::AtLeastOnce, false, payload);
        match tokio::time::timeout(inner.publish_timeout, publish).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(BrokerError::Unavailable(format!(
                "cannot publish to mqtt at '{url}': {error}"
            ))),
            Err(_) => Err(BrokerError::Unavailable(format!(
                "cannot publish to mqtt at '{url}': timed out after {} ms",
                inner.publish_timeout.as_millis()
            ))),
        }
    }
}

impl EventBroker for MqttBroker {
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BrokerError>> {
        self.inner
            .relay
            .publish(event, |payload| self.send(payload))
    }

    /// A subscription to events of `kinds`; one made after [`close`](MqttBroker::close)
    /// has already ended.
    fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription {
        self.inner.relay.subscribe_to(kinds)
    }
}

/// Polls `eventloop` until `check` decides on an incoming packet.
async fn wait_for(
    eventloop: &mut EventLoop,
    mut check: impl FnMut(&Incoming) -> Option<Result<(), String>>,
) -> Result<(), String> {
    loop {
        match eventloop.poll().await {
            Ok(MqttEvent::Incoming(incoming)) => {
                if let Some(decided) = check(&incoming) {
                    return decided;
                }
            }
            Ok(MqttEvent::Outgoing(_)) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
}

fn check_suback(codes: &[SubscribeReasonCode]) -> Result<(), String> {
    if codes
        .iter()
        .any(|code| matches!(code, SubscribeReasonCode::Failure))
    {
        Err("the server refused the subscription".to_owned())
    } else {
        Ok(())
    }
}

impl Receiver {
    /// Drives the connection until stopped: delivers the events of other nodes, and after
    /// a failure waits a backoff delay before the event loop reconnects, then subscribes
    /// again.
    async fn run(self, mut eventloop: EventLoop) {
        let (url, topic) = (self.inbox.url(), self.inbox.channel());
        let mut backoff = Backoff::new();
        loop {
            let polled = tokio::select! {
                () = self.inbox.stopped() => break,
                polled = eventloop.poll() => polled,
            };
            match polled {
                Ok(MqttEvent::Incoming(Incoming::Publish(publish))) => {
                    self.inbox.incoming(&publish.payload);
                }
                Ok(MqttEvent::Incoming(Incoming::ConnAck(ack))) => {
                    tracing::info!(url, "reconnected to mqtt");
                    self.connected.store(true, Ordering::Relaxed);
                    backoff.reset();
                    if !ack.session_present {
                        // A clean session forgot the subscription: subscribe first thing.
                        eventloop
                            .pending
                            .push_front(Request::Subscribe(Subscribe::new(
                                topic,
                                QoS::AtLeastOnce,
                            )));
                    }
                }
                Ok(MqttEvent::Incoming(Incoming::SubAck(ack))) => {
                    if let Err(error) = check_suback(&ack.return_codes) {
                        tracing::warn!(url, topic, %error, "cannot resubscribe");
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    self.connected.store(false, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    tracing::warn!(url, %error, retry_in = ?delay, "mqtt connection failed");
                    tokio::select! {
                        () = self.inbox.stopped() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        // Stopped while connected: say goodbye so the server drops the session at once.
        self.connected.store(false, Ordering::Relaxed);
        if self.client.try_disconnect().is_ok() {
            let goodbye = async {
                while let Ok(event) = eventloop.poll().await {
                    if event == MqttEvent::Outgoing(Outgoing::Disconnect) {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), goodbye).await;
        }
    }
}
