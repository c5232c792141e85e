//! Helpers for tests against real servers (PostgreSQL, MariaDB, Redis, Mosquitto).
//!
//! Outside CI a test whose server is unreachable is skipped with a note; with `CI=true`
//! it fails, because CI must prove the backend, not skip it.

use std::fmt::Display;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether the tests run in CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// The server URL from `variable`, or `default`.
pub fn url_from_env(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

/// A prefix no other test uses (`horae_test_<random>`): ASCII letters, digits and
/// underscores, valid as a table prefix, a channel name and an MQTT topic level.
pub fn unique_prefix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("horae_test_{}", &id[id.len() - 16..])
}

/// The connected value, or `None` with a note when `service` is unreachable outside CI.
///
/// # Panics
///
/// Under `CI=true` when connecting failed.
pub fn available<T, E: Display>(service: &str, connected: Result<T, E>) -> Option<T> {
    match connected {
        Ok(value) => Some(value),
        Err(error) if !in_ci() => {
            eprintln!("note: skipping this test, {service} is not available: {error}");
            None
        }
        Err(error) => panic!("{service} is required under CI=true: {error}"),
    }
}

/// Waits until `address` accepts TCP connections (`open`) or refuses them (`!open`).
///
/// # Panics
///
/// When that does not happen within `limit`.
pub fn wait_for_port(address: SocketAddr, open: bool, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let accepts = TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok();
        if accepts == open {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{address} did not {} within {limit:?}",
            if open { "open" } else { "close" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command that manages a local server and checks it succeeded.
///
/// # Panics
///
/// When the command cannot run or fails.
pub fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"));
    assert!(status.success(), "{program} {args:?} failed: {status}");
}
