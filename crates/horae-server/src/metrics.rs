//! Prometheus metrics: the process-wide recorder behind the `metrics` facade, and the
//! `/metrics` route that renders it.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Upper bounds (seconds) of the run-time histogram's buckets.
const RUN_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Upper bounds (seconds) of the lateness histogram's buckets.
const LATENESS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The metrics horae records, with their kind and help text (see the crate docs).
pub(crate) const METRICS: &[(&str, &str, &str)] = &[
    (
        "horae_jobs_started_total",
        "counter",
        "Job attempts started on this node, by task.",
    ),
    (
        "horae_jobs_finished_total",
        "counter",
        "Job attempts finished on this node, by task and outcome.",
    ),
    (
        "horae_job_run_seconds",
        "histogram",
        "Run time of job attempts (finished_at - started_at), by task.",
    ),
    (
        "horae_job_start_lateness_seconds",
        "histogram",
        "How late scheduled jobs started (started_at - scheduled fire time), by task.",
    ),
    (
        "horae_jobs_running",
        "gauge",
        "Jobs running on this node now.",
    ),
    (
        "horae_schedules_due",
        "gauge",
        "Due schedules this node took in its latest schedule pass.",
    ),
    (
        "horae_schedules_processed_total",
        "counter",
        "Due schedules this node processed (released with a new fire time).",
    ),
    (
        "horae_schedule_jobs_added_total",
        "counter",
        "Jobs created from schedules by this node.",
    ),
    (
        "horae_lease_extensions_total",
        "counter",
        "Job leases extended by this node's lease keeper.",
    ),
    (
        "horae_lease_losses_total",
        "counter",
        "Job leases this node lost (another node owns the job now).",
    ),
    (
        "horae_store_errors_total",
        "counter",
        "Failed data store operations of the engine's loops, by operation.",
    ),
];

/// Why the metrics recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder: {0}")]
pub struct MetricsError(String);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder behind the `metrics` facade (once; later
/// calls return the same handle) and returns the handle to pass to
/// [`AppState::with_metrics`]. Run-time and lateness histograms get fixed buckets, so they
/// render as Prometheus histograms; [`serve`](crate::serve) runs the recorder's upkeep.
///
/// # Errors
///
/// [`MetricsError`] when another `metrics` recorder is already installed in this process.
///
/// # Example
///
/// ```
/// let handle = horae_server::install_metrics()?;
/// let again = horae_server::install_metrics()?;
/// assert_eq!(handle.render(), again.render());
/// # Ok::<(), horae_server::MetricsError>(())
/// ```
pub fn install_metrics() -> Result<PrometheusHandle, MetricsError> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("horae_job_run_seconds".to_owned()),
            RUN_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("horae_job_start_lateness_seconds".to_owned()),
                LATENESS_BUCKETS,
            )
        })
        .map_err(|e| MetricsError(e.to_string()))?
        .install_recorder()
        .map_err(|e| MetricsError(e.to_string()))?;
    describe();
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

fn describe() {
    for (name, kind, help) in METRICS {
        match *kind {
            "counter" => metrics::describe_counter!(*name, *help),
            "gauge" => metrics::describe_gauge!(*name, *help),
            _ => metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help),
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format (version 0.0.4).",
            body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "A token is configured and the request carries no valid one.", body = ErrorBody),
        (status = 404, description = "The server was started without metrics.", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = state.metrics() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled on this server",
        )
        .into_response();
    };
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
