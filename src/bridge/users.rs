//! Contract §8's user channel across nodes: where each user's connections
//! are, and notifications sent only to the nodes that hold them.
//!
//! - **Presence**: `{p}:user:{user}` is a hash, one field per node holding
//!   connections of the user (`{"n":2,"rooms":[…]}`), written by that node the
//!   moment it changes. Readers count only fields of live nodes (heartbeat
//!   within the presence TTL), so a killed node drops out within the TTL.
//! - **Routing**: each node subscribes to one channel, its inbox. A
//!   notification is published to the inboxes of the nodes in the user's hash
//!   and nowhere else: a node receives only notifications for users it holds.
//! - **Clean-up**: each node also lists the users it has fields for
//!   (`{p}:node:{node}:users`). A node removes its own fields when it
//!   (re)connects to Redis and when it shuts down; every node sweeps the
//!   fields of nodes found dead, a batch at a time, so nothing is left behind.
//!
//! The bridge keeps this node's entries (one string per user held), to write
//! them again whole after Redis was away.

use std::collections::HashMap;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::platform::PlatformEvent;
use super::redis_io::Outgoing;
use super::{Envelope, REDIS_TIMEOUT, RedisBridge};
use crate::protocol::now_ms;

/// One node's connections of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserHere {
    /// Connections.
    pub n: u64,
    /// Rooms those connections have joined, sorted.
    pub rooms: Vec<String>,
}

/// A notification for a user connected to this node, from another node
/// (defined here, handled by the node's user index, which hands itself in with
/// [`UserInbox`]).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Inbox {
    pub user: String,
    pub name: String,
    pub data: Box<RawValue>,
    pub ts: i64,
}

/// Where notifications from other nodes go on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserInbox {
    pub inbox: Recipient<Inbox>,
}

impl Handler<UserInbox> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: UserInbox, _: &mut Context<Self>) {
        self.inbox = Some(msg.inbox);
    }
}

/// This node's connections of `user` changed (`None`: it holds none now).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UserEntry {
    pub user: String,
    pub here: Option<UserHere>,
}

impl Handler<UserEntry> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: UserEntry, _: &mut Context<Self>) {
        let mut pipe = redis::pipe();
        match msg.here.and_then(|h| serde_json::to_string(&h).ok()) {
            Some(entry) => {
                self.user_pipe(&mut pipe, &msg.user, &entry);
                self.users.insert(msg.user, entry);
            }
            None => {
                pipe.hdel(self.keys.user(&msg.user), &self.node)
                    .ignore()
                    .srem(self.keys.node_users(&self.node), &msg.user)
                    .ignore();
                self.users.remove(&msg.user);
            }
        }
        let _ = self.writer.send(Outgoing::Pipeline(pipe));
    }
}

/// Where `user`'s connections are on the other live nodes (None if Redis is
/// unreachable).
#[derive(Message)]
#[rtype(result = "Option<Vec<(String, UserHere)>>")]
pub struct LocateUser {
    pub user: String,
}

impl Handler<LocateUser> for RedisBridge {
    type Result = ResponseFuture<Option<Vec<(String, UserHere)>>>;
    fn handle(&mut self, msg: LocateUser, _: &mut Context<Self>) -> Self::Result {
        let (pool, keys, me) = (self.pool.clone(), self.keys.clone(), self.node.clone());
        let since = now_ms() - self.ttl.as_millis() as i64;
        Box::pin(async move {
            let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get())
                .await
                .ok()?
                .ok()?;
            let mut pipe = redis::pipe();
            pipe.cmd("ZRANGEBYSCORE")
                .arg(keys.nodes())
                .arg(since)
                .arg("+inf")
                .hgetall(keys.user(&msg.user));
            let (live, entries): (Vec<String>, HashMap<String, String>) =
                tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut *conn))
                    .await
                    .ok()?
                    .ok()?;
            let mut found: Vec<(String, UserHere)> = entries
                .into_iter()
                .filter(|(node, _)| *node != me && live.contains(node))
                .filter_map(|(node, e)| Some((node, serde_json::from_str(&e).ok()?)))
                .collect();
            found.sort_by(|a, b| a.0.cmp(&b.0));
            Some(found)
        })
    }
}

/// Publish a notification to the inboxes of `nodes`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NotifyNodes {
    pub nodes: Vec<String>,
    pub user: String,
    pub name: String,
    pub data: Box<RawValue>,
    pub ts: i64,
}

impl Handler<NotifyNodes> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: NotifyNodes, _: &mut Context<Self>) {
        let envelope = Envelope {
            node: self.node.clone(),
            seq: None,
            epoch: None,
            event: super::ClusterEvent::Platform(PlatformEvent::Notify {
                user: msg.user,
                name: msg.name,
                data: msg.data,
                ts: msg.ts,
            }),
        };
        let Ok(payload) = envelope.encode() else {
            return;
        };
        for node in msg.nodes {
            let _ = self.writer.send(Outgoing::Publish {
                channel: self.keys.node_inbox(&node),
                payload: payload.clone(),
                keep: false,
            });
        }
    }
}

/// KEYS: a node's user set, the nodes' heartbeats, the list of nodes with
/// users. ARGV: the node, the user-key prefix, the heartbeat it must be older
/// than to count as dead ("" for the node itself: no check), a batch size.
/// Removes up to a batch of the node's user fields; answers how many remain
/// (0: done, the node leaves the list) or -1 if the node is alive after all.
pub(super) const CLEAN_NODE: &str = r#"
if ARGV[3] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score and tonumber(score) >= tonumber(ARGV[3]) then return -1 end
end
local users = redis.call('SPOP', KEYS[1], tonumber(ARGV[4]))
for _, u in ipairs(users) do redis.call('HDEL', ARGV[2] .. u, ARGV[1]) end
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return left
"#;

