//! Contract §8 in Redis: the scripts that make a room's state, its stream and
//! its occupancy cluster-wide, and the bridge messages rooms send to run them.
//!
//! Each script is one atomic step, so nodes never need to agree among
//! themselves:
//! - **state**: a write gets the room's next version and is published in the
//!   same step, so every node receives a room's writes in version order; a
//!   room starting on a node subscribes first, then reads the hash and its
//!   version, so it misses nothing and applies nothing twice.
//! - **stream**: one start and one end win (the end reads the figures and
//!   deletes them); each node hands in its part ([`StreamTick`]); a milestone
//!   is announced by the node whose `HSETNX` set it.
//! - occupancy has its own module, [`super::occupancy`].
//!
//! Scripts run with `EVAL` (Redis caches them by their SHA) on the pool: these
//! are rare next to chat traffic, and each answers its caller.

use std::collections::BTreeMap;

use actix::prelude::*;
use serde_json::value::RawValue;

use super::{REDIS_TIMEOUT, RedisBridge};
use crate::protocol::RoomId;
use crate::protocol::platform::MAX_STATE_KEYS;

type Pool = bb8::Pool<bb8_redis::RedisConnectionManager>;

/// Why a §8 step in Redis did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("a room holds at most {MAX_STATE_KEYS} state keys")]
    TooManyKeys,
    /// The room's state is gone from Redis (it lost its data): seed it first.
    #[error("the room's state is not in redis")]
    Missing,
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
}

impl From<anyhow::Error> for PlatformError {
    fn from(e: anyhow::Error) -> Self {
        PlatformError::Unavailable(format!("{e:#}"))
    }
}

/// KEYS: the state hash. ARGV: channel, node (JSON string), key, data (JSON;
/// empty = delete), most keys, candidate version, "1" if the hash must exist.
/// Answers the version, -1 (too many keys) or -2 (the hash is missing).
const STATE_WRITE: &str = r#"
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
local deleting = ARGV[4] == ''
if not deleting and redis.call('HEXISTS', KEYS[1], ARGV[3]) == 0 then
  local n = redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], '#v')
  if n >= tonumber(ARGV[5]) then return -1 end
end
local cur = tonumber(redis.call('HGET', KEYS[1], '#v') or '0')
local step = math.max(1, tonumber(ARGV[6]) - cur)
local v = redis.call('HINCRBY', KEYS[1], '#v', string.format('%.0f', step))
local data = 'null'
if deleting then
  redis.call('HDEL', KEYS[1], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
  data = ARGV[4]
end
redis.call('PUBLISH', ARGV[1], '{"node":' .. ARGV[2] .. ',"event":{"platform":{"state":{"key":"' ..
  ARGV[3] .. '","data":' .. data .. ',"version":' .. string.format('%.0f', v) .. '}}}}')
return v
"#;

/// KEYS: the state hash, the stream hash. ARGV: a state version to seed with
/// ("0": none), the number of state pairs, the pairs, then stream fields to
/// seed with (pairs). Seeds only what is missing; answers both hashes.
const ONLINE: &str = r#"
local n = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 and (ARGV[1] ~= '0' or n > 0) then
  redis.call('HSET', KEYS[1], '#v', ARGV[1])
  for i = 3, 2 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if redis.call('EXISTS', KEYS[2]) == 0 and #ARGV > 2 + 2 * n then
  for i = 3 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"#;

/// KEYS: stream hash, its HyperLogLog, the room's seq and epoch keys. ARGV:
/// id, title, started_at, peak. Answers {1 if it started it, the hash}.
const STREAM_START: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'title', ARGV[2], 'started_at', ARGV[3],
  'start_seq', redis.call('GET', KEYS[3]) or '0', 'epoch', redis.call('GET', KEYS[4]) or '',
  'peak', ARGV[4], 'reactions', '0')
redis.call('DEL', KEYS[2])
return {1, redis.call('HGETALL', KEYS[1])}
"#;

/// KEYS: stream hash, its HyperLogLog. ARGV: stream id, reactions to add, the
/// peak seen, how many milestones follow, the milestones, then user ids.
/// Answers the milestones this call claimed, or nil if the stream is over.
const STREAM_TICK: &str = r#"
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return false end
if ARGV[2] ~= '0' then redis.call('HINCRBY', KEYS[1], 'reactions', ARGV[2]) end
if tonumber(ARGV[3]) > tonumber(redis.call('HGET', KEYS[1], 'peak') or '0') then
  redis.call('HSET', KEYS[1], 'peak', ARGV[3])
