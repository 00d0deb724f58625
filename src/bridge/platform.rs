//! The node-to-node events of contract §8, carried as
//! `ClusterEvent::Platform` on a room's channel (state, stream, milestone,
//! typing) or in an envelope on a node's inbox (notify). An older
//! node does not know the `platform` variant: it drops such an event and
//! counts it, and reads everything else as before.
//!
//! Every event is checked like client input before a room sees it.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::protocol::platform::{
    MAX_NOTIFY_DATA_BYTES, MAX_STATE_BYTES, MAX_TITLE_CHARS, StreamSummary, check_notify_name,
};
use crate::protocol::{MessageId, StateKey, UserId, check_name};

/// A §8 event between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformEvent {
    /// A state key was set (`data`) or deleted (`null`), numbered by Redis
    /// (this JSON is also written by the state script, see `scripts`).
    State {
        key: String,
        data: Option<Box<RawValue>>,
        version: i64,
    },
    /// The room's stream went live or ended.
    Stream(StreamEvent),
    /// The live stream reached a milestone (the node Redis chose announces it).
    Milestone { stream: String, value: u64 },
    /// A member is typing (the origin node sent it to its own members).
    Typing { user: String, name: String },
    /// A notification for `user`'s connections on the receiving node (inbox only).
    Notify {
        user: String,
        name: String,
        data: Box<RawValue>,
        ts: i64,
    },
}

/// A stream going live or ending.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEvent {
    Live {
        id: String,
        title: String,
        started_at: i64,
    },
    Ended {
        id: String,
        summary: StreamSummary,
    },
}

/// Bounds on what another node may send.
const MAX_MILESTONE: u64 = 1_000_000_000_000;
const MAX_COUNT: u64 = 1_000_000_000_000;

impl PlatformEvent {
    /// Check an event from a room's channel; the reason if it is malformed.
    pub fn validate_for_room(self) -> Result<PlatformEvent, &'static str> {
        match self {
            PlatformEvent::State { key, data, version } => {
                if !StateKey::is_valid(&key) || version <= 0 {
                    return Err("state key or version malformed");
                }
                if data
                    .as_ref()
                    .is_some_and(|d| d.get().len() > MAX_STATE_BYTES || d.get() == "null")
                {
                    return Err("state data out of range");
                }
                Ok(PlatformEvent::State { key, data, version })
            }
            PlatformEvent::Stream(StreamEvent::Live {
                id,
                title,
                started_at,
            }) => {
                if !MessageId::is_valid(&id)
                    || title.chars().count() > MAX_TITLE_CHARS
                    || title.chars().any(char::is_control)
                    || started_at < 0
                {
                    return Err("stream malformed");
                }
                Ok(PlatformEvent::Stream(StreamEvent::Live {
                    id,
                    title,
                    started_at,
                }))
            }
            PlatformEvent::Stream(StreamEvent::Ended { id, summary }) => {
                let s = &summary;
                let counts = [s.peak, s.unique_viewers, s.messages, s.reactions];
                if !MessageId::is_valid(&id) || counts.iter().any(|n| *n > MAX_COUNT) {
                    return Err("stream summary out of range");
                }
                Ok(PlatformEvent::Stream(StreamEvent::Ended { id, summary }))
            }
            PlatformEvent::Milestone { stream, value } => {
                if !MessageId::is_valid(&stream) || value == 0 || value > MAX_MILESTONE {
                    return Err("milestone out of range");
                }
                Ok(PlatformEvent::Milestone { stream, value })
            }
            PlatformEvent::Typing { user, name } => {
                if !UserId::is_valid(&user) || check_name(&name).is_err() {
                    return Err("typing user malformed");
                }
                Ok(PlatformEvent::Typing { user, name })
            }
            PlatformEvent::Notify { .. } => Err("a notification on a room channel"),
        }
    }

    /// Check an event from this node's inbox: only notifications belong there.
    pub fn validate_for_inbox(self) -> Result<PlatformEvent, &'static str> {
        match self {
            PlatformEvent::Notify {
                user,
                name,
                data,
                ts,
            } => {
                if !UserId::is_valid(&user) || check_notify_name(&name).is_err() {
                    return Err("notification user or name malformed");
                }
                if data.get().len() > MAX_NOTIFY_DATA_BYTES || !data.get().starts_with('{') {
                    return Err("notification data out of range");
                }
                Ok(PlatformEvent::Notify {
                    user,
                    name,
                    data,
                    ts,
                })
            }
            _ => Err("a room event on a node's inbox"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    fn id() -> String {
        ulid::Ulid::generate().to_string()
    }

    #[test]
    fn room_events_in_range_pass_and_others_are_refused() {
        let state = |key: &str, data: Option<&str>, version| PlatformEvent::State {
            key: key.into(),
            data: data.map(raw),
            version,
        };
        assert!(state("product", Some("{}"), 1).validate_for_room().is_ok());
        assert!(state("product", None, 1).validate_for_room().is_ok());
        assert!(state("Product", None, 1).validate_for_room().is_err());
        assert!(state("p", None, 0).validate_for_room().is_err());
        let big = format!("\"{}\"", "x".repeat(MAX_STATE_BYTES));
        assert!(state("p", Some(&big), 1).validate_for_room().is_err());
        let live = PlatformEvent::Stream(StreamEvent::Live {
            id: id(),
            title: "Sale".into(),
            started_at: 1,
        });
        assert!(live.validate_for_room().is_ok());
        let bad = PlatformEvent::Stream(StreamEvent::Live {
            id: "x".into(),
            title: "Sale".into(),
            started_at: 1,
        });
        assert!(bad.validate_for_room().is_err());
        let milestone = |value| PlatformEvent::Milestone {
            stream: id(),
            value,
        };
        assert!(milestone(100).validate_for_room().is_ok());
        assert!(milestone(0).validate_for_room().is_err());
        let typing = PlatformEvent::Typing {
            user: "u1".into(),
            name: "".into(),
        };
        assert!(typing.validate_for_room().is_err());
    }

    #[test]
    fn notifications_belong_on_inboxes_and_room_events_on_rooms() {
        let notify = || PlatformEvent::Notify {
            user: "u1".into(),
            name: "stream_live".into(),
            data: raw(r#"{"room":"r"}"#),
            ts: 1,
        };
        assert!(notify().validate_for_inbox().is_ok());
        assert!(notify().validate_for_room().is_err());
        let typing = PlatformEvent::Typing {
            user: "u".into(),
            name: "U".into(),
        };
        assert!(typing.validate_for_inbox().is_err());
    }
}
