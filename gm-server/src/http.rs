//! The HTTP listener's routes, assembled in one place: health, readiness, the OpenAPI
//! document, and the admin API behind the access table.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::api::{ApiError, ApiState, access_layer, api_router};

/// Every route, assembled in one place.
pub fn router(state: ApiState) -> Router {
    let (api, openapi) = api_router();
    let openapi_json = openapi.to_json().expect("the OpenAPI document serializes");
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        access_layer,
    ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/api/openapi.json",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    openapi_json,
                )
            }),
        )
        .merge(api)
        .fallback(not_found)
        .with_state(state)
}

/// The OpenAPI document of the admin API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().1
}

/// Liveness: the process answers HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers and the gateway is accepting game servers.
async fn readyz(State(state): State<ApiState>) -> (StatusCode, String) {
    if state.gateway.inner.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable\n".into(),
            )
        }
    }
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("route")
}
