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
    /// The origin node's connection count in the room (also sent as a heartbeat).
    Presence { count: u64 },
}

/// What goes on a room channel: the origin node and the event.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub node: String,
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
