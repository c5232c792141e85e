//! The PostgreSQL schema as versioned migrations (`{p}` is the table prefix).
//!
//! Migration N upgrades a database at version N - 1; the applied version is kept in
//! `{p}schema_version`. Released migrations are never edited, only appended.

/// Every migration in order; index + 1 is its version.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: tasks, schedules, jobs, results.
    r#"
CREATE TABLE {p}tasks (
    id TEXT PRIMARY KEY,
    executor TEXT NOT NULL,
    max_running_jobs BIGINT,
    misfire_grace_time_us BIGINT,
    retry JSONB,
    timeout_us BIGINT,
    metadata JSONB NOT NULL
);

CREATE TABLE {p}schedules (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    trigger_state JSONB NOT NULL,
    args JSONB NOT NULL,
    kwargs JSONB NOT NULL,
    paused BOOLEAN NOT NULL,
    coalesce TEXT NOT NULL,
    misfire_grace_time_us BIGINT,
    max_jitter_us BIGINT,
    job_result_expiration_time_us BIGINT NOT NULL,
    metadata JSONB NOT NULL,
    next_fire_time BIGINT,
    last_fire_time BIGINT,
    acquired_by TEXT,
    acquired_until BIGINT
);
-- Unpaused schedules by next fire time (acquisition); leased ones by lease expiry.
CREATE INDEX {p}schedules_due ON {p}schedules (next_fire_time)
    WHERE NOT paused AND next_fire_time IS NOT NULL;
CREATE INDEX {p}schedules_leases ON {p}schedules (acquired_until)
    WHERE acquired_until IS NOT NULL;

CREATE TABLE {p}jobs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    args JSONB NOT NULL,
    kwargs JSONB NOT NULL,
    schedule_id TEXT,
    scheduled_fire_time BIGINT,
    jitter_us BIGINT NOT NULL,
    start_deadline BIGINT,
    not_before BIGINT,
    result_expiration_time_us BIGINT NOT NULL,
    metadata JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT,
    acquired_by TEXT,
    acquired_until BIGINT,
    lease_token BIGINT NOT NULL,
    -- When the job may start: the later of created_at and not_before.
    ready_at BIGINT NOT NULL,
    -- Invariant 6: one job per schedule and fire time.
    UNIQUE (schedule_id, scheduled_fire_time)
);
-- Unleased jobs per task in hand-out order (a partial index over queued rows only):
-- acquisition walks the tasks with queued jobs and takes each one's oldest, so a task at
-- its max_running_jobs costs nothing however many jobs it has queued.
CREATE INDEX {p}jobs_queue ON {p}jobs (task_id, ready_at, seq) WHERE acquired_by IS NULL;
-- Leased jobs by lease expiry (reaping) and by task (running counts).
CREATE INDEX {p}jobs_leases ON {p}jobs (acquired_until) WHERE acquired_until IS NOT NULL;
CREATE INDEX {p}jobs_running ON {p}jobs (task_id) WHERE acquired_by IS NOT NULL;
CREATE INDEX {p}jobs_schedule ON {p}jobs (schedule_id) WHERE schedule_id IS NOT NULL;

CREATE TABLE {p}results (
    job_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    schedule_id TEXT,
    outcome TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    error TEXT,
    return_value JSONB
);
CREATE INDEX {p}results_expiry ON {p}results (expires_at);
"#,
];
