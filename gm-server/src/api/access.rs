//! The access table: every API route, who may call it, and whether a restricted session (one
//! that must first change its password or enroll a second factor) may. The middleware
//! enforces it before any handler runs; routes missing from it are refused, and a test walks
//! it against the OpenAPI document and every role.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState};
use crate::audit::{NewAuditEntry, Via};
use crate::auth::{Permission, Restriction, RolePermissions, authenticate};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// An authenticated caller whose role has this permission.
    Requires(Permission),
}

/// One row of the access table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    /// HTTP method.
    pub method: &'static str,
    /// Path as routed, with `{param}` placeholders.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Whether a restricted session may call it.
    pub while_restricted: bool,
}

const fn public(method: &'static str, path: &'static str) -> RouteRule {
    RouteRule {
        method,
        path,
        access: Access::Public,
        while_restricted: true,
    }
}

const fn needs(method: &'static str, path: &'static str, p: Permission) -> RouteRule {
    RouteRule {
        method,
        path,
        access: Access::Requires(p),
        while_restricted: false,
    }
}

const fn restricted_ok(rule: RouteRule) -> RouteRule {
    RouteRule {
        while_restricted: true,
        ..rule
    }
}

use Permission::{ManageSelf, ManageStaff, RunCommands, ViewAudit, ViewFleet};

/// Every API route and who may call it.
pub const ROUTES: &[RouteRule] = &[
    public("POST", "/api/v1/auth/login"),
    restricted_ok(needs("POST", "/api/v1/auth/logout", ManageSelf)),
    restricted_ok(needs("POST", "/api/v1/auth/password", ManageSelf)),
    restricted_ok(needs("GET", "/api/v1/me", ManageSelf)),
    needs("GET", "/api/v1/me/sessions", ManageSelf),
    needs("DELETE", "/api/v1/me/sessions/{id}", ManageSelf),
    needs("GET", "/api/v1/me/tokens", ManageSelf),
    needs("POST", "/api/v1/me/tokens", ManageSelf),
    needs("DELETE", "/api/v1/me/tokens/{id}", ManageSelf),
    restricted_ok(needs("POST", "/api/v1/me/totp", ManageSelf)),
    restricted_ok(needs("POST", "/api/v1/me/totp/confirm", ManageSelf)),
    needs("GET", "/api/v1/admins", ManageStaff),
    needs("POST", "/api/v1/admins", ManageStaff),
    needs("GET", "/api/v1/admins/{id}", ManageStaff),
    needs("PATCH", "/api/v1/admins/{id}", ManageStaff),
    needs("POST", "/api/v1/admins/{id}/unlock", ManageStaff),
    needs("GET", "/api/v1/admins/{id}/player-links", ManageStaff),
    needs("POST", "/api/v1/admins/{id}/player-links", ManageStaff),
    needs(
        "DELETE",
        "/api/v1/admins/{id}/player-links/{account_id}",
        ManageStaff,
    ),
    needs("GET", "/api/v1/audit", ViewAudit),
    needs("GET", "/api/v1/audit/verify", ManageStaff),
    needs("POST", "/api/v1/commands", RunCommands),
    needs("GET", "/api/v1/commands/completions", RunCommands),
    needs("GET", "/api/v1/servers", ViewFleet),
    needs("GET", "/api/v1/events", ViewFleet),
    needs("GET", "/metrics", ViewFleet),
    needs("GET", "/api/v1/telemetry/events", ViewFleet),
];

/// The rule for a routed path and method.
pub fn rule_for(method: &str, path: &str) -> Option<&'static RouteRule> {
    ROUTES
        .iter()
        .find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
}

/// Authenticates the caller and applies the access table. Fails closed: a route without a
/// rule is refused.
pub(crate) async fn enforce(
    State(state): State<ApiState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(rule) = matched.and_then(|m| rule_for(req.method().as_str(), m.as_str())) else {
        return ApiError::forbidden("no_access_rule", "this route has no access rule")
            .into_response();
    };
    let source_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or("-".to_string(), |c| c.0.ip().to_string());
    let caller = authenticate(
        &state.store,
        &state.auth,
        req.method(),
        req.headers(),
        source_addr.clone(),
    )
    .await;
    let caller = match (rule.access, caller) {
        // Stale credentials must not stop someone from logging in.
        (Access::Public, caller) => caller.ok().flatten(),
        (Access::Requires(_), Err(e)) => {
            if let crate::auth::AuthError::Csrf { admin, role } = &e {
                let entry = NewAuditEntry::new(admin.clone(), Via::Dashboard, "access.csrf_failed")
                    .role(role.clone())
                    .source(source_addr.clone())
                    .target(rule.path)
                    .params(serde_json::json!({ "method": rule.method }))
                    .result("denied: missing or wrong CSRF token");
                if let Err(e) = state.audit(entry).await {
                    return ApiError::from(e).into_response();
                }
            }
            return ApiError::from(e).into_response();
        }
        (Access::Requires(_), Ok(None)) => {
            return ApiError::unauthenticated(
                "log in (session cookie) or send \"Authorization: Bearer <token>\"",
            )
            .into_response();
        }
        (Access::Requires(permission), Ok(Some(caller))) => {
            if !caller.role.allows(permission) {
                let entry = ApiState::entry(&caller, "access.denied", rule.path)
                    .params(
                        serde_json::json!({ "method": rule.method, "needs": permission.as_str() }),
                    )
                    .result("denied: role lacks permission");
                if let Err(e) = state.audit(entry).await {
                    return ApiError::from(e).into_response();
                }
                return ApiError::forbidden(
                    "forbidden",
                    format!(
                        "your role ({}) may not do this; it needs {}",
                        caller.role,
                        permission.as_str()
                    ),
                )
                .into_response();
            }
            if caller.restriction.is_some() && !rule.while_restricted {
                let entry = ApiState::entry(&caller, "access.restricted", rule.path)
                    .params(serde_json::json!({ "method": rule.method }))
                    .result("denied: the session must change its password or enroll TOTP first");
                if let Err(e) = state.audit(entry).await {
                    return ApiError::from(e).into_response();
                }
            }
            match caller.restriction {
                Some(Restriction::MustChangePassword) if !rule.while_restricted => {
                    return ApiError::forbidden(
                        "password_change_required",
                        "change your one-time password first (POST /api/v1/auth/password)",
                    )
                    .into_response();
                }
                Some(Restriction::MustEnrollTotp) if !rule.while_restricted => {
                    return ApiError::forbidden(
                        "totp_enrollment_required",
                        "your role requires a second factor: enroll one first (POST /api/v1/me/totp)",
                    )
                    .into_response();
                }
                _ => {}
            }
            Some(caller)
        }
    };
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    next.run(req).await
}
