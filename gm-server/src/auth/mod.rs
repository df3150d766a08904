//! Admin identity: roles and permissions, secrets, login with throttling, and working out who
//! is calling from a request's cookie or bearer token.

mod login;
mod role;
pub mod secret;
mod throttle;

pub(crate) use login::record_failure;
pub use login::{LoginError, LoginOk, LoginRequest, login};
pub use role::{Permission, Role, RolePermissions, matrix_markdown};
pub use throttle::AddressThrottle;

use std::sync::Arc;

use axum::http::{HeaderMap, Method};

use crate::audit::Via;
use crate::config::AuthConfig;
use crate::store::{AdminRecord, Store, StoreError, now_ms};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "gm_session";

/// Header carrying the CSRF token on state-changing requests made with the session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the authentication part of the API shares.
#[derive(Debug)]
pub struct AuthState {
    /// Settings.
    pub config: AuthConfig,
    /// Per-address failed-login tracking.
    pub throttle: AddressThrottle,
    /// Whether the HTTP listener speaks TLS (cookies get `Secure`).
    pub tls: bool,
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Admin row id.
    pub admin_id: i64,
    /// Admin name.
    pub name: String,
    /// Role in effect (a token's role, never above its owner's).
    pub role: Role,
    /// Cookie session (dashboard) or bearer token (API).
    pub via: Via,
    /// Source address.
    pub source: String,
    /// The session, for cookie callers.
    pub session_id: Option<i64>,
    /// The token, for bearer callers.
    pub token_id: Option<i64>,
    /// Set while the account must change its password or enroll a second factor first.
    pub restriction: Option<Restriction>,
}

/// What a restricted session must do before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// The password was set by someone else (one-time password).
    MustChangePassword,
    /// The role requires a second factor and none is enrolled.
    MustEnrollTotp,
}

/// Why a request's credentials were refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be \"Bearer <token>\"")]
    MalformedHeader,
    /// Unknown, expired or revoked token.
    #[error("the API token is invalid, expired or revoked")]
    BadToken,
    /// Unknown, expired or revoked session.
    #[error("the session is invalid, expired or revoked; log in again")]
    BadSession,
    /// The CSRF header is missing or wrong (a security event: whose session it was is kept).
    #[error(
        "missing or wrong {CSRF_HEADER} header (required with the session cookie on requests that change state)"
    )]
    Csrf {
        /// The session's admin.
        admin: String,
        /// Their role.
        role: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn role_of(admin: &AdminRecord) -> Role {
    admin.role.parse().unwrap_or(Role::Viewer)
}

/// Works out who is calling. `Ok(None)` means no credentials at all.
pub async fn authenticate(
    store: &Store,
    auth: &Arc<AuthState>,
    method: &Method,
    headers: &HeaderMap,
    source: String,
) -> Result<Option<Caller>, AuthError> {
    resolve(store, auth, method, headers, source, true).await
}

/// Checks again, for a long-lived response such as the event stream, who the credentials of
/// an earlier request belong to now: the same rules as [`authenticate`], but without marking
/// the session or token used (an open stream is not activity that keeps a session alive).
pub async fn recheck(
    store: &Store,
    auth: &Arc<AuthState>,
    headers: &HeaderMap,
    source: String,
) -> Result<Option<Caller>, AuthError> {
    resolve(store, auth, &Method::GET, headers, source, false).await
}

async fn resolve(
    store: &Store,
    auth: &Arc<AuthState>,
    method: &Method,
    headers: &HeaderMap,
    source: String,
    touch: bool,
) -> Result<Option<Caller>, AuthError> {
    let now = now_ms();
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AuthError::MalformedHeader)?;
        let (record, owner) = store
            .active_token_owner(&secret::token_hash(token), now)
            .await?
            .ok_or(AuthError::BadToken)?;
        if touch && record.last_used_at_ms.is_none_or(|t| now - t > 60_000) {
            store.touch_token(record.id, now).await?;
        }
        let token_role: Role = record.role.parse().unwrap_or(Role::Viewer);
        return Ok(Some(Caller {
            admin_id: owner.id,
            role: token_role.min(role_of(&owner)),
            name: owner.name,
            via: Via::Api,
            source,
            session_id: None,
            token_id: Some(record.id),
            restriction: None,
        }));
    }
    let Some(token) = session_cookie(headers) else {
        return Ok(None);
    };
    let session = store
        .session_by_token(&secret::token_hash(token))
        .await?
        .filter(|s| {
            s.revoked_at_ms.is_none()
                && s.expires_at_ms > now
                && now - s.last_seen_ms < auth.config.session_idle_minutes as i64 * 60_000
        })
        .ok_or(AuthError::BadSession)?;
    let admin = store
        .admin_by_id(session.admin_id)
        .await?
        .filter(|a| !a.disabled)
        .ok_or(AuthError::BadSession)?;
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let ok = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| secret::token_hash(v) == session.csrf_hash);
        if !ok {
            return Err(AuthError::Csrf {
                admin: admin.name,
                role: admin.role,
            });
        }
    }
    if touch && now - session.last_seen_ms > 30_000 {
        store.touch_session(session.id, now).await?;
    }
    let role = role_of(&admin);
    let restriction = if admin.must_change_password {
        Some(Restriction::MustChangePassword)
    } else if admin.totp_secret.is_none() && auth.config.require_totp_for.contains(&role) {
        Some(Restriction::MustEnrollTotp)
    } else {
        None
    };
    Ok(Some(Caller {
        admin_id: admin.id,
        name: admin.name,
        role,
        via: Via::Dashboard,
        source,
        session_id: Some(session.id),
        token_id: None,
        restriction,
    }))
}

/// The session token from the `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Checks an admin name: 1 to 64 of `A-Z a-z 0-9 _ . -`.
pub fn check_admin_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(
            "an admin name is 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'".into(),
        );
    }
    Ok(())
}
