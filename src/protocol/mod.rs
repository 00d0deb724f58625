//! The wire format of `shared/spec/protocol.md`: where a frame is parsed and
//! where a frame is serialised.
//!
//! - [`client`]: client → server frames, parsed and checked into a `Request`.
//! - [`server`]: server → client frames, serialised once into a shared `Frame`.
//! - [`refusal`]: the error codes, and a refused request as an `error` frame.
//! - [`ids`]: room, user and message ids as types, parsed once at the edge.
//! - [`rules`]: the stateless rules on input (text cleaning, ranges, limits).
//! - [`moderation`]: §7's settings, settings patches, AutoMod terms and ranges.
//! - [`platform`]: §8's shared types and limits (stream summary, state values).
//!
//! This module decides nothing that needs state (rooms, users, rates). It must
//! stay free of actors, I/O and clocks other than [`now_ms`], so that every rule
//! here is unit-testable on its own.

pub mod client;
pub mod ids;
pub mod moderation;
pub mod platform;
pub mod refusal;
pub mod rules;
pub mod server;
pub mod text;

pub use client::{ClientBody, ClientFrame, ModAction, Parsed, Request, Since, parse_client_frame};
pub use ids::{MAX_ROOM_CHARS, MAX_USER_CHARS, MessageId, RoomId, StateKey, UserId};
pub use refusal::{ErrorCode, Refusal, Rejected};
pub use rules::{
    HISTORY_DEFAULT, HISTORY_MAX, MAX_NAME_CHARS, MAX_REASON_CHARS, MAX_REF_CHARS,
    MAX_SLOW_MODE_SECONDS, MAX_TIMEOUT_SECONDS, TextLimits, check_name, clean_reason, clean_text,
    history_limit,
};
pub use server::{
    ChatMessage, Frame, LeftReason, ServerFrame, WelcomeUser, empty_list, empty_object, encode,
    encode_message_list,
};

/// Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
