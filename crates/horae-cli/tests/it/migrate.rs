//! `horae migrate`: reports the schema version before and after, is idempotent, retries an
//! unreachable server up to `--connect-timeout` with the password redacted, and exits 2 on
//! bad input.

use std::time::{Duration, Instant};

use horae_sql::{OpenOptions, SqlStore, StoreUrl, TablePrefix};
use horae_testkit::service::{TempSqliteFile, unique_prefix, url_from_env};

use crate::{horae, reachable, stderr, stdout};

/// The version in `migrated ... from version 0 to N`.
fn migrated_to(line: &str) -> u32 {
    line.trim()
        .rsplit_once(" to ")
        .and_then(|(_, version)| version.parse().ok())
        .unwrap_or_else(|| panic!("no target version in {line:?}"))
}

#[test]
fn a_fresh_sqlite_file_is_created_migrated_once_and_then_left_alone() {
    let db = TempSqliteFile::new();
    let url = db.url();
    let first = horae(&["migrate", "--store", &url], None);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let out = stdout(&first);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], format!("created database {url}"));
    assert!(
        lines[1].starts_with(&format!(
            "migrated {url} (prefix horae_) from version 0 to "
        )),
        "{out}"
    );
    let version = migrated_to(lines[1]);
    assert!(version >= 1);
    assert!(stderr(&first).is_empty(), "{}", stderr(&first));

    let again = horae(&["migrate", "--store", &url], None);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        format!("{url} (prefix horae_) already at version {version}\n")
    );

    // Another prefix in the same file is a separate schema; --json for scripts.
    let other = horae(
        &["migrate", "--store", &url, "--prefix", "other_", "--json"],
        None,
    );
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    let json: serde_json::Value = serde_json::from_str(&stdout(&other)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "store": url, "prefix": "other_", "from_version": 0, "to_version": version,
            "created_database": false,
        })
    );
}

#[test]
fn an_unreachable_server_is_retried_until_the_connect_timeout_then_exit_1() {
    let url = "postgres://postgres:s3cret@127.0.0.1:1/x";
    let started = Instant::now();
    let out = horae(&["migrate", "--store", url, "--connect-timeout", "1"], None);
    let elapsed = started.elapsed();
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(!message.contains("panicked"), "{message}");
    assert!(!message.contains("s3cret"), "password shown: {message}");
    let shown =
        "PostgreSQL at postgres://postgres:***@127.0.0.1:1/x is unreachable (connection refused)";
    let retries = message
        .lines()
        .filter(|line| line.contains(shown) && line.contains("; retrying in "))
        .count();
    assert!(retries >= 2, "expected several retries: {message}");
    let last = message.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains(shown) && last.contains("gave up after"),
        "{message}"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(10),
        "took {elapsed:?}"
    );

    // 0 fails at the first refusal, without retrying.
    let at_once = horae(&["migrate", "--store", url, "--connect-timeout", "0"], None);
    assert_eq!(at_once.status.code(), Some(1));
    assert!(
        !stderr(&at_once).contains("retrying"),
        "{}",
        stderr(&at_once)
    );
    assert!(stderr(&at_once).contains(shown), "{}", stderr(&at_once));
}

#[test]
fn bad_input_exits_2_and_help_describes_the_flags() {
    for (args, needle) in [
        (vec!["--store", "redis://127.0.0.1:6379"], "--store"),
        (vec!["--store", "memory://"], "memory"),
        (
            vec!["--store", "mysql://root:pw@127.0.0.1:3306"],
            "names no database",
        ),
        (
            vec!["--store", "sqlite::memory:", "--prefix", "1x"],
            "--prefix",
        ),
        (
            vec!["--store", "sqlite::memory:", "--connect-timeout", "soon"],
            "--connect-timeout",
        ),
        (
            vec!["--store", "sqlite::memory:", "--connect-timeout=-1"],
            "--connect-timeout",
        ),
    ] {
        let mut full = vec!["migrate"];
        full.extend(&args);
        let out = horae(&full, None);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {message}");
        assert!(stdout(&out).is_empty(), "{args:?}");
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(!message.contains("pw@"), "{message}");
    }
    let help = horae(&["migrate", "--help"], None);
    assert_eq!(help.status.code(), Some(0));
    for flag in [
        "--store",
        "--prefix",
        "--connect-timeout",
        "--json",
        "HORAE_STORE_URL",
    ] {
        assert!(stdout(&help).contains(flag), "{flag}: {}", stdout(&help));
    }
    assert!(stdout(&horae(&["--help"], None)).contains("migrate"));
}

/// Against the real PostgreSQL server (`HORAE_PG_URL`, default the local `horae_test`
/// database): skipped with a note when it is down, except under `CI=true`.
#[test]
fn postgres_is_migrated_once_under_a_fresh_prefix() {
    let url = url_from_env(
        "HORAE_PG_URL",
        "postgres://postgres@127.0.0.1:5432/horae_test",
    );
    let prefix = format!("{}_", unique_prefix());
    let migrate = || {
        horae(
            &[
                "migrate",
                "--store",
                &url,
                "--prefix",
                &prefix,
                "--connect-timeout",
                "10",
            ],
            None,
        )
    };
    let first = migrate();
    let reached = if first.status.code() == Some(0) {
        Ok(())
    } else {
        Err(stderr(&first))
    };
    if reachable("PostgreSQL", reached).is_none() {
        return;
    }
    let shown = StoreUrl::parse(&url).unwrap().to_string();
    let out = stdout(&first);
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "migrated {shown} (prefix {prefix}) from version 0 to "
        )),
        "{out}"
    );
    let version = migrated_to(last);
    let again = migrate();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        format!("{shown} (prefix {prefix}) already at version {version}\n")
    );
    drop_tables(&url, &prefix);
}

/// Drops the tables `horae migrate` (or a node) made under `prefix`.
pub(crate) fn drop_tables(url: &str, prefix: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let options = OpenOptions {
            prefix: TablePrefix::new(prefix).unwrap(),
            max_connections: Some(1),
            ..OpenOptions::default()
        };
        let store = SqlStore::connect(&StoreUrl::parse(url).unwrap(), &options)
            .await
            .unwrap();
        store.drop_tables().await.unwrap();
        store.close().await;
    });
}
