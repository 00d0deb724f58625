//! Refusals: the contract's error codes, and a refused request as the `error`
//! frame (WebSocket) or the error body (REST, see `routes::error`) shows it.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::server::{Frame, ServerFrame, encode};

/// The contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotJoined,
    Banned,
    TimedOut,
    RateLimited,
    SlowMode,
    TooLong,
    TooManyRooms,
    Internal,
}

/// A refused request: code, human message, and for the time-based refusals how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Refusal {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Refusal::new(ErrorCode::BadRequest, message)
    }

    /// A refusal that says when to try again (`rate_limited`, `slow_mode`, `timed_out`).
    /// Never zero: a client told "retry after 0 ms" would spin.
    pub fn retry(code: ErrorCode, message: impl Into<Cow<'static, str>>, after_ms: u64) -> Self {
        Refusal {
            code,
            message: message.into(),
            retry_after_ms: Some(after_ms.max(1)),
        }
    }

    /// The `error` frame for this refusal.
    pub fn frame(&self, room: Option<&str>, reference: Option<&str>) -> Frame {
        encode(&ServerFrame::Error {
            reference,
            room,
            code: self.code,
            message: &self.message,
            retry_after_ms: self.retry_after_ms,
        })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a client frame was refused before it reached any room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub refusal: Refusal,
    /// The frame's `ref`, when it could be read, so the client can match the error.
    pub reference: Option<String>,
    /// The frame's room, when it could be read.
    pub room: Option<String>,
}

impl Rejected {
    /// The `error` frame answering the rejected frame.
    pub fn frame(&self) -> Frame {
        self.refusal
            .frame(self.room.as_deref(), self.reference.as_deref())
    }
}
