//! The API's error responses: `{"error": "<code>", "detail": "<message>"}` with a 4xx or
//! 5xx status, for horae's errors and for axum's own rejections alike.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use horae::error::{Error, StoreError, ValidationError};
use horae::trigger::{TriggerError, TriggerErrorKind};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// A short machine-readable code: `bad_request`, `invalid_id`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `conflict`, `payload_too_large`,
    /// `unsupported_media_type`, `validation_failed`, `invalid_trigger`, `unavailable`,
    /// `internal`.
    #[schema(example = "not_found")]
    pub(crate) error: String,
    /// What went wrong, for people (names the offending field where there is one).
    #[schema(example = "task 'backup' not found")]
    pub(crate) detail: String,
}

/// An error answered to an API client (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) detail: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// 400: a malformed request (query, path, JSON syntax).
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// 400: an id in the path that breaks the id rules.
    pub(crate) fn invalid_id(error: &ValidationError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", error.to_string())
    }

    /// 404.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 422: well-formed JSON whose content breaks a rule.
    pub(crate) fn validation(detail: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            detail,
        )
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub(crate) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server requires 'Authorization: Bearer <token>'",
        )
    }

    /// 503: the store did not answer.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// The error for a status that axum chose (a rejection), with a code derived from it.
    pub(crate) fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_client_error() => "bad_request",
            _ => "internal",
        };
        ApiError::new(status, code, detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let detail = error.to_string();
        match error {
            StoreError::NotFound { .. } => ApiError::not_found(detail),
            StoreError::Conflict { .. } | StoreError::LeaseLost { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            }
            StoreError::Unavailable(_) => ApiError::unavailable(detail),
            StoreError::Invalid(_) => ApiError::validation(detail),
            _ => {
                tracing::error!(error = %detail, "store failure answering an API request");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
            }
        }
    }
}

impl From<TriggerError> for ApiError {
    fn from(error: TriggerError) -> Self {
        let detail = match error.kind() {
            TriggerErrorKind::MaxIterations => format!("trigger evaluation failed: {error}"),
            _ => format!("invalid trigger: {error}"),
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trigger", detail)
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::validation(error.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => error.into(),
            Error::Trigger(error) => error.into(),
            Error::Validation(error) => error.into(),
            Error::Duration(error) => ApiError::validation(error.to_string()),
            Error::Broker(error) => ApiError::unavailable(error.to_string()),
            other => {
                tracing::error!(error = %other, "failure answering an API request");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    other.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.code.to_owned(),
                detail: self.detail,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The error responses every API operation may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(
    dead_code,
    reason = "only describes responses for the OpenAPI document"
)]
pub(crate) enum CommonErrors {
    /// A malformed request: an invalid id, query parameter or JSON syntax.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// A token is configured and the request carries no valid one.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The data store did not answer.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The error responses of operations with a JSON request body, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(
    dead_code,
    reason = "only describes responses for the OpenAPI document"
)]
pub(crate) enum BodyErrors {
    /// The body is larger than 1 MiB.
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// The JSON is well-formed but breaks a rule: a missing or unknown field, a wrong type,
    /// an invalid trigger, duration or task definition.
    #[response(status = 422)]
    Invalid(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;
    use horae::error::ObjectKind;

    #[test]
    fn store_errors_map_to_their_status() {
        let cases = [
            (
                StoreError::NotFound {
                    kind: ObjectKind::Task,
                    id: "t".into(),
                },
                StatusCode::NOT_FOUND,
            ),
            (
                StoreError::Conflict {
                    kind: ObjectKind::Schedule,
                    id: "s".into(),
                },
                StatusCode::CONFLICT,
            ),
            (
                StoreError::Unavailable("down".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::Invalid("bad".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                StoreError::Other("disk".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status, status);
        }
    }

    #[test]
    fn trigger_errors_are_unprocessable_and_name_the_field() {
        let error = horae::trigger::Trigger::parse(
            r#"{"type":"cron","minute":"61"}"#,
            jiff::Timestamp::UNIX_EPOCH,
        )
        .err();
        let Some(error) = error else {
            panic!("minute 61 must be rejected")
        };
        let api = ApiError::from(Error::Trigger(error));
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(api.code, "invalid_trigger");
        assert!(api.detail.contains("minute"), "{}", api.detail);
    }
}
