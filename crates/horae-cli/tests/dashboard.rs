//! The dashboard end to end in headless Chromium: `horae run` with the example config
//! (`examples/horae.toml`) on a fresh SQLite file and a token; log in, see the example
//! schedules and a result of the first fire, pause a schedule with its button, see the
//! change in the page and in the API, resume it. Screenshots go to
//! `target/e2e/dashboard*.png` (CI keeps them as artifacts; the README shows one).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them
//! the test is skipped, except with `CI=true`, where it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod webdriver;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use webdriver::{Browser, TempDir, browser_installed, free_port, http_text, wait_until};

const TOKEN: &str = "e2e-token-7f3a";

/// A `horae run` process, stopped with SIGTERM on drop.
struct Daemon {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = TempDir::new("horae-e2e");
        let port = free_port();
        let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/horae.toml");
        let child = Command::new(env!("CARGO_BIN_EXE_horae"))
            .args(["run", "--config"])
            .arg(&example)
            .current_dir(dir.path())
            .env("HORAE_STORE_URL", "sqlite://horae.db")
            .env("HORAE_HTTP_BIND", format!("127.0.0.1:{port}"))
            .env("HORAE_TOKEN", TOKEN)
            .env("HORAE_NODE_ID", "e2e")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("horae run starts");
        let daemon = Daemon {
            child,
            port,
            _dir: dir,
        };
        let up = wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http_text(port, "GET", "/healthz", None, &[]).0 == 200
        });
        assert!(up, "horae run did not answer /healthz within 30 s");
        daemon
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A GET of the API with the token; the JSON body.
    fn api(&self, path: &str) -> Value {
        let auth = format!("Bearer {TOKEN}");
        let (status, body) = http_text(
            self.port,
            "GET",
            path,
            None,
            &[("Authorization", auth.as_str())],
        );
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let stopped = wait_until(Duration::from_secs(15), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/e2e/{name}.png"))
}

#[test]
fn the_dashboard_shows_the_example_schedules_and_pauses_one_in_chromium() {
    if !browser_installed() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: chromium and chromedriver are required (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: /usr/bin/chromium or /usr/bin/chromedriver is missing");
        return;
    }
    let daemon = Daemon::start();
    let browser = Browser::start();

    // The token guards the dashboard: the browser lands on the login form.
    browser.goto(&daemon.url("/"));
    let token_input = browser.wait_for("#login-form input[name=token]", Duration::from_secs(10));
    assert!(browser.url().contains("/login"), "{}", browser.url());
    browser.type_into(&token_input, "wrong");
    browser.click(&browser.wait_for("#login-form button[type=submit]", Duration::from_secs(5)));
    browser.wait_for("#login-error", Duration::from_secs(10));
    let token_input = browser.wait_for("#login-form input[name=token]", Duration::from_secs(5));
    browser.type_into(&token_input, TOKEN);
    browser.click(&browser.wait_for("#login-form button[type=submit]", Duration::from_secs(5)));

    // The example schedules are listed with their next fire times.
    let row = browser.wait_for(
        "tr.schedule[data-schedule-id='every-10s']",
        Duration::from_secs(10),
    );
    assert!(
        browser.text(&row).contains("log-date"),
        "{}",
        browser.text(&row)
    );
    for id in ["disk-every-minute", "nightly-tidy", "weekday-mornings"] {
        assert!(
            browser
                .find(&format!("tr.schedule[data-schedule-id='{id}']"))
                .is_some(),
            "schedule {id} missing from the dashboard"
        );
    }
    assert!(
        browser
            .find("tr.schedule[data-schedule-id='weekday-mornings'].paused")
            .is_some(),
        "the example declares weekday-mornings paused"
    );
    let node = browser.wait_for(
        "tr.node-row.alive[data-node-id='e2e']",
        Duration::from_secs(10),
    );
    assert!(
        browser.text(&node).contains("both"),
        "{}",
        browser.text(&node)
    );

    // The interval schedule fired at start: its result appears live (no reload by the test).
    browser.wait_for("tr.result[data-outcome='success']", Duration::from_secs(20));
    browser.screenshot(&screenshot_path("dashboard"));

    // Pause with the button; the row and the API agree.
    let pause = browser.wait_for(
        "tr.schedule[data-schedule-id='every-10s'] button.toggle-pause.pause",
        Duration::from_secs(5),
    );
    browser.click(&pause);
    browser.wait_for(
        "tr.schedule.paused[data-schedule-id='every-10s'] button.toggle-pause.resume",
        Duration::from_secs(10),
    );
    let schedule = daemon.api("/api/v1/schedules/every-10s");
    assert_eq!(schedule["paused"], Value::Bool(true), "{schedule}");
    browser.screenshot(&screenshot_path("dashboard-paused"));

    // And resume.
    let resume = browser.wait_for(
        "tr.schedule[data-schedule-id='every-10s'] button.toggle-pause.resume",
        Duration::from_secs(5),
    );
    browser.click(&resume);
    browser.wait_for(
        "tr.schedule[data-schedule-id='every-10s']:not(.paused) button.toggle-pause.pause",
        Duration::from_secs(10),
    );
    let schedule = daemon.api("/api/v1/schedules/every-10s");
    assert_eq!(schedule["paused"], Value::Bool(false), "{schedule}");

    // The trigger preview box.
    let trigger = browser.wait_for(
        "#preview-form textarea[name=trigger]",
        Duration::from_secs(5),
    );
    browser.type_into(&trigger, r#"{"type": "cron", "expr": "0 9 * * mon-fri"}"#);
    browser.click(&browser.wait_for("#preview-form button[type=submit]", Duration::from_secs(5)));
    let times = browser.wait_for("#preview-times", Duration::from_secs(10));
    assert!(
        browser.text(&times).contains("T09:00:00"),
        "{}",
        browser.text(&times)
    );
}
