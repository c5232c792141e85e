//! `/api/v1/events`: every event as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use horae::event::EventKind;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, CommonErrors};
use crate::extract::ApiQuery;
use crate::schema::{EventTypesDoc, SseEventDoc};
use crate::state::AppState;

/// Query of `GET /events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Comma-separated event types to receive, e.g. `job_released,schedule_updated`
    /// (omitted or empty: all).
    #[param(value_type = Option<EventTypesDoc>)]
    #[serde(default)]
    types: Option<String>,
}

/// Parses a comma-separated list of event types (exact names, no blanks); omitted or
/// empty means all.
pub(crate) fn parse_types(types: Option<&str>) -> Result<Vec<EventKind>, ApiError> {
    let types = match types {
        None | Some("") => return Ok(EventKind::ALL.to_vec()),
        Some(types) => types,
    };
    let mut kinds = Vec::new();
    for name in types.split(',') {
        let kind = name
            .parse::<EventKind>()
            .map_err(|e| ApiError::bad_request(format!("types: {e}")))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Stream events
///
/// Server-Sent Events: each event's `event:` field is its type (`job_released`, ...) and
/// its `data:` field the event as JSON (`{"type": "job_released", "timestamp": ..., ...}`).
/// A comment line keeps the connection alive every 15 s. The stream does not end; events
/// that arrive while the client is too slow are skipped.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "An endless text/event-stream; each event is described by SseEvent.",
            body = SseEventDoc, content_type = "text/event-stream"),
        CommonErrors,
    ),
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let kinds = parse_types(query.types.as_deref())?;
    let subscription = state.scheduler().subscribe_to(&kinds);
    let stream = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.recv().await?;
        let sse = match serde_json::to_string(&*event) {
            Ok(json) => SseEvent::default().event(event.kind().as_str()).data(json),
            Err(error) => SseEvent::default().comment(format!("unserializable event: {error}")),
        };
        Some((Ok(sse), subscription))
    });
    // Ends when the server shuts down, so a graceful shutdown does not wait for clients.
    let stream =
        futures_util::StreamExt::take_until(stream, state.shutdown().clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