end
local won = {}
local k = tonumber(ARGV[4])
for i = 5, 4 + k do
  if redis.call('HSETNX', KEYS[1], 'm:' .. ARGV[i], '1') == 1 then table.insert(won, ARGV[i]) end
end
for i = 5 + k, #ARGV, 500 do
  redis.call('PFADD', KEYS[2], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
redis.call('PEXPIRE', KEYS[2], 604800000)
return won
"#;

/// KEYS: stream hash, its HyperLogLog, the room's seq and epoch keys. ARGV:
/// stream id (empty: whichever is live). Answers nil if no stream is live,
/// else {the hash, unique viewers, last seq, epoch}, and deletes the stream.
const STREAM_END: &str = r#"
local id = redis.call('HGET', KEYS[1], 'id')
if not id or (ARGV[1] ~= '' and id ~= ARGV[1]) then return false end
local h = redis.call('HGETALL', KEYS[1])
local uv = redis.call('PFCOUNT', KEYS[2])
local seq = redis.call('GET', KEYS[3]) or '0'
local epoch = redis.call('GET', KEYS[4]) or ''
redis.call('DEL', KEYS[1], KEYS[2])
return {h, uv, seq, epoch}
"#;

/// Run a script on a pooled connection.
pub(super) async fn eval<T: redis::FromRedisValue>(
    pool: &Pool,
    script: &str,
    keys: &[String],
    args: &[String],
) -> anyhow::Result<T> {
    let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
    Ok(tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async(&mut *conn)).await??)
}

/// A Redis hash as pairs into a map.
fn pairs(flat: Vec<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        map.insert(k, v);
    }
    map
}

/// A room's stream as Redis holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFields {
    pub id: String,
    pub title: String,
    pub started_at: i64,
    pub start_seq: u64,
    pub epoch: String,
    pub peak: u64,
    pub reactions: u64,
    /// Milestones already announced.
    pub reached: Vec<u64>,
}

impl StreamFields {
    fn parse(flat: Vec<String>) -> Option<StreamFields> {
        let h = pairs(flat);
        let num = |k: &str| h.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let id = h.get("id")?.clone();
        Some(StreamFields {
            title: h.get("title").cloned().unwrap_or_default(),
            started_at: h
                .get("started_at")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            start_seq: num("start_seq"),
            epoch: h.get("epoch").cloned().unwrap_or_default(),
            peak: num("peak"),
            reactions: num("reactions"),
            reached: h
                .keys()
                .filter_map(|k| k.strip_prefix("m:")?.parse().ok())
                .collect(),
            id,
        })
    }

    /// The fields to seed a lost stream hash with.
    fn seed(&self) -> Vec<String> {
        vec![
            "id".into(),
            self.id.clone(),
            "title".into(),
            self.title.clone(),
            "started_at".into(),
            self.started_at.to_string(),
            "start_seq".into(),
            self.start_seq.to_string(),
            "epoch".into(),
            self.epoch.clone(),
            "peak".into(),
            self.peak.to_string(),
            "reactions".into(),
            "0".into(),
        ]
    }
}

/// What Redis holds of a room's §8 state when it comes online.
#[derive(Debug, Default)]
pub struct PlatformOnline {
    /// Key → JSON, and the version; None if Redis has no state for the room.
    pub state: Option<(BTreeMap<String, String>, i64)>,
    pub stream: Option<StreamFields>,
}

/// Read (seeding what is missing) a room's state and stream. The room sends
/// this after its channel is subscribed, and holds joins until it answers.
#[derive(Message)]
#[rtype(result = "Result<PlatformOnline, PlatformError>")]
pub struct ReadPlatform {
    pub room: RoomId,
    /// The state to put back if Redis lost it: key → JSON, and its version.
    pub state_seed: Option<(BTreeMap<String, String>, i64)>,
    /// The open stream to put back if Redis lost it.
    pub stream_seed: Option<StreamFields>,
}

impl Handler<ReadPlatform> for RedisBridge {
    type Result = ResponseFuture<Result<PlatformOnline, PlatformError>>;
    fn handle(&mut self, msg: ReadPlatform, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let keys = [
            self.keys.room_state(&msg.room),
            self.keys.room_stream(&msg.room),
        ];
        let mut args = Vec::new();
        match msg.state_seed {
            Some((entries, version)) => {
                args.push(version.max(1).to_string());
                args.push(entries.len().to_string());
                for (k, v) in entries {
                    args.extend([k, v]);
                }
            }
            None => args.extend(["0".to_owned(), "0".to_owned()]),
        }
        if let Some(stream) = &msg.stream_seed {
            args.extend(stream.seed());
        }
        Box::pin(async move {
            let (state, stream): (Vec<String>, Vec<String>) =
                eval(&pool, ONLINE, &keys, &args).await?;
            let state = (!state.is_empty()).then(|| {
                let mut map = pairs(state);
                let version = map.remove("#v").and_then(|v| v.parse().ok()).unwrap_or(0);
                (map, version)
            });
            Ok(PlatformOnline {
                state,
                stream: StreamFields::parse(stream),
            })
        })
    }
}

