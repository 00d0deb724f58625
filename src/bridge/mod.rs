//! RedisBridge actor: one per node when `redis.url` is set. It carries room
//! traffic between nodes over Redis pub/sub and keeps this node's presence
//! (per-room connection counts) in Redis with a TTL it refreshes.
//!
//! - Each live room subscribes to its channel through the bridge while it lives
//!   on this node, and publishes each event once; events from this node that
//!   come back from Redis are dropped, never delivered twice.
//! - Everything this node writes to Redis (publishes and presence) goes, in
//!   order, through one task on one connection, so one sender's messages reach
//!   other nodes in the order sent. Reads use the `bb8` pool.
//! - When Redis goes away, nodes keep serving their own members; the bridge
//!   logs it, shows it in `/readyz`, reconnects with backoff, re-subscribes and
//!   republishes presence.
//!
//! The bridge routes and counts; it must not decide anything about a room.

pub mod event;
pub mod keys;
pub mod presence;
mod redis_io;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use bb8_redis::RedisConnectionManager;
use redis::aio::PubSubSink;
use tokio::sync::mpsc;

pub use event::{ClusterEvent, Envelope};
pub use keys::Keys;

use crate::metrics::{self, METRICS};
use crate::protocol::{RoomId, now_ms};
use redis_io::Outgoing;

/// How long one Redis operation may take before it counts as failed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` and `/metrics` show of the bridge.
#[derive(Debug, Default)]
pub struct BridgeStatus {
    /// The subscription connection is up.
    pub up: AtomicBool,
    pub published: AtomicU64,
    pub received: AtomicU64,
    /// Commands not sent because Redis was unreachable.
    pub dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// Duration of the last publish pipeline, in microseconds.
    pub last_publish_us: AtomicU64,
}

/// A room live on this node, as the bridge reaches it.
struct LiveRoom {
    instance: u64,
    events: Recipient<RemoteEvent>,
    resync: Recipient<Resync>,
}

pub struct RedisBridge {
    node: String,
    keys: Keys,
    client: redis::Client,
    pool: bb8::Pool<RedisConnectionManager>,
    ttl: Duration,
    writer: mpsc::UnboundedSender<Outgoing>,
    writer_rx: Option<mpsc::UnboundedReceiver<Outgoing>>,
    sink: Option<PubSubSink>,
    /// The rooms live on this node, by id: which room actor, and where its events go.
    rooms: HashMap<RoomId, LiveRoom>,
    /// This node's connection count per room, as advertised.
    counts: HashMap<String, u64>,
    /// The other nodes whose heartbeat is within the TTL (refreshed every heartbeat).
    live_nodes: HashSet<String>,
    /// Events of nodes not known to be live, held (in order) while we ask Redis.
    unverified: HashMap<String, Vec<(RoomId, ClusterEvent)>>,
    status: Arc<BridgeStatus>,
}

/// Events held per unknown node while its membership is checked.
const MAX_UNVERIFIED: usize = 1_000;

impl RedisBridge {
    /// Set up (no connection is made until the actor starts; Redis may be down).
    pub fn new(url: &str, prefix: &str, node: String, ttl: Duration) -> anyhow::Result<Self> {
        use anyhow::Context;
        let client = redis::Client::open(url).context("invalid redis.url")?;
        let manager = RedisConnectionManager::new(url).context("invalid redis.url")?;
        let pool = bb8::Pool::builder()
            .max_size(8)
            .connection_timeout(REDIS_TIMEOUT)
            .build_unchecked(manager);
        let (writer, writer_rx) = mpsc::unbounded_channel();
        Ok(RedisBridge {
            node,
            keys: Keys::new(prefix),
            client,
            pool,
            ttl,
            writer,
            writer_rx: Some(writer_rx),
            sink: None,
            rooms: HashMap::new(),
            counts: HashMap::new(),
            live_nodes: HashSet::new(),
            unverified: HashMap::new(),
            status: Arc::new(BridgeStatus::default()),
        })
    }

    pub fn status(&self) -> Arc<BridgeStatus> {
        self.status.clone()
    }

    fn publish(&self, room: &str, event: ClusterEvent) {
        // A moderation action must reach every node: it is kept and sent again
        // until Redis takes it (other events are current state, resent anyway).
        let keep = matches!(event, ClusterEvent::Moderation { .. });
        let envelope = Envelope {
            node: self.node.clone(),
            event,
        };
        match envelope.encode() {
            Ok(payload) => {
                let _ = self.writer.send(Outgoing::Publish {
                    channel: self.keys.room_channel(room),
                    payload,
                    keep,
                });
            }
            Err(err) => tracing::error!(room, error = %err, "failed to encode a cluster event"),
        }
    }

