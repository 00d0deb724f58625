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

pub mod keys;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bb8_redis::RedisConnectionManager;
use futures_util::StreamExt;
use redis::aio::PubSubSink;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

pub use keys::Keys;

use crate::protocol::{ChatMessage, ModAction, now_ms};
use crate::room::{Remote, Room};

/// How long one Redis operation may take before it counts as failed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Most commands sent to Redis in one pipeline.
const MAX_PIPELINE: usize = 512;

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
struct Envelope {
    node: String,
    event: ClusterEvent,
}

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

/// Writes for the ordered writer task.
enum Outgoing {
    Publish { channel: String, payload: Vec<u8> },
    Pipeline(redis::Pipeline),
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
    rooms: HashMap<String, Addr<Room>>,
    /// This node's connection count per room, as advertised.
    counts: HashMap<String, u64>,
    status: Arc<BridgeStatus>,
}

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
            status: Arc::new(BridgeStatus::default()),
        })
    }

    pub fn status(&self) -> Arc<BridgeStatus> {
        self.status.clone()
    }

    fn publish(&self, room: &str, event: ClusterEvent) {
        let envelope = Envelope {
            node: self.node.clone(),
            event,
        };
        match serde_json::to_vec(&envelope) {
            Ok(payload) => {
                let _ = self.writer.send(Outgoing::Publish {
                    channel: self.keys.room_channel(room),
                    payload,
                });
            }
            Err(err) => tracing::error!(room, error = %err, "failed to encode a cluster event"),
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

    /// The live nodes other than this one, and their counts in `room`.
    async fn remote_counts(
        pool: bb8::Pool<RedisConnectionManager>,
        keys: Keys,
        me: String,
        ttl: Duration,
        room: String,
    ) -> anyhow::Result<HashMap<String, u64>> {
        let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
        let since = now_ms() - ttl.as_millis() as i64;
        let nodes: Vec<String> = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("ZRANGEBYSCORE")
                .arg(keys.nodes())
                .arg(since)
                .arg("+inf")
                .query_async(&mut *conn),
        )
        .await??;
        let nodes: Vec<String> = nodes.into_iter().filter(|n| *n != me).collect();
        if nodes.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.hget(keys.node_rooms(n), &room);
        }
        let counts: Vec<Option<u64>> =
            tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut *conn)).await??;
        Ok(nodes
            .into_iter()
            .zip(counts)
            .filter_map(|(n, c)| c.filter(|c| *c > 0).map(|c| (n, c)))
            .collect())
    }
}

impl Actor for RedisBridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        if let Some(rx) = self.writer_rx.take() {
            actix_web::rt::spawn(write_loop(self.client.clone(), rx, self.status.clone()));
        }
        actix_web::rt::spawn(subscribe_loop(
            self.client.clone(),
            ctx.address(),
            self.status.clone(),
        ));
        let every = (self.ttl / 3).max(Duration::from_millis(200));
        ctx.run_interval(every, |act, _| act.heartbeat());
    }
}

/// Send everything this node writes to Redis, in order, on one connection.
/// Consecutive publishes go out as one pipeline. While Redis is unreachable,
/// writes are dropped (and counted): presence is rewritten whole by the next
/// heartbeat, and cluster events are fire-and-forget by nature.
async fn write_loop(
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    status: Arc<BridgeStatus>,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut failures = 0u32;
    let mut batch: Vec<Outgoing> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_PIPELINE {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    failures = 0;
                }
                _ => {
                    failures += 1;
                    retry_at = Instant::now() + backoff(failures);
                }
            }
        }
        let Some(c) = conn.as_mut() else {
            status
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
            continue;
        };
        let started = Instant::now();
        let mut publishes = redis::pipe();
        let mut n_publish = 0u64;
        let mut ok = true;
        for item in batch.drain(..) {
            match item {
                Outgoing::Publish { channel, payload } => {
                    publishes.publish(channel, payload).ignore();
                    n_publish += 1;
                }
                Outgoing::Pipeline(pipe) => {
                    if n_publish > 0 {
                        ok &= run(c, &publishes).await;
                        publishes = redis::pipe();
                    }
                    ok &= run(c, &pipe).await;
                }
            }
        }
        if n_publish > 0 && ok {
            ok &= run(c, &publishes).await;
        }
        if ok {
            status.published.fetch_add(n_publish, Ordering::Relaxed);
            status
                .last_publish_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        } else {
            status.dropped.fetch_add(n_publish, Ordering::Relaxed);
            conn = None;
            failures += 1;
            retry_at = Instant::now() + backoff(failures);
        }
    }
}

async fn run(conn: &mut redis::aio::MultiplexedConnection, pipe: &redis::Pipeline) -> bool {
    matches!(
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(conn)).await,
        Ok(Ok(()))
    )
}

/// Keep a subscription connection open; hand each (re)connection's sink to the
/// actor, which subscribes every live room, and forward what arrives.
async fn subscribe_loop(
    client: redis::Client,
    bridge: Addr<RedisBridge>,
    status: Arc<BridgeStatus>,
) {
    let mut failures = 0u32;
    while bridge.connected() {
        if let Ok(Ok(pubsub)) = tokio::time::timeout(REDIS_TIMEOUT, client.get_async_pubsub()).await
        {
            let (sink, mut stream) = pubsub.split();
            failures = 0;
            bridge.do_send(Connected { sink });
            while let Some(msg) = stream.next().await {
                status.received.fetch_add(1, Ordering::Relaxed);
                bridge.do_send(Incoming {
                    channel: msg.get_channel_name().to_owned(),
                    payload: msg.get_payload_bytes().to_vec(),
                });
            }
            bridge.do_send(Disconnected);
        } else if failures == 0 {
            bridge.do_send(Disconnected);
        }
        failures += 1;
        tokio::time::sleep(backoff(failures)).await;
    }
}

