//! `/healthz`, `/readyz` and the OpenAPI document.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use horae::model::TaskId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The body of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness
///
/// 200 while the process serves HTTP; never requires the token.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive.", body = Health)),
    security(()),
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness
///
/// 200 when the data store answers a lookup within the readiness timeout (2 s by
/// default), 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The store is reachable.", body = Health),
        (status = 401, description = "A token is configured and the request carries no valid one.", body = ErrorBody),
        (status = 503, description = "The store did not answer in time or failed.", body = ErrorBody),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.scheduler().store().clone();
    let probe = async move {
        let id = TaskId::new("horae-readiness-probe").map_err(|e| e.to_string())?;
        store
            .get_task(&id)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(state.ready_timeout(), probe).await {
        Ok(Ok(())) => Json(Health { status: "ok" }).into_response(),
        Ok(Err(error)) => {
            ApiError::unavailable(format!("store check failed: {error}")).into_response()
        }
        Err(_elapsed) => ApiError::unavailable(format!(
            "the store did not answer within {:?}",
            state.ready_timeout()
        ))
        .into_response(),
    }
}

/// The OpenAPI document as JSON, made once.
pub(crate) fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        crate::openapi().to_pretty_json().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot serialize the OpenAPI document");
            "{}".to_owned()
        })
    })
}

/// OpenAPI document
///
/// This document (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json"),
        (status = 401, description = "A token is configured and the request carries no valid one.", body = ErrorBody),
    ),
)]
pub(crate) async fn openapi_json() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        openapi_text(),
    )
        .into_response()
}
