//! `horae run`: schedules from the config fire and run their commands, SIGTERM stops the
//! node cleanly, a restart neither resets a schedule nor repeats a fire time, config errors
//! name the key and line, and an unreachable database is retried.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use horae_testkit::service::{unique_prefix, url_from_env};

use crate::daemon::{Daemon, TempDir, base_config, command, http_get, wait_for};
use crate::migrate::drop_tables;
use crate::{reachable, stderr, stdout};

/// A config whose schedule appends its fire time, schedule id and attempt to `fires.log`
/// every `interval`.
fn firing_config(dir: &TempDir, interval: &str) -> String {
    format!(
        r#"{}
[[task]]
id = "record"
command = ["sh", "-c", "echo \"$HORAE_SCHEDULED_FIRE_TIME $HORAE_SCHEDULE_ID $HORAE_ATTEMPT $HORAE_TASK_ID\" >> fires.log"]
max_running_jobs = 1

[[schedule]]
id = "tick"
task = "record"
interval = "{interval}"
"#,
        base_config(dir, "node-run")
    )
}

/// The fire times in `fires.log`.
fn fire_times(dir: &TempDir) -> Vec<Timestamp> {
    dir.lines("fires.log")
        .iter()
        .map(|line| {
            let time = line.split(' ').next().unwrap_or_default();
            time.parse()
                .unwrap_or_else(|e| panic!("fire time {time:?} in {line:?}: {e}"))
        })
        .collect()
}

#[test]
fn schedules_fire_their_commands_and_sigterm_stops_the_node_cleanly() {
    let dir = TempDir::new("fire");
    dir.config(&firing_config(&dir, "200ms"));
    let daemon = Daemon::start(&dir);
    assert!(
        daemon.stdout()[0].contains("node node-run (both) running"),
        "{:?}",
        daemon.stdout()
    );
    assert!(
        daemon.url.starts_with("http://127.0.0.1:"),
        "{}",
        daemon.url
    );
    wait_for(Duration::from_secs(15), "three fires", || {
        (dir.lines("fires.log").len() >= 3).then_some(())
    });
    // The HTTP API serves the same node.
    let (status, _) = http_get(&daemon.url, "/healthz");
    assert_eq!(status, 200);
    let (status, body) = http_get(&daemon.url, "/api/v1/schedules/tick");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"task_id\":\"record\""), "{body}");
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM received: stopping"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    for line in dir.lines("fires.log") {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[1..], ["tick", "1", "record"], "{line}");
    }
}

#[test]
fn a_restart_keeps_the_schedule_and_never_repeats_a_fire_time() {
    let dir = TempDir::new("restart");
    dir.config(&firing_config(&dir, "300ms"));
    let first = Daemon::start(&dir);
    wait_for(Duration::from_secs(15), "three fires", || {
        (fire_times(&dir).len() >= 3).then_some(())
    });
    let (status, log) = first.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    let before = fire_times(&dir).len();

    let second = Daemon::start(&dir);
    wait_for(Duration::from_secs(15), "three more fires", || {
        (fire_times(&dir).len() >= before + 3).then_some(())
    });
    let (status, log) = second.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("unchanged=2") && log.contains("schedules_created=0"),
        "the restart must leave the task and the schedule alone: {log}"
    );

    let times = fire_times(&dir);
    for pair in times.windows(2) {
        assert!(pair[0] < pair[1], "fire times repeat or go back: {times:?}");
    }
    // Still the first start's grid: the trigger was not reset by the restart.
    let first_fire = times[0];
    for time in &times {
        let since = time.duration_since(first_fire).as_micros();
        assert_eq!(
            since % 300_000,
            0,
            "{time} is off the 300ms grid of {first_fire}"
        );
    }
}

