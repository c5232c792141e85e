//! Hostile input through the CLI against a real SQLite store: every row must exit 1 or 2
//! with a message on stderr and nothing on stdout, never panic, and leave the store as it was.

use std::process::Output;

use crate::daemon::{TempDir, command};
use crate::{stderr, stdout};

fn run(dir: &TempDir, args: &[String]) -> Output {
    command(dir.path())
        .args(["--store", &dir.store_url()])
        .args(args)
        .output()
        .expect("horae runs")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Hostile ids (no NUL: an argument cannot hold one).
fn bad_ids() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("blank", "   ".to_owned()),
        ("sql", "'; DROP TABLE x;--".to_owned()),
        ("dotdot", "../x".to_owned()),
        ("traversal", "../../etc/passwd".to_owned()),
        ("pct00", "%00".to_owned()),
        ("too long", "a".repeat(horae::model::MAX_ID_LEN + 1)),
        ("unicode", "tâche".to_owned()),
        ("emoji", "⏰🔥".to_owned()),
        ("rtl", "\u{202e}evil".to_owned()),
        ("newline", "a\nb".to_owned()),
    ]
}

const BAD_DURATIONS: [&str; 7] = ["-5s", "1e999s", "forever", "", "0x10s", "5 parsecs", "⏰"];

fn table() -> Vec<(String, Vec<String>)> {
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let schedule = |extra: &[&str]| {
        let mut args = strings(&["schedule", "add", "--id", "h", "--task", "keep"]);
        args.extend(strings(extra));
        args
    };
    for cron in [
        "",
        "* * *",
        "*/0 * * * *",
        "99 * * * *",
        "* 24 * * *",
        "* * * * mon-",
        "* * last xyz * *",
        "*/99999999999999999999 * * * *",
        "0 0 0 0 0 0 0",
        "a b c d e",
        "⏰ * * * *",
        "1-2-3 * * * *",
    ] {
        cases.push((format!("cron {cron:?}"), schedule(&["--cron", cron])));
    }
    for tz in [
        "../../etc/passwd",
        "Europe/Nowhere",
        "",
        "⏰",
        "\u{202e}UTC",
        &"x".repeat(10 * 1024),
    ] {
        cases.push((
            format!("timezone {tz:.20}"),
            schedule(&["--cron", "0 3 * * *", "--timezone", tz]),
        ));
    }
    for duration in BAD_DURATIONS
        .into_iter()
        .chain(["0s", "9223372036854775808us", "1e308s"])
    {
        cases.push((
            format!("interval {duration}"),
            schedule(&["--interval", duration]),
        ));
    }
    for at in [
        "",
        "tomorrow",
        "2026-13-01T00:00:00Z",
        "99999-01-01T00:00:00Z",
    ] {
        cases.push((format!("at {at}"), schedule(&["--at", at])));
    }
    let triggers = [
        "",
        "{",
        "[]",
        "null",
        "5",
        "\"cron\"",
        r#"{"seconds":5}"#,
        r#"{"type":"sometimes"}"#,
        r#"{"type":3}"#,
        r#"{"type":"interval"}"#,
        r#"{"type":"interval","seconds":0}"#,
        r#"{"type":"interval","seconds":-5}"#,
        r#"{"type":"interval","seconds":1e308}"#,
        r#"{"type":"interval","microseconds":9223372036854775808}"#,
        r#"{"type":"interval","seconds":5,"bogus":1}"#,
        r#"{"type":"cron","minute":"*/0"}"#,
        r#"{"type":"cron","day":"last xyz"}"#,
        r#"{"type":"cron","hour":3,"timezone":"Europe/Nowhere"}"#,
        r#"{"type":"and","triggers":[]}"#,
        r#"{"type":"date","run_time":"tomorrow"}"#,
    ];
    for trigger in triggers {
        cases.push((
            format!("schedule --trigger {trigger}"),
            schedule(&["--trigger", trigger]),
        ));
        cases.push((
            format!("preview --trigger {trigger}"),
            strings(&["trigger", "preview", "--trigger", trigger]),
        ));
    }
    for count in ["-1", "0", "1e12", "abc", "", "99999999999999999999"] {
        cases.push((
            format!("preview --count {count}"),
            strings(&[
                "trigger",
                "preview",
                "--trigger",
                "0 3 * * *",
                "--count",
                count,
            ]),
        ));
    }
    for (label, id) in bad_ids() {
        let id = id.as_str();
        for args in [
            vec!["task", "show", id],
            vec!["task", "remove", id],
            vec!["schedule", "show", id],
            vec!["schedule", "pause", id],
            vec!["schedule", "resume", id],
            vec!["schedule", "remove", id],
            vec!["job", "show", id],
            vec!["job", "result", id],
            vec!["task", "add", "--id", id, "--command", "true"],
            vec![
                "schedule",
                "add",
                "--id",
                id,
                "--task",
                "keep",
                "--interval",
                "5s",
            ],
            vec![
                "schedule",
                "add",
                "--id",
                "h",
                "--task",
                id,
                "--interval",
                "5s",
            ],
            vec!["job", "add", "--task", id],
        ] {
            cases.push((
                format!("{} {} id {label}", args[0], args[1]),
                strings(&args),
            ));
        }
    }
    for duration in BAD_DURATIONS {
        for flag in ["--timeout", "--misfire-grace-time", "--retry-initial"] {
            cases.push((
                format!("task add {flag} {duration:?}"),
                strings(&[
                    "task",
                    "add",
                    "--id",
                    "h",
                    &format!("{flag}={duration}"),
                    "--command",
                    "true",
                ]),
            ));
        }
        cases.push((
            format!("schedule add --max-jitter {duration:?}"),
            schedule(&["--interval", "5s", &format!("--max-jitter={duration}")]),
        ));
    }
    for n in ["0", "-1", "abc", "1e12", ""] {
        cases.push((
            format!("task add --max-running-jobs {n:?}"),
            strings(&[
                "task",
                "add",
                "--id",
                "h",
                "--max-running-jobs",
                n,
                "--command",
                "true",
            ]),
        ));
    }
    for args in ["{}", "1", "[", "\"x\"", "", "null"] {
        cases.push((
            format!("job add --args {args}"),
            strings(&["job", "add", "--task", "keep", "--args", args]),
        ));
        cases.push((
            format!("schedule add --args {args}"),
            schedule(&["--interval", "5s", "--args", args]),
        ));
    }
    for kwargs in ["[]", "1", "{", "\"x\""] {
        cases.push((
            format!("job add --kwargs {kwargs}"),
            strings(&["job", "add", "--task", "keep", "--kwargs", kwargs]),
        ));
    }
    cases
}

