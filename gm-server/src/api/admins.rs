//! Staff accounts and their links to in-game player accounts.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, ErrorBody, Json, Path, Query, page_limit, parse_cursor};
use crate::auth::{Caller, Permission, Role, check_admin_name, secret};
use crate::store::{AdminRecord, now_ms};

/// An admin account as the API shows it (no secrets).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminView {
    /// Id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Whether a TOTP second factor is enrolled.
    pub totp_enabled: bool,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Whether it is locked after failed logins.
    pub locked: bool,
    /// Whether it still has a one-time password.
    pub must_change_password: bool,
    /// Creation (Unix ms).
    pub created_at_ms: i64,
}

impl From<&AdminRecord> for AdminView {
    fn from(a: &AdminRecord) -> AdminView {
        AdminView {
            id: a.id,
            name: a.name.clone(),
            role: a.role.clone(),
            totp_enabled: a.totp_secret.is_some(),
            disabled: a.disabled,
            locked: a.locked_until_ms.is_some_and(|t| t > now_ms()),
            must_change_password: a.must_change_password,
            created_at_ms: a.created_at_ms,
        }
    }
}

/// A page of admins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminPage {
    /// This page.
    pub items: Vec<AdminView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Page parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    /// From a previous page's `next_cursor`.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// List staff accounts.
#[utoipa::path(get, path = "/api/v1/admins", tag = "admins", params(PageParams),
    responses((status = 200, body = AdminPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_admins(
    State(state): State<ApiState>,
    Query(page): Query<PageParams>,
) -> Result<Json<AdminPage>, ApiError> {
    let limit = page_limit(page.limit)?;
    let after = parse_cursor(page.cursor.as_deref())?.unwrap_or(0);
    let rows = state.store.list_admins(after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AdminView> = rows
        .iter()
        .take(limit as usize)
        .map(AdminView::from)
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|a| a.id.to_string()))
        .flatten();
    Ok(Json(AdminPage { items, next_cursor }))
}

/// A new staff account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAdmin {
    /// Login name: 1 to 64 of A-Z a-z 0-9 _ . -
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub name: String,
    /// Role.
    pub role: Role,
}

/// A created account with its one-time password, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAdmin {
    /// The account.
    pub admin: AdminView,
    /// Must be changed at first login.
    pub one_time_password: String,
}

/// Create a staff account. (The first admin can only be created with the CLI on the server.)
#[utoipa::path(post, path = "/api/v1/admins", tag = "admins", request_body = NewAdmin,
    responses((status = 201, body = CreatedAdmin), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn create_admin(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<NewAdmin>,
) -> Result<(StatusCode, Json<CreatedAdmin>), ApiError> {
    check_admin_name(&req.name).map_err(|m| ApiError::bad_request("invalid_name", m))?;
    let password = secret::one_time_password();
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || secret::hash_password(&pw))
        .await
        .map_err(ApiError::internal)?;
    let admin = state
        .store
        .create_admin(&req.name, req.role.as_str(), &hash, true, now_ms())
        .await?;
    let entry = ApiState::entry(&caller, "admin.create", format!("admin:{}", admin.name))
        .params(serde_json::json!({ "role": req.role }));
    state.audit(entry).await?;
    state.events.publish(
        "staff.changed",
        Permission::ManageStaff,
        serde_json::json!({ "admin": admin.name, "change": "created" }),
    );
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdmin {
            admin: AdminView::from(&admin),
            one_time_password: password,
        }),
    ))
}

/// One staff account with its player links.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminDetail {
    /// The account.
    pub admin: AdminView,
    /// Linked in-game player account ids.
    pub player_links: Vec<i64>,
}

/// One staff account.
#[utoipa::path(get, path = "/api/v1/admins/{id}", tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    responses((status = 200, body = AdminDetail), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn get_admin(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Json<AdminDetail>, ApiError> {
    let admin = state.admin(id).await?;
    Ok(Json(AdminDetail {
        admin: AdminView::from(&admin),
        player_links: state.store.player_links(id).await?,
    }))
}

