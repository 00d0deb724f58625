//! The node-to-node format: what one node publishes on a room's channel and
//! every other node reads. Nodes of two versions run side by side during a
//! rolling restart, so this JSON changes only in ways both can read (new
//! optional fields); `tests/wire` pins it.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::protocol::{ChatMessage, ModAction};

/// A room event as it travels between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterEvent {
    /// An accepted chat message (the origin node stored it).
    Message { msg: ChatMessage },
    /// A moderator action (the origin node stored and logged it).
    Moderation { by: String, action: ModAction },
    /// A platform event.
    Event { name: String, data: Box<RawValue> },
    /// The origin node's reaction counts for one window.
    Reactions { counts: Vec<(String, u64)> },
    /// The origin node's connection count in the room (also sent as a
    /// heartbeat), and (§7) the users it holds there who rank above viewers
    /// (1 mod, 2 broadcaster), so every node keeps the hierarchy.
    Presence {
        count: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ranks: Vec<(String, u8)>,
    },
    /// Contract §8: room state, streams, milestones, typing, occupancy (and,
    /// on a node's inbox, notifications); see `bridge::platform`.
    Platform(super::platform::PlatformEvent),
    /// §7: a shadow-banned user's message (its author's connections and the
    /// moderators see it; the origin node stored it).
    Shadow { msg: ChatMessage },
    /// §7: a message in its chat delay: moderators see it now (the origin
    /// node publishes it when the delay is over).
    Delayed { msg: ChatMessage },
    /// §7: a message AutoMod held on the origin node, until `expires_at` (ms).
    Held {
        msg: ChatMessage,
        term: String,
        expires_at: i64,
    },
    /// §7: the room's pin changed (`message` none: unpinned).
    Pinned {
        message: Option<ChatMessage>,
        until: i64,
        by: String,
    },
    /// §7: a user acknowledged their warning.
    Acknowledged { user: String },
}

/// What goes on a room channel: the origin node and the event.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub node: String,
    /// A chat message's place in the room's sequence, given by Redis (§5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    pub event: ClusterEvent,
}

