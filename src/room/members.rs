//! Membership and fan-out: who is in the room, and how a frame reaches them.
//!
//! A broadcast is serialised once and framed once; the same bytes go to each
//! hub shard (worker thread) that has members, as one command per shard. The
//! shard writes them to its links; the room never touches a socket and never
//! waits. Subscriptions go to the shards in order with the frames, so a member
//! gets exactly the broadcasts sent while it is a member.
//!
//! There is one drop path, [`Members::detach`]: a member removed without asking
//! (it was banned) is told so through [`Detached`]. A slow consumer is dropped
//! by its own link and leaves like any closed connection.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use crate::auth::Identity;
use crate::hub::{Cmd, Route, ShardHandle, wire};
use crate::metrics::{self, METRICS};
use crate::protocol::{Frame, RoomId};

pub use crate::hub::ConnId;

/// A connection as a room sees it: who, where its frames go, how to reach its actor.
#[derive(Clone)]
pub struct Conn {
    pub id: ConnId,
    pub user: Arc<Identity>,
    /// Its shard and id: where frames for it go.
    pub route: Route,
    /// Where to say that this connection is no longer in the room.
    pub notify: Recipient<Detached>,
    /// Contract §7: the roles of the room token it joined with (None: no room token).
    pub roles: Option<crate::auth::RoomRoles>,
}

/// Tells a session it is no longer a member of `room` (join refused, or banned).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Detached {
    pub room: RoomId,
}

/// The members of one room.
pub struct Members {
    room: RoomId,
    /// The room's topic on the shards: this room actor's instance number.
    topic: u64,
    conns: HashMap<ConnId, Conn>,
    /// Shards with members here, and how many.
    shards: Vec<(ShardHandle, usize)>,
}

impl Members {
    pub fn new(room: RoomId, topic: u64) -> Self {
        Members {
            room,
            topic,
            conns: HashMap::new(),
            shards: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    /// Every member.
    pub fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values()
    }

    /// The members that are connections of `user`.
    pub fn of_user<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a Conn> + 'a {
        self.conns.values().filter(move |c| c.user.id == user)
    }

    /// A member's identity changed (a token refresh).
    pub fn set_user(&mut self, id: ConnId, user: Arc<Identity>) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.user = user;
        }
    }

    /// Add a member (a second join of the same connection changes nothing).
    pub fn insert(&mut self, conn: Conn) {
        if self.conns.contains_key(&conn.id) {
            return;
        }
        metrics::inc(&METRICS.joins);
        let shard = &conn.route.shard;
        match self.shards.iter_mut().find(|(s, _)| s == shard) {
            Some((_, n)) => *n += 1,
            None => self.shards.push((shard.clone(), 1)),
        }
        shard.send(Cmd::Subscribe {
            topic: self.topic,
            conn: conn.id,
        });
        self.conns.insert(conn.id, conn);
    }

    /// A member leaves (a `leave`, its connection closed, or a ban).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        metrics::inc(&METRICS.leaves);
        conn.route.shard.send(Cmd::Unsubscribe {
            topic: self.topic,
            conn: id,
        });
        if let Some(i) = self.shards.iter().position(|(s, _)| *s == conn.route.shard) {
            self.shards[i].1 -= 1;
            if self.shards[i].1 == 0 {
                self.shards.swap_remove(i);
            }
        }
        Some(conn)
    }

    /// One frame to every member: framed once, one command per shard.
    pub fn broadcast(&self, frame: &Frame) {
        if self.conns.is_empty() {
            return;
        }
        metrics::add(&METRICS.deliveries, self.conns.len() as u64);
        let bytes = wire::text(frame);
        for (shard, _) in &self.shards {
            shard.send(Cmd::Publish {
                topic: self.topic,
                frame: bytes.clone(),
            });
        }
    }

    /// One frame to one member.
    pub fn send_to(&self, id: ConnId, frame: &Frame) {
        if let Some(conn) = self.conns.get(&id) {
            conn.route.send(frame);
        }
    }

    /// Remove every connection of `user`, sending each `last` first (a ban's
    /// `left`). Answers how many went.
    pub fn remove_user(&mut self, user: &str, last: &Frame) -> usize {
        let gone: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| c.user.id == user)
            .map(|c| c.id)
            .collect();
        self.detach(gone, last)
    }

    /// The one drop path: remove these members without their asking, give
    /// each `last` and tell its session; answers how many went.
    fn detach(&mut self, ids: Vec<ConnId>, last: &Frame) -> usize {
        let mut n = 0;
        for id in ids {
            let Some(conn) = self.remove(id) else {
                continue;
            };
            n += 1;
            conn.route.send(last);
            conn.notify.do_send(Detached {
                room: self.room.clone(),
            });
        }
        n
    }
}