/// The store as the CLI lists it.
fn snapshot(dir: &TempDir) -> Vec<String> {
    ["task", "schedule", "job"]
        .into_iter()
        .map(|noun| {
            let out = run(dir, &strings(&[noun, "list", "--json"]));
            assert_eq!(out.status.code(), Some(0), "{noun} list: {}", stderr(&out));
            stdout(&out)
        })
        .collect()
}

#[test]
fn hostile_cli_inputs_fail_clearly_and_change_nothing() {
    let dir = TempDir::new("hostile");
    for args in [
        vec!["task", "add", "--id", "keep", "--command", "true"],
        vec![
            "schedule",
            "add",
            "--id",
            "keep",
            "--task",
            "keep",
            "--cron",
            "0 3 * * *",
            "--paused",
        ],
    ] {
        let out = run(&dir, &strings(&args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let before = snapshot(&dir);

    let cases = table();
    assert!(
        cases.len() >= 250,
        "the table shrank to {} cases",
        cases.len()
    );
    let threads = 8;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (cases, dir) = (&cases, &dir);
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (label, args) in cases.iter().skip(t).step_by(threads) {
                        let out = run(dir, args);
                        let (out_text, err_text) = (stdout(&out), stderr(&out));
                        let code = out.status.code();
                        if !matches!(code, Some(1 | 2))
                            || !out_text.is_empty()
                            || !err_text.starts_with("error: ")
                            || err_text.contains("panicked")
                        {
                            failures.push(format!(
                                "{label}: exit {code:?}, stdout {out_text:.200}, stderr {err_text:.300}"
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(snapshot(&dir), before, "the store changed");
}
