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
pub mod msg;
pub mod occupancy;
pub mod platform;
pub mod presence;
mod redis_io;
pub mod scripts;
pub mod seq;
pub mod users;

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
pub use msg::{
    ClusterRooms, LocalCount, Online, Publish, PublishMessage, ReadLog, RemoteEvent, Resync,
    RoomCount, RoomOffline, RoomOnline, Shutdown,
};

use crate::metrics::{self, METRICS};
use crate::protocol::{RoomId, now_ms};
use redis_io::Outgoing;
pub use redis_io::{Sequenced, WriterConnected};

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
    /// How many messages a room's stream keeps (about; `recovery.max_messages`).
    max_messages: u64,
    status: Arc<BridgeStatus>,
    /// §7: per room, this node's members who rank above viewers (re-sent with
    /// every presence heartbeat).
    ranks: HashMap<String, Vec<(String, u8)>>,
    /// §8: this node's user entries as written to Redis (user → entry JSON).
    users: HashMap<String, String>,
    /// §8: where notifications for this node's users go.
    inbox: Option<Recipient<users::Inbox>>,
    /// §8: where `room.occupied` / `room.vacated` go (off: occupancy is not tracked).
    webhooks: crate::webhooks::Webhooks,
}

/// Events held per unknown node while its membership is checked.
const MAX_UNVERIFIED: usize = 1_000;

impl RedisBridge {
    /// Set up (no connection is made until the actor starts; Redis may be down).
    pub fn new(
        url: &str,
        prefix: &str,
        node: String,
        ttl: Duration,
        max_messages: u64,
    ) -> anyhow::Result<Self> {
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
            max_messages,
            status: Arc::new(BridgeStatus::default()),
            ranks: HashMap::new(),
            users: HashMap::new(),
            inbox: None,
            webhooks: crate::webhooks::Webhooks::default(),
        })
    }

    /// Send §8's occupancy webhooks to `webhooks` (before the actor starts).
    pub fn with_webhooks(mut self, webhooks: crate::webhooks::Webhooks) -> Self {
        self.webhooks = webhooks;
        self
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
            seq: None,
            epoch: None,
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
            let ranks = self.ranks.get(room).cloned().unwrap_or_default();
            let event = ClusterEvent::Presence {
                count: *count,
                ranks,
            };
            self.publish(room, event);
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
                ctx.address().recipient(),
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
        // §8: the user presence of nodes that died is removed.
        ctx.run_interval(self.ttl.max(Duration::from_secs(1)), |act, ctx| {
            act.sweep_dead_nodes(ctx);
            act.sweep_dead_occupants(ctx);
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
        self.users_connected();
        // Anything missed while away (bans on other nodes) is read back from the database.
        for room in self.rooms.values() {
            room.resync.do_send(Resync);
        }
    }
}

impl Handler<WriterConnected> for RedisBridge {
    type Result = ();
    fn handle(&mut self, _: WriterConnected, _: &mut Context<Self>) {
        // Writes sent while its last connection was failing were dropped:
        // presence and this node's user entries go again, on the new one.
        self.heartbeat();
        self.users_rewrite();
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
        if msg.channel == self.keys.node_inbox(&self.node) {
            return match users::inbox_notification(&msg.payload) {
                Ok(note) => {
                    if let Some(inbox) = &self.inbox {
                        inbox.do_send(note);
                    }
                }
                Err(why) => dropped("inbox", "malformed notification", &why),
            };
        }
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
            Ok(env) => env,
            Err(err) => return dropped(&room, "undecodable", &err.to_string()),
        };
        // Our own events came back: already applied here, except chat
        // messages, which every node (this one too) delivers from the channel,
        // in the order Redis numbered them (contract §5).
        let numbered = env.seq.is_some() && matches!(env.event, ClusterEvent::Message { .. });
        // §8 state writes too: every node applies them in the order Redis versioned them.
        let versioned = matches!(
            env.event,
            ClusterEvent::Platform(platform::PlatformEvent::State { .. })
        );
        if env.node == self.node && !numbered && !versioned {
            return;
        }
        let (seq, epoch) = (env.seq, env.epoch.clone());
        let event = match env.event.validate(&room) {
            Ok(ClusterEvent::Message { mut msg }) => {
                msg.seq = seq;
                msg.epoch = epoch.map(Into::into);
                ClusterEvent::Message { msg }
            }
            Ok(event) => event,
            Err(why) => return dropped(&room, why, &env.node),
        };
        if env.node == self.node || self.live_nodes.contains(&env.node) {
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