    /// Learn which other nodes are live (their heartbeat is within the TTL).
    fn refresh_live_nodes(&self, ctx: &mut Context<Self>) {
        let (pool, keys, ttl) = (self.pool.clone(), self.keys.clone(), self.ttl);
        ctx.spawn(
            async move { presence::live_nodes_of(pool, keys, ttl).await }
                .into_actor(self)
                .map(|res, act, _| {
                    if let Ok(nodes) = res {
                        act.live_nodes = nodes.into_iter().filter(|n| *n != act.node).collect();
                    }
                }),
        );
    }

    /// Hand a checked event to its room.
    fn deliver(&self, node: String, room: &RoomId, event: ClusterEvent) {
        if let Some(live) = self.rooms.get(room) {
            live.events.do_send(RemoteEvent { node, event });
        }
    }

    /// Refresh this node's presence: heartbeat, the whole per-room hash, and a
    /// presence event per room so other nodes keep counting us.
    fn heartbeat(&self) {
        let now = now_ms();
        let ttl_ms = self.ttl.as_millis() as i64;
        let hash = self.keys.node_rooms(&self.node);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zadd(self.keys.nodes(), &self.node, now)
            .ignore()
            .zrembyscore(self.keys.nodes(), "-inf", now - ttl_ms)
            .ignore()
            .del(&hash)
            .ignore();
        let live: Vec<(&String, &u64)> = self.counts.iter().filter(|(_, n)| **n > 0).collect();
        if !live.is_empty() {
            pipe.hset_multiple(&hash, &live)
                .ignore()
                .pexpire(&hash, ttl_ms * 2)
                .ignore();
        }
        let _ = self.writer.send(Outgoing::Pipeline(pipe));
        for (room, count) in &self.counts {
            self.publish(room, ClusterEvent::Presence { count: *count });
        }
    }

    fn subscribe(&self, room: &str) {
        if let Some(sink) = self.sink.clone() {
            let channel = self.keys.room_channel(room);
            actix_web::rt::spawn(async move {
                let mut sink = sink;
                if let Err(err) = sink.subscribe(&channel).await {
                    tracing::warn!(channel, error = %err, "redis subscribe failed");
                }
            });
        }
    }
}

impl Actor for RedisBridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        if let Some(rx) = self.writer_rx.take() {
            actix_web::rt::spawn(redis_io::write_loop(
                self.client.clone(),
                rx,
                self.status.clone(),
            ));
        }
        actix_web::rt::spawn(redis_io::subscribe_loop(
            self.client.clone(),
            ctx.address(),
            self.status.clone(),
        ));
        // Say we are live before we publish anything, so other nodes believe us.
        self.heartbeat();
        self.refresh_live_nodes(ctx);
        let every = (self.ttl / 3).max(Duration::from_millis(200));
        ctx.run_interval(every, |act, ctx| {
            act.heartbeat();
            act.refresh_live_nodes(ctx);
        });
    }
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// A subscription connection is up; subscribe every live room on it.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Connected {
    sink: PubSubSink,
}

impl Handler<Connected> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: Connected, _: &mut Context<Self>) {
        let was_down = !self.status.up.swap(true, Ordering::AcqRel);
        self.sink = Some(msg.sink);
        if was_down {
            self.status.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                rooms = self.rooms.len(),
                "redis connected; subscribing rooms and republishing presence"
            );
        }
        let rooms: Vec<RoomId> = self.rooms.keys().cloned().collect();
        for room in &rooms {
            self.subscribe(room);
        }
        self.heartbeat();
        // Anything missed while away (bans on other nodes) is read back from the database.
        for room in self.rooms.values() {
            room.resync.do_send(Resync);
        }
    }
}

/// The subscription connection is gone (or could not be made).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Disconnected;

impl Handler<Disconnected> for RedisBridge {
    type Result = ();
    fn handle(&mut self, _: Disconnected, _: &mut Context<Self>) {
        self.sink = None;
        if self.status.up.swap(false, Ordering::AcqRel) {
            tracing::warn!("redis unreachable: serving this node's members only until it returns");
        } else {
            tracing::warn!(
                "redis unreachable at startup: serving this node's members only until it is"
            );
        }
    }
}

/// A message from a room channel.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Incoming {
    channel: String,
    payload: Vec<u8>,
}

