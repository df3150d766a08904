//! Logging in and out, and changing one's password.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::admins::AdminView;
use super::{ApiError, ApiState, ErrorBody, Json, SourceAddr};
use crate::auth::{Caller, LoginRequest, Role, SESSION_COOKIE, login as run_login, secret};
use crate::store::now_ms;

/// A successful login. The session itself travels in the `gm_session` cookie.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Who logged in.
    pub admin: AdminView,
    /// Send it as `X-CSRF-Token` on every request that changes state.
    pub csrf_token: String,
    /// The session may only change the password until it does.
    pub must_change_password: bool,
    /// The session may only enroll a second factor until it does.
    pub totp_enrollment_required: bool,
}

/// Log in with name and password (and TOTP code when enrolled).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; session cookie set", body = LoginResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Throttled or locked", body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(super) async fn login(
    State(state): State<ApiState>,
    SourceAddr(source): SourceAddr,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let ok = run_login(&state.store, &state.auth, &req, source, user_agent).await?;
    let role: Role = ok.admin.role.parse().unwrap_or(Role::Viewer);
    let body = LoginResponse {
        must_change_password: ok.admin.must_change_password,
        totp_enrollment_required: ok.admin.totp_secret.is_none()
            && state.auth.config.require_totp_for.contains(&role),
        admin: AdminView::from(&ok.admin),
        csrf_token: ok.csrf_token,
    };
    Ok(([(header::SET_COOKIE, ok.cookie)], axum::Json(body)).into_response())
}

/// End the current session (cookie callers); clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn logout(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    if let Some(id) = caller.session_id {
        state
            .store
            .revoke_session(id, caller.admin_id, now_ms())
            .await?;
        state
            .audit(ApiState::entry(&caller, "auth.logout", caller.name.clone()))
            .await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// A password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    /// The current password (the one-time password at first login).
    pub current_password: String,
    /// The new password, at least 12 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub new_password: String,
}

/// Change one's password. Every other session of the account is revoked.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "Changed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(super) async fn change_password(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let admin = state.admin(caller.admin_id).await?;
    secret::check_password_policy(&req.new_password)
        .map_err(|m| ApiError::bad_request("weak_password", m))?;
    if req.new_password == req.current_password {
        return Err(ApiError::bad_request(
            "weak_password",
            "the new password must differ from the current one",
        ));
    }
    let (current, stored, new) = (req.current_password, admin.password_hash, req.new_password);
    let hash = tokio::task::spawn_blocking(move || {
        secret::verify_password(&current, &stored).then(|| secret::hash_password(&new))
    })
    .await
    .map_err(ApiError::internal)?;
    let entry = ApiState::entry(&caller, "auth.password_change", caller.name.clone());
    let Some(hash) = hash else {
        // A stolen session must not be a free password oracle: count it like a failed login.
        crate::auth::record_failure(&state.store, &state.auth, admin.id, now_ms()).await?;
        state
            .audit(entry.result("denied: wrong current password"))
            .await?;
        return Err(ApiError::bad_request(
            "wrong_password",
            "the current password is wrong",
        ));
    };
    state.store.set_password(admin.id, &hash, false).await?;
    let now = now_ms();
    for s in state.store.list_sessions(admin.id, now).await? {
        if Some(s.id) != caller.session_id {
            state.store.revoke_session(s.id, admin.id, now).await?;
        }
    }
    state.audit(entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
