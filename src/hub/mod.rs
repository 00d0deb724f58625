//! The hub: connections indexed by worker thread, and room fan-out in shards.
//!
//! Each worker thread that serves WebSockets has one [`shard::Shard`]: its
//! [`Link`]s (socket + outbound frames) and which rooms each is subscribed to.
//! A room broadcasts by encoding a frame once ([`wire`]) and handing the same
//! bytes to each shard that has members: one command, and at most one
//! cross-thread wake-up, per broadcast and shard. The shard writes every frame
//! pending for a link in one write per turn.
//!
//! Decisions stay with the actors: a room decides who is subscribed (it sends
//! the subscriptions, in order with its frames), a session decides about its
//! connection. The hub only carries bytes; it must not decide anything.

pub mod link;
pub mod shard;
pub mod wire;

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::TcpStream;

pub use link::{ConnId, Down, Link, LinkEvent, LinkLimits};
pub use shard::{Cmd, ShardHandle};

use crate::protocol::Frame;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_SHARD_ID: AtomicUsize = AtomicUsize::new(1);

/// Every shard of the process, for what concerns them all (draining).
#[derive(Clone, Default)]
pub struct Hub {
    shards: Arc<Mutex<Vec<ShardHandle>>>,
}

thread_local! {
    static LOCAL: std::cell::RefCell<Option<ShardHandle>> = const { std::cell::RefCell::new(None) };
}

impl Hub {
    /// This thread's shard, started on first use (on an actix worker thread).
    pub fn local(&self) -> ShardHandle {
        if let Some(h) = LOCAL.with(|l| l.borrow().clone()) {
            return h;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = ShardHandle {
            id: NEXT_SHARD_ID.fetch_add(1, Ordering::Relaxed),
            tx,
        };
        shard::SHARD.with(|s| *s.borrow_mut() = Some(shard::Shard::default()));
        actix_rt::spawn(shard::run(rx));
        LOCAL.with(|l| *l.borrow_mut() = Some(handle.clone()));
        if let Ok(mut all) = self.shards.lock() {
            all.push(handle.clone());
        }
        handle
    }

    /// A new link for `sock` on this thread's shard.
    pub fn attach(&self, sock: TcpStream, limits: LinkLimits) -> (Rc<Link>, ShardHandle) {
        let shard = self.local();
        let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
        let link = Rc::new(Link::new(id, sock, limits));
        shard::SHARD.with(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                s.insert(link.clone());
            }
        });
        (link, shard)
    }

    /// Tell every session of every shard that the node is draining.
    pub fn drain(&self) {
        if let Ok(all) = self.shards.lock() {
            for s in all.iter() {
                s.send(Cmd::Drain);
            }
        }
    }
}

/// The link `conn` of this thread's shard is gone (its session stopped).
pub fn detach(conn: ConnId) {
    shard::SHARD.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            s.remove(conn);
        }
    });
}

/// Where one connection's frames go from any thread: its shard and its id.
#[derive(Clone, Debug)]
pub struct Route {
    pub shard: ShardHandle,
    pub conn: ConnId,
}

impl Route {
    /// Send one frame to this connection (encoded here, for it alone).
    pub fn send(&self, frame: &Frame) {
        self.send_wire(wire::text(frame));
    }

    /// Send an already encoded frame.
    pub fn send_wire(&self, frame: Bytes) {
        self.shard.send(Cmd::Unicast {
            conn: self.conn,
            frame,
        });
    }
}
