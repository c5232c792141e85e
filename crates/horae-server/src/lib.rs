//! HTTP API, live events, web dashboard and Prometheus metrics for a horae node
//! (DESIGN.md section 7).
//!
//! # Entry point
//!
//! The daemon builds an [`AppState`] from its [`Scheduler`](horae::scheduler::Scheduler),
//! checks the bind address with [`check_bind`], and runs [`serve`] until shutdown:
//!
//! ```no_run
//! # async fn daemon(scheduler: horae::scheduler::Scheduler, token: Option<String>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let addr: std::net::SocketAddr = "127.0.0.1:8731".parse()?;
//! horae_server::check_bind(addr, token.as_deref())?; // non-loopback needs a token
//! let metrics = horae_server::install_metrics()?; // once per process, before the scheduler runs
//! let state = horae_server::AppState::new(scheduler)
//!     .with_token(token)
//!     .with_metrics(metrics);
//! let listener = tokio::net::TcpListener::bind(addr).await?;
//! horae_server::serve(listener, state, std::future::pending()).await?; // e.g. ctrl-c
//! # Ok(()) }
//! ```
//!
//! [`router`] gives the bare [`axum::Router`] (for tests or to mount elsewhere).
//!
//! # Routes
//!
//! | path | what |
//! |---|---|
//! | `GET /api/v1/tasks`, `POST /api/v1/tasks` | list, create (409 if it exists) |
//! | `GET/PUT/DELETE /api/v1/tasks/{id}` | read, create or replace (body without `id`), remove |
//! | `GET /api/v1/schedules`, `POST /api/v1/schedules` | list, create (`{task_id, trigger, ...}`) |
//! | `GET/DELETE /api/v1/schedules/{id}` | read, remove |
//! | `POST /api/v1/schedules/{id}/pause`, `.../resume[?skip_missed=true]` | pause, resume |
//! | `GET /api/v1/schedules/{id}/preview?count=N` | next N (≤ 1000) fire times |
//! | `POST /api/v1/triggers/preview` | fire times of a trigger specification |
//! | `GET /api/v1/jobs?limit=N`, `POST /api/v1/jobs` | list, add (`{task_id, args, kwargs}`) |
//! | `GET /api/v1/jobs/{id}` | a queued or running job |
//! | `GET /api/v1/results?limit=N`, `GET /api/v1/results/{job_id}[?wait=true&timeout=S]` | results |
//! | `GET /api/v1/nodes` | node heartbeats with an `alive` flag |
//! | `GET /api/v1/events[?types=a,b]` | Server-Sent Events (`event:` type, `data:` JSON) |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document ([`openapi`]) |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | liveness, store reachable, Prometheus |
//! | `GET /`, `POST /ui/schedules/{id}/pause` and `/resume`, `/login`, `/logout` | dashboard |
//!
//! JSON uses the model's field names. Every error is `{"error": code, "detail": message}`
//! with a 4xx status for bad input (400 malformed, 401 no token, 404, 409 conflict, 413
//! body over 1 MiB, 415 not JSON, 422 invalid content) and 503 when the store is down.
//! Unknown JSON fields and query parameters are rejected.
//!
//! The OpenAPI document describes every request and response closely enough that
//! schemathesis finds no server error, no response that breaks its schema and no
//! schema-violating request that is accepted. Its `positive_data_acceptance` check cannot
//! pass in general: some rules JSON Schema cannot state (cron field syntax, time zone
//! names, `retry.initial` ≤ `retry.max`, an end before the start, durations beyond about
//! 292,000 years, `3.0` where an integer belongs) are refused with 422 — run it with
//! `--exclude-checks positive_data_acceptance`.
//!
//! # Security
//!
//! With a token ([`AppState::with_token`]) every path except `/healthz` (and the login
//! page) requires `Authorization: Bearer <token>`, compared in constant time; the dashboard's
//! login form sets an `HttpOnly; SameSite=Strict` cookie holding it. Unauthenticated API
//! calls get 401, dashboard pages redirect to `/login`. Requests that change something and
//! carry an `Origin` header of another host (a browser on another site) are refused with
//! 403, with or without a token.
//!
//! # Metrics
//!
//! [`install_metrics`] installs the process-wide recorder behind the `metrics` facade; the
//! engine in `horae` records:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `horae_jobs_started_total` | counter | `task` |
//! | `horae_jobs_finished_total` | counter | `task`, `outcome` |
//! | `horae_job_run_seconds` | histogram | `task` |
//! | `horae_job_start_lateness_seconds` | histogram (started − scheduled fire time) | `task` |
//! | `horae_jobs_running` | gauge | |
//! | `horae_schedules_due` | gauge (due schedules this node took in its latest pass) | |
//! | `horae_schedules_processed_total` | counter | |
//! | `horae_schedule_jobs_added_total` | counter | |
//! | `horae_lease_extensions_total` | counter | |
//! | `horae_lease_losses_total` | counter | |
//! | `horae_store_errors_total` | counter | `operation` |

mod api;
mod auth;
mod dashboard;
mod error;
mod extract;
mod health;
mod metrics;
mod schema;
mod state;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use crate::auth::{BindError, check_bind};
pub use crate::metrics::{MetricsError, install_metrics};
pub use crate::state::AppState;
pub use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::ApiError;

/// The largest request body accepted (1 MiB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI 3.1 document of the API (as served at `/api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::routes().split_for_parts().1
}

/// The complete router: API, OpenAPI document, events, health, metrics and dashboard, with
/// the body limit and the authentication guard applied to every route.
pub fn router(state: AppState) -> Router {
    let (documented, _) = api::routes().split_for_parts();
    Router::new()
        .merge(documented)
        .route("/", get(dashboard::page))
        .route("/ui/schedules/{id}/pause", post(dashboard::pause))
        .route("/ui/schedules/{id}/resume", post(dashboard::resume))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}

async fn not_found(uri: Uri) -> impl IntoResponse {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Serves [`router`] on `listener` until `shutdown` completes, then finishes the requests
/// under way (open event streams are closed). While it runs, the metrics recorder's upkeep
/// runs every 5 seconds.
///
/// # Errors
///
/// The listener's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = state.shutdown().clone();
    if let Some(handle) = state.metrics().cloned() {
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
                }
            }
        });
    }
    let app = router(state);
    let stopping = stop.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping.cancel();
        })
        .await;
    stop.cancel();
    result
}
