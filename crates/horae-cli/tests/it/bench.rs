//! `horae bench`: the JSON line of DESIGN.md section 8 with `store` and `nodes`, several
//! nodes sharing one store, the `mysql` / `postgres` stores on the real servers, and short
//! runs of the `soak` workload.

use crate::{horae, reachable, stderr, stdout};

/// The keys of `shared/bench/apscheduler_peer.py`'s `jobs` line, plus horae's.
const JOBS_KEYS: [&str; 10] = [
    "workload",
    "jobs",
    "completed",
    "add_jobs_per_s",
    "jobs_per_s",
    "run_s",
    "system",
    "store",
    "peak_rss_mib",
    "nodes",
];

/// Runs `horae bench jobs` with `args`; the parsed JSON line, or the stderr on failure.
fn bench_jobs(args: &[&str]) -> Result<serde_json::Value, String> {
    let mut full = vec!["bench", "jobs", "--json"];
    full.extend_from_slice(args);
    let out = horae(&full, None);
    if out.status.code() != Some(0) {
        return Err(stderr(&out));
    }
    let text = stdout(&out);
    let line = text.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {text}")))
}

fn assert_all_ran(json: &serde_json::Value, jobs: u64, store: &str, nodes: u64) {
    for key in JOBS_KEYS {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    assert_eq!(json["workload"], "jobs");
    assert_eq!(json["system"], "horae");
    assert_eq!(json["store"], store, "{json}");
    assert_eq!(json["nodes"], nodes, "{json}");
    assert_eq!(json["jobs"], jobs);
    assert_eq!(json["completed"], jobs, "{json}");
}

#[test]
fn several_nodes_share_the_memory_store_and_an_sqlite_file() {
    let memory = bench_jobs(&["--jobs", "300", "--nodes", "3"]).unwrap();
    assert_all_ran(&memory, 300, "memory", 3);
    let sqlite = bench_jobs(&[
        "--jobs",
        "200",
        "--nodes",
        "2",
        "--store",
        "sqlite",
        "--max-running-jobs",
        "0",
    ])
    .unwrap();
    assert_all_ran(&sqlite, 200, "sqlite", 2);
}

#[test]
fn progress_goes_to_stderr_and_the_json_line_last_to_stdout() {
    let out = horae(
        &[
            "bench",
            "schedules",
            "--schedules",
            "5",
            "--period",
            "0.5",
            "--duration",
            "1",
            "--nodes",
            "2",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["workload"], "schedules");
    assert_eq!(json["nodes"], 2);
    assert!(json["fires"].as_u64().unwrap() > 0, "{json}");
    assert!(stderr(&out).contains("schedules: "), "{}", stderr(&out));
}

#[test]
fn bad_stores_and_node_counts_exit_2() {
    for args in [
        vec!["--store", "oracle"],
        vec!["--store", "redis://127.0.0.1:6379"],
        vec!["--store", "mysql://root:pw@127.0.0.1:3306"],
        vec!["--nodes", "0"],
        vec!["--nodes", "1000"],
        vec!["--connect-timeout", "never"],
    ] {
        let mut full = vec!["bench", "jobs", "--jobs", "1"];
        full.extend(&args);
        let out = horae(&full, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
        assert!(!stderr(&out).contains("pw@"), "{}", stderr(&out));
    }
}

#[test]
fn an_unreachable_bench_server_fails_with_exit_1_after_retrying() {
    let out = horae(
        &[
            "bench",
            "jobs",
            "--jobs",
            "1",
            "--store",
            "mariadb://root:s3cret@127.0.0.1:1/horae_bench",
            "--connect-timeout",
            "0.5",
        ],
        None,
    );
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        !message.contains("s3cret") && !message.contains("panicked"),
        "{message}"
    );
    assert!(
        message.contains("MySQL at mysql://root:***@127.0.0.1:1/horae_bench is unreachable (connection refused); retrying in "),
        "{message}"
    );
}

/// `--store mysql`: the MariaDB/MySQL server of `HORAE_MYSQL_URL` (default the local
/// `horae_bench` database); skipped with a note when it is down, except under `CI=true`.
#[test]
fn mysql_nodes_share_the_local_server() {
    let Some(json) = reachable(
        "MySQL",
        bench_jobs(&[
            "--jobs",
            "200",
            "--nodes",
            "2",
            "--store",
            "mysql",
            "--max-running-jobs",
            "0",
            "--connect-timeout",
            "5",
        ]),
    ) else {
        return;
    };
    assert_all_ran(&json, 200, "mysql", 2);
}

/// `--store postgres` on the local server, skipped (outside CI) when it is down.
#[test]
fn postgres_nodes_share_the_local_server() {
    let Some(json) = reachable(
        "PostgreSQL",
        bench_jobs(&[
            "--jobs",
            "200",
            "--nodes",
            "2",
            "--store",
            "postgres",
            "--max-running-jobs",
            "0",
            "--connect-timeout",
            "10",
        ]),
    ) else {
        return;
    };
    assert_all_ran(&json, 200, "postgres", 2);
}

/// The keys of the `daemon` line: the `jobs` keys and the HTTP figures.
const DAEMON_KEYS: [&str; 14] = [
    "workload",
    "jobs",
    "completed",
    "add_jobs_per_s",
    "jobs_per_s",
    "run_s",
    "system",
    "store",
    "peak_rss_mib",
    "http_p50_ms",
    "http_p99_ms",
    "clients",
    "task_kind",
    "concurrency",
];

/// Runs `horae bench daemon --json` with `args`: the parsed JSON line (the only line on
/// stdout).
fn bench_daemon(args: &[&str]) -> serde_json::Value {
    let mut full = vec!["bench", "daemon", "--json"];
    full.extend_from_slice(args);
    let out = horae(&full, None);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Checks the line of a run of `jobs` jobs in which every one succeeded.
fn assert_daemon_ran(json: &serde_json::Value, jobs: u64, store: &str, task_kind: &str) {
    for key in DAEMON_KEYS {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    assert_eq!(json["workload"], "daemon");
    assert_eq!(json["system"], "horae");
    assert_eq!(json["store"], store, "{json}");
    assert_eq!(json["task_kind"], task_kind, "{json}");
    assert_eq!(json["jobs"], jobs);
    assert_eq!(json["completed"], jobs, "{json}");
    assert_eq!(json["failed"], 0, "{json}");
    for key in [
        "add_jobs_per_s",
        "jobs_per_s",
        "run_s",
        "http_p50_ms",
        "peak_rss_mib",
    ] {
        assert!(json[key].as_f64().unwrap() > 0.0, "{key}: {json}");
    }
    assert!(
        json["http_p99_ms"].as_f64().unwrap() >= json["http_p50_ms"].as_f64().unwrap(),
        "{json}"
    );
}

#[test]
fn daemon_bench_posts_every_job_over_http_and_counts_them_run() {
    let json = bench_daemon(&["--store", "memory", "--jobs", "200"]);
    assert_daemon_ran(&json, 200, "memory", "noop");
    assert_eq!(json["clients"], 16, "{json}");
    assert_eq!(json["concurrency"], 100, "{json}");
    // The bench task is not capped at APScheduler 4's one run at a time.
    assert_eq!(json["max_running_jobs"], serde_json::Value::Null, "{json}");
}

#[test]
fn daemon_bench_runs_true_through_the_command_executor_on_sqlite() {
    let json = bench_daemon(&[
        "--store",
        "sqlite",
        "--jobs",
        "50",
        "--task",
        "command",
        "--clients",
        "4",
        "--concurrency",
        "8",
        "--max-running-jobs",
        "3",
    ]);
    assert_daemon_ran(&json, 50, "sqlite", "command");
    assert_eq!(json["clients"], 4, "{json}");
    assert_eq!(json["concurrency"], 8, "{json}");
    assert_eq!(json["max_running_jobs"], 3, "{json}");
}

#[test]
fn daemon_bench_progress_goes_to_stderr() {
    let out = horae(
        &["bench", "daemon", "--jobs", "3000", "--clients", "2"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["completed"], 3000, "{json}");
    // Without --json the pretty result goes to stderr, and progress when it took a second.
    assert!(
        stderr(&out).contains("\"workload\": \"daemon\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn daemon_bench_usage_errors_exit_2() {
    for args in [
        vec!["--nodes", "2"],
        vec!["--clients", "0"],
        vec!["--jobs", "0"],
        vec!["--task", "sleep"],
    ] {
        let mut full = vec!["bench", "daemon"];
        full.extend(&args);
        let out = horae(&full, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
}

/// The summary keys of the `soak` line (DESIGN.md section 8 keeps them stable).
const SOAK_KEYS: [&str; 23] = [
    "workload",
    "system",
    "store",
    "nodes",
    "schedules",
    "period_s",
    "duration_s",
    "insert_s",
    "insert_per_s",
    "rss_first_mib",
    "rss_last_mib",
    "rss_max_mib",
    "connections_min",
    "connections_max",
    "lateness_p99_ms",
    "lateness_p99_first_window_ms",
    "lateness_p99_last_window_ms",
    "fires",
    "fires_expected",
    "missed",
    "stable",
    "unstable_because",
    "samples",
];

/// The keys of every soak sample.
const SAMPLE_KEYS: [&str; 9] = [
    "elapsed_s",
    "rss_mib",
    "threads",
    "open_fds",
    "fires",
    "lateness_p50_ms",
    "lateness_p99_ms",
    "lateness_max_ms",
    "backlog",
];

/// Runs a short soak (2,000 schedules every 2 s for 6 s, a sample every 2 s) on `store`;
/// the parsed JSON line, or the stderr on failure.
fn short_soak(store: &str) -> Result<serde_json::Value, String> {
    let out = horae(
        &[
            "bench",
            "soak",
            "--json",
            "--store",
            store,
            "--schedules",
            "2000",
            "--period",
            "2",
            "--duration",
            "6",
            "--sample-every",
            "2",
            "--connect-timeout",
            "10",
        ],
        None,
    );
    if out.status.code() != Some(0) {
        return Err(stderr(&out));
    }
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

/// Checks a short soak's line: every key, four samples (0, 2, 4, 6 s), every fire time run
/// exactly once — schedule 0 fires at 0, 2, 4 and 6 s, the others three times.
fn assert_soaked(json: &serde_json::Value, store: &str) {
    for key in SOAK_KEYS {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    assert_eq!(json["workload"], "soak");
    assert_eq!(json["store"], store, "{json}");
    assert_eq!(json["fires_expected"], 6001, "{json}");
    assert_eq!(json["fires"], 6001, "{json}");
    assert_eq!(json["missed"], 0, "{json}");
    assert_eq!(json["extra_fires"], 0, "{json}");
    assert_eq!(json["stray_fires"], 0, "{json}");
    assert!(json["insert_per_s"].as_f64().unwrap() > 0.0, "{json}");
    // The first fire time came after the last schedule was inserted.
    assert!(
        json["first_fire_after_insert_s"].as_f64().unwrap() > 0.0,
        "{json}"
    );
    let samples = json["samples"].as_array().unwrap();
    let elapsed: Vec<f64> = samples
        .iter()
        .map(|s| s["elapsed_s"].as_f64().unwrap())
        .collect();
    assert_eq!(elapsed, [0.0, 2.0, 4.0, 6.0], "{json}");
    for sample in samples {
        for key in SAMPLE_KEYS {
            assert!(sample.get(key).is_some(), "{key} missing: {sample}");
        }
        assert!(sample["rss_mib"].as_f64().unwrap() > 0.0, "{sample}");
        assert!(sample["threads"].as_u64().unwrap() > 0, "{sample}");
    }
    let window_fires: u64 = samples.iter().map(|s| s["fires"].as_u64().unwrap()).sum();
    assert!(window_fires <= 6001, "{json}");
    let stable = json["stable"].as_bool().unwrap();
    let reasons = json["unstable_because"].as_array().unwrap();
    assert_eq!(stable, reasons.is_empty(), "{json}");
}

#[test]
fn soak_samples_a_memory_store_and_misses_no_fire_time() {
    let json = short_soak("memory").unwrap();
    assert_soaked(&json, "memory");
    assert_eq!(json["connections_max"], serde_json::Value::Null, "{json}");
}

/// The soak on the local PostgreSQL server, with its connection counts; skipped (outside
/// CI) when it is down.
#[test]
fn postgres_soak_counts_the_servers_connections() {
    let Some(json) = reachable("PostgreSQL", short_soak("postgres")) else {
        return;
    };
    assert_soaked(&json, "postgres");
    let (min, max) = (
        json["connections_min"].as_u64().unwrap(),
        json["connections_max"].as_u64().unwrap(),
    );
    // One node's pool of 16 and its 2 lease connections at most; the monitor's own
    // connection is not counted.
    assert!(0 < min && min <= max && max <= 18, "{json}");
    for sample in json["samples"].as_array().unwrap() {
        for key in [
            "connections",
            "db_connections",
            "schedules_dead_tuples",
            "schedules_table_mib",
        ] {
            assert!(sample.get(key).is_some(), "{key} missing: {sample}");
        }
    }
}

#[test]
fn soak_usage_errors_exit_2() {
    for args in [
        vec!["--sample-every", "0"],
        vec!["--sample-every", "nan"],
        vec!["--schedules", "0"],
        vec!["--duration", "1000", "--sample-every", "0.001"],
    ] {
        let mut full = vec!["bench", "soak"];
        full.extend(&args);
        let out = horae(&full, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
}