impl Envelope {
    /// The JSON published on a room channel.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Read an envelope from a room channel.
    pub fn decode(payload: &[u8]) -> Result<Envelope, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

/// Upper bounds on what another node may send (contract §6: cluster events
/// are checked like client input). Generous: they only catch nonsense.
const MAX_TEXT_CHARS: usize = 2_000;
const MAX_BADGES: usize = 16;
const MAX_REACTION_KINDS: usize = 64;
const MAX_REACTIONS_PER_WINDOW: u64 = 10_000_000;
const MAX_PRESENCE: u64 = 10_000_000;
const MAX_RANKED: usize = 10_000;
const MAX_EVENT_DATA_BYTES: usize = 2_048;

impl ClusterEvent {
    /// Check an event that arrived on `room`'s channel; the reason if it is
    /// malformed or out of range (the event is then dropped and counted).
    pub fn validate(self, room: &str) -> Result<ClusterEvent, &'static str> {
        use crate::protocol::{MessageId, UserId, check_name};
        match self {
            ClusterEvent::Message { msg } => {
                if msg.room != room {
                    return Err("message for another room");
                }
                if !MessageId::is_valid(&msg.id) || !UserId::is_valid(&msg.user) {
                    return Err("message id or user malformed");
                }
                if check_name(&msg.name).is_err() {
                    return Err("message name malformed");
                }
                let n = msg.text.chars().count();
                if n == 0 || n > MAX_TEXT_CHARS || msg.text.chars().any(char::is_control) {
                    return Err("message text out of range");
                }
                if msg.badges.len() > MAX_BADGES || msg.badges.iter().any(|b| b.len() > 64) {
                    return Err("message badges out of range");
                }
                Ok(ClusterEvent::Message { msg })
            }
            ClusterEvent::Moderation { by, action } => {
                if !UserId::is_valid(&by) {
                    return Err("moderator malformed");
                }
                let action = action.validate().map_err(|_| "moderation out of range")?;
                Ok(ClusterEvent::Moderation { by, action })
            }
            ClusterEvent::Event { name, data } => {
                let n = name.chars().count();
                if n == 0 || n > 64 || name.chars().any(char::is_control) {
                    return Err("event name out of range");
                }
                if data.get().len() > MAX_EVENT_DATA_BYTES || !data.get().starts_with('{') {
                    return Err("event data out of range");
                }
                Ok(ClusterEvent::Event { name, data })
            }
            ClusterEvent::Reactions { counts } => {
                if counts.len() > MAX_REACTION_KINDS
                    || counts
                        .iter()
                        .any(|(e, n)| e.len() > 64 || *n > MAX_REACTIONS_PER_WINDOW)
                {
                    return Err("reaction counts out of range");
                }
                Ok(ClusterEvent::Reactions { counts })
            }
            ClusterEvent::Presence { count, .. } if count > MAX_PRESENCE => {
                Err("presence count out of range")
            }
            ClusterEvent::Presence { ranks, .. } if ranks.len() > MAX_RANKED => {
                let _ = ranks;
                Err("too many ranked users")
            }
            presence @ ClusterEvent::Presence { .. } => Ok(presence),
            ClusterEvent::Platform(event) => event.validate_for_room().map(ClusterEvent::Platform),
            ClusterEvent::Shadow { msg } => match (ClusterEvent::Message { msg }).validate(room)? {
                ClusterEvent::Message { msg } => Ok(ClusterEvent::Shadow { msg }),
                _ => Err("shadow message malformed"),
            },
            ClusterEvent::Delayed { msg } => {
                match (ClusterEvent::Message { msg }).validate(room)? {
                    ClusterEvent::Message { msg } => Ok(ClusterEvent::Delayed { msg }),
                    _ => Err("delayed message malformed"),
                }
            }
            ClusterEvent::Held {
                msg,
                term,
                expires_at,
            } => {
                if term.is_empty() || term.chars().count() > 64 {
                    return Err("held term malformed");
                }
                match (ClusterEvent::Message { msg }).validate(room)? {
                    ClusterEvent::Message { msg } => Ok(ClusterEvent::Held {
                        msg,
                        term,
                        expires_at,
                    }),
                    _ => Err("held message malformed"),
                }
            }
            ClusterEvent::Pinned { message, until, by } => {
                if !UserId::is_valid(&by) {
                    return Err("pin by malformed");
                }
                let message = match message {
                    Some(msg) => match (ClusterEvent::Message { msg }).validate(room)? {
                        ClusterEvent::Message { msg } => Some(msg),
                        _ => return Err("pinned message malformed"),
                    },
                    None => None,
                };
                Ok(ClusterEvent::Pinned { message, until, by })
            }
            ClusterEvent::Acknowledged { user } => {
                if !UserId::is_valid(&user) {
                    return Err("user malformed");
                }
                Ok(ClusterEvent::Acknowledged { user })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageId, UserId};

    fn msg(room: &str) -> ChatMessage {
        ChatMessage {
            room: room.into(),
            id: ulid::Ulid::generate().to_string(),
            user: "u1".into(),
            name: "Ann".into(),
            text: "hi".into(),
            ts: 0,
            badges: vec![],
            seq: None,
            epoch: None,
        }
    }

    #[test]
    fn events_in_range_pass_and_others_are_refused() {
        assert!(
            ClusterEvent::Message { msg: msg("r") }
                .validate("r")
                .is_ok()
        );
        assert!(
            ClusterEvent::Message { msg: msg("r") }
                .validate("other")
                .is_err()
        );
        let mut long = msg("r");
        long.text = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(ClusterEvent::Message { msg: long }.validate("r").is_err());
        let timeout = |seconds| ClusterEvent::Moderation {
            by: "m".into(),
            action: ModAction::Timeout {
                user: UserId::parse("u2").unwrap(),
                seconds,
                reason: None,
            },
        };
        assert!(timeout(60).validate("r").is_ok());
        assert!(timeout(0).validate("r").is_err());
        assert!(timeout(u64::MAX).validate("r").is_err());
        let delete = ClusterEvent::Moderation {
            by: "m".into(),
            action: ModAction::Delete {
                id: MessageId::parse(ulid::Ulid::generate().to_string()).unwrap(),
            },
        };
        assert!(delete.validate("r").is_ok());
        assert!(
            ClusterEvent::Presence {
                count: u64::MAX,
                ranks: Vec::new(),
            }
            .validate("r")
            .is_err()
        );
        assert!(
            ClusterEvent::Reactions {
                counts: vec![("heart".into(), u64::MAX)]
            }
            .validate("r")
            .is_err()
        );
    }

    #[test]
    fn malformed_ids_do_not_even_decode() {
        let bad = r#"{"node":"b","event":{"moderation":{"by":"m","action":{"ban":{"user":"","reason":null}}}}}"#;
        assert!(Envelope::decode(bad.as_bytes()).is_err());
    }
}
