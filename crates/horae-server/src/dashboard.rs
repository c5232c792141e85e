//! The web dashboard at `/`: schedules (with pause/resume), running jobs, recent results,
//! nodes and a trigger preview, rendered on the server from askama templates. The forms
//! work without JavaScript; a few lines of script refresh the page on live events.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use horae::model::{JobOutcome, ScheduleId};
use horae::trigger::Trigger;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::api::schedules::{fire_times, preview_count};
use crate::auth::{self, html_error};
use crate::error::ApiError;
use crate::state::AppState;

/// The most schedules and recent results listed.
const MAX_ROWS: usize = 500;
/// The recent results listed.
const RESULT_ROWS: usize = 50;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    node_id: String,
    version: &'static str,
    now: String,
    logged_in: bool,
    problems: Vec<String>,
    schedules: Vec<ScheduleRow>,
    schedule_total: usize,
    running: Vec<RunningRow>,
    queued: usize,
    results: Vec<ResultRow>,
    nodes: Vec<NodeRow>,
    preview_trigger: String,
    preview_count: usize,
    preview_times: Vec<String>,
    preview_error: String,
}

struct ScheduleRow {
    id: String,
    task_id: String,
    trigger_summary: String,
    trigger_json: String,
    next_fire: String,
    next_rel: String,
    last_fire: String,
    paused: bool,
}

struct RunningRow {
    id: String,
    task_id: String,
    schedule_id: String,
    attempt: u32,
    node: String,
    started: String,
    started_rel: String,
    lease_until: String,
    lease_rel: String,
}

struct ResultRow {
    job_id: String,
    task_id: String,
    outcome: &'static str,
    failed: bool,
    attempt: u32,
    finished: String,
    finished_rel: String,
    duration: String,
    error: String,
}

struct NodeRow {
    id: String,
    role: &'static str,
    alive: bool,
    heartbeat: String,
    heartbeat_rel: String,
    running: u32,
    max: u32,
    started: String,
    version: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    required: bool,
    next: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: String,
    message: &'a str,
}

/// A timestamp to the second, `2026-01-01 03:00:00Z`.
fn show(at: Timestamp) -> String {
    let text = at.to_string();
    let text = text
        .split('.')
        .next()
        .unwrap_or(&text)
        .trim_end_matches('Z');
    format!("{}Z", text.replacen('T', " ", 1))
}

/// `in 5s`, `3m ago`, `now`.
fn relative(at: Timestamp, now: Timestamp) -> String {
    let seconds = at.as_second() - now.as_second();
    let amount = seconds.unsigned_abs();
    let span = match amount {
        0 => return "now".to_owned(),
        1..60 => format!("{amount}s"),
        60..3600 => format!("{}m", amount / 60),
        3600..86_400 => format!("{}h", amount / 3600),
        _ => format!("{}d", amount / 86_400),
    };
    if seconds > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

fn summarize(trigger: &Trigger) -> (String, String) {
    let json = trigger.to_json();
    let text = serde_json::to_string(&json).unwrap_or_default();
    let summary = match &json {
        Value::Object(map) => {
            let kind = trigger.type_name();
            let detail: Vec<String> = map
                .iter()
                .filter(|(key, _)| {
                    !matches!(
                        key.as_str(),
                        "type" | "start_time" | "next_fire_times" | "last_fire_time" | "completed"
                    )
                })
                .map(|(key, value)| match value {
                    Value::String(s) => format!("{key}={s}"),
                    other => format!("{key}={other}"),
                })
                .collect();
            let detail = detail.join(" ");
            if detail.chars().count() > 120 {
                format!("{kind} {}…", detail.chars().take(120).collect::<String>())
            } else {
                format!("{kind} {detail}")
            }
        }
        _ => trigger.type_name().to_owned(),
    };
    (summary, text)
}

/// Query of the dashboard: the trigger preview form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DashboardQuery {
    trigger: Option<String>,
    count: Option<String>,
}

