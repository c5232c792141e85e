//! Redis pub/sub event broker for horae (DESIGN.md section 6).
//!
//! [`RedisBroker`] fans events out to every node connected to the same Redis server and
//! channel prefix: each event is published as JSON on the channel `<prefix>.events`
//! (`horae.events` by default), tagged with the publishing broker instance's id so that it
//! ignores its own messages. Local subscribers get an event once, straight from
//! [`publish`](horae::broker::EventBroker::publish); other nodes get it through Redis.
//!
//! The broker reconnects by itself with exponential backoff (100 ms doubling to 10 s,
//! jittered). While Redis is down, publishing fails fast with
//! [`BrokerError::Unavailable`](horae::error::BrokerError::Unavailable): a lost event costs
//! latency, never correctness.
//!
//! ```no_run
//! # async fn example() -> Result<(), horae::error::BrokerError> {
//! use horae::broker::EventBroker;
//! use horae_redis::{RedisBroker, RedisBrokerOptions};
//!
//! let broker = RedisBroker::connect("redis://127.0.0.1:6379", RedisBrokerOptions::default()).await?;
//! let mut events = broker.subscribe();
//! # drop(events);
//! # Ok(())
//! # }
//! ```

mod broker;

pub use self::broker::{RedisBroker, RedisBrokerOptions};
