//! The wire format: every frame of `shared/spec/protocol.md` §2 as serde types,
//! and the pure checks on what a client sends (room ids, text, `ref`, ranges).
//!
//! This module parses and serialises; it decides nothing about rooms, users or
//! limits that need state. It must stay free of actors, I/O and clocks other than
//! [`now_ms`], so that every rule here is unit-testable on its own.
//!
//! Broadcast frames are serialised once into a [`Frame`] (a refcounted
//! `ByteString`) and that one buffer is shared by every receiver.

use std::borrow::Cow;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A serialised server frame, ready for the socket. Cloning it is a refcount bump.
pub type Frame = ByteString;

/// Longest `ref` a client may attach to a frame.
pub const MAX_REF_CHARS: usize = 64;
/// Longest room id.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest user id (token `sub`, or a user named in a moderator frame).
pub const MAX_USER_CHARS: usize = 64;
/// Longest moderation reason.
pub const MAX_REASON_CHARS: usize = 200;
/// Longest timeout: 14 days.
pub const MAX_TIMEOUT_SECONDS: u64 = 14 * 24 * 3600;
/// Longest slow-mode interval (the contract sets no upper bound; one day is ours).
pub const MAX_SLOW_MODE_SECONDS: u64 = 24 * 3600;
/// `history` limit bounds and default.
pub const HISTORY_MAX: u64 = 100;
pub const HISTORY_DEFAULT: u64 = 50;

/// Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Client → server
// ---------------------------------------------------------------------------

