//! HTTP routes: the WebSocket upgrade (`ws`), the server API (`api`) and the
//! operational routes (`health`), plus what they share: application state, the
//! JSON error body of the contract, and bearer-token extraction.
//!
//! Routes translate HTTP to actor messages and back; they must not hold room
//! state or write to the database themselves.

pub mod api;
pub mod health;
pub mod ws;

use std::sync::Arc;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::auth::Authenticator;
use crate::bridge::BridgeStatus;
use crate::protocol::{ErrorCode, Refusal};
use crate::registry::Registry;
use crate::session::SessionShared;
use crate::settings::Secret;
use crate::store::{Store, StoreStatus};

/// What every route can reach.
pub struct AppState {
    pub auth: Authenticator,
    pub api_key: Option<Secret>,
    pub registry: Addr<Registry>,
    pub store: Addr<Store>,
    pub store_status: Arc<StoreStatus>,
    /// Set on SIGTERM: `/readyz` answers 503 and `/ws` refuses new connections.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Present in cluster mode.
    pub bridge_status: Option<Arc<BridgeStatus>>,
    pub sessions: Arc<SessionShared>,
}

/// Every refusal of the HTTP side, rendered as `{"error":{"code","message"}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooLong(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLong(_) => "too_long",
            ApiError::TooLarge(_) => "too_large",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unexpected(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::TooLong(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            // Internal details go to the log, not to the caller.
            ApiError::Unexpected(err) => {
                tracing::error!(error = %format!("{err:#}"), "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code()).json(serde_json::json!({
            "error": { "code": self.code(), "message": message }
        }))
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let msg = r.message.into_owned();
        match r.code {
            ErrorCode::BadRequest => ApiError::BadRequest(msg),
            ErrorCode::Unauthorized => ApiError::Unauthorized(msg),
            ErrorCode::Forbidden | ErrorCode::Banned => ApiError::Forbidden(msg),
            ErrorCode::NotJoined => ApiError::NotFound(msg),
            ErrorCode::TooLong => ApiError::TooLong(msg),
            ErrorCode::RateLimited
            | ErrorCode::SlowMode
            | ErrorCode::TimedOut
            | ErrorCode::TooManyRooms => ApiError::RateLimited(msg),
            ErrorCode::Internal => ApiError::Unexpected(anyhow::anyhow!(msg)),
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer …`.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compare secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Register every route, and JSON error bodies for extractor failures and unknown paths.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(16 * 1024)
            .error_handler(|err, _| {
                let e = match &err {
                    actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                    | actix_web::error::JsonPayloadError::Overflow { .. } => {
                        ApiError::TooLarge(err.to_string())
                    }
                    _ => ApiError::BadRequest(format!("invalid JSON body: {err}")),
                };
                e.into()
            }),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("invalid query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("invalid path: {err}")).into()),
    )
    .configure(health::configure)
    .configure(ws::configure)
    .configure(api::configure)
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::NotFound("no such route".to_owned()))
    }));
}
