//! Every Redis key and channel name roomcast uses, under one configurable
//! prefix (`redis.prefix`), so several deployments can share a Redis.
//!
//! | name | type | holds |
//! |---|---|---|
//! | `{p}:room:{room}` | pub/sub channel | a room's cluster events (messages, moderation, events, reaction windows, presence) |
//! | `{p}:nodes` | sorted set | node id → last heartbeat (epoch ms); a node is alive while its score is within the presence TTL |
//! | `{p}:node:{node}:rooms` | hash | room → that node's connection count; expires if the node stops refreshing it |
//! | `{p}:room:{room}:seq` | string | the room's last sequence number (contract §5) |
//! | `{p}:room:{room}:epoch` | string | the epoch naming that sequence |
//! | `{p}:room:{room}:log` | stream | the room's last messages, capped near `recovery.max_messages` (fields `s`: seq, `p`: the envelope) |
//!
//! Nothing else in the code spells a Redis name.

/// Builds names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The pub/sub channel of a room.
    pub fn room_channel(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }

    /// The room a channel belongs to, if it is one of ours.
    pub fn room_of_channel<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":room:")
    }

    /// A room's sequence counter.
    pub fn room_seq(&self, room: &str) -> String {
        format!("{}:room:{room}:seq", self.prefix)
    }

    /// A room's epoch.
    pub fn room_epoch(&self, room: &str) -> String {
        format!("{}:room:{room}:epoch", self.prefix)
    }

    /// A room's stream of recent messages.
    pub fn room_log(&self, room: &str) -> String {
        format!("{}:room:{room}:log", self.prefix)
    }

    /// The sorted set of nodes by last heartbeat.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// The hash of one node's per-room connection counts.
    pub fn node_rooms(&self, node: &str) -> String {
        format!("{}:node:{node}:rooms", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_under_the_prefix() {
        let k = Keys::new("rc-test");
        assert_eq!(k.room_channel("shop:1"), "rc-test:room:shop:1");
        assert_eq!(k.room_of_channel("rc-test:room:shop:1"), Some("shop:1"));
        assert_eq!(k.room_of_channel("other:room:shop:1"), None);
        assert_eq!(k.nodes(), "rc-test:nodes");
        assert_eq!(k.node_rooms("pod-a"), "rc-test:node:pod-a:rooms");
        assert_eq!(k.room_seq("r"), "rc-test:room:r:seq");
        assert_eq!(k.room_epoch("r"), "rc-test:room:r:epoch");
        assert_eq!(k.room_log("r"), "rc-test:room:r:log");
        // A room's channel is not mistaken for its keys.
        assert_eq!(k.room_of_channel("rc-test:room:r"), Some("r"));
    }
}