/// Set (`data`) or delete a state key of a room; answers the write's version.
/// The write reaches every node (this one too) on the room's channel.
#[derive(Message)]
#[rtype(result = "Result<i64, PlatformError>")]
pub struct WriteState {
    pub room: RoomId,
    pub key: String,
    pub data: Option<Box<RawValue>>,
    /// A version from the writer's clock: the write gets at least this.
    pub candidate: i64,
    /// The room knows of other keys: if Redis holds none, it lost them
    /// ([`PlatformError::Missing`]: seed with [`ReadPlatform`], then retry).
    pub expect_existing: bool,
}

impl Handler<WriteState> for RedisBridge {
    type Result = ResponseFuture<Result<i64, PlatformError>>;
    fn handle(&mut self, msg: WriteState, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let keys = [self.keys.room_state(&msg.room)];
        let node = serde_json::to_string(&self.node).unwrap_or_else(|_| "\"?\"".to_owned());
        let args = [
            self.keys.room_channel(&msg.room),
            node,
            msg.key,
            msg.data.map(|d| d.get().to_owned()).unwrap_or_default(),
            MAX_STATE_KEYS.to_string(),
            msg.candidate.to_string(),
            if msg.expect_existing { "1" } else { "0" }.to_owned(),
        ];
        Box::pin(async move {
            match eval::<i64>(&pool, STATE_WRITE, &keys, &args).await? {
                -1 => Err(PlatformError::TooManyKeys),
                -2 => Err(PlatformError::Missing),
                v => Ok(v),
            }
        })
    }
}

/// Start the room's stream unless one is live; answers whether this call
/// started it, and the stream that is live.
#[derive(Message)]
#[rtype(result = "Result<(bool, StreamFields), PlatformError>")]
pub struct StartStream {
    pub room: RoomId,
    pub id: String,
    pub title: String,
    pub started_at: i64,
    /// The cluster-wide count now: the stream's first peak.
    pub viewers: u64,
}

impl Handler<StartStream> for RedisBridge {
    type Result = ResponseFuture<Result<(bool, StreamFields), PlatformError>>;
    fn handle(&mut self, msg: StartStream, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let keys = self.stream_keys(&msg.room);
        let args = [
            msg.id,
            msg.title,
            msg.started_at.to_string(),
            msg.viewers.to_string(),
        ];
        Box::pin(async move {
            let (won, hash): (i64, Vec<String>) = eval(&pool, STREAM_START, &keys, &args).await?;
            let fields = StreamFields::parse(hash)
                .ok_or_else(|| PlatformError::Unavailable("stream hash unreadable".into()))?;
            Ok((won == 1, fields))
        })
    }
}

/// Hand this node's part of the live stream to Redis; answers the milestones
/// this node is to announce, or None if the stream is no longer live.
#[derive(Message)]
#[rtype(result = "Result<Option<Vec<u64>>, PlatformError>")]
pub struct TickStream {
    pub room: RoomId,
    pub id: String,
    pub tick: crate::protocol::platform::Tick,
}

impl RedisBridge {
    fn stream_keys(&self, room: &str) -> [String; 4] {
        [
            self.keys.room_stream(room),
            self.keys.room_stream_viewers(room),
            self.keys.room_seq(room),
            self.keys.room_epoch(room),
        ]
    }
}

/// The arguments of a tick after the stream id.
fn tick_args(id: String, tick: crate::protocol::platform::Tick) -> Vec<String> {
    let mut args = vec![
        id,
        tick.reactions.to_string(),
        tick.peak.to_string(),
        tick.milestones.len().to_string(),
    ];
    args.extend(tick.milestones.iter().map(u64::to_string));
    args.extend(tick.users);
    args
}

impl Handler<TickStream> for RedisBridge {
    type Result = ResponseFuture<Result<Option<Vec<u64>>, PlatformError>>;
    fn handle(&mut self, msg: TickStream, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let [stream, hll, ..] = self.stream_keys(&msg.room);
        let args = tick_args(msg.id, msg.tick);
        Box::pin(async move {
            let won: Option<Vec<u64>> = eval(&pool, STREAM_TICK, &[stream, hll], &args).await?;
            Ok(won)
        })
    }
}

