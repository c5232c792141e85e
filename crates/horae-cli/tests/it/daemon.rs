//! Running `horae run` in tests: a temporary directory with a config file and an SQLite
//! store, the daemon started in it, stopped with SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// Environment variables of the daemon that must not leak in from the test's environment.
const HORAE_VARS: [&str; 16] = [
    "HORAE_CONFIG",
    "HORAE_NODE_ID",
    "HORAE_NODE_ROLE",
    "HORAE_STORE_URL",
    "HORAE_STORE_PREFIX",
    "HORAE_BROKER_URL",
    "HORAE_HTTP_BIND",
    "HORAE_TOKEN",
    "HORAE_MAX_CONCURRENT_JOBS",
    "HORAE_LEASE_DURATION",
    "HORAE_STOP_GRACE_PERIOD",
    "HORAE_POLL_INTERVAL",
    "HORAE_CONNECT_TIMEOUT",
    "HORAE_LOG",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// A `horae` command without inherited `HORAE_*` settings, run in `dir`.
pub(crate) fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_horae"));
    for var in HORAE_VARS {
        command.env_remove(var);
    }
    command.current_dir(dir);
    command
}

/// A temporary directory, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "horae-it-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `horae.toml` with `text`; returns its path.
    pub(crate) fn config(&self, text: &str) -> PathBuf {
        let path = self.0.join("horae.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The SQLite store URL of a file in this directory.
    pub(crate) fn store_url(&self) -> String {
        format!("sqlite://{}", self.0.join("horae.db").display())
    }

    /// The lines of a file in this directory (none if it does not exist yet).
    pub(crate) fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.0.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The common head of a test config: a fast node on the directory's SQLite file, HTTP on
/// a free port.
pub(crate) fn base_config(dir: &TempDir, node: &str) -> String {
    format!(
        r#"[node]
id = "{node}"
lease_duration = "5s"
stop_grace_period = "2s"
poll_interval = "100ms"

[store]
url = "{}"

[http]
bind = "127.0.0.1:0"
"#,
        dir.store_url()
    )
}

/// A running `horae run`.
pub(crate) struct Daemon {
    child: Child,
    stdout: Vec<String>,
    stderr: mpsc::Receiver<String>,
    /// The dashboard URL it printed.
    pub(crate) url: String,
}

impl Daemon {
    /// Starts `horae run --config horae.toml` in `dir` and waits until it says it runs.
    pub(crate) fn start(dir: &TempDir) -> Daemon {
        let mut child = command(dir.path())
            .args(["run", "--config", "horae.toml"])
            .env("HORAE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("horae run starts");
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, stderr) = mpsc::channel();
        let mut pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        let mut daemon = Daemon {
            child,
            stdout: Vec::new(),
            stderr,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("dashboard: ") {
                        daemon.url = url.to_owned();
                        daemon.stdout.push(line);
                        return daemon;
                    }
                    daemon.stdout.push(line);
                }
                Err(_) => {
                    let _ = daemon.child.kill();
                    let status = daemon.child.wait();
                    panic!(
                        "horae run did not start ({status:?}); stdout: {:?}; stderr: {}",
                        daemon.stdout,
                        daemon.stderr.recv().unwrap_or_default()
                    );
                }
            }
        }
    }

    /// What it printed on standard output before it was ready.
    pub(crate) fn stdout(&self) -> &[String] {
        &self.stdout
    }

    /// Sends SIGTERM and waits (bounded) for it to exit; returns its status and stderr.
    pub(crate) fn stop(mut self) -> (ExitStatus, String) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid")).expect("pid");
        kill_process(pid, Signal::TERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let stderr = self.stderr.recv().unwrap_or_default();
                return (status, stderr);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("horae run did not stop within 20s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A test that failed before stop(): don't leave the daemon running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub(crate) fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` on the daemon's HTTP address (`http://127.0.0.1:PORT/`); returns the status
/// and the body.
pub(crate) fn http_get(base: &str, path: &str) -> (u16, String) {
    use std::io::Write;
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&host).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