#[test]
fn a_changed_schedule_is_updated_at_the_next_start() {
    let dir = TempDir::new("change");
    dir.config(&firing_config(&dir, "300ms"));
    let first = Daemon::start(&dir);
    let (status, log) = first.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    dir.config(&firing_config(&dir, "400ms"));
    let second = Daemon::start(&dir);
    let (status, log) = second.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("schedule replaced (its trigger changed)"),
        "{log}"
    );
    let out = command(dir.path())
        .args(["schedule", "list", "--json", "--store", &dir.store_url()])
        .output()
        .unwrap();
    let schedules: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(schedules[0]["trigger"]["microseconds"], 400_000);
}

#[test]
fn config_errors_name_the_key_and_the_line_and_exit_2() {
    let dir = TempDir::new("bad-config");
    for (config, expected) in [
        (
            "[node]\nid = \"a\"\nlease_duration = \"ten seconds\"\n",
            "horae.toml, line 3, column 18: node.lease_duration: invalid duration \"ten seconds\"",
        ),
        (
            "[node]\nid = \"a\"\nthreads = 4\n",
            "horae.toml, line 3, column 1: node.threads: unknown field `threads`",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n\n[[schedule]]\nid = \"s\"\ntask = \"nope\"\ncron = \"* * * * *\"\n",
            "horae.toml, line 7, column 8: schedule.task: schedule 's' refers to task 'nope'",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ncron = \"* * * 13 *\"\n",
            "horae.toml, line 8, column 8: schedule.cron: ",
        ),
    ] {
        dir.config(config);
        let started = Instant::now();
        let out = command(dir.path())
            .args(["run", "--config", "horae.toml"])
            .output()
            .unwrap();
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{message}");
        assert!(message.starts_with("error: "), "{message}");
        assert!(message.contains(expected), "{config}\n{message}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            !dir.path().join("horae.db").exists(),
            "nothing is opened on a config error"
        );
    }
    let out = command(dir.path())
        .args(["run", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read config file missing.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn environment_overrides_are_checked_too() {
    let dir = TempDir::new("bad-env");
    let out = command(dir.path())
        .args(["run", "--check"])
        .env("HORAE_LEASE_DURATION", "forever")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("HORAE_LEASE_DURATION: invalid duration \"forever\""),
        "{}",
        stderr(&out)
    );
    let out = command(dir.path())
        .args(["run", "--check"])
        .env("HORAE_HTTP_BIND", "0.0.0.0:8731")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("http.token: required"),
        "{}",
        stderr(&out)
    );
    let out = command(dir.path())
        .args(["run", "--check"])
        .env("HORAE_STORE_URL", "memory://")
        .env("HORAE_NODE_ID", "env-node")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("store memory://"), "{}", stdout(&out));
}

#[test]
fn a_database_that_is_down_is_retried_then_exit_1() {
    let dir = TempDir::new("db-down");
    dir.config(
        "[store]\nurl = \"postgres://horae:s3cret@127.0.0.1:1/horae\"\nconnect_timeout = \"1s\"\n[http]\nbind = \"127.0.0.1:0\"\n",
    );
    let out = command(dir.path())
        .args(["run", "--config", "horae.toml"])
        .output()
        .unwrap();
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("is unreachable (connection refused); retrying in"),
        "{message}"
    );
    assert!(message.contains("error: store unavailable:"), "{message}");
    assert!(!message.contains("s3cret"), "password shown: {message}");
}