/// Reconnect backoff: 100 ms doubling to 2 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(5)).min(2_000))
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// A subscription connection is up; subscribe every live room on it.
#[derive(Message)]
#[rtype(result = "()")]
struct Connected {
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
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in &rooms {
            self.subscribe(room);
        }
        self.heartbeat();
        // Anything missed while away (bans on other nodes) is read back from the database.
        for addr in self.rooms.values() {
            addr.do_send(crate::room::Resync);
        }
    }
}

/// The subscription connection is gone (or could not be made).
#[derive(Message)]
#[rtype(result = "()")]
struct Disconnected;

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
struct Incoming {
    channel: String,
    payload: Vec<u8>,
}

impl Handler<Incoming> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: Incoming, _: &mut Context<Self>) {
        let Some(room) = self.keys.room_of_channel(&msg.channel) else {
            return;
        };
        let Some(addr) = self.rooms.get(room) else {
            return;
        };
        match serde_json::from_slice::<Envelope>(&msg.payload) {
            Ok(env) if env.node == self.node => {} // our own, already delivered here
            Ok(env) => addr.do_send(Remote {
                node: env.node,
                event: env.event,
            }),
            Err(err) => tracing::warn!(room, error = %err, "undecodable cluster event"),
        }
    }
}

/// A room started on this node: subscribe to its channel and answer with the
/// counts other nodes have in it (empty if Redis is unreachable).
#[derive(Message)]
#[rtype(result = "HashMap<String, u64>")]
pub struct RoomOnline {
    pub room: String,
    pub addr: Addr<Room>,
}

impl Handler<RoomOnline> for RedisBridge {
    type Result = ResponseFuture<HashMap<String, u64>>;
    fn handle(&mut self, msg: RoomOnline, _: &mut Context<Self>) -> Self::Result {
        self.rooms.insert(msg.room.clone(), msg.addr);
        // Subscribed before we answer: the room holds its first join until then,
        // so nothing published after a member joined can be missed here.
        let sink = self.sink.clone();
        let channel = self.keys.room_channel(&msg.room);
        let query = Self::remote_counts(
            self.pool.clone(),
            self.keys.clone(),
            self.node.clone(),
            self.ttl,
            msg.room,
        );
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
    pub room: String,
    pub addr: Addr<Room>,
}

impl Handler<RoomOffline> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: RoomOffline, _: &mut Context<Self>) {
        if self.rooms.get(&msg.room) != Some(&msg.addr) {
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
        if self.counts.remove(&msg.room).is_some() {
            let mut pipe = redis::pipe();
            pipe.hdel(self.keys.node_rooms(&self.node), &msg.room)
                .ignore();
            let _ = self.writer.send(Outgoing::Pipeline(pipe));
        }
    }
}

/// Publish a room event to the other nodes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub room: String,
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
    pub room: String,
    pub count: u64,
}

impl Handler<LocalCount> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: LocalCount, _: &mut Context<Self>) {
        let hash = self.keys.node_rooms(&self.node);
        let mut pipe = redis::pipe();
        if msg.count == 0 {
            pipe.hdel(&hash, &msg.room).ignore();
        } else {
            pipe.hset(&hash, &msg.room, msg.count)
                .ignore()
                .pexpire(&hash, self.ttl.as_millis() as i64 * 2)
                .ignore();
        }
        let _ = self.writer.send(Outgoing::Pipeline(pipe));
        self.counts.insert(msg.room.clone(), msg.count);
        self.publish(&msg.room, ClusterEvent::Presence { count: msg.count });
    }
}

/// Live rooms across the cluster, most viewers first (None if Redis is unreachable).
#[derive(Message)]
#[rtype(result = "Option<Vec<(String, u64)>>")]
pub struct ClusterRooms {
    pub limit: usize,
}

impl Handler<ClusterRooms> for RedisBridge {
    type Result = ResponseFuture<Option<Vec<(String, u64)>>>;
    fn handle(&mut self, msg: ClusterRooms, _: &mut Context<Self>) -> Self::Result {
        let (pool, keys, ttl) = (self.pool.clone(), self.keys.clone(), self.ttl);
        Box::pin(async move {
            let read = async {
                let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
                let since = now_ms() - ttl.as_millis() as i64;
                let nodes: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(keys.nodes())
                    .arg(since)
                    .arg("+inf")
                    .query_async(&mut *conn)
                    .await?;
                let mut pipe = redis::pipe();
                for n in &nodes {
                    pipe.hgetall(keys.node_rooms(n));
                }
                let per_node: Vec<HashMap<String, u64>> = pipe.query_async(&mut *conn).await?;
                let mut sums: HashMap<String, u64> = HashMap::new();
                for counts in per_node {
                    for (room, n) in counts {
                        *sums.entry(room).or_default() += n;
                    }
                }
                anyhow::Ok(sums)
            };
            match tokio::time::timeout(REDIS_TIMEOUT * 2, read).await {
                Ok(Ok(sums)) => Some(crate::registry::top_rooms(
                    sums.into_iter().collect(),
                    msg.limit,
                )),
                _ => None,
            }
        })
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
            if let Ok(payload) = serde_json::to_vec(&envelope) {
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
