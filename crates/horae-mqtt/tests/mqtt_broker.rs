//! The MQTT broker against a real server (`HORAE_MQTT_URL`, default
//! `mqtt://127.0.0.1:1883`): the broker conformance suite, connection errors, malformed
//! messages, and recovery from a server restart.
//!
//! Each test uses its own topic prefix, so tests share the server. When the server is
//! unreachable the tests are skipped with a note, except under `CI=true`, where they fail.
//! The restart test disturbs every other test on the server, so nextest runs this crate's
//! tests one at a time (test group `mqtt` in `.config/nextest.toml`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use horae::broker::EventBroker;
use horae::error::BrokerError;
use horae_mqtt::{MqttBroker, MqttBrokerOptions};
use horae_testkit::broker::{event, next};
use horae_testkit::service::{available, run, unique_prefix, url_from_env, wait_for_port};

fn url() -> String {
    url_from_env("HORAE_MQTT_URL", "mqtt://127.0.0.1:1883")
}

/// A broker on `prefix`, or `None` (with a note) when the server is down outside CI.
async fn broker(prefix: &str) -> Option<MqttBroker> {
    let options = MqttBrokerOptions::default().with_prefix(prefix);
    available(
        "the MQTT server",
        MqttBroker::connect(&url(), options).await,
    )
}

async fn pair() -> Option<(MqttBroker, MqttBroker)> {
    let prefix = unique_prefix();
    Some((broker(&prefix).await?, broker(&prefix).await?))
}

horae_testkit::broker_conformance_tests!(
    || async {
        broker(&unique_prefix())
            .await
            .map(|broker| Arc::new(broker) as Arc<dyn EventBroker>)
    },
    pair = || async {
        pair().await.map(|(first, second)| {
            (
                Arc::new(first) as Arc<dyn EventBroker>,
                Arc::new(second) as Arc<dyn EventBroker>,
            )
        })
    },
);

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_clear_errors() {
    let error = MqttBroker::connect("http://127.0.0.1:1883", MqttBrokerOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BrokerError::Invalid(message)
            if message.starts_with("invalid mqtt url 'http://127.0.0.1:1883'")),
        "{error}"
    );
    // Port 1 is never an MQTT server.
    let error = MqttBroker::connect("mqtt://127.0.0.1:1", MqttBrokerOptions::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("broker unavailable: cannot connect to mqtt at 'mqtt://127.0.0.1:1'"),
        "{error}"
    );
    for prefix in ["", "horae/#", "a+b"] {
        let error = MqttBroker::connect(&url(), MqttBrokerOptions::default().with_prefix(prefix))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("topic prefix"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topic_is_named_after_the_prefix_and_malformed_messages_are_skipped() {
    let prefix = unique_prefix();
    let Some(receiving) = broker(&prefix).await else {
        return;
    };
    assert_eq!(receiving.topic(), format!("{prefix}/events"));
    assert!(receiving.client_id().starts_with("horae-"));
    assert!(receiving.is_connected());
    let Some(publishing) = broker(&prefix).await else {
        return;
    };
    assert_ne!(receiving.client_id(), publishing.client_id());
    assert_ne!(receiving.origin(), publishing.origin());
    let mut subscription = receiving.subscribe();

    // Raw messages from a plain client on the same topic.
    let address = url();
    let address = address.strip_prefix("mqtt://").unwrap_or(&address);
    let (host, port) = address.split_once(':').unwrap_or((address, "1883"));
    let options = rumqttc::MqttOptions::new(
        format!("horae-raw-{}", uuid::Uuid::now_v7().simple()),
        host,
        port.trim_end_matches('/').parse().unwrap(),
    );
    let (raw, mut eventloop) = rumqttc::AsyncClient::new(options, 16);
    let driver = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    for garbage in [
        "not json",
        r#"{"event":{"type":"task_added"}}"#,
        r#"{"origin":"elsewhere","event":{"type":"job_exploded","timestamp":"2026-01-01T00:00:00Z"}}"#,
    ] {
        raw.publish(receiving.topic(), rumqttc::QoS::AtLeastOnce, false, garbage)
            .await
            .unwrap();
    }
    // Give the raw client time to deliver before the real event, so an unskipped garbage
    // message would show up first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    publishing.publish(event(1)).await.unwrap();
    assert_eq!(next(&mut subscription).await, event(1));
    driver.abort();
}

#[tokio::test]
async fn closing_ends_subscriptions_and_publishing() {
    let Some(broker) = broker(&unique_prefix()).await else {
        return;
    };
    let mut subscription = broker.subscribe();
    let clone = broker.clone();
    clone.close();
    assert!(broker.is_closed());
    assert!(broker.publish(event(0)).await.is_err());
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("subscription ended in time");
    assert!(ended.is_none());
}

const LOCAL_MQTT: &str = "127.0.0.1:1883";

/// Stops the local Mosquitto server, by the pid in its pid file (`pgrep -x` as a fallback).
fn stop_mosquitto() {
    let pid = std::fs::read_to_string("/run/mosquitto/mosquitto.pid")
        .ok()
        .map(|pid| pid.trim().to_owned())
        .filter(|pid| !pid.is_empty())
        .or_else(|| {
            let found = Command::new("pgrep")
                .args(["-x", "mosquitto"])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&found.stdout).into_owned();
            text.lines().next().map(str::to_owned)
        })
        .expect("a running mosquitto");
    run("kill", &[&pid]);
    wait_for_port(LOCAL_MQTT.parse().unwrap(), false, Duration::from_secs(10));
}

/// Starts the local Mosquitto server as `.ci/run` does.
fn start_mosquitto() {
    run("mosquitto", &["-d", "-c", "/etc/mosquitto/mosquitto.conf"]);
    wait_for_port(LOCAL_MQTT.parse().unwrap(), true, Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_the_server_restarts() {
    let Some((first, second)) = pair().await else {
        return;
    };
    if !url().contains(LOCAL_MQTT) && !url().contains("localhost:1883") {
        eprintln!("note: skipping the restart test, HORAE_MQTT_URL is not the local server");
        return;
    }
    // Publishing must see the connection gone, not race the broker noticing it.
    let watched = first.clone();
    let stop = move || {
        stop_mosquitto();
        let deadline = Instant::now() + Duration::from_secs(5);
        while watched.is_connected() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    horae_testkit::broker::delivery_resumes_after_the_server_restarts(
        Arc::new(first),
        Arc::new(second),
        stop,
        start_mosquitto,
        Duration::from_secs(15),
    )
    .await;
}