/// Changes to a staff account; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AdminChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or enable (false). Disabling ends the account's sessions.
    pub disabled: Option<bool>,
}

/// Change a staff account's role or disable it.
#[utoipa::path(patch, path = "/api/v1/admins/{id}", tag = "admins", request_body = AdminChange,
    params(("id" = i64, Path, description = "Admin id")),
    responses((status = 200, body = AdminView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn update_admin(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<AdminChange>,
) -> Result<Json<AdminView>, ApiError> {
    if id == caller.admin_id
        && (req.disabled == Some(true) || req.role.is_some_and(|r| r < Role::Admin))
    {
        return Err(ApiError::bad_request(
            "self_lockout",
            "you cannot disable or demote yourself; ask another admin",
        ));
    }
    let found = state
        .store
        .update_admin(id, req.role.map(Role::as_str), req.disabled)
        .await?;
    if !found {
        return Err(ApiError::not_found("admin"));
    }
    if req.disabled == Some(true) {
        state.store.revoke_all_sessions(id, now_ms()).await?;
    }
    let admin = state.admin(id).await?;
    let entry = ApiState::entry(&caller, "admin.update", format!("admin:{}", admin.name))
        .params(serde_json::json!({ "role": req.role, "disabled": req.disabled }));
    state.audit(entry).await?;
    state.events.publish(
        "staff.changed",
        Permission::ManageStaff,
        serde_json::json!({ "admin": admin.name, "change": "updated" }),
    );
    state.gateway.push_roster();
    Ok(Json(AdminView::from(&admin)))
}

/// Unlock an account locked after failed logins.
#[utoipa::path(post, path = "/api/v1/admins/{id}/unlock", tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    responses((status = 204, description = "Unlocked"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn unlock_admin(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let admin = state.admin(id).await?;
    state.store.set_login_failures(id, 0, None, None).await?;
    state
        .audit(ApiState::entry(
            &caller,
            "admin.unlock",
            format!("admin:{}", admin.name),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An in-game account to link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewLink {
    /// The player's account id in the game.
    #[schema(minimum = 0)]
    pub account_id: i64,
}

/// In-game player accounts linked to a staff account: commands typed in game by those players
/// are authorized with this account's role.
#[utoipa::path(get, path = "/api/v1/admins/{id}/player-links", tag = "admins",
    params(("id" = i64, Path, description = "Admin id")),
    responses((status = 200, body = Vec<i64>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn list_links(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<i64>>, ApiError> {
    state.admin(id).await?;
    Ok(Json(state.store.player_links(id).await?))
}

/// Link an in-game player account to a staff account.
#[utoipa::path(post, path = "/api/v1/admins/{id}/player-links", tag = "admins",
    request_body = NewLink, params(("id" = i64, Path, description = "Admin id")),
    responses((status = 201, description = "Linked"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn add_link(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<NewLink>,
) -> Result<StatusCode, ApiError> {
    if req.account_id < 0 {
        return Err(ApiError::bad_request(
            "invalid_account",
            "account ids are not negative",
        ));
    }
    let admin = state.admin(id).await?;
    state
        .store
        .link_player(id, req.account_id, now_ms())
        .await?;
    state.gateway.push_roster();
    let entry = ApiState::entry(&caller, "player_link.add", format!("admin:{}", admin.name))
        .params(serde_json::json!({ "account_id": req.account_id }));
    state.audit(entry).await?;
    Ok(StatusCode::CREATED)
}

/// Remove a player link.
#[utoipa::path(delete, path = "/api/v1/admins/{id}/player-links/{account_id}", tag = "admins",
    params(("id" = i64, Path, description = "Admin id"),
        ("account_id" = i64, Path, description = "Player account id")),
    responses((status = 204, description = "Unlinked"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn remove_link(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((id, account_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    if !state.store.unlink_player(id, account_id).await? {
        return Err(ApiError::not_found("link"));
    }
    state.gateway.push_roster();
    let entry = ApiState::entry(&caller, "player_link.remove", format!("admin_id:{id}"))
        .params(serde_json::json!({ "account_id": account_id }));
    state.audit(entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
