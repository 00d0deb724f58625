//! The bridge's messages to and from the rooms of this node: a room coming
//! online and going away, what it publishes (numbered chat messages included),
//! what it reads (its stream, the cluster's counts), and what the bridge
//! hands back to it (other nodes' events, a resync).

use std::collections::HashMap;

use actix::prelude::*;

use super::event::{ClusterEvent, Envelope};
use super::redis_io::{Outgoing, Sequenced};
use super::{LiveRoom, REDIS_TIMEOUT, RedisBridge, presence, seq};
use crate::protocol::RoomId;

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
/// counts other nodes have in it and where its sequence stands (empty and
/// None if Redis is unreachable).
#[derive(Message)]
#[rtype(result = "Online")]
pub struct RoomOnline {
    pub room: RoomId,
    /// Which room actor (a later one may take the same id).
    pub instance: u64,
    pub events: Recipient<RemoteEvent>,
    pub resync: Recipient<Resync>,
    /// The epoch to give the room's sequence if Redis has none for it.
    pub candidate_epoch: String,
}

/// What a room learns when it comes online in a cluster.
#[derive(Debug, Default)]
pub struct Online {
    pub counts: HashMap<String, u64>,
    /// The room's last sequence number and epoch in Redis.
    pub position: Option<(u64, String)>,
}

impl Handler<RoomOnline> for RedisBridge {
    type Result = ResponseFuture<Online>;
    fn handle(&mut self, msg: RoomOnline, _: &mut Context<Self>) -> Self::Result {
        let RoomOnline {
            room,
            instance,
            events,
            resync,
            candidate_epoch,
        } = msg;
        let (pool, keys) = (self.pool.clone(), self.keys.clone());
        let position_of = room.to_string();
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
            let counts = query.await.unwrap_or_else(|err| {
                tracing::warn!(error = %format!("{err:#}"), "could not read presence from redis");
                HashMap::new()
            });
            let position = async {
                let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
                seq::position(&mut conn, &keys, &position_of, &candidate_epoch).await
            }
            .await
            .inspect_err(|err| {
                tracing::warn!(error = %format!("{err:#}"), "could not read a room's sequence from redis")
            })
            .ok();
            Online { counts, position }
        })
    }
}

/// Number and publish a chat message of this node's (contract §5); the room
/// hears its number through `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishMessage {
    pub room: RoomId,
    pub msg: crate::protocol::ChatMessage,
    /// The epoch to start with if Redis has none for the room.
    pub candidate_epoch: String,
    pub reply: Recipient<Sequenced>,
}

impl Handler<PublishMessage> for RedisBridge {
    type Result = ();
    fn handle(&mut self, msg: PublishMessage, _: &mut Context<Self>) {
        let id = msg.msg.id.clone();
        match seq::invocation(
            &self.keys,
            &msg.room,
            &self.node,
            &msg.msg,
            self.max_messages,
            &msg.candidate_epoch,
        ) {
            Ok(cmd) => {
                let _ = self.writer.send(Outgoing::Sequenced {
                    cmd,
                    id,
                    reply: msg.reply,
                });
            }
            Err(err) => {
                tracing::error!(error = %err, "failed to encode a chat message for the cluster");
                msg.reply.do_send(Sequenced { id, position: None });
            }
        }
    }
}

/// Read the messages `from..=to` of a room's stream (a resuming client, or a
/// gap in what arrived); None if Redis is unreachable.
#[derive(Message)]
#[rtype(result = "Option<Vec<crate::protocol::ChatMessage>>")]
pub struct ReadLog {
    pub room: RoomId,
    pub epoch: String,
    pub from: u64,
    pub to: u64,
}

impl Handler<ReadLog> for RedisBridge {
    type Result = ResponseFuture<Option<Vec<crate::protocol::ChatMessage>>>;
    fn handle(&mut self, msg: ReadLog, _: &mut Context<Self>) -> Self::Result {
        let (pool, keys) = (self.pool.clone(), self.keys.clone());
        Box::pin(async move {
            let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get())
                .await
                .ok()?
                .ok()?;
            seq::read_log(&mut conn, &keys, &msg.room, &msg.epoch, msg.from, msg.to)
                .await
                .ok()
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
    /// §7: this node's members there who rank above viewers (user, 1 mod / 2 broadcaster).
    pub ranks: Vec<(String, u8)>,
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
        if msg.ranks.is_empty() {
            self.ranks.remove(msg.room.as_str());
        } else {
            self.ranks.insert(msg.room.to_string(), msg.ranks.clone());
        }
        let event = ClusterEvent::Presence {
            count: msg.count,
            ranks: msg.ranks,
        };
        self.publish(&msg.room, event);
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
            .ignore()
            .add_command(self.users_gone())
            .ignore();
        for room in self.counts.keys() {
            let envelope = Envelope {
                node: self.node.clone(),
                seq: None,
                epoch: None,
                event: ClusterEvent::Presence {
                    count: 0,
                    ranks: Vec::new(),
                },
            };
            if let Ok(payload) = envelope.encode() {
                pipe.publish(self.keys.room_channel(room), payload).ignore();
            }
        }
        self.counts.clear();
        self.ranks.clear();
        let pool = self.pool.clone();
        let vacate = self.vacate_all();
        Box::pin(async move {
            let done = async {
                let mut conn = pool.get().await?;
                pipe.query_async::<()>(&mut *conn).await?;
                drop(conn);
                // §8: the rooms only this node occupied are vacated now.
                vacate.await;
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
