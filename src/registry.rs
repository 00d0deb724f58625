//! Registry actor: maps room ids to live [`Room`] actors, starts a room on
//! first use and stops it once it has been idle for its grace time.
//!
//! Everything that needs a room by name goes through here, so a room is never
//! stopped while a request for it is on its way: the registry forwards each
//! request itself ([`ForRoom`], [`JoinRoom`]), and stops a room only after the
//! room confirms (in mailbox order) that it is still empty. The registry must
//! not look inside rooms; it only routes, and ranks rooms by viewers.

use std::collections::HashMap;

use actix::dev::ToEnvelope;
use actix::prelude::*;

use crate::bridge::{ClusterRooms, RoomCount};
use crate::protocol::{ErrorCode, Refusal, RoomId};
use crate::room::{
    self, Conn, Room, RoomConfig, RoomHooks, RoomIdle, RoomViewers, TryStop, WatchViewers,
};

/// Most viewer streams waiting for one room that is not live here.
const MAX_WAITING_WATCHERS_PER_ROOM: usize = 10_000;

pub struct Registry {
    rooms: HashMap<RoomId, Addr<Room>>,
    /// Viewer counts as rooms last reported them (coalesced like `viewers` frames).
    viewers: HashMap<String, u64>,
    /// Viewer streams (SSE) of rooms that are not live here: a stream never
    /// starts a room (contract §6); it joins the room when someone does.
    waiting: HashMap<RoomId, Vec<tokio::sync::mpsc::Sender<u64>>>,
    /// Live rooms allowed on this node (`limits.rooms_per_node`).
    max_rooms: usize,
    cfg: RoomConfig,
}

impl Registry {
    pub fn new(cfg: RoomConfig, max_rooms: usize) -> Self {
        Registry {
            rooms: HashMap::new(),
            viewers: HashMap::new(),
            waiting: HashMap::new(),
            max_rooms,
            cfg,
        }
    }

    /// The live room `id`, if there is one.
    fn live(&self, id: &RoomId) -> Option<Addr<Room>> {
        self.rooms.get(id).filter(|a| a.connected()).cloned()
    }

    /// The room `id`, started if it is not live, unless this node already holds
    /// its maximum of rooms (rooms in their idle grace count).
    fn room(&mut self, id: &RoomId, ctx: &mut Context<Self>) -> Result<Addr<Room>, RoomError> {
        if let Some(addr) = self.live(id) {
            return Ok(addr);
        }
        self.rooms.retain(|_, a| a.connected());
        if self.rooms.len() >= self.max_rooms {
            return Err(RoomError::Limit(self.max_rooms));
        }
        let hooks = RoomHooks {
            idle: ctx.address().recipient(),
            viewers: ctx.address().recipient(),
        };
        let addr = Room::new(id.clone(), self.cfg.clone(), hooks).start();
        tracing::debug!(room = %id, "room started");
        for tx in self.waiting.remove(id).into_iter().flatten() {
            addr.do_send(WatchViewers { tx });
        }
        self.rooms.insert(id.clone(), addr.clone());
        Ok(addr)
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        // Viewer streams that went away stop waiting.
        ctx.run_interval(std::time::Duration::from_secs(5), |act, _| {
            act.waiting.retain(|_, txs| {
                txs.retain(|tx| !tx.is_closed());
                !txs.is_empty()
            });
        });
    }
}

/// Why a request for a room could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The room stopped while the request was on its way.
    #[error("room {0} is unavailable")]
    Unavailable(RoomId),
    /// Starting it would exceed `limits.rooms_per_node`.
    #[error("this node holds its maximum of {0} live rooms; try again later")]
    Limit(usize),
}

impl RoomError {
    /// As a client frame's refusal.
    pub fn refusal(&self) -> Refusal {
        match self {
            RoomError::Limit(_) => Refusal::new(ErrorCode::RoomLimit, self.to_string()),
            RoomError::Unavailable(_) => Refusal::new(ErrorCode::Internal, self.to_string()),
        }
    }
}

/// Any request for a room by name, from the server API or a moderator frame:
/// the room is started if it is not live (it loads its state from the store),
/// and answers with the request's own result type.
pub struct ForRoom<M> {
    pub room: RoomId,
    pub msg: M,
}

impl<M> Message for ForRoom<M>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    type Result = Result<M::Result, RoomError>;
}

