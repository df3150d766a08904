//! The admin REST API under `/api/v1`: JSON in and out, one error shape, cursor pagination,
//! an OpenAPI document generated from the handlers, and one access table that decides who may
//! call what.

mod access;
pub mod admins;
pub mod audit;
pub mod commands;
mod error;
pub mod fleet;
pub mod me;
pub mod session;
pub mod telemetry;

pub(crate) use access::enforce as access_layer;
pub use access::{Access, ROUTES, RouteRule, rule_for};
pub use error::{ApiError, ErrorBody, ErrorDetail};

use std::sync::Arc;

use axum::extract::FromRequest;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::NewAuditEntry;
use crate::auth::{AuthState, Caller};
use crate::events::EventBus;
use crate::gateway::Gateway;
use crate::store::{Store, StoreError};

/// What API handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The store.
    pub store: Store,
    /// Connected game servers.
    pub gateway: Gateway,
    /// Live events.
    pub events: EventBus,
    /// Authentication settings and throttling.
    pub auth: Arc<AuthState>,
    /// Admin API request counts and latency, for `/metrics`.
    pub http: Arc<crate::telemetry::HttpStats>,
}

impl ApiState {
    /// Appends to the audit log and publishes the entry to live subscribers who may read it.
    pub async fn audit(&self, entry: NewAuditEntry) -> Result<(), StoreError> {
        self.gateway.audit(entry).await
    }

    /// The admin with row id `id`, or a 404 in the API's error shape.
    pub async fn admin(&self, id: i64) -> Result<crate::store::AdminRecord, ApiError> {
        self.store
            .admin_by_id(id)
            .await?
            .ok_or_else(|| ApiError::not_found("admin"))
    }

    /// An audit entry for an action by `caller`.
    pub fn entry(caller: &Caller, action: &str, target: impl Into<String>) -> NewAuditEntry {
        NewAuditEntry::new(caller.name.clone(), caller.via, action)
            .role(caller.role)
            .source(caller.source.clone())
            .target(target)
    }
}

/// JSON body extractor whose rejections use the API's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Query extractor whose rejections use the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The client's IP address, when the listener recorded it.
#[derive(Debug, Clone, Copy)]
pub struct SourceAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(SourceAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Path extractor whose rejections use the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gm-server admin API",
        description = "Admin identity, audit log and fleet state. See docs/admin-api.md."
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = []))
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The API routes and their OpenAPI document. Access control is applied by
/// [`crate::http::router`] from [`ROUTES`].
pub fn api_router() -> (axum::Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::change_password))
        .routes(routes!(me::me))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::revoke_session))
        .routes(routes!(me::list_tokens, me::create_token))
        .routes(routes!(me::revoke_token))
        .routes(routes!(me::begin_totp))
        .routes(routes!(me::confirm_totp))
        .routes(routes!(admins::list_admins, admins::create_admin))
        .routes(routes!(admins::get_admin, admins::update_admin))
        .routes(routes!(admins::unlock_admin))
        .routes(routes!(admins::list_links, admins::add_link))
        .routes(routes!(admins::remove_link))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::verify_audit))
        .routes(routes!(commands::run_command))
        .routes(routes!(commands::complete_command))
        .routes(routes!(fleet::list_servers))
        .routes(routes!(fleet::events))
        .routes(routes!(telemetry::metrics))
        .routes(routes!(telemetry::event_counts))
        .split_for_parts()
}

/// Parses an opaque cursor (the last id of the previous page).
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })
        })
        .transpose()
}

/// Checks a page size: 1 to 200, default 50.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(l) if (1..=200).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 200",
        )),
    }
}
