//! Fleet state: connected game servers, and the live event stream.

use std::convert::Infallible;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::{ApiError, ApiState, ErrorBody, Json};
use crate::auth::{Caller, RolePermissions};

/// A connected game server.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerView {
    /// Id in the fleet.
    pub server_id: String,
    /// Display name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Game build.
    pub game_build: String,
    /// SDK version.
    pub sdk_version: String,
    /// Key it authenticated with.
    pub key_name: String,
    /// Its address.
    pub remote_addr: String,
}

/// Game servers connected now.
#[utoipa::path(get, path = "/api/v1/servers", tag = "fleet",
    responses((status = 200, body = Vec<ServerView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_servers(
    State(state): State<ApiState>,
) -> Result<Json<Vec<ServerView>>, ApiError> {
    Ok(Json(
        state
            .gateway
            .connected()
            .into_iter()
            .map(|s| ServerView {
                server_id: s.server_id,
                name: s.name,
                region: s.region,
                game_build: s.game_build,
                sdk_version: s.sdk_version,
                key_name: s.key_name,
                remote_addr: s.remote_addr.to_string(),
            })
            .collect(),
    ))
}

/// Live events as Server-Sent Events, only those the caller's role may see. Each event's
/// `event:` field is its kind (`game_server.connected`, `audit.appended`, …) and its data a
/// JSON object; `lagged` says how many were skipped when the client fell behind.
#[utoipa::path(get, path = "/api/v1/events", tag = "fleet",
    responses((status = 200, description = "text/event-stream of live events", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn events(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let role = caller.role;
    let stream =
        BroadcastStream::new(state.events.subscribe()).filter_map(move |item| match item {
            Ok(ev) if ev.permission.is_none_or(|p| role.allows(p)) => Some(Ok(Event::default()
                .event(ev.kind.clone())
                .json_data(serde_json::json!({ "at_ms": ev.at_ms, "data": ev.data }))
                .unwrap_or_default())),
            Ok(_) => None,
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(Event::default()
                    .event("lagged")
                    .data(format!("{{\"skipped\":{n}}}"))))
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