impl Handler<Incoming> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: Incoming, ctx: &mut Context<Self>) {
        let Some(room) = self.keys.room_of_channel(&msg.channel) else {
            return;
        };
        let Some((room, _)) = self.rooms.get_key_value(room) else {
            return;
        };
        let room = room.clone();
        // Checked like client input (contract §6): malformed, out of range or
        // foreign events are dropped and counted.
        let env = match Envelope::decode(&msg.payload) {
            Ok(env) if env.node == self.node => return, // our own, already delivered here
            Ok(env) => env,
            Err(err) => return dropped(&room, "undecodable", &err.to_string()),
        };
        let event = match env.event.validate(&room) {
            Ok(event) => event,
            Err(why) => return dropped(&room, why, &env.node),
        };
        if self.live_nodes.contains(&env.node) {
            return self.deliver(env.node, &room, event);
        }
        // A node we do not know (yet, or again after Redis stalled its
        // heartbeat): hold its events in order while we ask Redis, for up to
        // the presence TTL.
        let held = self.unverified.entry(env.node.clone()).or_default();
        let first = held.is_empty();
        if held.len() < MAX_UNVERIFIED {
            held.push((room, event));
        } else {
            metrics::inc(&METRICS.cluster_events_dropped);
        }
        if first {
            let (pool, keys, ttl) = (self.pool.clone(), self.keys.clone(), self.ttl);
            let node = env.node;
            ctx.spawn(
                async move {
                    let live = presence::becomes_live(pool, keys, ttl, &node).await;
                    (node, live)
                }
                .into_actor(self)
                .map(|(node, live), act, _| {
                    let held = act.unverified.remove(&node).unwrap_or_default();
                    if live {
                        act.live_nodes.insert(node.clone());
                        for (room, event) in held {
                            act.deliver(node.clone(), &room, event);
                        }
                    } else {
                        metrics::add(&METRICS.cluster_events_dropped, held.len() as u64);
                        tracing::warn!(
                            node,
                            events = held.len(),
                            "dropped events of a node that is not a live member"
                        );
                    }
                }),
            );
        }
    }
}

/// Count and log an event that was dropped.
fn dropped(room: &str, why: &str, detail: &str) {
    metrics::inc(&METRICS.cluster_events_dropped);
    tracing::warn!(room, why, detail, "dropped a cluster event");
}

/// An event of another node, for a room live here (defined here, handled by
/// the room, which hands in where it wants them in [`RoomOnline`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteEvent {
    pub node: String,
    pub event: ClusterEvent,
}

/// Read bans, timeouts and slow mode again from the database: after Redis was
/// away, actions taken on other nodes meanwhile are only there.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

/// A room started on this node: subscribe to its channel and answer with the
/// counts other nodes have in it (empty if Redis is unreachable).
#[derive(Message)]
#[rtype(result = "HashMap<String, u64>")]
pub struct RoomOnline {
    pub room: RoomId,
    /// Which room actor (a later one may take the same id).
    pub instance: u64,
    pub events: Recipient<RemoteEvent>,
    pub resync: Recipient<Resync>,
}

impl Handler<RoomOnline> for RedisBridge {
    type Result = ResponseFuture<HashMap<String, u64>>;
    fn handle(&mut self, msg: RoomOnline, _: &mut Context<Self>) -> Self::Result {
        let RoomOnline {
            room,
            instance,
            events,
            resync,
        } = msg;
        let channel = self.keys.room_channel(&room);
        let query = presence::remote_counts(
            self.pool.clone(),
            self.keys.clone(),
            self.node.clone(),
            self.ttl,
            room.to_string(),
        );
        self.rooms.insert(
            room,
            LiveRoom {
                instance,
                events,
                resync,
            },
        );
        // Subscribed before we answer: the room holds its first join until then,
        // so nothing published after a member joined can be missed here.
        let sink = self.sink.clone();
        Box::pin(async move {
            if let Some(mut sink) = sink
                && let Err(err) = tokio::time::timeout(REDIS_TIMEOUT, sink.subscribe(&channel))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r.map_err(anyhow::Error::from))
            {
                tracing::warn!(channel, error = %format!("{err:#}"), "redis subscribe failed");
            }
            query.await.unwrap_or_else(|err| {
                tracing::warn!(error = %format!("{err:#}"), "could not read presence from redis");
                HashMap::new()
            })
        })
    }
}

/// A room stopped on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomOffline {
    pub room: RoomId,
    pub instance: u64,
}

