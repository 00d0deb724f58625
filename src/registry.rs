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

use crate::bridge::ClusterRooms;
use crate::protocol::RoomId;
use crate::room::{self, Conn, Room, RoomConfig, RoomHooks, RoomIdle, RoomViewers, TryStop};

pub struct Registry {
    rooms: HashMap<RoomId, Addr<Room>>,
    /// Viewer counts as rooms last reported them (coalesced like `viewers` frames).
    viewers: HashMap<String, u64>,
    cfg: RoomConfig,
}

impl Registry {
    pub fn new(cfg: RoomConfig) -> Self {
        Registry {
            rooms: HashMap::new(),
            viewers: HashMap::new(),
            cfg,
        }
    }

    fn room(&mut self, id: &RoomId, ctx: &mut Context<Self>) -> Addr<Room> {
        if let Some(addr) = self.rooms.get(id)
            && addr.connected()
        {
            return addr.clone();
        }
        let hooks = RoomHooks {
            idle: ctx.address().recipient(),
            viewers: ctx.address().recipient(),
        };
        let addr = Room::new(id.clone(), self.cfg.clone(), hooks).start();
        tracing::debug!(room = %id, "room started");
        self.rooms.insert(id.clone(), addr.clone());
        addr
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
    }
}

/// The room could not answer (it stopped while the request was on its way).
#[derive(Debug, thiserror::Error)]
#[error("room {0} is unavailable")]
pub struct RoomUnavailable(pub RoomId);

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
    type Result = Result<M::Result, RoomUnavailable>;
}

impl<M> Handler<ForRoom<M>> for Registry
where
    M: Message + Send + 'static,
    M::Result: Send,
    Room: Handler<M>,
    <Room as Actor>::Context: ToEnvelope<Room, M>,
{
    type Result = ResponseFuture<Result<M::Result, RoomUnavailable>>;
    fn handle(&mut self, req: ForRoom<M>, ctx: &mut Context<Self>) -> Self::Result {
        let addr = self.room(&req.room, ctx);
        // `send` queues the request now, ahead of any TryStop this registry sends later.
        let reply = addr.send(req.msg);
        let room = req.room;
        Box::pin(async move { reply.await.map_err(|_| RoomUnavailable(room)) })
    }
}

/// A connection asks to join `room`. The registry forwards the join to the room
/// (starting it if needed) and answers with the room's address, which the
/// session uses for everything else it sends to that room.
#[derive(Message)]
#[rtype(result = "Addr<Room>")]
pub struct JoinRoom {
    pub room: RoomId,
    pub conn: Conn,
    pub reference: Option<String>,
}

impl Handler<JoinRoom> for Registry {
    type Result = MessageResult<JoinRoom>;
    fn handle(&mut self, msg: JoinRoom, ctx: &mut Context<Self>) -> Self::Result {
        let addr = self.room(&msg.room, ctx);
        addr.do_send(room::Join {
            conn: msg.conn,
            reference: msg.reference,
        });
        MessageResult(addr)
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
