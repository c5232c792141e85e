//! `horae run`: schedules from the config fire and run their commands, SIGTERM stops the
//! node cleanly, a restart neither resets a schedule nor repeats a fire time, config errors
//! name the key and line, and an unreachable database is retried.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::daemon::{Daemon, TempDir, base_config, command, wait_for};
use crate::{stderr, stdout};

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