impl Handler<RoomOffline> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: RoomOffline, _: &mut Context<Self>) {
        if self.rooms.get(&msg.room).map(|r| r.instance) != Some(msg.instance) {
            return; // a newer room actor has taken its place
        }
        self.rooms.remove(&msg.room);
        if let Some(sink) = self.sink.clone() {
            let channel = self.keys.room_channel(&msg.room);
            actix_web::rt::spawn(async move {
                let mut sink = sink;
                let _ = sink.unsubscribe(&channel).await;
            });
        }
        if self.counts.remove(msg.room.as_str()).is_some() {
            let mut pipe = redis::pipe();
            pipe.hdel(self.keys.node_rooms(&self.node), msg.room.as_str())
                .ignore();
            let _ = self.writer.send(Outgoing::Pipeline(pipe));
        }
    }
}

/// Publish a room event to the other nodes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub room: RoomId,
    pub event: ClusterEvent,
}

impl Handler<Publish> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        self.publish(&msg.room, msg.event);
    }
}

/// This node's connection count in a room changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LocalCount {
    pub room: RoomId,
    pub count: u64,
}

impl Handler<LocalCount> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: LocalCount, _: &mut Context<Self>) {
        let hash = self.keys.node_rooms(&self.node);
        let mut pipe = redis::pipe();
        if msg.count == 0 {
            pipe.hdel(&hash, msg.room.as_str()).ignore();
        } else {
            pipe.hset(&hash, msg.room.as_str(), msg.count)
                .ignore()
                .pexpire(&hash, self.ttl.as_millis() as i64 * 2)
                .ignore();
        }
        let _ = self.writer.send(Outgoing::Pipeline(pipe));
        self.counts.insert(msg.room.to_string(), msg.count);
        self.publish(&msg.room, ClusterEvent::Presence { count: msg.count });
    }
}

/// Every room's viewer count summed over the cluster's live nodes (None if
/// Redis is unreachable); the caller ranks them.
#[derive(Message)]
#[rtype(result = "Option<HashMap<String, u64>>")]
pub struct ClusterRooms;

impl Handler<ClusterRooms> for RedisBridge {
    type Result = ResponseFuture<Option<HashMap<String, u64>>>;
    fn handle(&mut self, _: ClusterRooms, _: &mut Context<Self>) -> Self::Result {
        let read = presence::room_sums(self.pool.clone(), self.keys.clone(), self.ttl);
        Box::pin(async move {
            match tokio::time::timeout(REDIS_TIMEOUT * 2, read).await {
                Ok(Ok(sums)) => Some(sums),
                _ => None,
            }
        })
    }
}

/// One room's viewer count on the other live nodes (None if Redis is
/// unreachable), for a room that is not live here.
#[derive(Message)]
#[rtype(result = "Option<u64>")]
pub struct RoomCount {
    pub room: RoomId,
}

impl Handler<RoomCount> for RedisBridge {
    type Result = ResponseFuture<Option<u64>>;
    fn handle(&mut self, msg: RoomCount, _: &mut Context<Self>) -> Self::Result {
        let read = presence::remote_counts(
            self.pool.clone(),
            self.keys.clone(),
            self.node.clone(),
            self.ttl,
            msg.room.into_string(),
        );
        Box::pin(async move { read.await.ok().map(|c| c.values().sum()) })
    }
}

/// The node is going away: remove its presence from Redis now (instead of after
/// the TTL) and tell the other nodes its counts are zero.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for RedisBridge {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let mut pipe = redis::pipe();
        pipe.zrem(self.keys.nodes(), &self.node)
            .ignore()
            .del(self.keys.node_rooms(&self.node))
            .ignore();
        for room in self.counts.keys() {
            let envelope = Envelope {
                node: self.node.clone(),
                event: ClusterEvent::Presence { count: 0 },
            };
            if let Ok(payload) = envelope.encode() {
                pipe.publish(self.keys.room_channel(room), payload).ignore();
            }
        }
        self.counts.clear();
        let pool = self.pool.clone();
        Box::pin(async move {
            let done = async {
                let mut conn = pool.get().await?;
                pipe.query_async::<()>(&mut *conn).await?;
                anyhow::Ok(())
            };
            match tokio::time::timeout(REDIS_TIMEOUT, done).await {
                Ok(Ok(())) => tracing::info!("presence removed from redis"),
                _ => {
                    tracing::warn!("could not remove presence from redis; it expires with the TTL")
                }
            }
        })
    }
}
