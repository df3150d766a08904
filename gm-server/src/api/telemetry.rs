//! Game telemetry: the Prometheus exposition and event counts.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, ErrorBody, Json, Query};
use crate::store::{EventCountQuery, EventCountRow};
use crate::telemetry::events::BUCKET_MS;

/// gm-server's operational metrics and every game server's metrics (labelled `server`,
/// `region`, `build`), in the Prometheus text format. Scrape it with a bearer token of a
/// viewer (see docs/monitoring.md).
#[utoipa::path(get, path = "/metrics", tag = "telemetry",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let body = crate::telemetry::render(&state.gateway, &state.store, &state.http);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Which event counts to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventCountParams {
    /// Only this game server.
    pub server: Option<String>,
    /// Only this event name.
    pub name: Option<String>,
    /// From (inclusive), Unix ms, rounded down to a whole bucket; default an hour before
    /// `to_ms`.
    pub from_ms: Option<i64>,
    /// To (exclusive), Unix ms; default now.
    pub to_ms: Option<i64>,
    /// Bucket width in seconds: a multiple of 10, at most 86400; default 60.
    #[param(minimum = 10, maximum = 86400, multiple_of = 10)]
    pub bucket_s: Option<i64>,
}

/// Event counts per name per time bucket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventCounts {
    /// Bucket width, seconds.
    pub bucket_s: i64,
    /// Oldest first; buckets without events are left out.
    pub rows: Vec<EventCountRow>,
    /// Whether rows were cut at the limit (10,000): narrow the range or widen the buckets.
    pub truncated: bool,
}

const MAX_ROWS: i64 = 10_000;

/// Count game events per name per time bucket, optionally for one game server. Counts are
/// up to date within about a second of the events arriving.
#[utoipa::path(get, path = "/api/v1/telemetry/events", tag = "telemetry", params(EventCountParams),
    responses((status = 200, body = EventCounts), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn event_counts(
    State(state): State<ApiState>,
    Query(p): Query<EventCountParams>,
) -> Result<Json<EventCounts>, ApiError> {
    let bucket_s = p.bucket_s.unwrap_or(60);
    if !(10..=86_400).contains(&bucket_s) || (bucket_s * 1000) % BUCKET_MS != 0 {
        return Err(ApiError::bad_request(
            "invalid_bucket",
            "bucket_s must be a multiple of 10 between 10 and 86400",
        ));
    }
    let to_ms = p.to_ms.unwrap_or_else(crate::store::now_ms);
    let from_ms = p.from_ms.unwrap_or(to_ms.saturating_sub(3_600_000));
    // Whole buckets only: a start inside one would return part of it.
    let bucket_ms = bucket_s * 1000;
    let from_ms = from_ms.saturating_sub(from_ms.rem_euclid(bucket_ms));
    if from_ms >= to_ms {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from_ms must be before to_ms",
        ));
    }
    let mut rows = state
        .store
        .event_counts(&EventCountQuery {
            server: p.server,
            name: p.name,
            from_ms,
            to_ms,
            bucket_ms,
            limit: MAX_ROWS + 1,
        })
        .await?;
    let truncated = rows.len() as i64 > MAX_ROWS;
    rows.truncate(MAX_ROWS as usize);
    Ok(Json(EventCounts {
        bucket_s,
        rows,
        truncated,
    }))
}
