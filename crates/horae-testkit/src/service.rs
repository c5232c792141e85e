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

/// Whether `url` (`scheme://[user[:password]@]host[:port]/...`) names the server on this
/// machine at `port` (host `127.0.0.1` or `localhost`, port given or defaulted): only that
/// server can be restarted by a test.
pub fn is_local_server(url: &str, port: u16) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let address = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, given) = match address.rsplit_once(':') {
        Some((host, given)) => (host, given.parse().ok()),
        None => (address, Some(port)),
    };
    matches!(host, "127.0.0.1" | "localhost") && given == Some(port)
}

/// The version of the local PostgreSQL cluster (the newest `/etc/postgresql/<version>/main`),
/// or `None` when there is none.
pub fn postgres_cluster_version() -> Option<String> {
    let root = std::path::Path::new("/etc/postgresql");
    let mut versions: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| root.join(name).join("main").is_dir())
        .collect();
    versions.sort_by_key(|version| version.parse::<u32>().unwrap_or(0));
    versions.pop()
}

/// Runs `pg_ctlcluster <version> main <action>` (`stop`, `start`, `restart`) on the local
/// cluster; it blocks until the action is done.
///
/// # Panics
///
/// When `pg_ctlcluster` cannot run or fails.
pub fn pg_ctlcluster(version: &str, action: &str) {
    let output = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, "main", action])
        .output()
        .unwrap_or_else(|e| panic!("pg_ctlcluster could not run: {e}"));
    assert!(
        output.status.success(),
        "pg_ctlcluster {action} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The address of the local Redis server that [`stop_local_redis`] and
/// [`start_local_redis`] manage.
pub const LOCAL_REDIS: &str = "127.0.0.1:6379";

/// Stops the local Redis server (without saving) and waits until its port is closed.
///
/// # Panics
///
/// When `redis-cli` cannot run or the port stays open for 10 s.
pub fn stop_local_redis() {
    // `shutdown` closes the connection instead of answering, so its exit status is noise.
    let _ = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli could not run: {e}"));
    wait_for_port(local_redis(), false, Duration::from_secs(10));
}

/// Starts the local Redis server as `.ci/run` does and waits until it accepts connections.
///
/// # Panics
///
/// When `redis-server` fails or the port stays closed for 10 s.
pub fn start_local_redis() {
    run(
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    );
    wait_for_port(local_redis(), true, Duration::from_secs(10));
}

fn local_redis() -> SocketAddr {
    LOCAL_REDIS.parse().expect("a socket address")
}

/// A fresh SQLite database path in the temp directory (no file yet), removed with its WAL
/// files when dropped.
#[derive(Debug)]
pub struct TempSqliteFile(std::path::PathBuf);

impl TempSqliteFile {
    /// A new, unused path.
    pub fn new() -> TempSqliteFile {
        let name = format!("horae-test-{}.db", uuid::Uuid::now_v7());
        TempSqliteFile(std::env::temp_dir().join(name))
    }

    /// The store URL of the file: `sqlite://PATH`.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Default for TempSqliteFile {
    fn default() -> TempSqliteFile {
        TempSqliteFile::new()
    }
}

impl Drop for TempSqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_local_server;

    #[test]
    fn local_servers_are_recognised_by_host_and_port() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/horae_test",
            "postgres://user:secret@localhost:5432/db?sslmode=disable",
            "postgres://postgres@127.0.0.1/horae_test",
            "postgres://localhost",
        ] {
            assert!(is_local_server(url, 5432), "{url}");
        }
        for url in [
            "postgres://postgres@db.example:5432/horae_test",
            "postgres://postgres@127.0.0.1:5433/horae_test",
            "127.0.0.1:5432",
        ] {
            assert!(!is_local_server(url, 5432), "{url}");
        }
        assert!(is_local_server("redis://127.0.0.1:6379", 6379));
        assert!(is_local_server("redis://localhost:6379/0", 6379));
    }
}
