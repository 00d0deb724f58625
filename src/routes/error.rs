//! Every refusal of the HTTP side, rendered as the contract's error body
//! `{"error":{"code","message"}}`, and the conversions into it from the
//! errors of the parts a route calls (rooms, the store, actors).

use actix::MailboxError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::protocol::{ErrorCode, Refusal};
use crate::registry::RoomError;
use crate::store::StoreError;

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
    /// Contract §6: over a connection cap (429).
    #[error("{0}")]
    TooManyConnections(String),
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
            ApiError::TooManyConnections(_) => "too_many_connections",
            ApiError::Unexpected(_) => "internal",
        }
    }
}

impl ApiError {
    /// The status and the JSON body (also written by hand before a refused upgrade).
    pub fn status_and_body(&self) -> (StatusCode, String) {
        let message = match self {
            // Internal details go to the log, not to the caller.
            ApiError::Unexpected(err) => {
                tracing::error!(error = %format!("{err:#}"), "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = serde_json::json!({ "error": { "code": self.code(), "message": message } });
        (self.status_code(), body.to_string())
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
            ApiError::RateLimited(_) | ApiError::TooManyConnections(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = self.status_and_body();
        HttpResponse::build(status)
            .content_type("application/json")
            .body(body)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        r.code.count();
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
            // A refusal to retry later (the database is slow): 503, not a failure.
            ErrorCode::Internal if r.retry_after_ms.is_some() => ApiError::Unavailable(msg),
            ErrorCode::Internal => ApiError::Unexpected(anyhow::anyhow!(msg)),
            ErrorCode::TooManyConnections => ApiError::TooManyConnections(msg),
            ErrorCode::RoomLimit => ApiError::Unavailable(msg),
            ErrorCode::TokenExpired => ApiError::Unauthorized(msg),
            ErrorCode::FollowersOnly
            | ErrorCode::SubscribersOnly
            | ErrorCode::EmoteOnly
            | ErrorCode::Duplicate
            | ErrorCode::BlockedTerm
            | ErrorCode::Warned => ApiError::Forbidden(msg),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotReady => ApiError::Unavailable(e.to_string()),
            StoreError::Db(db) => {
                ApiError::Unexpected(anyhow::Error::new(db).context("database read failed"))
            }
            StoreError::Unreachable => ApiError::Unexpected(anyhow::anyhow!("store unreachable")),
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Limit(_) => ApiError::Unavailable(e.to_string()),
            RoomError::Unavailable(_) => ApiError::Unexpected(anyhow::Error::new(e)),
        }
    }
}

impl From<MailboxError> for ApiError {
    fn from(e: MailboxError) -> Self {
        ApiError::Unexpected(anyhow::anyhow!("actor unreachable: {e}"))
    }
}
