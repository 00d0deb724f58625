//! Client → server frames (contract §2): how a text frame becomes a checked
//! [`Request`], or a [`Rejected`] that says which `ref` and room to answer.
//!
//! Parsing is two steps: serde reads the frame into [`ClientFrame`] (ids are
//! checked on the way in, see `ids`), then [`ClientFrame::validate`] applies
//! the rules serde cannot express (text cleaning, ranges).

use serde::{Deserialize, Deserializer, Serialize};

use super::ids::{MessageId, RoomId, UserId};
use super::refusal::{Refusal, Rejected};
use super::rules::{
    MAX_REF_CHARS, MAX_SLOW_MODE_SECONDS, MAX_TIMEOUT_SECONDS, TextLimits, clean_reason,
    clean_text, history_limit,
};

/// A frame a client sends: its optional `ref` and what it asks for.
#[derive(Debug, Deserialize)]
pub struct ClientFrame {
    #[serde(rename = "ref", default, deserialize_with = "reference")]
    pub reference: Option<String>,
    #[serde(flatten)]
    pub body: ClientBody,
}

/// The body of a client frame, by its `"type"`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientBody {
    Join {
        room: RoomId,
        /// Contract §5: resume from this position.
        #[serde(default)]
        since: Option<Since>,
    },
    Leave {
        room: RoomId,
    },
    Message {
        room: RoomId,
        text: String,
    },
    Reaction {
        room: RoomId,
        emoji: String,
    },
    Ping,
    History {
        room: RoomId,
        before: Option<MessageId>,
        limit: Option<u64>,
    },
    Delete {
        room: RoomId,
        id: MessageId,
    },
    Timeout {
        room: RoomId,
        user: UserId,
        seconds: u64,
        reason: Option<String>,
    },
    Ban {
        room: RoomId,
        user: UserId,
        reason: Option<String>,
    },
    Unban {
        room: RoomId,
        user: UserId,
    },
    SlowMode {
        room: RoomId,
        seconds: u64,
    },
    /// Contract §6: a new token for this connection, before the old one expires.
    Refresh {
        token: String,
    },
}

/// `ref`: an optional string of at most 64 characters.
fn reference<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let r = Option::<String>::deserialize(d)?;
    match r {
        Some(r) if r.chars().count() > MAX_REF_CHARS => Err(serde::de::Error::custom(format!(
            "ref is longer than {MAX_REF_CHARS} characters"
        ))),
        r => Ok(r),
    }
}

/// A moderator action; shared by the WebSocket frames, the server API and the
/// cluster (which is why it also serialises: it travels between nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModAction {
    Delete {
        id: MessageId,
    },
    Timeout {
        user: UserId,
        seconds: u64,
        reason: Option<String>,
    },
    Ban {
        user: UserId,
        reason: Option<String>,
    },
    Unban {
        user: UserId,
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

    /// Check the ranges serde cannot (seconds), and clean the reason.
    pub fn validate(self) -> Result<ModAction, Refusal> {
        match self {
            ModAction::Timeout {
                user,
                seconds,
                reason,
            } => {
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
            ModAction::Ban { user, reason } => Ok(ModAction::Ban {
                user,
                reason: clean_reason(reason)?,
            }),
            ModAction::SlowMode { seconds } if seconds > MAX_SLOW_MODE_SECONDS => Err(
                Refusal::bad_request(format!("seconds must be 0-{MAX_SLOW_MODE_SECONDS}")),
            ),
            other => Ok(other),
        }
    }
}

/// A position in a room's sequence (contract §5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Since {
    pub seq: u64,
    pub epoch: String,
}

/// What a checked client frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Join {
        room: RoomId,
        since: Option<Since>,
    },
    Leave {
        room: RoomId,
    },
    /// Chat text, already cleaned.
    Message {
        room: RoomId,
        text: String,
    },
    Reaction {
        room: RoomId,
        emoji: String,
    },
    Ping,
    History {
        room: RoomId,
        before: Option<MessageId>,
        limit: u64,
    },
    Moderate {
        room: RoomId,
        action: ModAction,
    },
    Refresh {
        token: String,
    },
}

