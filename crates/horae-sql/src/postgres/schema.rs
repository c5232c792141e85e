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
    // 2: fewer index writes per acquisition — an acquisition is an update no index can take
    // as HOT, so every index of the jobs table gets an entry: one job per fire time is
    // enforced by a partial unique index over scheduled jobs only (ad-hoc jobs skip it),
    // which also serves lookups by schedule; running jobs are counted through the lease
    // index. And job acquisition as one function call (one round trip): the limited tasks'
    // rows are locked first, in id order, then the next statement — with a fresh snapshot,
    // so it sees every lease committed before the locks were granted — counts their running
    // jobs and leases each task's oldest ready jobs within its places. `p_started` is the
    // start time to record (NULL: leased, not started).
    r#"
DO $m$
DECLARE
    fire_time_key TEXT;
BEGIN
    SELECT conname INTO fire_time_key FROM pg_constraint
        WHERE conrelid = '{p}jobs'::regclass AND contype = 'u';
    IF fire_time_key IS NOT NULL THEN
        EXECUTE format('ALTER TABLE {p}jobs DROP CONSTRAINT %I', fire_time_key);
    END IF;
END
$m$;
CREATE UNIQUE INDEX {p}jobs_fire_time ON {p}jobs (schedule_id, scheduled_fire_time)
    WHERE schedule_id IS NOT NULL;
DROP INDEX {p}jobs_schedule;
DROP INDEX {p}jobs_running;

CREATE FUNCTION {p}acquire_jobs(
    p_node TEXT, p_until BIGINT, p_now BIGINT, p_stale_limit BIGINT, p_wanted BIGINT,
    p_started BIGINT
) RETURNS SETOF {p}jobs LANGUAGE plpgsql VOLATILE AS $body$
BEGIN
    PERFORM 1 FROM {p}tasks t WHERE t.max_running_jobs IS NOT NULL AND (
        EXISTS (SELECT 1 FROM {p}jobs j WHERE j.task_id = t.id AND j.acquired_by IS NULL)
        OR EXISTS (SELECT 1 FROM {p}jobs j WHERE j.task_id = t.id
            AND j.acquired_by IS NOT NULL AND j.started_at IS NULL AND j.acquired_until < p_now))
    ORDER BY t.id FOR UPDATE OF t;
    -- queued: the tasks with unleased jobs, by a loose scan of the queue index; places: how
    -- many more jobs each may start; ready: each task's oldest ready jobs up to its places;
    -- stale: never-started jobs whose lease expired. The oldest of those win.
    RETURN QUERY
    WITH RECURSIVE queued(task_id) AS (
        (SELECT q.task_id FROM {p}jobs q WHERE q.acquired_by IS NULL ORDER BY q.task_id LIMIT 1)
        UNION ALL
        SELECT (SELECT j.task_id FROM {p}jobs j
            WHERE j.acquired_by IS NULL AND j.task_id > queued.task_id
            ORDER BY j.task_id LIMIT 1)
        FROM queued WHERE queued.task_id IS NOT NULL),
    places AS (
        SELECT q.task_id, CASE WHEN t.max_running_jobs IS NULL THEN p_wanted
            ELSE LEAST(p_wanted, t.max_running_jobs - (
                SELECT COUNT(*) FROM {p}jobs r WHERE r.task_id = q.task_id
                  AND r.acquired_by IS NOT NULL AND r.acquired_until IS NOT NULL
                  AND NOT (r.started_at IS NULL AND r.acquired_until < p_now))) END AS free
        FROM queued q LEFT JOIN {p}tasks t ON t.id = q.task_id
        WHERE q.task_id IS NOT NULL),
    ready AS (
        SELECT c.id, c.task_id, c.ready_at, c.seq FROM places p CROSS JOIN LATERAL (
            SELECT j.id, j.task_id, j.ready_at, j.seq FROM {p}jobs j
            WHERE j.task_id = p.task_id AND j.acquired_by IS NULL AND j.ready_at <= p_now
            ORDER BY j.ready_at, j.seq LIMIT GREATEST(p.free, 0)
            FOR UPDATE SKIP LOCKED) c),
    stale AS (
        SELECT s.id, s.task_id, s.ready_at, s.seq FROM {p}jobs s
        WHERE s.started_at IS NULL AND s.acquired_until < p_now AND s.ready_at <= p_now
        ORDER BY s.acquired_until LIMIT p_stale_limit FOR UPDATE SKIP LOCKED),
    ranked AS (
        SELECT c.id, c.ready_at, c.seq,
            ROW_NUMBER() OVER (PARTITION BY c.task_id ORDER BY c.ready_at, c.seq) AS n,
            COALESCE((SELECT p.free FROM places p WHERE p.task_id = c.task_id), p_wanted) AS free
        FROM (SELECT * FROM ready UNION ALL SELECT * FROM stale) c),
    chosen AS (
        SELECT ranked.id FROM ranked WHERE ranked.n <= ranked.free
        ORDER BY ranked.ready_at, ranked.seq LIMIT p_wanted)
    -- Found by id (not joined): a queue that was empty when last vacuumed looks empty to
    -- the planner, which would then scan the whole table once per chosen job.
    UPDATE {p}jobs j SET lease_token = j.lease_token + 1, acquired_by = p_node,
        acquired_until = p_until, started_at = p_started
    WHERE j.id = ANY(ARRAY(SELECT chosen.id FROM chosen))
    RETURNING j.*;
END
$body$;
"#,
    // 3: task actions (command and HTTP tasks of the daemon), node heartbeat records (ids
    // in byte order, as every store lists them), and results newest first (listing the
    // latest results is a bounded index scan). And schedule leases as HOT updates: with no
    // index on the lease columns and room left in each page, taking or extending a
    // schedule's lease rewrites the row in place without touching any index (less WAL per
    // fire time); the next acquirable time finds leases through the due-schedules index.
    r#"
DROP INDEX {p}schedules_leases;
ALTER TABLE {p}schedules SET (fillfactor = 50);

ALTER TABLE {p}tasks ADD COLUMN action JSONB;

CREATE TABLE {p}nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    role TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    lease_duration_us BIGINT NOT NULL,
    max_concurrent_jobs BIGINT NOT NULL,
    running_jobs BIGINT NOT NULL,
    version TEXT NOT NULL
);

CREATE INDEX {p}results_finished ON {p}results (finished_at DESC, job_id DESC);
"#,
];
