//! The API's one error shape: `{"error": {"code", "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::{AuthError, LoginError};
use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`unauthenticated`, `forbidden`, `not_found`, …).
    pub code: String,
    /// What to do about it, in words.
    pub message: String,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for the caller.
    pub message: String,
    /// Extra headers (for example `Retry-After`).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no or invalid credentials.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 500; details go to the log, not the caller.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error in the admin API: {detail}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        });
        let mut response = (self.status, body).into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Duplicate { what, name } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} {name:?} already exists"),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Csrf { .. } => ApiError::forbidden("csrf_failed", e.to_string()),
            AuthError::Store(s) => s.into(),
            other => ApiError::unauthenticated(other.to_string()),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> ApiError {
        let message = e.to_string();
        match e {
            LoginError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message)
            }
            LoginError::TotpRequired => {
                ApiError::new(StatusCode::UNAUTHORIZED, "totp_required", message)
            }
            LoginError::SlowDown(s) => ApiError {
                retry_after_s: Some(s),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "slow_down", message)
            },
            LoginError::AccountLocked(m) => ApiError {
                retry_after_s: Some(m * 60),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "account_locked", message)
            },
            LoginError::AddressLocked(m) => ApiError {
                retry_after_s: Some(m * 60),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "address_locked", message)
            },
            LoginError::Disabled => ApiError::forbidden("account_disabled", message),
            LoginError::Store(s) => s.into(),
        }
    }
}

macro_rules! rejection {
    ($ty:ty, $code:literal) => {
        impl From<$ty> for ApiError {
            fn from(r: $ty) -> ApiError {
                let status = r.status();
                let status = if status.is_server_error() {
                    StatusCode::BAD_REQUEST
                } else {
                    status
                };
                ApiError::new(status, $code, r.body_text())
            }
        }
    };
}

rejection!(axum::extract::rejection::JsonRejection, "invalid_body");
rejection!(axum::extract::rejection::QueryRejection, "invalid_query");
rejection!(axum::extract::rejection::PathRejection, "invalid_path");
