//! Membership and fan-out: who is in the room, and how a frame reaches them.
//!
//! A frame is serialised once; the same refcounted bytes are pushed into each
//! member's bounded outbound queue with `try_send`, so the room never waits for
//! anyone. No locks, no database calls and no per-receiver allocation happen in
//! [`Members::broadcast`].
//!
//! There is one drop path, [`Members::detach`]: a member removed without asking
//! (its queue overflowed, or it was banned) is told so through [`Detached`], and
//! the caller learns how many went so it can update the count.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::auth::Identity;
use crate::metrics::{self, METRICS};
use crate::protocol::{Frame, RoomId};

/// A connection's id, unique within this process.
pub type ConnId = u64;

/// A connection as a room sees it: who, where its frames go, how to reach its actor.
#[derive(Clone)]
pub struct Conn {
    pub id: ConnId,
    pub user: Arc<Identity>,
    /// The session's bounded outbound queue.
    pub outbox: mpsc::Sender<Frame>,
    /// Where to say that this connection is no longer in the room.
    pub notify: Recipient<Detached>,
}

/// Tells a session it is no longer a member of `room` (join refused, banned, or too slow).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Detached {
    pub room: RoomId,
    /// Set when the whole connection must close.
    pub close: Option<CloseCause>,
}

/// Why a room asks a session to close its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Its outbound queue overflowed (close 1008).
    SlowConsumer,
}

/// The members of one room.
pub struct Members {
    room: RoomId,
    conns: HashMap<ConnId, Conn>,
}

impl Members {
    pub fn new(room: RoomId) -> Self {
        Members {
            room,
            conns: HashMap::new(),
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

    /// Add a member (a second join of the same connection replaces the first).
    pub fn insert(&mut self, conn: Conn) {
        metrics::inc(&METRICS.joins);
        self.conns.insert(conn.id, conn);
    }

    /// A member leaves of its own accord (a `leave`, or its connection closed).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        metrics::inc(&METRICS.leaves);
        Some(conn)
    }

    /// Push one frame to every member. Answers how many were dropped as too slow.
    pub fn broadcast(&mut self, frame: &Frame) -> usize {
        metrics::add(&METRICS.deliveries, self.conns.len() as u64);
        let mut too_slow: Vec<ConnId> = Vec::new();
        for (id, conn) in &self.conns {
            // Closed: the session is gone and its Leave is on its way.
            if let Err(TrySendError::Full(_)) = conn.outbox.try_send(frame.clone()) {
                too_slow.push(*id);
            }
        }
        if too_slow.is_empty() {
            return 0;
        }
        self.detach(too_slow, Some(CloseCause::SlowConsumer), None)
    }

    /// Push a frame to one member; a full queue drops it like a broadcast does.
    /// Answers how many were dropped (0 or 1).
    pub fn send_to(&mut self, id: ConnId, frame: Frame) -> usize {
        match self.conns.get(&id).map(|c| c.outbox.try_send(frame)) {
            Some(Err(TrySendError::Full(_))) => {
                self.detach([id], Some(CloseCause::SlowConsumer), None)
            }
            _ => 0,
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
        self.detach(gone, None, Some(last))
    }

    /// The one drop path: remove these members without their asking, give
    /// each `last` (if any) and tell its session; answers how many went.
    fn detach(
        &mut self,
        ids: impl IntoIterator<Item = ConnId>,
        close: Option<CloseCause>,
        last: Option<&Frame>,
    ) -> usize {
        let mut n = 0;
        for id in ids {
            let Some(conn) = self.conns.remove(&id) else {
                continue;
            };
            n += 1;
            if close == Some(CloseCause::SlowConsumer) {
                tracing::warn!(room = %self.room, session = id, user = %conn.user.id,
                    "outbound queue full: dropping slow consumer");
            }
            if let Some(frame) = last {
                let _ = conn.outbox.try_send(frame.clone());
            }
            conn.notify.do_send(Detached {
                room: self.room.clone(),
                close,
            });
        }
        metrics::add(&METRICS.leaves, n as u64);
        if close == Some(CloseCause::SlowConsumer) {
            metrics::add(&METRICS.slow_consumers, n as u64);
        }
        n
    }
}