impl Request {
    /// The room a request is about, if any (for error frames).
    pub fn room(&self) -> Option<&str> {
        match self {
            Request::Join { room, .. }
            | Request::Leave { room }
            | Request::Message { room, .. }
            | Request::Reaction { room, .. }
            | Request::History { room, .. }
            | Request::Moderate { room, .. } => Some(room),
            Request::Ping | Request::Refresh { .. } => None,
        }
    }

    /// What the frame costs from the connection's frame budget (contract §6).
    pub fn cost(&self, history_cost: u32) -> u32 {
        match self {
            Request::History { .. } => history_cost,
            _ => 1,
        }
    }
}

/// A frame that was understood well enough to answer: the request and its `ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub request: Request,
    pub reference: Option<String>,
}

/// Parse and check one text frame.
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
            let room = field("room").filter(|r| RoomId::is_valid(r));
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

impl ClientFrame {
    /// Apply the rules serde cannot express; turn the frame into a [`Request`].
    pub fn validate(self, limits: &TextLimits) -> Result<Parsed, Box<Rejected>> {
        let ClientFrame { reference, body } = self;
        let moderate = |room, action: ModAction| match action.validate() {
            Ok(action) => Ok(Request::Moderate { room, action }),
            Err(refusal) => Err((refusal, room)),
        };
        let request = match body {
            ClientBody::Join { room, since } => Ok(Request::Join { room, since }),
            ClientBody::Leave { room } => Ok(Request::Leave { room }),
            ClientBody::Message { room, text } => match clean_text(&text, limits.max_text_chars) {
                Ok(text) => Ok(Request::Message { room, text }),
                Err(refusal) => Err((refusal, room)),
            },
            ClientBody::Reaction { room, emoji } => Ok(Request::Reaction { room, emoji }),
            ClientBody::Ping => Ok(Request::Ping),
            ClientBody::History {
                room,
                before,
                limit,
            } => match history_limit(limit) {
                Ok(limit) => Ok(Request::History {
                    room,
                    before,
                    limit,
                }),
                Err(refusal) => Err((refusal, room)),
            },
            ClientBody::Delete { room, id } => moderate(room, ModAction::Delete { id }),
            ClientBody::Timeout {
                room,
                user,
                seconds,
                reason,
            } => moderate(
                room,
                ModAction::Timeout {
                    user,
                    seconds,
                    reason,
                },
            ),
            ClientBody::Ban { room, user, reason } => {
                moderate(room, ModAction::Ban { user, reason })
            }
            ClientBody::Unban { room, user } => moderate(room, ModAction::Unban { user }),
            ClientBody::SlowMode { room, seconds } => {
                moderate(room, ModAction::SlowMode { seconds })
            }
            ClientBody::Refresh { token } => {
                return Ok(Parsed {
                    request: Request::Refresh { token },
                    reference,
                });
            }
        };
        match request {
            Ok(request) => Ok(Parsed { request, reference }),
            Err((refusal, room)) => Err(Box::new(Rejected {
                refusal,
                reference,
                room: Some(room.into_string()),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    fn parse(text: &str) -> Result<Parsed, Box<Rejected>> {
        parse_client_frame(text, &TextLimits::default())
    }

    #[test]
    fn an_unknown_type_is_named_in_the_refusal() {
        let err = parse(r#"{"type":"dance","room":"r","ref":"x"}"#).unwrap_err();
        assert_eq!(err.refusal.code, ErrorCode::BadRequest);
        assert!(err.refusal.message.contains("dance"), "{:?}", err.refusal);
    }

    #[test]
    fn a_frame_without_a_type_says_so() {
        let err = parse(r#"{"room":"r"}"#).unwrap_err();
        assert_eq!(err.refusal.message, "frame has no \"type\"");
    }
}
