//! The admin commands against an SQLite store: task and schedule round trips with `--json`,
//! jobs run by a daemon on the same file, node list, and the exit statuses.

use std::process::Output;

use serde_json::{Value, json};

use crate::daemon::{Daemon, TempDir, base_config, command};
use crate::{stderr, stdout};

/// Runs `horae --store <the directory's store> ARGS`.
fn admin(dir: &TempDir, args: &[&str]) -> Output {
    let store = dir.store_url();
    command(dir.path())
        .args(["--store", &store])
        .args(args)
        .output()
        .expect("horae runs")
}

/// Runs an admin command that must succeed and returns its standard output.
fn ok(dir: &TempDir, args: &[&str]) -> String {
    let out = admin(dir, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Runs an admin command that must succeed with `--json` and parses its output.
fn json_of(dir: &TempDir, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(dir, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// Asserts the exit status and that stderr contains `message`.
fn fails(dir: &TempDir, args: &[&str], code: i32, message: &str) {
    let out = admin(dir, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn tasks_round_trip() {
    let dir = TempDir::new("tasks");
    assert_eq!(json_of(&dir, &["task", "list"]), json!([]));
    let out = ok(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "backup",
            "--timeout",
            "10m",
            "--max-running-jobs",
            "2",
            "--command",
            "pg_dump",
            "-f",
            "/tmp/x.sql",
        ],
    );
    assert_eq!(out, "task 'backup' added\n");
    ok(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "hook",
            "--http-url",
            "http://127.0.0.1:9/hook",
            "--http-method",
            "POST",
        ],
    );
    let tasks = json_of(&dir, &["task", "list"]);
    assert_eq!(tasks[0]["id"], "backup");
    assert_eq!(tasks[0]["executor"], "command");
    assert_eq!(tasks[0]["timeout"], "10m");
    assert_eq!(tasks[0]["max_running_jobs"], 2);
    assert_eq!(
        tasks[0]["action"]["command"]["argv"],
        json!(["pg_dump", "-f", "/tmp/x.sql"])
    );
    assert_eq!(tasks[1]["action"]["http"]["method"], "POST");
    let table = ok(&dir, &["task", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID      EXECUTOR  ACTION"), "{table}");
    assert!(
        lines[1].starts_with("backup  command   pg_dump -f /tmp/x.sql"),
        "{table}"
    );
    assert_eq!(json_of(&dir, &["task", "show", "hook"])["id"], "hook");

    fails(
        &dir,
        &["task", "add", "--id", "backup", "--command", "true"],
        1,
        "task 'backup' already exists",
    );
    ok(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "backup",
            "--replace",
            "--command",
            "true",
        ],
    );
    fails(&dir, &["task", "show", "nope"], 1, "task 'nope' not found");
    fails(
        &dir,
        &["task", "remove", "nope"],
        1,
        "task 'nope' not found",
    );
    fails(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "x",
            "--timeout",
            "soon",
            "--command",
            "true",
        ],
        2,
        "invalid duration \"soon\"",
    );
    fails(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "x",
            "--command",
            "true",
            "--timeout",
            "1s",
        ],
        2,
        "give --timeout before --command",
    );
    fails(&dir, &["task", "add", "--id", "x"], 2, "--command");
    fails(
        &dir,
        &["task", "add", "--id", "x", "--http-url", "ftp://x"],
        2,
        "is not an http:// or https:// URL",
    );
    assert_eq!(
        ok(&dir, &["task", "remove", "hook"]),
        "task 'hook' removed\n"
    );
    assert_eq!(
        json_of(&dir, &["task", "list"]).as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn schedules_round_trip() {
    let dir = TempDir::new("schedules");
    ok(
        &dir,
        &["task", "add", "--id", "backup", "--command", "true"],
    );
    let out = ok(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "nightly",
            "--task",
            "backup",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Berlin",
        ],
    );
    assert!(
        out.starts_with("schedule 'nightly' added (next fire time "),
        "{out}"
    );
    let added = json_of(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "often",
            "--task",
            "backup",
            "--interval",
            "30s",
            "--args",
            "[1, \"a\"]",
        ],
    );
    assert_eq!(added["id"], "often");
    assert_eq!(added["args"], json!([1, "a"]));

    let list = json_of(&dir, &["schedule", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let nightly = &list[0];
    assert_eq!(nightly["id"], "nightly");
    assert_eq!(nightly["task_id"], "backup");
    assert_eq!(nightly["paused"], false);
    assert_eq!(nightly["trigger"]["expr"], "0 3 * * *");
    let next: jiff::Timestamp = nightly["next_fire_time"].as_str().unwrap().parse().unwrap();
    let local = next.to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!((local.hour(), local.minute()), (3, 0), "{local}");
    let table = ok(&dir, &["schedule", "list"]);
    assert!(table.contains("cron 0 3 * * * (Europe/Berlin)"), "{table}");
    assert!(table.contains("interval 30s"), "{table}");

    assert_eq!(
        json_of(&dir, &["schedule", "pause", "nightly"])["paused"],
        true
    );
    assert_eq!(
        json_of(&dir, &["schedule", "show", "nightly"])["paused"],
        true
    );
    assert_eq!(
        ok(&dir, &["schedule", "resume", "nightly"]),
        format!(
            "schedule 'nightly' resumed (next fire time {})\n",
            nightly["next_fire_time"].as_str().unwrap()
        )
    );
    assert_eq!(
        json_of(&dir, &["schedule", "show", "nightly"])["next_fire_time"],
        nightly["next_fire_time"]
    );
    assert_eq!(
        ok(&dir, &["schedule", "remove", "often"]),
        "schedule 'often' removed\n"
    );
    assert_eq!(
        json_of(&dir, &["schedule", "list"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    fails(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "nightly",
            "--task",
            "backup",
            "--interval",
            "1m",
        ],
        1,
        "schedule 'nightly' already exists",
    );
    fails(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "x",
            "--task",
            "nope",
            "--interval",
            "1m",
        ],
        1,
        "task 'nope' not found",
    );
    fails(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "x",
            "--task",
            "backup",
            "--interval",
            "0s",
        ],
        2,
        "--interval: must be at least 1us",
    );
    fails(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "x",
            "--task",
            "backup",
            "--cron",
            "61 * * * *",
        ],
        2,
        "--cron: ",
    );
    fails(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "x",
            "--task",
            "backup",
            "--trigger",
            "{\"type\": \"cron\", \"hour\": 25}",
        ],
        2,
        "--trigger: hour: ",
    );
    fails(
        &dir,
        &[
            "schedule",
            "add",
            "--id",
            "x",
            "--task",
            "backup",
            "--trigger",
            "{bad",
        ],
        2,
        "invalid JSON",
    );
    fails(
        &dir,
        &["schedule", "add", "--id", "x", "--task", "backup"],
        2,
        "required",
    );
    fails(
        &dir,
        &["schedule", "pause", "nope"],
        1,
        "schedule 'nope' not found",
    );
    fails(
        &dir,
        &["schedule", "remove", "nope"],
        1,
        "schedule 'nope' not found",
    );
    let out = command(dir.path())
        .args(["schedule", "list", "--store", "memory://"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the memory store keeps nothing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn jobs_run_by_a_daemon_on_the_same_store() {
    let dir = TempDir::new("jobs");
    dir.config(&base_config(&dir, "node-jobs"));
    let daemon = Daemon::start(&dir);
    ok(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "echo",
            "--shell",
            "--command",
            "echo \"$HORAE_ARGS $HORAE_KWARGS $HORAE_TASK_ID [$HORAE_SCHEDULE_ID] $HORAE_ATTEMPT $HORAE_NODE_ID\"",
        ],
    );
    let id = ok(
        &dir,
        &[
            "job",
            "add",
            "--task",
            "echo",
            "--args",
            "[1, \"a\"]",
            "--kwargs",
            "{\"k\": true}",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let result = json_of(&dir, &["job", "result", id, "--wait", "--timeout", "20s"]);
    assert_eq!(result["job_id"], id);
    assert_eq!(result["outcome"], "success");
    assert_eq!(result["attempt"], 1);
    assert_eq!(
        result["return_value"],
        json!({"exit_code": 0, "stdout": "[1,\"a\"] {\"k\":true} echo [] 1 node-jobs\n", "stderr": ""})
    );
    let shown = ok(&dir, &["job", "result", id]);
    assert!(shown.contains("outcome       success"), "{shown}");

    ok(
        &dir,
        &[
            "task",
            "add",
            "--id",
            "fail",
            "--shell",
            "--command",
            "echo broken >&2; exit 4",
        ],
    );
    let id = ok(&dir, &["job", "add", "--task", "fail"]);
    let out = admin(
        &dir,
        &[
            "job",
            "result",
            id.trim(),
            "--wait",
            "--json",
            "--timeout",
            "20s",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let result: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["outcome"], "error");
    assert_eq!(
        result["error"],
        "command exited with code 4; stderr: broken"
    );

    let nodes = json_of(&dir, &["node", "list"]);
    assert_eq!(nodes[0]["id"], "node-jobs");
    assert_eq!(nodes[0]["alive"], true);
    assert!(ok(&dir, &["node", "list"]).contains("node-jobs  both  yes"));
    assert_eq!(json_of(&dir, &["job", "list"]), json!([]));

    fails(
        &dir,
        &["job", "add", "--task", "nope"],
        1,
        "task 'nope' not found",
    );
    fails(
        &dir,
        &["job", "add", "--task", "echo", "--args", "{}"],
        2,
        "expected a JSON array",
    );
    fails(
        &dir,
        &["job", "result", "not-a-uuid"],
        2,
        "invalid value 'not-a-uuid'",
    );
    fails(
        &dir,
        &["job", "result", "0190b7a4-0000-7000-8000-000000000001"],
        1,
        "no result for job",
    );
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn queued_jobs_are_listed_while_no_node_runs() {
    let dir = TempDir::new("queued");
    ok(&dir, &["task", "add", "--id", "t", "--command", "true"]);
    let id = ok(&dir, &["job", "add", "--task", "t", "--json"]);
    let id: Value = serde_json::from_str(&id).unwrap();
    let jobs = json_of(&dir, &["job", "list"]);
    assert_eq!(jobs[0]["id"], id["id"]);
    assert_eq!(jobs[0]["task_id"], "t");
    assert_eq!(jobs[0]["result_expiration_time"], "1h");
    let shown = ok(&dir, &["job", "show", id["id"].as_str().unwrap()]);
    assert!(
        shown.contains("state") && shown.contains("queued"),
        "{shown}"
    );
    let out = admin(
        &dir,
        &[
            "job",
            "result",
            id["id"].as_str().unwrap(),
            "--wait",
            "--timeout",
            "300ms",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did not finish within 300ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_config_file_names_the_store() {
    let dir = TempDir::new("config-store");
    dir.config(&format!("[store]\nurl = \"{}\"\n", dir.store_url()));
    let out = command(dir.path())
        .args([
            "--config",
            "horae.toml",
            "task",
            "add",
            "--id",
            "t",
            "--command",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The same store through --store, and through HORAE_STORE_URL.
    assert_eq!(json_of(&dir, &["task", "list"])[0]["id"], "t");
    let out = command(dir.path())
        .args(["task", "list", "--json"])
        .env("HORAE_STORE_URL", dir.store_url())
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0]["id"],
        "t"
    );
}
