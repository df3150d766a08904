//! Reading and verifying the audit log.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, ErrorBody, Json, Query, page_limit, parse_cursor};
use crate::audit::{AuditRecord, VerifyReport};
use crate::store::AuditFilter;

/// Audit query parameters; every filter is optional and exact.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditParams {
    /// Who acted.
    pub actor: Option<String>,
    /// What was done (e.g. `auth.login_failed`).
    pub action: Option<String>,
    /// Through what (`dashboard`, `api`, `in_game`, `cli`, `game_server`, `system`).
    pub via: Option<String>,
    /// To what.
    pub target: Option<String>,
    /// At or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Before (Unix ms).
    pub until_ms: Option<i64>,
    /// From a previous page's `next_cursor`.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// This page.
    pub items: Vec<AuditRecord>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Read the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_audit(
    State(state): State<ApiState>,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_limit(p.limit)?;
    let before = parse_cursor(p.cursor.as_deref())?;
    let filter = AuditFilter {
        actor: p.actor,
        action: p.action,
        via: p.via,
        target: p.target,
        since_ms: p.since_ms,
        until_ms: p.until_ms,
    };
    let mut items = state.store.list_audit(&filter, before, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(AuditPage { items, next_cursor }))
}

/// Check the hash chain of the whole audit log.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn verify_audit(
    State(state): State<ApiState>,
) -> Result<Json<VerifyReport>, ApiError> {
    Ok(Json(state.store.verify_audit().await?))
}
