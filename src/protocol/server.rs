//! Server → client frames (contract §2): every frame as a borrowed serde
//! type, serialised once by [`encode`] into a shared [`Frame`].
//!
//! Broadcast frames are serialised once and the same refcounted bytes go to
//! every receiver; nothing here knows who receives them.

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::moderation::{ChatSettings, MessageFrame, PinView};
use super::platform::{StreamLive, StreamStatus, StreamSummary};
use super::refusal::ErrorCode;

/// A serialised server frame, ready for the socket. Cloning it is a refcount bump.
pub type Frame = ByteString;

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
    /// The message's place in its room's sequence (contract §5); last, so
    /// the node-to-node format can be spliced with it (see `bridge::seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The epoch `seq` belongs to: stored with the message; on the wire it
    /// is in `joined` (clients) and in the envelope (nodes), not on each message.
    #[serde(skip)]
    pub epoch: Option<std::sync::Arc<str>>,
}

#[cfg(test)]
impl ChatMessage {
    /// A message for unit tests: text "t", name = user, no badges, no seq.
    pub(crate) fn sample(room: &str, id: &str, user: &str) -> Self {
        Self {
            room: room.into(),
            id: id.into(),
            user: user.into(),
            name: user.into(),
            text: "t".into(),
            ts: 0,
            badges: vec![],
            seq: None,
            epoch: None,
        }
    }
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
        /// Contract §6: when the token runs out (ms); absent for anonymous viewers.
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    },
    Joined {
        room: &'a str,
        viewers: u64,
        slow_mode: u64,
        /// Pre-serialised `[<message>…]`, shared by every join until it changes.
        recent: &'a RawValue,
        /// Contract §5: the room's latest sequence number, and its epoch.
        seq: u64,
        epoch: &'a str,
        /// Present when the join asked to resume (`since`).
        #[serde(skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
        /// Contract §8: the room's state, `{key: data}`; absent while it has none.
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<&'a RawValue>,
        /// Contract §8: the live stream; absent while there is none.
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<StreamLive<'a>>,
        /// Contract §7: every setting of the room.
        settings: &'a ChatSettings,
        /// Contract §7: the live pin; absent while there is none.
        #[serde(skip_serializing_if = "Option::is_none")]
        pinned: Option<PinView<'a>>,
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
        /// §7: the message an action was about (approve, deny), when it names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
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
    /// Contract §8: a room state key changed (`data` null: it was deleted).
    State {
        room: &'a str,
        key: &'a str,
        data: Option<&'a RawValue>,
    },
    /// Contract §8: a stream went live (`title`, `started_at`) or ended (`summary`).
    Stream {
        room: &'a str,
        status: StreamStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        started_at: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        summary: Option<&'a StreamSummary>,
    },
    /// Contract §8: the live stream's cluster-wide viewer count first reached `value`.
    Milestone {
        room: &'a str,
        kind: &'a str,
        value: u64,
    },
    /// Contract §8: live figures for a room's moderators and broadcaster.
    Stats {
        room: &'a str,
        viewers: u64,
        peak: u64,
        unique_viewers: u64,
        messages_per_min: u64,
        reactions_per_min: u64,
    },
    /// Contract §8: a notification on the user's own channel.
    Notify {
        name: &'a str,
        data: &'a RawValue,
        ts: i64,
    },
    /// Contract §8: another member is typing.
    Typing {
        room: &'a str,
        user: &'a str,
        name: &'a str,
    },
    /// Contract §7: the room's settings changed (all of them).
    Settings {
        room: &'a str,
        settings: &'a ChatSettings,
    },
    /// Contract §7: the sender's message is held for review (instead of `ack`).
    Held {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
        room: &'a str,
        id: &'a str,
    },
    /// Contract §7: a held message, for the room's moderators.
    HeldMessage {
        room: &'a str,
        message: MessageFrame<'a>,
        term: &'a str,
    },
    /// Contract §7: the sender's held message was denied or expired.
    Denied {
        room: &'a str,
        id: &'a str,
    },
    /// Contract §7: a moderator warned this user; chat waits for `acknowledge`.
    Warning {
        room: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        by: &'a str,
    },
    /// Contract §7: a moderator cleared the chat.
    Cleared {
        room: &'a str,
        by: &'a str,
    },
    /// Contract §7: the pin changed (`message` null: no pin; `until` then is when it ended).
    Pinned {
        room: &'a str,
        message: Option<MessageFrame<'a>>,
        until: i64,
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

/// Serialise any frame-shaped value once (see [`encode`] on why this cannot fail).
pub fn encode_json(value: &impl Serialize) -> Frame {
    match serde_json::to_string(value) {
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
