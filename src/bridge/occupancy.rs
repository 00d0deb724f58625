//! Contract §8's `room.occupied` and `room.vacated` in a cluster: the first
//! member in on any node opens a room's occupancy episode, the last member out
//! on every node closes it, and each is announced by exactly one node.
//!
//! Redis keeps, per room, the nodes with members there (`occupants`) and the
//! open episode (`occupied`: its start and the node that opened it); per node,
//! the rooms it occupies, and the list of nodes that occupy any. Each step is
//! one script, so two nodes never disagree:
//! - [`SetOccupied`] `true`: this node has members in the room. Adds it to the occupants;
//!   opens the episode unless one is open. The opener announces it (asking
//!   again answers "opened" again with the same start: the outbox stores one).
//! - [`SetOccupied`] `false`: this node has none any more. Removes it; if no live node
//!   remains, closes the episode and the caller announces it. A first member
//!   arriving on another node at the same time is ordered by Redis: either
//!   before (the episode stays open) or after (a new one opens).
//! - A node that died with members is swept by the other nodes once its
//!   heartbeat lapsed (`presence.ttl_s`): its rooms are vacated as if its
//!   members had left, by whichever node's sweep runs first. A node shutting
//!   down sweeps itself.
//!
//! This module decides nothing about rooms: a room says whether it has
//! members here, one step at a time (it waits for each answer), and the
//! webhook goes out from here so it is not lost if the room stops meanwhile.

use actix::prelude::*;

use super::scripts::{PlatformError, eval};
use super::{Keys, RedisBridge};
use crate::protocol::{RoomId, now_ms};
use crate::webhooks::{self, Webhooks};

type Pool = bb8::Pool<bb8_redis::RedisConnectionManager>;

/// KEYS: the room's occupants, its episode, the node's room set, the list of
/// nodes with rooms. ARGV: node, room, now. Answers {1 if this node opened
/// the open episode, its start}.
const OCCUPY: &str = r#"
redis.call('HSET', KEYS[1], ARGV[1], '1')
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
local open = redis.call('GET', KEYS[2])
if not open then
  open = ARGV[3] .. ':' .. ARGV[1]
  redis.call('SET', KEYS[2], open)
end
local at = string.find(open, ':', 1, true)
local since = string.sub(open, 1, at - 1)
local by = string.sub(open, at + 1)
if by == ARGV[1] then return {1, since} end
return {0, since}
"#;

/// Removes node ARGV[1] from room ARGV[2] (KEYS: the room's occupants, its
/// episode, the node's room set, the heartbeats); closes the episode if no
/// node with a heartbeat since ARGV[3] remains. Answers the closed episode's
/// start, or -1.
const VACATE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2])
for _, n in ipairs(redis.call('HKEYS', KEYS[1])) do
  local beat = redis.call('ZSCORE', KEYS[4], n)
  if beat and tonumber(beat) >= tonumber(ARGV[3]) then return -1 end
end
redis.call('DEL', KEYS[1])
local open = redis.call('GET', KEYS[2])
if not open then return -1 end
redis.call('DEL', KEYS[2])
local at = string.find(open, ':', 1, true)
return tonumber(string.sub(open, 1, at - 1))
"#;

