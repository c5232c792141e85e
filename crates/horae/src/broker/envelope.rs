//! The wire format of the networked brokers: an event tagged with the broker instance
//! that published it, so an instance can skip the echoes of its own events.

use crate::error::BrokerError;
use crate::event::Event;
use serde::{Deserialize, Serialize};

/// `{"origin": "<broker instance id>", "event": {"type": ..., ...}}`.
#[derive(Serialize)]
struct Outgoing<'a> {
    origin: &'a str,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Incoming {
    origin: String,
    event: Event,
}

/// The JSON message for `event` published by the broker instance `origin`.
pub fn encode(origin: &str, event: &Event) -> Result<Vec<u8>, BrokerError> {
    serde_json::to_vec(&Outgoing { origin, event })
        .map_err(|error| BrokerError::Serialization(error.to_string()))
}

/// The origin and event of a received message.
pub fn decode(payload: &[u8]) -> Result<(String, Event), BrokerError> {
    let incoming: Incoming = serde_json::from_slice(payload)
        .map_err(|error| BrokerError::Serialization(error.to_string()))?;
    Ok((incoming.origin, incoming.event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskId;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let event = Event::TaskAdded {
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            task_id: TaskId::new("backup").unwrap(),
        };
        let payload = encode("node-1", &event).unwrap();
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"origin":"node-1","event":{"type":"task_added""#),
            "{text}"
        );
        assert_eq!(decode(&payload).unwrap(), ("node-1".to_owned(), event));
        for bad in [
            &b"not json"[..],
            br#"{"event":{"type":"task_added"}}"#,
            br#"{"origin":"x","event":{"type":"job_exploded","timestamp":"2026-01-01T00:00:00Z"}}"#,
        ] {
            assert!(matches!(decode(bad), Err(BrokerError::Serialization(_))));
        }
    }
}