/// A frame a client sends, exactly as it arrives. Field checks that serde cannot
/// express live in [`ClientFrame::validate`], which turns this into a [`Request`].
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Join {
        room: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Leave {
        room: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Message {
        room: String,
        text: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Reaction {
        room: String,
        emoji: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Ping {
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    History {
        room: String,
        before: Option<String>,
        limit: Option<u64>,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Delete {
        room: String,
        id: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Timeout {
        room: String,
        user: String,
        seconds: u64,
        reason: Option<String>,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Ban {
        room: String,
        user: String,
        reason: Option<String>,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    Unban {
        room: String,
        user: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    SlowMode {
        room: String,
        seconds: u64,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
}

/// A moderator action, validated; shared by the WebSocket frames, the server API
/// and the cluster bridge (which is why it also deserialises).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModAction {
    Delete {
        id: String,
    },
    Timeout {
        user: String,
        seconds: u64,
        reason: Option<String>,
    },
    Ban {
        user: String,
        reason: Option<String>,
    },
    Unban {
        user: String,
    },
    SlowMode {
        seconds: u64,
    },
}

impl ModAction {
    /// The name used in the moderation log and the `moderation` frame.
    pub fn name(&self) -> &'static str {
        match self {
            ModAction::Delete { .. } => "delete",
            ModAction::Timeout { .. } => "timeout",
            ModAction::Ban { .. } => "ban",
            ModAction::Unban { .. } => "unban",
            ModAction::SlowMode { .. } => "slow_mode",
        }
    }
}

/// What a validated client frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Join {
        room: String,
    },
    Leave {
        room: String,
    },
    Message {
        room: String,
        text: String,
    },
    Reaction {
        room: String,
        emoji: String,
    },
    Ping,
    History {
        room: String,
        before: Option<String>,
        limit: u64,
    },
    Moderate {
        room: String,
        action: ModAction,
    },
}

impl Request {
    /// The room a request is about, if any (for error frames and logs).
    pub fn room(&self) -> Option<&str> {
        match self {
            Request::Join { room }
            | Request::Leave { room }
            | Request::Message { room, .. }
            | Request::Reaction { room, .. }
            | Request::History { room, .. }
            | Request::Moderate { room, .. } => Some(room),
            Request::Ping => None,
        }
    }
}

/// A frame that was understood well enough to answer: the request and its `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub request: Request,
    pub reference: Option<String>,
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

/// Parse and validate one text frame.
pub fn parse_client_frame(text: &str, limits: &TextLimits) -> Result<Parsed, Box<Rejected>> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame.validate(limits),
        Err(err) => {
            // Only on failure do we look again, loosely, for a `ref` and `room` to echo.
            let loose: Option<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_str(text).ok();
            let field = |name: &str| {
                loose
                    .as_ref()
                    .and_then(|m| m.get(name))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let reference = field("ref").filter(|r| r.chars().count() <= MAX_REF_CHARS);
            let room = field("room").filter(|r| valid_room_id(r));
            Err(Box::new(Rejected {
                refusal: Refusal::bad_request(describe_serde_error(&err, loose.is_some())),
                reference,
                room,
            }))
        }
    }
}

fn describe_serde_error(err: &serde_json::Error, is_object: bool) -> String {
    let msg = err.to_string();
    if !is_object {
        return format!("frame is not a JSON object: {msg}");
    }
    if msg.starts_with("missing field `type`") {
        return "frame has no \"type\"".to_owned();
    }
    msg
}

/// Limits on chat text that come from configuration.
#[derive(Debug, Clone)]
pub struct TextLimits {
    /// Maximum characters of chat text after cleaning.
    pub max_text_chars: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_text_chars: 500,
        }
    }
}

impl ClientFrame {
    /// Check every field the contract constrains; turn the frame into a [`Request`].
    pub fn validate(self, limits: &TextLimits) -> Result<Parsed, Box<Rejected>> {
        let (request, reference) = match self {
            ClientFrame::Join { room, reference } => (Request::Join { room }, reference),
            ClientFrame::Leave { room, reference } => (Request::Leave { room }, reference),
            ClientFrame::Message {
                room,
                text,
                reference,
            } => (Request::Message { room, text }, reference),
            ClientFrame::Reaction {
                room,
                emoji,
                reference,
            } => (Request::Reaction { room, emoji }, reference),
            ClientFrame::Ping { reference } => (Request::Ping, reference),
            ClientFrame::History {
                room,
                before,
                limit,
                reference,
            } => (
                Request::History {
                    room,
                    before,
                    limit: limit.unwrap_or(HISTORY_DEFAULT),
                },
                reference,
            ),
            ClientFrame::Delete {
                room,
                id,
                reference,
            } => (
                Request::Moderate {
                    room,
                    action: ModAction::Delete { id },
                },
                reference,
            ),
            ClientFrame::Timeout {
                room,
                user,
                seconds,
                reason,
                reference,
            } => (
                Request::Moderate {
                    room,
                    action: ModAction::Timeout {
                        user,
                        seconds,
                        reason,
                    },
                },
                reference,
            ),
            ClientFrame::Ban {
                room,
                user,
                reason,
                reference,
            } => (
                Request::Moderate {
                    room,
                    action: ModAction::Ban { user, reason },
                },
                reference,
            ),
            ClientFrame::Unban {
                room,
                user,
                reference,
            } => (
                Request::Moderate {
                    room,
                    action: ModAction::Unban { user },
                },
                reference,
            ),
            ClientFrame::SlowMode {
                room,
                seconds,
                reference,
            } => (
                Request::Moderate {
                    room,
                    action: ModAction::SlowMode { seconds },
                },
                reference,
            ),
        };
        let reject = |refusal: Refusal, reference: Option<String>, room: Option<&str>| {
            Box::new(Rejected {
                refusal,
                reference,
                room: room.filter(|r| valid_room_id(r)).map(str::to_owned),
            })
        };
        if let Some(r) = &reference
            && r.chars().count() > MAX_REF_CHARS
        {
            return Err(reject(
                Refusal::bad_request(format!("ref is longer than {MAX_REF_CHARS} characters")),
                None,
                request.room(),
            ));
        }
        if let Some(room) = request.room()
            && !valid_room_id(room)
        {
            return Err(reject(
                Refusal::bad_request(
                    "room must be 1-64 characters of A-Z a-z 0-9 _ . : -".to_owned(),
                ),
                reference,
                None,
            ));
        }
        let request = match request {
            Request::Message { room, text } => match clean_text(&text, limits.max_text_chars) {
                Ok(text) => Request::Message { room, text },
                Err(refusal) => return Err(reject(refusal, reference, Some(&room))),
            },
            Request::History {
                room,
                before,
                limit,
            } => {
                if !(1..=HISTORY_MAX).contains(&limit) {
                    return Err(reject(
                        Refusal::bad_request(format!("limit must be 1-{HISTORY_MAX}")),
                        reference,
                        Some(&room),
                    ));
                }
                if let Some(b) = &before
                    && !valid_message_id(b)
                {
                    return Err(reject(
                        Refusal::bad_request("before must be a message id (ULID)".to_owned()),
                        reference,
                        Some(&room),
                    ));
                }
                Request::History {
                    room,
                    before,
                    limit,
                }
            }
            Request::Moderate { room, action } => match validate_mod_action(action) {
                Ok(action) => Request::Moderate { room, action },
                Err(refusal) => return Err(reject(refusal, reference, Some(&room))),
            },
            other => other,
        };
        Ok(Parsed { request, reference })
    }
}

/// Check the fields of a moderator action (shared with the server API).
pub fn validate_mod_action(action: ModAction) -> Result<ModAction, Refusal> {
    let check_user = |user: &str| {
        if valid_user_id(user) {
            Ok(())
        } else {
            Err(Refusal::bad_request(format!(
                "user must be 1-{MAX_USER_CHARS} characters"
            )))
        }
    };
    match action {
        ModAction::Delete { id } => {
            if !valid_message_id(&id) {
                return Err(Refusal::bad_request(
                    "id must be a message id (ULID)".to_owned(),
                ));
            }
            Ok(ModAction::Delete { id })
        }
        ModAction::Timeout {
            user,
            seconds,
            reason,
        } => {
            check_user(&user)?;
            if !(1..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
                return Err(Refusal::bad_request(format!(
                    "seconds must be 1-{MAX_TIMEOUT_SECONDS} (14 days)"
                )));
            }
            Ok(ModAction::Timeout {
                user,
                seconds,
                reason: clean_reason(reason)?,
            })
        }
        ModAction::Ban { user, reason } => {
            check_user(&user)?;
            Ok(ModAction::Ban {
                user,
                reason: clean_reason(reason)?,
            })
        }
        ModAction::Unban { user } => {
            check_user(&user)?;
            Ok(ModAction::Unban { user })
        }
        ModAction::SlowMode { seconds } => {
            if seconds > MAX_SLOW_MODE_SECONDS {
                return Err(Refusal::bad_request(format!(
                    "seconds must be 0-{MAX_SLOW_MODE_SECONDS}"
                )));
            }
            Ok(ModAction::SlowMode { seconds })
        }
    }
}

/// A reason is optional, cleaned like chat text, and at most 200 characters.
fn clean_reason(reason: Option<String>) -> Result<Option<String>, Refusal> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    let cleaned = strip_controls(&reason);
    let trimmed = cleaned.trim();
    if trimmed.chars().count() > MAX_REASON_CHARS {
        return Err(Refusal::new(
            ErrorCode::TooLong,
            format!("reason is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// A room id is 1–64 chars of `[A-Za-z0-9_.:-]`.
pub fn valid_room_id(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM_CHARS
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// A user id is 1–64 characters with no control characters.
pub fn valid_user_id(user: &str) -> bool {
    let n = user.chars().count();
    (1..=MAX_USER_CHARS).contains(&n) && !user.chars().any(char::is_control)
}

/// A message id is a 26-character ULID in Crockford base32.
pub fn valid_message_id(id: &str) -> bool {
    id.len() == 26 && ulid::Ulid::from_string(id).is_ok()
}

/// Remove control characters; line breaks and tabs become spaces (chat is one line).
fn strip_controls(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Chat text: control characters removed, trimmed, then 1..=max characters.
pub fn clean_text(text: &str, max_chars: usize) -> Result<String, Refusal> {
    let cleaned = strip_controls(text);
    let trimmed = cleaned.trim();
    let n = trimmed.chars().count();
    if n == 0 {
        return Err(Refusal::bad_request("text is empty".to_owned()));
    }
    if n > max_chars {
        return Err(Refusal::new(
            ErrorCode::TooLong,
            format!("text is {n} characters; the limit is {max_chars}"),
        ));
    }
    Ok(if trimmed.len() == cleaned.len() {
        cleaned
    } else {
        trimmed.to_owned()
    })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn bad_request(message: String) -> Self {
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

// ---------------------------------------------------------------------------
// Server → client
// ---------------------------------------------------------------------------

/// A chat message as it travels and is stored. Serialised as a `message` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: String,
    pub id: String,
    pub user: String,
    pub name: String,
    pub text: String,
    pub ts: i64,
    pub badges: Vec<String>,
}

/// The user object of `welcome`.
#[derive(Debug, Serialize)]
pub struct WelcomeUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub anonymous: bool,
    #[serde(rename = "mod")]
    pub moderates: &'a [String],
}

/// Why a connection left a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    Leave,
    Banned,
    Shutdown,
}

/// Every frame the server sends. Borrowed, so building one costs no copies.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Welcome {
        user: WelcomeUser<'a>,
        node: &'a str,
        heartbeat_ms: u64,
    },
    Joined {
        room: &'a str,
        viewers: u64,
        slow_mode: u64,
        /// Pre-serialised `[<message>…]`, shared by every join until it changes.
        recent: &'a RawValue,
    },
    Left {
        room: &'a str,
        reason: LeftReason,
    },
    Message(&'a ChatMessage),
    Ack {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
        id: &'a str,
    },
    Reactions {
        room: &'a str,
        counts: &'a serde_json::Map<String, serde_json::Value>,
    },
    Viewers {
        room: &'a str,
        count: u64,
    },
    Deleted {
        room: &'a str,
        id: &'a str,
        by: &'a str,
    },
    Moderation {
        room: &'a str,
        action: &'a str,
        user: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        by: &'a str,
    },
    SlowMode {
        room: &'a str,
        seconds: u64,
    },
    Event {
        room: &'a str,
        name: &'a str,
        data: &'a RawValue,
    },
    History {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
        room: &'a str,
        /// `[<message>…]` as made by [`encode_message_list`].
        messages: &'a RawValue,
    },
    Pong {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
        ts: i64,
    },
    Error {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        code: ErrorCode,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Reconnect {
        after_ms: u64,
    },
}

/// Serialise a frame once. Serialising these types cannot fail (no maps with
/// non-string keys, no fallible `Serialize` impls), so a failure is a bug; it is
/// logged and turned into an `internal` error frame rather than a panic.
pub fn encode(frame: &ServerFrame<'_>) -> Frame {
    match serde_json::to_string(frame) {
        Ok(s) => ByteString::from(s),
        Err(err) => {
            tracing::error!(error = %err, "failed to serialise a server frame");
            ByteString::from_static(
                r#"{"type":"error","code":"internal","message":"server failed to encode a frame"}"#,
            )
        }
    }
}

/// Serialise a list of messages as one JSON array of `message` frames, for
/// `joined.recent`, `history` and the server API.
pub fn encode_message_list<'a>(messages: impl Iterator<Item = &'a ChatMessage>) -> Box<RawValue> {
    let frames: Vec<ServerFrame<'_>> = messages.map(ServerFrame::Message).collect();
    serde_json::to_string(&frames)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_else(empty_list)
}

/// `{}` as a raw JSON value.
pub fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_default()
}

/// `[]` as a raw JSON value.
pub fn empty_list() -> Box<RawValue> {
    // unwrap-free: "[]" is valid JSON, and from_string only fails on invalid JSON.
    RawValue::from_string("[]".to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Parsed, Box<Rejected>> {
        parse_client_frame(text, &TextLimits::default())
    }

    #[test]
    fn a_join_frame_parses() {
        let p = parse(r#"{"type":"join","room":"r1"}"#).unwrap();
        assert_eq!(
            p.request,
            Request::Join {
                room: "r1".to_owned()
            }
        );
        assert_eq!(p.reference, None);
    }

    #[test]
    fn a_message_keeps_its_ref_and_cleans_its_text() {
        let p =
            parse(r#"{"type":"message","room":"r","text":"  hi\u0007 there\nyou  ","ref":"c1"}"#)
                .unwrap();
        assert_eq!(
            p.request,
            Request::Message {
                room: "r".to_owned(),
                text: "hi there you".to_owned()
            }
        );
        assert_eq!(p.reference.as_deref(), Some("c1"));
    }

    #[test]
    fn malformed_frames_are_bad_requests_with_ref_and_room_echoed() {
        for bad in [
            "not json",
            "[1,2]",
            r#"{"room":"r"}"#,
            r#"{"type":"dance","room":"r","ref":"x"}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"join","room":5}"#,
            r#"{"type":"history","room":"r","limit":"ten"}"#,
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.refusal.code, ErrorCode::BadRequest, "{bad}");
        }
        let err = parse(r#"{"type":"dance","room":"r","ref":"x"}"#).unwrap_err();
        assert_eq!(err.reference.as_deref(), Some("x"));
        assert_eq!(err.room.as_deref(), Some("r"));
        assert!(err.refusal.message.contains("dance"), "{:?}", err.refusal);
    }

    #[test]
    fn room_ids_follow_the_contract() {
        assert!(valid_room_id("a"));
        assert!(valid_room_id("Shop_1.live:2026-11"));
        assert!(valid_room_id(&"x".repeat(64)));
        assert!(!valid_room_id(""));
        assert!(!valid_room_id(&"x".repeat(65)));
        assert!(!valid_room_id("has space"));
        assert!(!valid_room_id("emoji🔥"));
        let err = parse(r#"{"type":"join","room":"a/b"}"#).unwrap_err();
        assert_eq!(err.refusal.code, ErrorCode::BadRequest);
    }

    #[test]
    fn text_length_is_counted_in_characters_after_cleaning() {
        assert_eq!(
            clean_text(&"é".repeat(500), 500).unwrap().chars().count(),
            500
        );
        assert_eq!(
            clean_text(&"é".repeat(501), 500).unwrap_err().code,
            ErrorCode::TooLong
        );
        // Controls do not count, surrounding space does not count.
        let padded = format!("  {}\u{0}\u{1}  ", "a".repeat(500));
        assert_eq!(clean_text(&padded, 500).unwrap().len(), 500);
        assert_eq!(
            clean_text(" \u{0}\t ", 500).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn ref_longer_than_64_is_refused() {
        let frame = format!(r#"{{"type":"ping","ref":"{}"}}"#, "r".repeat(65));
        assert_eq!(
            parse(&frame).unwrap_err().refusal.code,
            ErrorCode::BadRequest
        );
        let frame = format!(r#"{{"type":"ping","ref":"{}"}}"#, "r".repeat(64));
        assert!(parse(&frame).is_ok());
    }

    #[test]
    fn history_limits_and_before_are_checked() {
        let p = parse(r#"{"type":"history","room":"r"}"#).unwrap();
        assert_eq!(
            p.request,
            Request::History {
                room: "r".to_owned(),
                before: None,
                limit: 50
            }
        );
        for bad in [
            r#"{"type":"history","room":"r","limit":0}"#,
            r#"{"type":"history","room":"r","limit":101}"#,
            r#"{"type":"history","room":"r","before":"nope"}"#,
        ] {
            assert_eq!(parse(bad).unwrap_err().refusal.code, ErrorCode::BadRequest);
        }
        let id = ulid::Ulid::generate().to_string();
        let ok = format!(r#"{{"type":"history","room":"r","before":"{id}","limit":100}}"#);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn moderator_frames_check_their_ranges() {
        let ok =
            parse(r#"{"type":"timeout","room":"r","user":"u2","seconds":300,"reason":"spam"}"#)
                .unwrap();
        assert_eq!(
            ok.request,
            Request::Moderate {
                room: "r".to_owned(),
                action: ModAction::Timeout {
                    user: "u2".to_owned(),
                    seconds: 300,
                    reason: Some("spam".to_owned())
                }
            }
        );
        for bad in [
            r#"{"type":"timeout","room":"r","user":"u2","seconds":0}"#,
            r#"{"type":"timeout","room":"r","user":"u2","seconds":1209601}"#,
            r#"{"type":"ban","room":"r","user":""}"#,
            r#"{"type":"slow_mode","room":"r","seconds":-1}"#,
            r#"{"type":"delete","room":"r","id":"x"}"#,
        ] {
            assert_eq!(
                parse(bad).unwrap_err().refusal.code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
        let long = format!(
            r#"{{"type":"ban","room":"r","user":"u","reason":"{}"}}"#,
            "x".repeat(201)
        );
        assert_eq!(parse(&long).unwrap_err().refusal.code, ErrorCode::TooLong);
    }

    #[test]
    fn server_frames_serialise_as_the_contract_says() {
        let msg = ChatMessage {
            room: "r".into(),
            id: "01J00000000000000000000000".into(),
            user: "u1".into(),
            name: "Ann".into(),
            text: "hi".into(),
            ts: 5,
            badges: vec!["mod".into()],
        };
        let v: serde_json::Value =
            serde_json::from_str(&encode(&ServerFrame::Message(&msg))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"message","room":"r","id":"01J00000000000000000000000",
                "user":"u1","name":"Ann","text":"hi","ts":5,"badges":["mod"]})
        );
        let err = Refusal::retry(ErrorCode::RateLimited, "slow down", 800).frame(None, Some("c1"));
        let v: serde_json::Value = serde_json::from_str(&err).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"error","ref":"c1","code":"rate_limited",
                "message":"slow down","retry_after_ms":800})
        );
        let recent = encode_message_list([msg.clone()].iter());
        let joined = encode(&ServerFrame::Joined {
            room: "r",
            viewers: 3,
            slow_mode: 0,
            recent: &recent,
        });
        let v: serde_json::Value = serde_json::from_str(&joined).unwrap();
        assert_eq!(v["recent"][0]["text"], "hi");
        assert_eq!(v["type"], "joined");
    }
}
