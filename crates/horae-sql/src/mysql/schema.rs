//! The MySQL 8 / MariaDB 10.6+ schema as versioned migrations (`{p}` is the table prefix).
//!
//! Migration N upgrades a database at version N - 1; the applied version is kept in
//! `{p}schema_version`. Released migrations are never edited, only appended.
//!
//! DDL commits implicitly in MySQL, so a migration is a list of statements, each safe to run
//! again (`IF NOT EXISTS`) should a process die halfway; migrations run under a named lock.
//! Ids are ASCII with a binary collation (case-sensitive, sorted like Rust strings), every
//! integer is `BIGINT`.

/// Every migration in order (index + 1 is its version), each a list of statements.
pub(super) const MIGRATIONS: &[&[&str]] = &[
    // 1: tasks, schedules, jobs, results.
    &[
        r#"
CREATE TABLE IF NOT EXISTS {p}tasks (
    id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    executor VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    max_running_jobs BIGINT NULL,
    misfire_grace_time_us BIGINT NULL,
    retry JSON NULL,
    timeout_us BIGINT NULL,
    metadata JSON NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
        r#"
CREATE TABLE IF NOT EXISTS {p}schedules (
    id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    task_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    trigger_state JSON NOT NULL,
    args JSON NOT NULL,
    kwargs JSON NOT NULL,
    paused BOOLEAN NOT NULL,
    coalesce VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    misfire_grace_time_us BIGINT NULL,
    max_jitter_us BIGINT NULL,
    job_result_expiration_time_us BIGINT NOT NULL,
    metadata JSON NOT NULL,
    next_fire_time BIGINT NULL,
    last_fire_time BIGINT NULL,
    acquired_by VARCHAR(255) NULL,
    acquired_until BIGINT NULL,
    PRIMARY KEY (id),
    -- Due schedules: paused = 0 AND acquired_by IS NULL, by next fire time.
    KEY due (paused, acquired_by, next_fire_time),
    -- Leased schedules by lease expiry.
    KEY leases (acquired_until)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
        r#"
CREATE TABLE IF NOT EXISTS {p}jobs (
    seq BIGINT NOT NULL AUTO_INCREMENT,
    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    task_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    args JSON NOT NULL,
    kwargs JSON NOT NULL,
    schedule_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
    scheduled_fire_time BIGINT NULL,
    jitter_us BIGINT NOT NULL,
    start_deadline BIGINT NULL,
    not_before BIGINT NULL,
    result_expiration_time_us BIGINT NOT NULL,
    metadata JSON NOT NULL,
    created_at BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NULL,
    acquired_by VARCHAR(255) NULL,
    acquired_until BIGINT NULL,
    lease_token BIGINT NOT NULL,
    -- When the job may start: the later of created_at and not_before.
    ready_at BIGINT NOT NULL,
    PRIMARY KEY (id),
    -- Insertion order: FIFO among jobs ready at the same time.
    UNIQUE KEY seq (seq),
    -- Invariant 6: one job per schedule and fire time (also serves lookups by schedule).
    UNIQUE KEY fire_time (schedule_id, scheduled_fire_time),
    -- Unleased jobs (acquired_by IS NULL) in the order they are handed out.
    KEY ready (acquired_by, ready_at, seq),
    -- Leased jobs by lease expiry (reaping, lapsed leases).
    KEY leases (acquired_until),
    -- Leased jobs per task (running counts).
    KEY running (task_id, acquired_by)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
        r#"
CREATE TABLE IF NOT EXISTS {p}results (
    job_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    task_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    schedule_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
    outcome VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NULL,
    finished_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    error TEXT NULL,
    return_value JSON NULL,
    PRIMARY KEY (job_id),
    KEY expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
    ],
    // 2: task actions (command and HTTP tasks of the daemon), node heartbeat records, and
    // results by finish time (listing the latest results is a bounded backward scan of it;
    // MariaDB before 10.8 ignores DESC in an index). MySQL 8 has no `ADD COLUMN IF NOT
    // EXISTS` nor `CREATE INDEX IF NOT EXISTS`, so those two changes are prepared only
    // when the data dictionary lacks them, which keeps the migration safe to run again.
    &[
        r#"
SET @horae_ddl = IF(
    EXISTS (SELECT 1 FROM information_schema.columns
        WHERE table_schema = DATABASE() AND table_name = '{p}tasks' AND column_name = 'action'),
    'DO 0',
    'ALTER TABLE {p}tasks ADD COLUMN action JSON NULL')
"#,
        "PREPARE horae_ddl FROM @horae_ddl",
        "EXECUTE horae_ddl",
        "DEALLOCATE PREPARE horae_ddl",
        r#"
SET @horae_ddl = IF(
    EXISTS (SELECT 1 FROM information_schema.statistics
        WHERE table_schema = DATABASE() AND table_name = '{p}results' AND index_name = 'finished'),
    'DO 0',
    'CREATE INDEX finished ON {p}results (finished_at, job_id)')
"#,
        "PREPARE horae_ddl FROM @horae_ddl",
        "EXECUTE horae_ddl",
        "DEALLOCATE PREPARE horae_ddl",
        r#"
CREATE TABLE IF NOT EXISTS {p}nodes (
    id VARCHAR(255) NOT NULL,
    role VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    started_at BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    lease_duration_us BIGINT NOT NULL,
    max_concurrent_jobs BIGINT NOT NULL,
    running_jobs BIGINT NOT NULL,
    version VARCHAR(255) NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"#,
    ],
];
