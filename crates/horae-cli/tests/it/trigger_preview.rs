//! `horae trigger preview`: the preview contract of DESIGN.md section 4.

use crate::{horae, stderr, stdout};

const NY_GAP: &str = r#"{"type":"cron","hour":2,"minute":30,"timezone":"America/New_York","start_time":"2026-03-07T00:00:00-05:00"}"#;

fn preview(trigger: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["trigger", "preview", "--trigger", trigger];
    args.extend_from_slice(extra);
    horae(&args, None)
}

#[test]
fn json_format_prints_an_array_in_the_trigger_zone() {
    let out = preview(NY_GAP, &["--count", "3", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let times: Vec<String> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        times,
        [
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:30:00-04:00",
            "2026-03-09T02:30:00-04:00"
        ]
    );
}

#[test]
fn text_format_prints_one_time_per_line() {
    let out = preview(NY_GAP, &["--count", "2", "--format", "text"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "2026-03-07T02:30:00-05:00\n2026-03-08T03:30:00-04:00\n"
    );
    let default = preview(NY_GAP, &[]);
    assert_eq!(
        stdout(&default).lines().count(),
        10,
        "text and 10 times by default"
    );
}

#[test]
fn fewer_times_when_the_trigger_ends() {
    let out = preview(
        r#"{"type":"date","run_time":"2026-06-01T12:00:00+02:00"}"#,
        &["--count", "5", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).trim(), r#"["2026-06-01T12:00:00+02:00"]"#);
    let ended = preview(
        r#"{"type":"interval","hours":1,"start_time":"2026-01-01T00:00:00Z","end_time":"2026-01-01T02:30:00Z"}"#,
        &["--count", "10"],
    );
    assert_eq!(ended.status.code(), Some(0), "{}", stderr(&ended));
    assert_eq!(
        stdout(&ended),
        "2026-01-01T00:00:00+00:00\n2026-01-01T01:00:00+00:00\n2026-01-01T02:00:00+00:00\n"
    );
    let zero = preview(NY_GAP, &["--count", "0", "--format", "json"]);
    assert_eq!(zero.status.code(), Some(0));
    assert_eq!(stdout(&zero).trim(), "[]");
}

#[test]
fn reads_the_trigger_from_a_file_or_stdin() {
    let path = std::env::temp_dir().join(format!("horae-preview-{}.json", std::process::id()));
    std::fs::write(&path, NY_GAP).unwrap();
    let arg = format!("@{}", path.display());
    let from_file = preview(&arg, &["--count", "1"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(stdout(&from_file), "2026-03-07T02:30:00-05:00\n");
    let from_stdin = horae(
        &["trigger", "preview", "--trigger", "@-", "--count", "1"],
        Some(NY_GAP),
    );
    assert_eq!(stdout(&from_stdin), "2026-03-07T02:30:00-05:00\n");
    let empty_stdin = horae(&["trigger", "preview", "--trigger", "@-"], Some(""));
    assert_eq!(empty_stdin.status.code(), Some(2));
    assert!(stdout(&empty_stdin).is_empty());
    assert!(
        stderr(&empty_stdin).contains("invalid JSON"),
        "{}",
        stderr(&empty_stdin)
    );
    let missing = preview("@/nonexistent/horae.json", &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/horae.json"));
}

#[test]
fn now_fixes_an_omitted_start_time() {
    let out = preview(
        r#"{"type":"interval","minutes":30}"#,
        &["--count", "2", "--now", "2026-01-01T00:00:00Z"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "2026-01-01T00:00:00+00:00\n2026-01-01T00:30:00+00:00\n"
    );
    // An explicit start_time wins over --now.
    let explicit = preview(
        r#"{"type":"interval","minutes":30,"start_time":"2026-05-01T12:00:00+02:00"}"#,
        &["--count", "1", "--now", "2026-01-01T00:00:00Z"],
    );
    assert_eq!(stdout(&explicit), "2026-05-01T12:00:00+02:00\n");
    let calendar = preview(
        r#"{"type":"calendar_interval","days":1,"hour":9,"timezone":"Europe/Berlin"}"#,
        &["--count", "1", "--now", "2026-07-01T06:00:00Z"],
    );
    assert_eq!(stdout(&calendar), "2026-07-01T09:00:00+02:00\n");
    let bad = preview(
        r#"{"type":"interval","minutes":30}"#,
        &["--now", "tomorrow"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stdout(&bad).is_empty());
    assert!(stderr(&bad).contains("--now"));
}

#[test]
fn invalid_triggers_exit_2_naming_the_field() {
    let cases = [
        (r#"{"type":"cron","minute":"*/60"}"#, "minute"),
        (r#"{"type":"cron","minute":60}"#, "minute"),
        (r#"{"type":"cron","hour":true}"#, "hour"),
        (r#"{"type":"cron","hour":-1}"#, "hour"),
        (r#"{"type":"cron","day":"lastx"}"#, "day"),
        (r#"{"type":"cron","day":"6th mon"}"#, "day"),
        (r#"{"type":"cron","month":"jan/2"}"#, "month"),
        (r#"{"type":"cron","day_of_week":"funday"}"#, "day_of_week"),
        (r#"{"type":"cron","week":54}"#, "week"),
        (r#"{"type":"cron","year":1969}"#, "year"),
        (r#"{"type":"cron","expr":"* * * *"}"#, "expr"),
        (r#"{"type":"cron","expr":"* * * * MON#6"}"#, "expr"),
        (r#"{"type":"cron","timezone":"Mars/Olympus"}"#, "timezone"),
        (
            r#"{"type":"cron","timezone":"../../etc/passwd"}"#,
            "timezone",
        ),
        (
            r#"{"type":"cron","hour":1,"start_time":"2026-01-01T00:00:00"}"#,
            "start_time",
        ),
        (r#"{"type":"cron","hour":1,"minutes":5}"#, "minutes"),
        (r#"{"type":"crontab"}"#, "type"),
        (r#"{"hour":1}"#, "type"),
        (r#"{"type":"date"}"#, "run_time"),
        (
            r#"{"type":"date","run_time":"2026-02-30T00:00:00Z"}"#,
            "run_time",
        ),
        (r#"{"type":"interval","seconds":0}"#, "seconds"),
        (r#"{"type":"interval","seconds":"5"}"#, "seconds"),
        (
            r#"{"type":"interval","seconds":5,"start_time":"2026-01-02T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}"#,
            "end_time",
        ),
        (r#"{"type":"calendar_interval","hour":9}"#, "days"),
        (r#"{"type":"calendar_interval","days":1,"hour":24}"#, "hour"),
        (
            r#"{"type":"calendar_interval","days":1,"start_date":"01/02/2026"}"#,
            "start_date",
        ),
        (r#"{"type":"and","triggers":[]}"#, "triggers"),
        (
            r#"{"type":"or","triggers":[{"type":"cron","second":"x"}]}"#,
            "triggers[0].second",
        ),
        (r#"{"type":"or"}"#, "triggers"),
        (r#"{"type":"or","triggers":{}}"#, "triggers"),
        (
            r#"{"type":"and","triggers":[{"type":"interval","seconds":1}],"max_iterations":0}"#,
            "max_iterations",
        ),
        (
            r#"{"type":"and","triggers":[{"type":"interval","seconds":1}],"threshold":-1}"#,
            "threshold",
        ),
        (
            r#"{"type":"date","run_time":"2026-01-01T00:00:00Z","foo":1}"#,
            "foo",
        ),
        (r#"{"type":"date","run_time":12345}"#, "run_time"),
        (r#"{"type":"cron","expr":"61 * * * *"}"#, "expr"),
        (r#"{"type":"cron","expr":"0 9 * * *","hour":1}"#, "expr"),
        (r#"{"type":"cron","day_of_week":8}"#, "day_of_week"),
        (r#"{"type":"cron","day":"0"}"#, "day"),
        (r#"{"type":"cron","month":"13"}"#, "month"),
        (r#"{"type":"cron","second":1.5}"#, "second"),
        (r#"{"type":"cron","hour":"5-2"}"#, "hour"),
        (r#"{"type":"cron","hour":"*/0"}"#, "hour"),
        (r#"{"type":"cron","day":"2nd wed/2"}"#, "day"),
        (r#"{"type":"cron","timezone":5}"#, "timezone"),
        (r#"{"type":"interval","hours":-1,"minutes":120}"#, "hours"),
        (r#"{"type":"interval","seconds":1e300}"#, "seconds"),
        (
            r#"{"type":"interval","hours":1,"timezone":"Europe/Berlin"}"#,
            "timezone",
        ),
        (
            r#"{"type":"calendar_interval","days":1,"start_date":"2026-01-05","end_date":"2026-01-01"}"#,
            "end_date",
        ),
    ];
    assert!(cases.len() >= 25);
    for (spec, field) in cases {
        let out = preview(spec, &["--format", "json"]);
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{spec} printed {}", stdout(&out));
        let message = stderr(&out);
        assert!(
            message.contains(&format!("{field}: ")),
            "{spec}: message does not name {field}: {message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }
    // Not JSON, or JSON that is not an object: the message names the trigger as a whole.
    for not_json in [
        "",
        "{",
        r#"{"type":"cron",}"#,
        "[1,2]",
        r#"[{"type":"date"}]"#,
        "\"cron\"",
        "null",
        "42",
    ] {
        let out = preview(not_json, &[]);
        assert_eq!(out.status.code(), Some(2), "{not_json:?}");
        assert!(
            stdout(&out).is_empty(),
            "{not_json:?} printed {}",
            stdout(&out)
        );
        let message = stderr(&out);
        assert!(
            message.starts_with("error: invalid trigger: trigger: "),
            "{not_json:?}: {message}"
        );
        assert!(
            message.contains("invalid JSON") || message.contains("expected a JSON object"),
            "{not_json:?}: {message}"
        );
    }
}

#[test]
fn a_trigger_that_cannot_agree_exits_1() {
    let spec = r#"{"type":"and","max_iterations":5,"threshold":0,"triggers":[
        {"type":"cron","minute":"*/7","start_time":"2026-01-01T00:00:00Z"},
        {"type":"cron","minute":"*/11","second":30,"start_time":"2026-01-01T00:00:00Z"}]}"#;
    let out = preview(spec, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "partial output: {}", stdout(&out));
    assert!(stderr(&out).contains("max_iterations"), "{}", stderr(&out));
    // The same sub-triggers agree once the threshold spans their 30 s offset, so the
    // failure above is the `and` giving up, not a bad spec.
    let agreeable = spec.replace("\"threshold\":0", "\"threshold\":30");
    let out = preview(&agreeable, &["--count", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let help = horae(&["--help"], None);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("trigger"), "{}", stdout(&help));
    assert!(stderr(&help).is_empty());
    let preview_help = horae(&["trigger", "preview", "--help"], None);
    assert_eq!(preview_help.status.code(), Some(0));
    for option in ["--trigger", "--count", "--format", "--now"] {
        assert!(stdout(&preview_help).contains(option), "{option}");
    }
    assert_eq!(horae(&["--version"], None).status.code(), Some(0));
    let unknown = horae(&["frobnicate"], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stdout(&unknown).is_empty());
    assert!(
        stderr(&unknown).contains("frobnicate"),
        "{}",
        stderr(&unknown)
    );
    assert_eq!(
        horae(&["trigger", "preview"], None).status.code(),
        Some(2),
        "--trigger is required"
    );
    assert_eq!(
        preview(NY_GAP, &["--format", "yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(preview(NY_GAP, &["--count", "-1"]).status.code(), Some(2));
    let too_many = preview(NY_GAP, &["--count", "1000001"]);
    assert_eq!(too_many.status.code(), Some(2));
    assert!(stdout(&too_many).is_empty());
    assert!(
        stderr(&too_many).contains("--count"),
        "{}",
        stderr(&too_many)
    );
}

/// Every reference vector (APScheduler 4.0.0a6 fire times, or horae's corrected answer)
/// comes out of the binary exactly.
#[test]
fn preview_prints_every_reference_vector() {
    let file: serde_json::Value = serde_json::from_str(include_str!(
        "../../../horae/tests/data/trigger_vectors.json"
    ))
    .unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 1000);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for case in chunk {
                        let count = case["count"].to_string();
                        let out = preview(
                            &case["trigger"].to_string(),
                            &["--count", &count, "--format", "json"],
                        );
                        let expected = &case["expected"];
                        let ok = if case["end"] == "max_iterations" {
                            out.status.code() == Some(1)
                        } else {
                            out.status.code() == Some(0)
                                && serde_json::from_str::<serde_json::Value>(&stdout(&out))
                                    .ok()
                                    .as_ref()
                                    == Some(expected)
                        };
                        if !ok {
                            failures.push(format!(
                                "{}: {}{}",
                                case["name"],
                                stdout(&out),
                                stderr(&out)
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
