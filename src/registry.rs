//! Registry actor: maps room ids to live [`Room`] actors, starts a room on
//! first use and stops it once it has been idle for its grace time.
//!
//! Everything that needs a room by name goes through here, so a room is never
//! stopped while a join for it is on its way: the registry forwards the join
//! itself, and stops a room only after the room confirms (in mailbox order)
//! that it is still empty. The registry must not look inside rooms; it only
//! routes.

use std::collections::HashMap;

use actix::prelude::*;

use crate::bridge::ClusterRooms;
use crate::protocol::{ErrorCode, Refusal};
use crate::room::{self, Command, CommandKind, CommandOutcome, Conn, Room, RoomConfig, TryStop};

pub struct Registry {
    rooms: HashMap<String, Addr<Room>>,
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

    fn room(&mut self, id: &str, ctx: &mut Context<Self>) -> Addr<Room> {
        if let Some(addr) = self.rooms.get(id)
            && addr.connected()
        {
            return addr.clone();
        }
        let addr = Room::new(id.to_owned(), self.cfg.clone(), ctx.address()).start();
        tracing::debug!(room = id, "room started");
        self.rooms.insert(id.to_owned(), addr.clone());
        addr
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
    }
}

/// A connection asks to join `room`. The registry forwards the join to the room
/// (starting it if needed) and answers with the room's address, which the
/// session uses for everything else it sends to that room.
#[derive(Message)]
#[rtype(result = "Addr<Room>")]
pub struct JoinRoom {
    pub room: String,
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

/// A request for a room by name, from the server API or a moderator frame.
/// The room is started if it is not live (it loads its state from the store).
#[derive(Message)]
#[rtype(result = "Result<CommandOutcome, Refusal>")]
pub struct RoomCommand {
    pub room: String,
    pub kind: CommandKind,
}

impl Handler<RoomCommand> for Registry {
    type Result = ResponseFuture<Result<CommandOutcome, Refusal>>;
    fn handle(&mut self, msg: RoomCommand, ctx: &mut Context<Self>) -> Self::Result {
        let addr = self.room(&msg.room, ctx);
        // `send` queues the command now, ahead of any TryStop this registry sends later.
        let reply = addr.send(Command { kind: msg.kind });
        Box::pin(async move {
            reply
                .await
                .unwrap_or_else(|_| Err(Refusal::new(ErrorCode::Internal, "room is unavailable")))
        })
    }
}

/// A room has been empty for its grace time and offers to stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomIdle {
    pub room: String,
    /// Which room actor (a newer one may have replaced it under the same id).
    pub addr: Addr<Room>,
}

impl Handler<RoomIdle> for Registry {
    type Result = ();
    fn handle(&mut self, msg: RoomIdle, ctx: &mut Context<Self>) {
        if self.rooms.get(&msg.room) != Some(&msg.addr) {
            return;
        }
        // Wait for the answer before handling anything else, so no join for this
        // room can be forwarded to it while it decides.
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

/// A room's viewer count changed (sent at most once per viewers interval).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomViewers {
    pub room: String,
    pub count: u64,
}

impl Handler<RoomViewers> for Registry {
    type Result = ();
    fn handle(&mut self, msg: RoomViewers, _: &mut Context<Self>) {
        if msg.count == 0 {
            self.viewers.remove(&msg.room);
        } else {
            self.viewers.insert(msg.room, msg.count);
        }
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
        let local = top_rooms(
            self.viewers.iter().map(|(r, n)| (r.clone(), *n)).collect(),
            msg.limit,
        );
        let Some(bridge) = self.cfg.bridge.clone() else {
            return Box::pin(async move { local });
        };
        // In a cluster the counts live in Redis; our own view is the fallback.
        Box::pin(async move {
            match bridge.send(ClusterRooms { limit: msg.limit }).await {
                Ok(Some(rooms)) => rooms,
                _ => local,
            }
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
