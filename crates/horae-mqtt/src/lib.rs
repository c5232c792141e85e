//! MQTT event broker for horae (DESIGN.md section 6).
//!
//! [`MqttBroker`] fans events out to every node connected to the same MQTT server and
//! topic prefix: each event is published as JSON with QoS 1 on the topic `<prefix>/events`
//! (`horae/events` by default), tagged with the publishing broker instance's id so that it
//! ignores its own messages. Local subscribers get an event once, straight from
//! [`publish`](horae::broker::EventBroker::publish); other nodes get it through the server.
//!
//! The broker reconnects by itself with exponential backoff (100 ms doubling to 10 s,
//! jittered) and subscribes again. While the server is down, publishing fails at once with
//! [`BrokerError::Unavailable`](horae::error::BrokerError::Unavailable): a lost event costs
//! latency, never correctness. Only plain TCP (`mqtt://` or `tcp://`) is supported.
//!
//! ```no_run
//! # async fn example() -> Result<(), horae::error::BrokerError> {
//! use horae::broker::EventBroker;
//! use horae_mqtt::{MqttBroker, MqttBrokerOptions};
//!
//! let broker = MqttBroker::connect("mqtt://127.0.0.1:1883", MqttBrokerOptions::default()).await?;
//! let mut events = broker.subscribe();
//! # drop(events);
//! # Ok(())
//! # }
//! ```

mod broker;
mod url;

pub use self::broker::{MqttBroker, MqttBrokerOptions};
