//! `horae bench`: the JSON line of DESIGN.md section 8 with `store` and `nodes`, several
//! nodes sharing one store, and the `mysql` / `postgres` stores on the real servers.

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
