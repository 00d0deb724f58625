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
    // v2 (contract §10)
    TooManyConnections,
    RoomLimit,
    TokenExpired,
    FollowersOnly,
    SubscribersOnly,
    EmoteOnly,
    Duplicate,
    BlockedTerm,
    Warned,
}

impl ErrorCode {
    /// Every code, for metrics.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotJoined,
        ErrorCode::Banned,
        ErrorCode::TimedOut,
        ErrorCode::RateLimited,
        ErrorCode::SlowMode,
        ErrorCode::TooLong,
        ErrorCode::TooManyRooms,
        ErrorCode::Internal,
        ErrorCode::TooManyConnections,
        ErrorCode::RoomLimit,
        ErrorCode::TokenExpired,
        ErrorCode::FollowersOnly,
        ErrorCode::SubscribersOnly,
        ErrorCode::EmoteOnly,
        ErrorCode::Duplicate,
        ErrorCode::BlockedTerm,
        ErrorCode::Warned,
    ];

    /// Every code's name, in the order of [`ErrorCode::ALL`] (for metrics).
    pub const NAMES: [&'static str; 20] = [
        "bad_request",
        "unauthorized",
        "forbidden",
        "not_joined",
        "banned",
        "timed_out",
        "rate_limited",
        "slow_mode",
        "too_long",
        "too_many_rooms",
        "internal",
        "too_many_connections",
        "room_limit",
        "token_expired",
        "followers_only",
        "subscribers_only",
        "emote_only",
        "duplicate",
        "blocked_term",
        "warned",
    ];

    /// Count one refusal with this code in `roomcast_refusals_total`.
    pub fn count(self) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == self) {
            crate::metrics::refused(i);
        }
    }

    /// The contract's name of the code (as on the wire).
    pub fn as_str(self) -> &'static str {
        let i = ErrorCode::ALL.iter().position(|c| *c == self).unwrap_or(0);
        ErrorCode::NAMES[i]
    }
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

    /// The `error` frame for this refusal (counted in `roomcast_refusals_total`).
    pub fn frame(&self, room: Option<&str>, reference: Option<&str>) -> Frame {
        self.code.count();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_named_as_serde_names_it() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
