//! Logging in: password, second factor, throttling and lockout, all failures audited.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

use super::{AuthState, SESSION_COOKIE, secret};
use crate::audit::{NewAuditEntry, Via};
use crate::store::{AdminRecord, Store, StoreError, now_ms};

/// A login attempt.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Admin name.
    pub name: String,
    /// Password.
    pub password: String,
    /// Six-digit code from the authenticator app, when the account has TOTP.
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOk {
    /// The admin.
    pub admin: AdminRecord,
    /// Session token for the cookie.
    pub session_token: String,
    /// CSRF token for the `X-CSRF-Token` header.
    pub csrf_token: String,
    /// The `Set-Cookie` value.
    pub cookie: String,
}

/// Why a login failed; each maps to one API error code.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong name or password (the two are not told apart).
    #[error("wrong name or password")]
    InvalidCredentials,
    /// The account has TOTP and no code was given.
    #[error("this account needs its six-digit authenticator code (totp_code)")]
    TotpRequired,
    /// Too many recent failures: wait.
    #[error("too many failed logins for this account: wait {0} s before trying again")]
    SlowDown(u64),
    /// The account is locked.
    #[error(
        "this account is locked after too many failed logins for {0} more minutes (an admin can unlock it with `gm-server admin unlock`)"
    )]
    AccountLocked(u64),
    /// The source address is locked.
    #[error("too many failed logins from this address: try again in {0} minutes")]
    AddressLocked(u64),
    /// The account is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn minutes_until(t: i64, now: i64) -> u64 {
    ((t - now).max(0) as u64).div_ceil(60_000)
}

/// Runs a login attempt from `source` and audits its outcome.
pub async fn login(
    store: &Store,
    auth: &Arc<AuthState>,
    req: &LoginRequest,
    source: Option<IpAddr>,
    user_agent: &str,
) -> Result<LoginOk, LoginError> {
    let source_str = source.map_or("-".to_string(), |a| a.to_string());
    let result = attempt(store, auth, req, source, &source_str, user_agent).await;
    let (role, outcome) = match &result {
        Ok(ok) => (ok.admin.role.clone(), "ok".to_string()),
        Err(LoginError::Store(e)) => ("-".into(), format!("error: {e}")),
        Err(e) => ("-".into(), format!("denied: {e}")),
    };
    let action = if result.is_ok() {
        "auth.login"
    } else {
        "auth.login_failed"
    };
    let entry = NewAuditEntry::new(
        req.name.chars().take(64).collect::<String>(),
        Via::Dashboard,
        action,
    )
    .role(role)
    .source(source_str)
    .target(req.name.chars().take(64).collect::<String>())
    .params(serde_json::json!({ "user_agent": user_agent.chars().take(200).collect::<String>() }))
    .result(outcome);
    store.append_audit(&entry, now_ms()).await?;
    result
}

async fn attempt(
    store: &Store,
    auth: &Arc<AuthState>,
    req: &LoginRequest,
    source: Option<IpAddr>,
    source_str: &str,
    user_agent: &str,
) -> Result<LoginOk, LoginError> {
    let cfg = &auth.config;
    let now = now_ms();
    if let Some(addr) = source
        && let Some(until) = auth.throttle.locked_until(addr, now)
    {
        return Err(LoginError::AddressLocked(minutes_until(until, now)));
    }
    let address_failure = || {
        if let Some(addr) = source {
            auth.throttle.record_failure(addr, now_ms());
        }
    };
    let admin = store.admin_by_name(&req.name).await?;
    let Some(admin) = admin else {
        // Spend the same time as a real check, so names cannot be probed by timing.
        let pw = req.password.clone();
        let _ =
            tokio::task::spawn_blocking(move || secret::verify_password(&pw, secret::dummy_hash()))
                .await;
        address_failure();
        return Err(LoginError::InvalidCredentials);
    };
    if let Some(until) = admin.locked_until_ms.filter(|t| *t > now) {
        return Err(LoginError::AccountLocked(minutes_until(until, now)));
    }
    let failures = admin.failed_logins.max(0) as u64;
    if failures >= u64::from(cfg.throttle_after)
        && let Some(last) = admin.last_failed_at_ms
    {
        let steps = (failures - u64::from(cfg.throttle_after)).min(16);
        let wait_ms = cfg.throttle_base_ms.saturating_mul(1 << steps) as i64;
        if now < last + wait_ms {
            return Err(LoginError::SlowDown(
                ((last + wait_ms - now) as u64).div_ceil(1000),
            ));
        }
    }
    let pw = req.password.clone();
    let hash = admin.password_hash.clone();
    let password_ok = tokio::task::spawn_blocking(move || secret::verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    let totp_ok = match (&admin.totp_secret, &req.totp_code) {
        (None, _) => true,
        (Some(_), None) if password_ok => return Err(LoginError::TotpRequired),
        (Some(s), Some(code)) => secret::check_totp(s, code, (now / 1000) as u64),
        (Some(_), None) => false,
    };
    if !password_ok || !totp_ok {
        address_failure();
        if let Some(until) = record_failure(store, auth, admin.id, now).await? {
            return Err(LoginError::AccountLocked(minutes_until(until, now)));
        }
        return Err(LoginError::InvalidCredentials);
    }
    if admin.disabled {
        return Err(LoginError::Disabled);
    }
    if admin.failed_logins != 0 || admin.locked_until_ms.is_some() {
        store.set_login_failures(admin.id, 0, None, None).await?;
    }
    let session_token = secret::random_token("gms_");
    let csrf_token = secret::random_token("gmc_");
    let expires = now + cfg.session_absolute_hours as i64 * 3_600_000;
    store
        .create_session(
            admin.id,
            &secret::token_hash(&session_token),
            &secret::token_hash(&csrf_token),
            source_str,
            &user_agent.chars().take(200).collect::<String>(),
            now,
            expires,
        )
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={session_token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        cfg.session_absolute_hours * 3600,
        if auth.tls { "; Secure" } else { "" }
    );
    Ok(LoginOk {
        admin,
        session_token,
        csrf_token,
        cookie,
    })
}

/// Counts a failed password check against an account; returns the lock end if it is now locked.
pub(crate) async fn record_failure(
    store: &Store,
    auth: &Arc<AuthState>,
    admin_id: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let cfg = &auth.config;
    let lock_until = now + cfg.lockout_minutes as i64 * 60_000;
    let (_, locked) = store
        .record_login_failure(admin_id, now, i64::from(cfg.lockout_after), lock_until)
        .await?;
    Ok(locked.filter(|t| *t > now))
}
