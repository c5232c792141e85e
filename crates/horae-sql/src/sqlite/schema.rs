//! The SQLite schema as versioned migrations (`{p}` is the table prefix).
//!
//! Migration N upgrades a database at version N - 1; the applied version is kept in
//! `{p}schema_version`. Released migrations are never edited, only appended.

/// Every migration in order; index + 1 is its version.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: tasks, schedules, jobs, results.
    r#"
CREATE TABLE {p}tasks (
    id TEXT PRIMARY KEY NOT NULL,
    executor TEXT NOT NULL,
    max_running_jobs INTEGER,
    misfire_grace_time_us INTEGER,
    retry TEXT,
    timeout_us INTEGER,
    metadata TEXT NOT NULL
);

CREATE TABLE {p}schedules (
    id TEXT PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL,
    trigger_state TEXT NOT NULL,
    args TEXT NOT NULL,
    kwargs TEXT NOT NULL,
    paused INTEGER NOT NULL,
    coalesce TEXT NOT NULL,
    misfire_grace_time_us INTEGER,
    max_jitter_us INTEGER,
    job_result_expiration_time_us INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    next_fire_time INTEGER,
    last_fire_time INTEGER,
    acquired_by TEXT,
    acquired_until INTEGER
);
-- Due schedules by next fire time; leased ones by lease expiry.
CREATE INDEX {p}schedules_due ON {p}schedules (next_fire_time)
    WHERE paused = 0 AND acquired_by IS NULL AND next_fire_time IS NOT NULL;
CREATE INDEX {p}schedules_leases ON {p}schedules (acquired_until)
    WHERE acquired_until IS NOT NULL;

CREATE TABLE {p}jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    args TEXT NOT NULL,
    kwargs TEXT NOT NULL,
    schedule_id TEXT,
    scheduled_fire_time INTEGER,
    jitter_us INTEGER NOT NULL,
    start_deadline INTEGER,
    not_before INTEGER,
    result_expiration_time_us INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER,
    acquired_by TEXT,
    acquired_until INTEGER,
    lease_token INTEGER NOT NULL,
    -- When the job may start: the later of created_at and not_before.
    ready_at INTEGER NOT NULL,
    -- Invariant 6: one job per schedule and fire time.
    UNIQUE (schedule_id, scheduled_fire_time)
);
-- Unleased jobs per task in hand-out order: acquisition walks the tasks with queued jobs
-- and takes each one's oldest, so a task at its max_running_jobs costs nothing however
-- many jobs it has queued.
CREATE INDEX {p}jobs_queue ON {p}jobs (task_id, ready_at, seq) WHERE acquired_by IS NULL;
-- Leased jobs by lease expiry (reaping) and by task (running counts).
CREATE INDEX {p}jobs_leases ON {p}jobs (acquired_until) WHERE acquired_until IS NOT NULL;
CREATE INDEX {p}jobs_running ON {p}jobs (task_id) WHERE acquired_by IS NOT NULL;
CREATE INDEX {p}jobs_schedule ON {p}jobs (schedule_id) WHERE schedule_id IS NOT NULL;

CREATE TABLE {p}results (
    job_id TEXT PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL,
    schedule_id TEXT,
    outcome TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    error TEXT,
    return_value TEXT
);
CREATE INDEX {p}results_expiry ON {p}results (expires_at);
"#,
    // 2: task actions (command and HTTP tasks of the daemon), node heartbeat records, and
    // results newest first (listing the latest results is a bounded index scan).
    r#"
ALTER TABLE {p}tasks ADD COLUMN action TEXT;

CREATE TABLE {p}nodes (
    id TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    lease_duration_us INTEGER NOT NULL,
    max_concurrent_jobs INTEGER NOT NULL,
    running_jobs INTEGER NOT NULL,
    version TEXT NOT NULL
);

CREATE INDEX {p}results_finished ON {p}results (finished_at DESC, job_id DESC);
"#,
];
