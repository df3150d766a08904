//! Fleet state: connected game servers, and the live event stream.

use std::convert::Infallible;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast;

use super::{ApiError, ApiState, ErrorBody, Json};
use crate::auth::{self, Caller, RolePermissions};
use crate::events::LiveEvent;

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

/// How often an open event stream checks that its credentials still hold.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Live events as Server-Sent Events, only those the caller's role may see. Each event's
/// `event:` field is its kind (`game_server.connected`, `audit.appended`, …) and its data a
/// JSON object; `lagged` says how many were skipped when the client fell behind. The stream
/// checks its credentials every second: once the token or session is revoked or expired, or
/// the role changed, it sends `revoked` and ends (reconnect to continue with the new role).
#[utoipa::path(get, path = "/api/v1/events", tag = "fleet",
    responses((status = 200, description = "text/event-stream of live events", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn events(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let live = LiveStream {
        rx: state.events.subscribe(),
        recheck,
        state,
        headers,
        caller,
        ended: false,
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok(event), live))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// One caller's event stream.
struct LiveStream {
    rx: broadcast::Receiver<LiveEvent>,
    recheck: tokio::time::Interval,
    state: ApiState,
    /// The credentials of the request that opened the stream.
    headers: HeaderMap,
    caller: Caller,
    ended: bool,
}

impl LiveStream {
    /// The next event to send, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(ev) if ev.permission.is_none_or(|p| self.caller.role.allows(p)) => {
                        return Some(
                            Event::default()
                                .event(ev.kind.clone())
                                .json_data(serde_json::json!({ "at_ms": ev.at_ms, "data": ev.data }))
                                .unwrap_or_default(),
                        );
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        return Some(Event::default().event("lagged").data(format!("{{\"skipped\":{n}}}")));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.recheck.tick() => {
                    if !self.still_allowed().await {
                        self.ended = true;
                        return Some(Event::default().event("revoked").data(
                            "{\"message\":\"these credentials were revoked, expired or changed role\"}",
                        ));
                    }
                }
            }
        }
    }

    async fn still_allowed(&self) -> bool {
        let now = auth::recheck(
            &self.state.store,
            &self.state.auth,
            &self.headers,
            self.caller.source.clone(),
        )
        .await;
        match now {
            Ok(Some(c)) => c.role == self.caller.role && c.restriction.is_none(),
            Ok(None) => false,
            Err(e) => {
                // Fails closed: a stream whose credentials cannot be checked ends, and the
                // client reconnects once the store answers again.
                if let auth::AuthError::Store(e) = e {
                    tracing::warn!("event stream could not recheck its credentials: {e}");
                }
                false
            }
        }
    }
}