/// `GET /`: the dashboard.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DashboardQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = query.map(|q| q.0).unwrap_or_default();
    let scheduler = state.scheduler();
    let store = scheduler.store();
    let now = scheduler.now();
    let mut problems = Vec::new();
    let mut note = |what: &str, error: &dyn std::fmt::Display| {
        problems.push(format!("could not load {what}: {error}"));
    };

    let mut schedules = store.get_schedules().await.unwrap_or_else(|e| {
        note("schedules", &e);
        Vec::new()
    });
    let schedule_total = schedules.len();
    schedules.truncate(MAX_ROWS);
    let schedules = schedules
        .iter()
        .map(|s| {
            let (trigger_summary, trigger_json) = summarize(&s.trigger);
            ScheduleRow {
                id: s.id.to_string(),
                task_id: s.task_id.to_string(),
                trigger_summary,
                trigger_json,
                next_fire: s.next_fire_time.map(show).unwrap_or_default(),
                next_rel: s
                    .next_fire_time
                    .map(|t| relative(t, now))
                    .unwrap_or_default(),
                last_fire: s.last_fire_time.map(show).unwrap_or_default(),
                paused: s.paused,
            }
        })
        .collect();

    let jobs = store.get_jobs().await.unwrap_or_else(|e| {
        note("jobs", &e);
        Vec::new()
    });
    let queued = jobs.iter().filter(|j| j.started_at.is_none()).count();
    let running = jobs
        .iter()
        .filter_map(|job| {
            let started = job.started_at?;
            Some(RunningRow {
                id: job.id.to_string(),
                task_id: job.task_id.to_string(),
                schedule_id: job
                    .schedule_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                attempt: job.attempt,
                node: job.acquired_by.clone().unwrap_or_default(),
                started: show(started),
                started_rel: relative(started, now),
                lease_until: job.acquired_until.map(show).unwrap_or_default(),
                lease_rel: job
                    .acquired_until
                    .map(|t| relative(t, now))
                    .unwrap_or_default(),
            })
        })
        .take(MAX_ROWS)
        .collect();

    let results = store
        .get_job_results(RESULT_ROWS)
        .await
        .unwrap_or_else(|e| {
            note("results", &e);
            Vec::new()
        })
        .into_iter()
        .map(|r| ResultRow {
            job_id: r.job_id.to_string(),
            task_id: r.task_id.to_string(),
            outcome: r.outcome.as_str(),
            failed: r.outcome != JobOutcome::Success,
            attempt: r.attempt,
            finished: show(r.finished_at),
            finished_rel: relative(r.finished_at, now),
            duration: r
                .started_at
                .map(|started| {
                    let run = r.finished_at.duration_since(started);
                    format!("{:.3} s", run.as_secs_f64())
                })
                .unwrap_or_default(),
            error: r
                .error
                .as_deref()
                .map(|e| e.chars().take(300).collect())
                .unwrap_or_default(),
        })
        .collect();

    let nodes = store
        .get_nodes()
        .await
        .unwrap_or_else(|e| {
            note("nodes", &e);
            Vec::new()
        })
        .into_iter()
        .map(|n| NodeRow {
            alive: n.is_alive(now),
            role: n.role.as_str(),
            heartbeat: show(n.last_heartbeat),
            heartbeat_rel: relative(n.last_heartbeat, now),
            running: n.running_jobs,
            max: n.max_concurrent_jobs,
            started: show(n.started_at),
            version: n.version,
            id: n.id,
        })
        .collect();

    let (preview_count, count_error) = match query.count.as_deref().map(str::trim) {
        None | Some("") => (10, None),
        Some(text) => match text.parse::<usize>().ok().map(|n| preview_count(Some(n))) {
            Some(Ok(n)) => (n, None),
            Some(Err(e)) => (10, Some(e.detail)),
            None => (10, Some(format!("count: {text:?} is not a number"))),
        },
    };
    let preview_trigger = query.trigger.unwrap_or_default();
    let (preview_times, preview_error) = match (preview_trigger.trim(), count_error) {
        ("", _) => (Vec::new(), String::new()),
        (_, Some(error)) => (Vec::new(), error),
        (text, None) => match Trigger::parse(text, now)
            .map_err(ApiError::from)
            .and_then(|mut t| fire_times(&mut t, preview_count))
        {
            Ok(times) => (times, String::new()),
            Err(error) => (Vec::new(), error.detail),
        },
    };

    let page = DashboardPage {
        node_id: scheduler.config().node_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        now: show(now),
        logged_in: state
            .token()
            .is_some_and(|token| auth::is_authenticated(&headers, token)),
        problems,
        schedules,
        schedule_total,
        running,
        queued,
        results,
        nodes,
        preview_trigger,
        preview_count,
        preview_times,
        preview_error,
    };
    render(&page, StatusCode::OK)
}

fn render(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render a dashboard template");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the page; see the server log",
            )
                .into_response()
        }
    }
}

/// The login page, with an error message and its status when a login failed.
pub(crate) fn render_login(
    required: bool,
    next: &str,
    failure: Option<(StatusCode, &str)>,
) -> Response {
    let (status, message) = failure.unwrap_or((StatusCode::OK, ""));
    render(
        &LoginPage {
            required,
            next,
            message,
        },
        status,
    )
}

/// A small HTML error page.
pub(crate) fn render_error(status: StatusCode, message: &str) -> String {
    ErrorPage {
        status: status.to_string(),
        message,
    }
    .render()
    .unwrap_or_else(|_| format!("{status}: {message}"))
}

async fn set_paused(state: &AppState, id: &str, pause: bool) -> Response {
    let id = match ScheduleId::new(id) {
        Ok(id) => id,
        Err(error) => return html_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let scheduler = state.scheduler();
    let outcome = if pause {
        scheduler.pause_schedule(&id).await
    } else {
        scheduler.resume_schedule(&id, false).await
    };
    match outcome {
        Ok(_) => Redirect::to(&format!("/#schedule-{id}")).into_response(),
        Err(error) => {
            let error = ApiError::from(error);
            html_error(error.status, &error.detail)
        }
    }
}

/// `POST /ui/schedules/{id}/pause`: pauses, then back to the dashboard.
pub(crate) async fn pause(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    set_paused(&state, &id, true).await
}

/// `POST /ui/schedules/{id}/resume`: resumes, then back to the dashboard.
pub(crate) async fn resume(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    set_paused(&state, &id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_to_the_second() {
        let at: Timestamp = "2026-01-01T03:04:05.678Z".parse().unwrap();
        assert_eq!(show(at), "2026-01-01 03:04:05Z");
        let whole: Timestamp = "2026-01-01T03:04:05Z".parse().unwrap();
        assert_eq!(show(whole), "2026-01-01 03:04:05Z");
        assert_eq!(relative(whole, at), "now");
        let later: Timestamp = "2026-01-01T03:06:05Z".parse().unwrap();
        assert_eq!(relative(later, whole), "in 2m");
        assert_eq!(relative(whole, later), "2m ago");
    }
}