#[test]
fn a_command_that_outlives_its_timeout_is_killed() {
    let dir = TempDir::new("timeout");
    dir.config(&format!(
        r#"{}
[[task]]
id = "slow"
command = ["sleep", "30"]
timeout = "300ms"
"#,
        base_config(&dir, "node-timeout")
    ));
    let daemon = Daemon::start(&dir);
    let store = dir.store_url();
    let out = command(dir.path())
        .args(["job", "add", "--task", "slow", "--store", &store])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let started = Instant::now();
    let out = command(dir.path())
        .args([
            "job",
            "result",
            &id,
            "--wait",
            "--json",
            "--timeout",
            "20s",
            "--store",
            &store,
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "not a success: {}",
        stderr(&out)
    );
    let result: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["outcome"], "timed_out", "{result}");
    assert_eq!(result["error"], "timed out after 300ms");
    assert!(started.elapsed() < Duration::from_secs(15));
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/horae.toml");
    let dir = TempDir::new("example");
    let out = command(dir.path())
        .args(["run", "--check", "--config", example])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok ("), "{}", stdout(&out));
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn sigterm_lets_running_commands_finish_within_the_grace_period_then_kills_the_rest() {
    let dir = TempDir::new("grace");
    dir.config(&format!(
        r#"{}
[[task]]
id = "short"
command = "touch short.started; sleep 1; touch short.done"

[[task]]
id = "long"
command = "echo $$ > long.pid; exec sleep 30"
"#,
        base_config(&dir, "node-grace")
    ));
    let daemon = Daemon::start(&dir);
    let store = dir.store_url();
    let add = |task: &str| {
        let out = command(dir.path())
            .args(["--store", &store, "job", "add", "--task", task])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    let short = add("short");
    let long = add("long");
    let pid = wait_for(Duration::from_secs(15), "both commands to start", || {
        let pid = std::fs::read_to_string(dir.path().join("long.pid")).ok()?;
        let started = dir.path().join("short.started").exists();
        (started && !pid.trim().is_empty()).then(|| pid.trim().to_owned())
    });
    let stopping = Instant::now();
    let (status, log) = daemon.stop();
    let took = stopping.elapsed();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        took >= Duration::from_millis(1900),
        "the grace period (2s) was not waited for: {took:?}"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(
        dir.path().join("short.done").exists(),
        "the short command was cut off"
    );
    wait_for(
        Duration::from_secs(5),
        "the long command to be killed",
        || process_gone(&pid).then_some(()),
    );
    let result = |id: &str| {
        let out = command(dir.path())
            .args(["--store", &store, "job", "result", id, "--json"])
            .output()
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    assert_eq!(result(&short)["outcome"], "success");
    let long = result(&long);
    assert_eq!(long["outcome"], "cancelled", "{long}");
}

/// Against the real PostgreSQL server (`HORAE_PG_URL`, default the local `horae_test`
/// database) as store and broker: skipped with a note when it is down, except under
/// `CI=true`.
#[test]
fn a_node_on_postgres_with_the_postgres_broker_runs_jobs_added_by_the_admin_commands() {
    let url = url_from_env(
        "HORAE_PG_URL",
        "postgres://postgres@127.0.0.1:5432/horae_test",
    );
    let prefix = format!("{}_", unique_prefix());
    let dir = TempDir::new("postgres");
    let out = command(dir.path())
        .args([
            "migrate",
            "--store",
            &url,
            "--prefix",
            &prefix,
            "--connect-timeout",
            "5",
        ])
        .output()
        .unwrap();
    let reached = if out.status.code() == Some(0) {
        Ok(())
    } else {
        Err(stderr(&out))
    };
    if reachable("PostgreSQL", reached).is_none() {
        return;
    }
    dir.config(&format!(
        r#"[node]
id = "node-pg"
stop_grace_period = "2s"
# Polling rarely: the broker's events must wake the node.
poll_interval = "30s"

[store]
url = "{url}"
prefix = "{prefix}"

[broker]
url = "{url}"

[http]
bind = "127.0.0.1:0"

[[task]]
id = "echo"
command = ["echo", "from postgres"]
"#
    ));
    let daemon = Daemon::start(&dir);
    let admin = |args: &[&str]| {
        let out = command(dir.path())
            .args(["--config", "horae.toml"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let started = Instant::now();
    let id = admin(&["job", "add", "--task", "echo"]);
    let result = admin(&[
        "job",
        "result",
        id.trim(),
        "--wait",
        "--json",
        "--timeout",
        "20s",
    ]);
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["outcome"], "success", "{result}");
    assert_eq!(result["return_value"]["stdout"], "from postgres\n");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the job waited for polling instead of the broker's event: {:?}",
        started.elapsed()
    );
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    drop_tables(&url, &prefix);
}
