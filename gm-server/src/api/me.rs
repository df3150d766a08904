//! The caller's own account: who am I, my sessions, my API tokens, my second factor.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::admins::AdminView;
use super::{ApiError, ApiState, ErrorBody, Json, Path};
use crate::audit::Via;
use crate::auth::{Caller, Permission, Restriction, Role, RolePermissions, secret};
use crate::store::{SessionRecord, TokenRecord, now_ms};

/// The caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    /// The account.
    pub admin: AdminView,
    /// Role in effect for this request (a token's role may be lower than the account's).
    pub role: Role,
    /// What that role may do.
    pub permissions: Vec<Permission>,
    /// `dashboard` (session) or `api` (token).
    pub via: Via,
    /// What the session must do first, if anything: `must_change_password` or
    /// `must_enroll_totp`.
    pub restriction: Option<String>,
    /// In-game player accounts linked to this identity.
    pub player_links: Vec<i64>,
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn me(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<MeResponse>, ApiError> {
    let admin = state.admin(caller.admin_id).await?;
    Ok(Json(MeResponse {
        admin: AdminView::from(&admin),
        role: caller.role,
        permissions: caller.role.permissions(),
        via: caller.via,
        restriction: caller.restriction.map(|r| match r {
            Restriction::MustChangePassword => "must_change_password".into(),
            Restriction::MustEnrollTotp => "must_enroll_totp".into(),
        }),
        player_links: state.store.player_links(admin.id).await?,
    }))
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Id, for revoking.
    pub id: i64,
    /// Address it logged in from.
    pub source: String,
    /// Browser or tool.
    pub user_agent: String,
    /// Login time (Unix ms).
    pub created_at_ms: i64,
    /// Last request (Unix ms, to within 30 s).
    pub last_seen_ms: i64,
    /// Absolute expiry (Unix ms).
    pub expires_at_ms: i64,
    /// Whether this is the session making the request.
    pub current: bool,
}

fn session_view(s: SessionRecord, current: Option<i64>) -> SessionView {
    SessionView {
        current: Some(s.id) == current,
        id: s.id,
        source: s.source,
        user_agent: s.user_agent,
        created_at_ms: s.created_at_ms,
        last_seen_ms: s.last_seen_ms,
        expires_at_ms: s.expires_at_ms,
    }
}

/// The caller's active sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me",
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_sessions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.store.list_sessions(caller.admin_id, now_ms()).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| session_view(s, caller.session_id))
            .collect(),
    ))
}

/// Revoke one of the caller's sessions; it is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 204, description = "Revoked"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_session(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .revoke_session(id, caller.admin_id, now_ms())
        .await?
    {
        return Err(ApiError::not_found("active session of yours"));
    }
    state
        .audit(ApiState::entry(
            &caller,
            "session.revoke",
            format!("session:{id}"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API token (never its secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Id, for revoking.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role it acts with.
    pub role: String,
    /// First characters of the secret.
    pub hint: String,
    /// Creation (Unix ms).
    pub created_at_ms: i64,
    /// Expiry (Unix ms).
    pub expires_at_ms: i64,
    /// Revocation (Unix ms), if revoked.
    pub revoked_at_ms: Option<i64>,
    /// Last use (Unix ms, to within a minute).
    pub last_used_at_ms: Option<i64>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name,
            role: t.role,
            hint: t.hint,
            created_at_ms: t.created_at_ms,
            expires_at_ms: t.expires_at_ms,
            revoked_at_ms: t.revoked_at_ms,
            last_used_at_ms: t.last_used_at_ms,
        }
    }
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "me",
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list_tokens(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let tokens = state.store.list_tokens(caller.admin_id).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// A name to recognize it by (1 to 64 characters).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\x00-\\x1f]*[^\\x00-\\x1f ][^\\x00-\\x1f]*$"
    )]
    pub name: String,
    /// The role it acts with; at most the caller's.
    pub role: Role,
    /// Lifetime in days (1 to the configured maximum, 365 by default).
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: u32,
}

/// A created token. The secret is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The stored record.
    pub info: TokenView,
}

/// Create an API token.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "me", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_token(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a token name is 1 to 64 printable characters",
        ));
    }
    if req.role > caller.role {
        return Err(ApiError::forbidden(
            "role_too_high",
            format!("a token cannot have a role above yours ({})", caller.role),
        ));
    }
    let max = state.auth.config.max_token_days;
    if req.expires_in_days == 0 || req.expires_in_days > max {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            format!("expires_in_days must be between 1 and {max}"),
        ));
    }
    let secret = secret::random_token("gmt_");
    let now = now_ms();
    let record = state
        .store
        .create_token(
            caller.admin_id,
            name,
            req.role.as_str(),
            &secret::token_hash(&secret),
            &secret[..10],
            now,
            now + i64::from(req.expires_in_days) * 86_400_000,
        )
        .await?;
    let entry = ApiState::entry(&caller, "token.create", format!("token:{}", record.id))
        .params(serde_json::json!({ "name": name, "role": req.role, "expires_in_days": req.expires_in_days }));
    state.audit(entry).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret,
            info: record.into(),
        }),
    ))
}

/// Revoke one of the caller's tokens; it is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "me",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_token(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .revoke_token(id, caller.admin_id, now_ms())
        .await?
    {
        return Err(ApiError::not_found("active token of yours"));
    }
    state
        .audit(ApiState::entry(
            &caller,
            "token.revoke",
            format!("token:{id}"),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A TOTP secret to add to an authenticator app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpEnrollment {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URL (what a QR code would hold).
    pub otpauth_url: String,
}

/// Start enrolling a TOTP second factor (replaces an unconfirmed one).
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "me",
    responses((status = 200, body = TotpEnrollment), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn begin_totp(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<TotpEnrollment>, ApiError> {
    let admin = state.admin(caller.admin_id).await?;
    if admin.totp_secret.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "totp_enrolled",
            "a second factor is already enrolled; an admin can reset it with `gm-server admin reset-totp`",
        ));
    }
    let secret = secret::new_totp_secret();
    state.store.set_totp(admin.id, None, Some(&secret)).await?;
    state
        .audit(ApiState::entry(&caller, "totp.begin", caller.name.clone()))
        .await?;
    Ok(Json(TotpEnrollment {
        otpauth_url: secret::totp_url(&secret, &admin.name),
        secret,
    }))
}

/// A code proving the authenticator app has the secret.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TotpConfirm {
    /// Six digits.
    #[schema(pattern = "^[0-9]{6}$")]
    pub code: String,
}

/// Finish enrolling: from now on logins need a code.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "me", request_body = TotpConfirm,
    responses((status = 204, description = "Enrolled"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn confirm_totp(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<TotpConfirm>,
) -> Result<StatusCode, ApiError> {
    let admin = state.admin(caller.admin_id).await?;
    let Some(pending) = admin.totp_pending_secret else {
        return Err(ApiError::bad_request(
            "no_enrollment",
            "start with POST /api/v1/me/totp",
        ));
    };
    let entry = ApiState::entry(&caller, "totp.enroll", caller.name.clone());
    if !secret::check_totp(&pending, &req.code, (now_ms() / 1000) as u64) {
        state.audit(entry.result("denied: wrong code")).await?;
        return Err(ApiError::bad_request(
            "wrong_code",
            "that code is not valid now",
        ));
    }
    state.store.set_totp(admin.id, Some(&pending), None).await?;
    state.audit(entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
