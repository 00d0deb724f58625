//! Client → server frames (contract §2): how a text frame becomes a checked
//! [`Request`], or a [`Rejected`] that says which `ref` and room to answer.
//!
//! Parsing is two steps: serde reads the frame into [`ClientFrame`] (ids are
//! checked on the way in, see `ids`), then [`ClientFrame::validate`] applies
//! the rules serde cannot express (text cleaning, ranges).

use serde::{Deserialize, Deserializer, Serialize};

use super::ids::{MessageId, RoomId, UserId};
use super::moderation::{MAX_ROOM_TERMS, SettingsPatch, Term, check_pin_seconds};
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
        /// Contract §7: a room token (roles for this membership).
        #[serde(default)]
        token: Option<String>,
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
    /// Contract §8: the user is typing in `room`.
    Typing {
        room: RoomId,
    },
    // Contract §7: moderation v2.
    Settings {
        room: RoomId,
        settings: SettingsPatch,
    },
    ShadowBan {
        room: RoomId,
        user: UserId,
        reason: Option<String>,
    },
    Warn {
        room: RoomId,
        user: UserId,
        reason: Option<String>,
    },
    Acknowledge {
        room: RoomId,
    },
    Clear {
        room: RoomId,
    },
    Purge {
        room: RoomId,
        user: UserId,
        reason: Option<String>,
    },
    Pin {
        room: RoomId,
        id: MessageId,
        seconds: u64,
    },
    Unpin {
        room: RoomId,
    },
    Approve {
        room: RoomId,
        id: MessageId,
    },
    Deny {
        room: RoomId,
        id: MessageId,
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
    // Contract §7. Over the cluster, `settings` carries every setting (so a
    // node that missed a change is right again) and a purge travels as the
    // deletes it made; pins travel resolved (`ClusterEvent::Pinned`).
    Settings {
        changes: SettingsPatch,
    },
    ShadowBan {
        user: UserId,
        reason: Option<String>,
    },
    Warn {
        user: UserId,
        reason: Option<String>,
    },
    Clear,
    Purge {
        user: UserId,
        reason: Option<String>,
    },
    Pin {
        id: MessageId,
        seconds: u64,
    },
    Unpin,
    Approve {
        id: MessageId,
    },
    Deny {
        id: MessageId,
    },
    /// The stored moderator list (the API and the broadcaster only).
    ModAdd {
        user: UserId,
    },
    ModRemove {
        user: UserId,
    },
    /// The room's own AutoMod terms, replaced (the API and moderators).
    Terms {
        terms: Vec<Term>,
    },
}

impl ModAction {
    /// The name used in the moderation log and the `moderation` frame (a
    /// change of terms is logged as a `settings` change).
    pub fn name(&self) -> &'static str {
        match self {
            ModAction::Delete { .. } => "delete",
            ModAction::Timeout { .. } => "timeout",
            ModAction::Ban { .. } => "ban",
            ModAction::Unban { .. } => "unban",
            ModAction::SlowMode { .. } => "slow_mode",
            ModAction::Settings { .. } | ModAction::Terms { .. } => "settings",
            ModAction::ShadowBan { .. } => "shadow_ban",
            ModAction::Warn { .. } => "warn",
            ModAction::Clear => "clear",
            ModAction::Purge { .. } => "purge",
            ModAction::Pin { .. } => "pin",
            ModAction::Unpin => "unpin",
            ModAction::Approve { .. } => "approve",
            ModAction::Deny { .. } => "deny",
            ModAction::ModAdd { .. } => "mod_add",
            ModAction::ModRemove { .. } => "mod_remove",
        }
    }

    /// One of v1's actions (contract §2), which `room::moderation` applies.
    pub fn is_v1(&self) -> bool {
        matches!(
            self,
            ModAction::Delete { .. }
                | ModAction::Timeout { .. }
                | ModAction::Ban { .. }
                | ModAction::Unban { .. }
                | ModAction::SlowMode { .. }
        )
    }

    /// The user an action names, for the hierarchy (§7: a moderator cannot
    /// act on a moderator or the broadcaster). Lifting (`unban`) harms no one.
    pub fn target(&self) -> Option<&UserId> {
        match self {
            ModAction::Timeout { user, .. }
            | ModAction::Ban { user, .. }
            | ModAction::ShadowBan { user, .. }
            | ModAction::Warn { user, .. }
            | ModAction::Purge { user, .. } => Some(user),
            _ => None,
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
            ModAction::Settings { changes } => Ok(ModAction::Settings {
                changes: changes.validate()?,
            }),
            ModAction::ShadowBan { user, reason } => Ok(ModAction::ShadowBan {
                user,
                reason: clean_reason(reason)?,
            }),
            ModAction::Warn { user, reason } => Ok(ModAction::Warn {
                user,
                reason: clean_reason(reason)?,
            }),
            ModAction::Purge { user, reason } => Ok(ModAction::Purge {
                user,
                reason: clean_reason(reason)?,
            }),
            ModAction::Pin { id, seconds } => Ok(ModAction::Pin {
                id,
                seconds: check_pin_seconds(seconds)?,
            }),
            ModAction::Terms { terms } if terms.len() > MAX_ROOM_TERMS => Err(
                Refusal::bad_request(format!("at most {MAX_ROOM_TERMS} terms")),
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
        /// Contract §7: a room token, checked by the session.
        token: Option<String>,
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
    Typing {
        room: RoomId,
    },
    /// Contract §7: the user read a warning in this room.
    Acknowledge {
        room: RoomId,
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
            | Request::Moderate { room, .. }
            | Request::Typing { room }
            | Request::Acknowledge { room } => Some(room),
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
            ClientBody::Join { room, since, token } => Ok(Request::Join { room, since, token }),
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
            ClientBody::Typing { room } => Ok(Request::Typing { room }),
            ClientBody::Settings { room, settings } => {
                moderate(room, ModAction::Settings { changes: settings })
            }
            ClientBody::ShadowBan { room, user, reason } => {
                moderate(room, ModAction::ShadowBan { user, reason })
            }
            ClientBody::Warn { room, user, reason } => {
                moderate(room, ModAction::Warn { user, reason })
            }
            ClientBody::Acknowledge { room } => Ok(Request::Acknowledge { room }),
            ClientBody::Clear { room } => moderate(room, ModAction::Clear),
            ClientBody::Purge { room, user, reason } => {
                moderate(room, ModAction::Purge { user, reason })
            }
            ClientBody::Pin { room, id, seconds } => moderate(room, ModAction::Pin { id, seconds }),
            ClientBody::Unpin { room } => moderate(room, ModAction::Unpin),
            ClientBody::Approve { room, id } => moderate(room, ModAction::Approve { id }),
            ClientBody::Deny { room, id } => moderate(room, ModAction::Deny { id }),
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