/// What the end of a stream read from Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnded {
    pub fields: StreamFields,
    pub unique_viewers: u64,
    pub last_seq: u64,
    pub epoch: String,
}

/// End the room's live stream (after handing in this node's last part);
/// answers what it added up to, or None if no stream was live.
#[derive(Message)]
#[rtype(result = "Result<Option<StreamEnded>, PlatformError>")]
pub struct EndStream {
    pub room: RoomId,
    /// This node's last part, if it holds the stream.
    pub last: Option<(String, crate::protocol::platform::Tick)>,
}

impl Handler<EndStream> for RedisBridge {
    type Result = ResponseFuture<Result<Option<StreamEnded>, PlatformError>>;
    fn handle(&mut self, msg: EndStream, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let keys = self.stream_keys(&msg.room);
        Box::pin(async move {
            let id = match msg.last {
                Some((id, tick)) => {
                    let args = tick_args(id.clone(), tick);
                    let _: Option<Vec<u64>> = eval(&pool, STREAM_TICK, &keys[..2], &args).await?;
                    id
                }
                None => String::new(),
            };
            type Ended = Option<(Vec<String>, u64, String, String)>;
            let ended: Ended = eval(&pool, STREAM_END, &keys, &[id]).await?;
            Ok(ended.and_then(|(hash, unique_viewers, seq, epoch)| {
                Some(StreamEnded {
                    fields: StreamFields::parse(hash)?,
                    unique_viewers,
                    last_seq: seq.parse().unwrap_or(0),
                    epoch,
                })
            }))
        })
    }
}

/// The live stream's distinct viewers so far (the HyperLogLog); None if
/// Redis cannot say.
#[derive(Message)]
#[rtype(result = "Option<u64>")]
pub struct StreamViewers {
    pub room: RoomId,
}

impl Handler<StreamViewers> for RedisBridge {
    type Result = ResponseFuture<Option<u64>>;
    fn handle(&mut self, msg: StreamViewers, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let key = self.keys.room_stream_viewers(&msg.room);
        Box::pin(async move {
            let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get())
                .await
                .ok()?
                .ok()?;
            let mut cmd = redis::cmd("PFCOUNT");
            cmd.arg(key);
            let count = cmd.query_async(&mut *conn);
            tokio::time::timeout(REDIS_TIMEOUT, count).await.ok()?.ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_hash_reads_back_with_its_milestones() {
        let fields = StreamFields {
            id: "01J00000000000000000000000".into(),
            title: "Sale".into(),
            started_at: 5,
            start_seq: 7,
            epoch: "e".into(),
            peak: 9,
            reactions: 0,
            reached: vec![],
        };
        let mut flat = fields.seed();
        flat.extend(["m:100".into(), "1".into(), "m:10".into(), "1".into()]);
        let back = StreamFields::parse(flat).unwrap();
        assert_eq!(back.reached, [10, 100]);
        assert_eq!(
            StreamFields {
                reached: vec![],
                ..back
            },
            fields
        );
        assert_eq!(StreamFields::parse(vec![]), None);
    }

    #[test]
    fn a_tick_lists_its_milestones_then_its_users() {
        let tick = crate::protocol::platform::Tick {
            reactions: 3,
            peak: 120,
            milestones: vec![100],
            users: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            tick_args("s".into(), tick),
            ["s", "3", "120", "1", "100", "a", "b"]
        );
    }

    #[test]
    fn the_state_script_writes_the_event_every_node_reads() {
        // What STATE_WRITE concatenates, done here by hand.
        let payload = format!(
            r#"{{"node":{},"event":{{"platform":{{"state":{{"key":"{}","data":{},"version":{}}}}}}}}}"#,
            serde_json::to_string("pod-a").unwrap(),
            "product",
            r#"{"sku":"A-1"}"#,
            1_795_446_000_000_000i64
        );
        let env = super::super::Envelope::decode(payload.as_bytes()).unwrap();
        match env.event {
            super::super::ClusterEvent::Platform(
                super::super::platform::PlatformEvent::State { key, data, version },
            ) => {
                assert_eq!(key, "product");
                assert_eq!(data.unwrap().get(), r#"{"sku":"A-1"}"#);
                assert_eq!(version, 1_795_446_000_000_000);
            }
            other => panic!("{other:?}"),
        }
    }
}