/// Vacates every room of node ARGV[1] (KEYS: its room set, the heartbeats,
/// the list of nodes with rooms; ARGV[2]: key prefix, ARGV[3]: the heartbeat
/// the others must be newer than, ARGV[4]: the heartbeat the node must be
/// older than to count as dead, "" for this node itself). Answers the rooms
/// it closed as {room, start, …}, or {-1} if the node is alive after all.
const SWEEP_NODE: &str = r#"
if ARGV[4] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score and tonumber(score) >= tonumber(ARGV[4]) then return {-1} end
end
local closed = {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local occupants = ARGV[2] .. ':room:' .. room .. ':occupants'
  redis.call('HDEL', occupants, ARGV[1])
  local busy = false
  for _, n in ipairs(redis.call('HKEYS', occupants)) do
    local beat = redis.call('ZSCORE', KEYS[2], n)
    if beat and tonumber(beat) >= tonumber(ARGV[3]) then busy = true break end
  end
  if not busy then
    redis.call('DEL', occupants)
    local episode = ARGV[2] .. ':room:' .. room .. ':occupied'
    local open = redis.call('GET', episode)
    if open then
      redis.call('DEL', episode)
      local at = string.find(open, ':', 1, true)
      table.insert(closed, room)
      table.insert(closed, string.sub(open, 1, at - 1))
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return closed
"#;

/// This node has members in `room` now (`occupied`): join its occupants,
/// opening the episode if none is open (announcing `room.occupied`). Or it
/// has none any more: leave them, closing the episode if no live node
/// remains (announcing `room.vacated`).
#[derive(Message)]
#[rtype(result = "Result<(), PlatformError>")]
pub struct SetOccupied {
    pub room: RoomId,
    pub occupied: bool,
}

/// `room.occupied`'s data: when the episode began (epoch ms).
#[derive(serde::Serialize)]
struct Occupied {
    since: i64,
}

/// `room.vacated`'s data: when the episode began, and how long it lasted.
#[derive(serde::Serialize)]
struct Vacated {
    since: i64,
    duration_s: i64,
}

/// Announce an episode's start (the outbox keeps one copy per episode).
pub fn announce_occupied(hooks: &Webhooks, room: &str, since: i64) {
    let kind = webhooks::kind::ROOM_OCCUPIED;
    let key = webhooks::dedupe_key(kind, room, since);
    hooks.cluster_event(kind, room, key, &Occupied { since });
}

/// Announce an episode's end.
pub fn announce_vacated(hooks: &Webhooks, room: &str, since: i64) {
    let kind = webhooks::kind::ROOM_VACATED;
    let key = webhooks::dedupe_key(kind, room, since);
    let duration_s = (now_ms() - since).max(0) / 1000;
    hooks.cluster_event(kind, room, key, &Vacated { since, duration_s });
}

impl Handler<SetOccupied> for RedisBridge {
    type Result = ResponseFuture<Result<(), PlatformError>>;
    fn handle(&mut self, msg: SetOccupied, _: &mut Context<Self>) -> Self::Result {
        let (pool, hooks) = (self.pool.clone(), self.webhooks.clone());
        let k = &self.keys;
        // OCCUPY lists this node among those with rooms; VACATE reads heartbeats.
        let (script, last_key, when) = if msg.occupied {
            (OCCUPY, k.occupant_nodes(), now_ms())
        } else {
            (VACATE, k.nodes(), now_ms() - self.ttl.as_millis() as i64)
        };
        let keys = [
            k.room_occupants(&msg.room),
            k.room_occupied(&msg.room),
            k.node_occupies(&self.node),
            last_key,
        ];
        let args = [self.node.clone(), msg.room.to_string(), when.to_string()];
        Box::pin(async move {
            if msg.occupied {
                let (opened, since): (i64, i64) = eval(&pool, script, &keys, &args).await?;
                if opened == 1 {
                    announce_occupied(&hooks, &msg.room, since);
                }
            } else {
                let since: i64 = eval(&pool, script, &keys, &args).await?;
                if since >= 0 {
                    announce_vacated(&hooks, &msg.room, since);
                }
            }
            Ok(())
        })
    }
}

/// The sweep of one node: vacate its rooms; answers the episodes it closed.
async fn sweep(
    pool: &Pool,
    keys: &Keys,
    node: &str,
    alive_since: i64,
    check: bool,
) -> anyhow::Result<Vec<(String, i64)>> {
    let script_keys = [
        keys.node_occupies(node),
        keys.nodes(),
        keys.occupant_nodes(),
    ];
    let dead_before = if check {
        alive_since.to_string()
    } else {
        String::new()
    };
    let args = [
        node.to_owned(),
        keys.prefix().to_owned(),
        alive_since.to_string(),
        dead_before,
    ];
    let flat: Vec<redis::Value> = eval(pool, SWEEP_NODE, &script_keys, &args).await?;
    let mut closed = Vec::new();
    let mut it = flat.into_iter();
    while let (Some(room), Some(since)) = (it.next(), it.next()) {
        let room: String = redis::from_redis_value(room)?;
        let since: String = redis::from_redis_value(since)?;
        closed.push((room, since.parse().unwrap_or(0)));
    }
    Ok(closed)
}

impl RedisBridge {
    /// Are occupancy webhooks wanted (else no room steps, and nothing to sweep)?
    fn tracks_occupancy(&self) -> bool {
        let hooks = &self.webhooks;
        hooks.wants(webhooks::kind::ROOM_OCCUPIED) || hooks.wants(webhooks::kind::ROOM_VACATED)
    }

    /// Vacate the rooms of nodes that died with members there (heartbeat
    /// older than the TTL). Nothing to do costs one `SMEMBERS` and one `ZRANGEBYSCORE`.
    pub(super) fn sweep_dead_occupants(&self, ctx: &mut Context<Self>) {
        if !self.tracks_occupancy() {
            return;
        }
        let (pool, keys, me) = (self.pool.clone(), self.keys.clone(), self.node.clone());
        let hooks = self.webhooks.clone();
        let alive_since = now_ms() - self.ttl.as_millis() as i64;
        let run = async move {
            let listed = keys.occupant_nodes();
            let dead =
                super::presence::dead_listed(&pool, &keys, &listed, &me, alive_since).await?;
            for node in &dead {
                let closed = sweep(&pool, &keys, node, alive_since, true).await?;
                tracing::info!(
                    node,
                    rooms = closed.len(),
                    "vacated the rooms of a dead node"
                );
                for (room, since) in closed {
                    announce_vacated(&hooks, &room, since);
                }
            }
            anyhow::Ok(())
        };
        ctx.spawn(fut::wrap_future(async move {
            if let Err(err) = run.await {
                tracing::debug!(error = %err, "occupancy sweep did not run");
            }
        }));
    }

    /// Shutting down: leave every room's occupants at once (closing the
    /// episodes no other live node holds). The caller bounds the wait.
    pub(super) fn vacate_all(&self) -> impl Future<Output = ()> + 'static {
        let (pool, keys, me) = (self.pool.clone(), self.keys.clone(), self.node.clone());
        let hooks = self.webhooks.clone();
        let alive_since = now_ms() - self.ttl.as_millis() as i64;
        let tracked = self.tracks_occupancy();
        async move {
            if !tracked {
                return;
            }
            match sweep(&pool, &keys, &me, alive_since, false).await {
                Ok(closed) => {
                    for (room, since) in closed {
                        announce_vacated(&hooks, &room, since);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "could not vacate this node's rooms"),
            }
        }
    }
}