impl<M> Handler<ForRoom<M>> for Registry
where
    M: Message + Send + 'static,
    M::Result: Send,
    Room: Handler<M>,
    <Room as Actor>::Context: ToEnvelope<Room, M>,
{
    type Result = ResponseFuture<Result<M::Result, RoomError>>;
    fn handle(&mut self, req: ForRoom<M>, ctx: &mut Context<Self>) -> Self::Result {
        let addr = match self.room(&req.room, ctx) {
            Ok(addr) => addr,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        // `send` queues the request now, ahead of any TryStop this registry sends later.
        let reply = addr.send(req.msg);
        let room = req.room;
        Box::pin(async move { reply.await.map_err(|_| RoomError::Unavailable(room)) })
    }
}

/// A connection asks to join `room`. The registry forwards the join to the room
/// (starting it if needed) and answers with the room's address, which the
/// session uses for everything else it sends to that room.
#[derive(Message)]
#[rtype(result = "Result<Addr<Room>, RoomError>")]
pub struct JoinRoom {
    pub room: RoomId,
    pub conn: Conn,
    /// Resume from this position (contract §5).
    pub since: Option<crate::protocol::Since>,
    pub reference: Option<String>,
}

impl Handler<JoinRoom> for Registry {
    type Result = Result<Addr<Room>, RoomError>;
    fn handle(&mut self, msg: JoinRoom, ctx: &mut Context<Self>) -> Self::Result {
        let addr = self.room(&msg.room, ctx)?;
        addr.do_send(room::Join {
            conn: msg.conn,
            since: msg.since,
            reference: msg.reference,
        });
        Ok(addr)
    }
}

/// A viewer stream (SSE) of `room`: live rooms send it every change; for a
/// room that is not live here it waits (without starting one) and answers
/// the cluster-wide count, or 0 on a single node.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct WatchRoom {
    pub room: RoomId,
    pub tx: tokio::sync::mpsc::Sender<u64>,
}

impl Handler<WatchRoom> for Registry {
    type Result = ResponseFuture<u64>;
    fn handle(&mut self, msg: WatchRoom, _: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.live(&msg.room) {
            let reply = addr.send(WatchViewers { tx: msg.tx });
            return Box::pin(async move { reply.await.unwrap_or(0) });
        }
        let waiting = self.waiting.entry(msg.room.clone()).or_default();
        if waiting.len() < MAX_WAITING_WATCHERS_PER_ROOM {
            waiting.push(msg.tx);
        }
        let bridge = self.cfg.bridge.clone();
        let room = msg.room;
        Box::pin(async move {
            match bridge {
                Some(b) => b.send(RoomCount { room }).await.ok().flatten().unwrap_or(0),
                None => 0,
            }
        })
    }
}

impl Handler<RoomIdle> for Registry {
    type Result = ();
    fn handle(&mut self, msg: RoomIdle, ctx: &mut Context<Self>) {
        if self.rooms.get(&msg.room) != Some(&msg.addr) {
            return;
        }
        // Wait for the answer before handling anything else, so no request for
        // this room can be forwarded to it while it decides.
        ctx.wait(
            msg.addr
                .send(TryStop)
                .into_actor(self)
                .map(move |res, act, _| {
                    if !matches!(res, Ok(false)) {
                        act.rooms.remove(&msg.room);
                        tracing::debug!(room = %msg.room, "room stopped after idle grace");
                    }
                }),
        );
    }
}

impl Handler<RoomViewers> for Registry {
    type Result = ();
    fn handle(&mut self, msg: RoomViewers, _: &mut Context<Self>) {
        if msg.count == 0 {
            self.viewers.remove(msg.room.as_str());
        } else {
            self.viewers.insert(msg.room.into_string(), msg.count);
        }
    }
}

/// How many rooms are live on this node.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountRooms;

impl Handler<CountRooms> for Registry {
    type Result = usize;
    fn handle(&mut self, _: CountRooms, _: &mut Context<Self>) -> usize {
        self.rooms.len()
    }
}

/// Live rooms (at least one viewer), most viewers first, at most `limit`.
#[derive(Message)]
#[rtype(result = "Vec<(String, u64)>")]
pub struct ListRooms {
    pub limit: usize,
}

impl Handler<ListRooms> for Registry {
    type Result = ResponseFuture<Vec<(String, u64)>>;
    fn handle(&mut self, msg: ListRooms, _: &mut Context<Self>) -> Self::Result {
        let local = self.viewers.clone();
        let bridge = self.cfg.bridge.clone();
        Box::pin(async move {
            // In a cluster the counts live in Redis; our own view is the fallback.
            let counts = match bridge {
                Some(bridge) => match bridge.send(ClusterRooms).await {
                    Ok(Some(sums)) => sums,
                    _ => local,
                },
                None => local,
            };
            top_rooms(counts.into_iter().collect(), msg.limit)
        })
    }
}

/// The `limit` rooms with most viewers (ties by name), rooms with none left out.
pub fn top_rooms(mut rooms: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
    rooms.retain(|(_, n)| *n > 0);
    let by_viewers =
        |a: &(String, u64), b: &(String, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
    // Partial sort: only the top `limit` need ordering.
    if rooms.len() > limit {
        rooms.select_nth_unstable_by(limit, by_viewers);
        rooms.truncate(limit);
    }
    rooms.sort_by(by_viewers);
    rooms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_rooms_are_by_viewers_then_name_without_empty_ones() {
        let rooms = vec![
            ("b".to_owned(), 5),
            ("a".to_owned(), 5),
            ("c".to_owned(), 9),
            ("d".to_owned(), 0),
            ("e".to_owned(), 1),
        ];
        let top = top_rooms(rooms.clone(), 3);
        assert_eq!(
            top,
            [
                ("c".to_owned(), 9),
                ("a".to_owned(), 5),
                ("b".to_owned(), 5)
            ]
        );
        assert_eq!(top_rooms(rooms, 10).len(), 4);
    }
}
