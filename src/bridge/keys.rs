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
//! | `{p}:room:{room}:state` | hash | §8: the room's state, key → JSON, and `#v` → the last version (kept while the room has ever had state) |
//! | `{p}:room:{room}:stream` | hash | §8: the live stream (`id`, `title`, `started_at`, `start_seq`, `epoch`, `peak`, `reactions`, `m:{value}` per milestone announced); deleted when it ends |
//! | `{p}:room:{room}:stream:viewers` | HyperLogLog | §8: the live stream's distinct viewers (deleted when it ends; expires after 7 days untouched) |
//! | `{p}:room:{room}:occupied` | string | §8: the room's open occupancy episode, `{start ms}:{node that opened it}` (for `room.occupied` / `room.vacated`) |
//! | `{p}:room:{room}:occupants` | hash | §8: the nodes with members in the room (node → 1) |
//! | `{p}:node:{node}:occupies` | set | §8: the rooms where that node has members (to vacate them if it dies) |
//! | `{p}:occupant_nodes` | set | §8: nodes that may occupy rooms (the sweep's list) |
//! | `{p}:user:{user}` | hash | §8: node → `{"n":connections,"rooms":[…]}` of that node's connections of the user |
//! | `{p}:node:{node}:users` | set | §8: users with an entry of this node in their hash (to clean up after the node dies) |
//! | `{p}:user_nodes` | set | §8: nodes that may have user entries (the sweep's list) |
//! | `{p}:node:{node}:inbox` | pub/sub channel | §8: notifications for users connected to that node |
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

    /// §8: a room's state hash.
    pub fn room_state(&self, room: &str) -> String {
        format!("{}:room:{room}:state", self.prefix)
    }

    /// §8: a room's live stream.
    pub fn room_stream(&self, room: &str) -> String {
        format!("{}:room:{room}:stream", self.prefix)
    }

    /// §8: the HyperLogLog of a room's live stream's viewers.
    pub fn room_stream_viewers(&self, room: &str) -> String {
        format!("{}:room:{room}:stream:viewers", self.prefix)
    }

    /// §8: a room's open occupancy episode.
    pub fn room_occupied(&self, room: &str) -> String {
        format!("{}:room:{room}:occupied", self.prefix)
    }

    /// §8: the nodes with members in a room.
    pub fn room_occupants(&self, room: &str) -> String {
        format!("{}:room:{room}:occupants", self.prefix)
    }

    /// §8: the rooms a node has members in.
    pub fn node_occupies(&self, node: &str) -> String {
        format!("{}:node:{node}:occupies", self.prefix)
    }

    /// §8: nodes that may occupy rooms.
    pub fn occupant_nodes(&self) -> String {
        format!("{}:occupant_nodes", self.prefix)
    }

    /// The prefix itself (for scripts that build a room's names).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// §8: where a user's connections are, by node.
    pub fn user(&self, user: &str) -> String {
        format!("{}:user:{user}", self.prefix)
    }

    /// The prefix of every user key (for scripts that build them).
    pub fn user_prefix(&self) -> String {
        format!("{}:user:", self.prefix)
    }

    /// §8: the users a node has entries for.
    pub fn node_users(&self, node: &str) -> String {
        format!("{}:node:{node}:users", self.prefix)
    }

    /// §8: nodes that may have user entries.
    pub fn user_nodes(&self) -> String {
        format!("{}:user_nodes", self.prefix)
    }

    /// §8: a node's inbox channel.
    pub fn node_inbox(&self, node: &str) -> String {
        format!("{}:node:{node}:inbox", self.prefix)
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
        assert_eq!(k.room_state("r"), "rc-test:room:r:state");
        assert_eq!(k.room_stream("r"), "rc-test:room:r:stream");
        assert_eq!(k.room_stream_viewers("r"), "rc-test:room:r:stream:viewers");
        assert_eq!(k.room_occupied("r"), "rc-test:room:r:occupied");
        // The occupancy sweep builds these two from the prefix in Lua.
        let built = |what: &str| format!("{}:room:{}:{what}", k.prefix(), "r");
        assert_eq!(k.room_occupants("r"), built("occupants"));
        assert_eq!(k.room_occupied("r"), built("occupied"));
        assert_eq!(k.user("u 1"), "rc-test:user:u 1");
        assert_eq!(k.node_users("pod-a"), "rc-test:node:pod-a:users");
        assert_eq!(k.user_nodes(), "rc-test:user_nodes");
        assert_eq!(k.node_inbox("pod-a"), "rc-test:node:pod-a:inbox");
        // A room's channel is not mistaken for its keys.
        assert_eq!(k.room_of_channel("rc-test:room:r"), Some("r"));
    }
}