/// "All of this node's users" for the cleaning script: SPOP's count must be a
/// positive integer Lua can hold exactly (u64::MAX overflowed and failed the
/// whole pipeline, and with it every message numbered in the same batch).
const ALL_USERS: u64 = 1 << 30;

/// Users swept per script call: each call holds Redis for a few milliseconds at most.
const SWEEP_BATCH: u64 = 500;

impl RedisBridge {
    /// Add the writes of one user entry of this node to `pipe`.
    fn user_pipe(&self, pipe: &mut redis::Pipeline, user: &str, entry: &str) {
        pipe.hset(self.keys.user(user), &self.node, entry)
            .ignore()
            .sadd(self.keys.node_users(&self.node), user)
            .ignore()
            .sadd(self.keys.user_nodes(), &self.node)
            .ignore();
    }

    /// The cleaning script for `node` (`dead_before`: None for this node).
    fn clean_cmd(&self, node: &str, dead_before: Option<i64>, batch: u64) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(CLEAN_NODE)
            .arg(3)
            .arg(self.keys.node_users(node))
            .arg(self.keys.nodes())
            .arg(self.keys.user_nodes())
            .arg(node)
            .arg(self.keys.user_prefix())
            .arg(dead_before.map(|t| t.to_string()).unwrap_or_default())
            .arg(batch);
        cmd
    }

    /// The subscription is up (again): subscribe the inbox.
    pub(super) fn users_connected(&self) {
        if let Some(sink) = self.sink.clone() {
            let channel = self.keys.node_inbox(&self.node);
            actix_web::rt::spawn(async move {
                let mut sink = sink;
                if let Err(err) = sink.subscribe(&channel).await {
                    tracing::warn!(channel, error = %err, "redis subscribe failed");
                }
            });
        }
        // The entries are written again by `users_rewrite` when the writer
        // has a new connection (Redis restarting breaks that one too).
    }

    /// Replace whatever Redis holds of this node's users by what this node
    /// holds now, in one step (also when the writer has a new connection:
    /// Redis may have restarted without its data).
    pub(super) fn users_rewrite(&self) {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(self.clean_cmd(&self.node, None, ALL_USERS))
            .ignore();
        for (user, entry) in &self.users {
            self.user_pipe(&mut pipe, user, entry);
        }
        let _ = self.writer.send(Outgoing::Pipeline(pipe));
    }

    /// Shutting down: this node's user fields go at once (not after the TTL).
    pub(super) fn users_gone(&self) -> redis::Cmd {
        self.clean_cmd(&self.node, None, ALL_USERS)
    }

    /// Remove the user fields of nodes that are dead (heartbeat past the TTL).
    pub(super) fn sweep_dead_nodes(&self, ctx: &mut Context<Self>) {
        let (pool, keys, me) = (self.pool.clone(), self.keys.clone(), self.node.clone());
        let dead_before = now_ms() - self.ttl.as_millis() as i64;
        let find = async move {
            let listed = keys.user_nodes();
            super::presence::dead_listed(&pool, &keys, &listed, &me, dead_before).await
        };
        ctx.spawn(find.into_actor(self).map(move |res, act, _| {
            for node in res.unwrap_or_default() {
                tracing::info!(node, "removing the user presence of a dead node");
                let cmd = act.clean_cmd(&node, Some(dead_before), SWEEP_BATCH);
                actix_web::rt::spawn(sweep_node(act.pool.clone(), cmd));
            }
        }));
    }
}

/// Run a node's cleaning script until it says the node is done (or alive).
async fn sweep_node(pool: bb8::Pool<bb8_redis::RedisConnectionManager>, cmd: redis::Cmd) {
    // Bounded: a node holds at most millions of users, 500 a call.
    for _ in 0..100_000 {
        let Ok(Ok(mut conn)) = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await else {
            return;
        };
        let left = tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<i64>(&mut *conn)).await;
        if !matches!(left, Ok(Ok(n)) if n > 0) {
            return;
        }
    }
}

/// Read a notification from this node's inbox (checked like client input).
pub(super) fn inbox_notification(payload: &[u8]) -> Result<Inbox, String> {
    let env = Envelope::decode(payload).map_err(|e| e.to_string())?;
    let super::ClusterEvent::Platform(event) = env.event else {
        return Err("not a notification".to_owned());
    };
    match event.validate_for_inbox()? {
        PlatformEvent::Notify {
            user,
            name,
            data,
            ts,
        } => Ok(Inbox {
            user,
            name,
            data,
            ts,
        }),
        _ => Err("not a notification".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_small_json_object() {
        let here = UserHere {
            n: 2,
            rooms: vec!["r1".into(), "r2".into()],
        };
        assert_eq!(
            serde_json::to_string(&here).unwrap(),
            r#"{"n":2,"rooms":["r1","r2"]}"#
        );
    }

    #[test]
    fn only_notifications_are_read_from_an_inbox() {
        let ok = r#"{"node":"b","event":{"platform":{"notify":{"user":"u1","name":"live","data":{"room":"r"},"ts":5}}}}"#;
        let got = inbox_notification(ok.as_bytes()).unwrap();
        assert_eq!(
            (got.user.as_str(), got.name.as_str(), got.ts),
            ("u1", "live", 5)
        );
        let room_event = r#"{"node":"b","event":{"presence":{"count":1}}}"#;
        assert!(inbox_notification(room_event.as_bytes()).is_err());
        assert!(inbox_notification(b"not json").is_err());
    }
}
