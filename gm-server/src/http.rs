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
    let api = api
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            server_timing,
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
        .method_not_allowed_fallback(method_not_allowed)
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

/// Adds `Server-Timing: app;dur=<ms>` so clients and load tests can tell server time from
/// network and queueing time.
/// Also counts the response and its latency for `/metrics`.
async fn server_timing(
    State(state): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let start = std::time::Instant::now();
    let mut response = next.run(req).await;
    let seconds = start.elapsed().as_secs_f64();
    state.http.record(response.status().as_u16(), seconds);
    let ms = seconds * 1000.0;
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept that method (see /api/openapi.json)",
    )
}
