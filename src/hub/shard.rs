//! A shard: the links of one worker thread, and which topics (live rooms)
//! each is subscribed to. Rooms, on any thread, send a shard commands through
//! its [`ShardHandle`]; the shard applies them in order on its own thread: one
//! wake-up per broadcast and shard, not one per receiver.
//!
//! A turn drains every queued command (queuing frames on links), then writes
//! each link that got frames once. While it writes, it looks at the queue
//! again every few hundred links, so a frame that arrives during a long turn
//! (a room of 10 000) joins the same write for every link not written yet:
//! under load frames batch by themselves; when idle each goes out at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::link::{ConnId, Link, LinkEvent};

/// A shard's commands. A topic is a live room (its instance number).
#[derive(Debug)]
pub enum Cmd {
    /// `conn` now gets `topic`'s broadcasts.
    Subscribe { topic: u64, conn: ConnId },
    /// `conn` no longer gets them.
    Unsubscribe { topic: u64, conn: ConnId },
    /// One encoded frame for every link subscribed to `topic`.
    Publish { topic: u64, frame: Bytes },
    /// One encoded frame for one link.
    Unicast { conn: ConnId, frame: Bytes },
    /// Tell every session on this shard that the node is draining.
    Drain,
}

/// Where a room sends a shard its commands. Cheap to clone, usable from any thread.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    pub(super) id: usize,
    pub(super) tx: mpsc::UnboundedSender<Cmd>,
}

impl ShardHandle {
    pub fn id(&self) -> usize {
        self.id
    }

    pub fn send(&self, cmd: Cmd) {
        // A closed shard is a stopped worker: nothing is left to deliver to.
        let _ = self.tx.send(cmd);
    }
}

impl PartialEq for ShardHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Links written between two looks at the queue (and yields) in a long pass.
const WRITES_PER_LOOK: usize = 256;

/// A broadcast to at most this many links, alone in its turn, writes each
/// link as it goes (one visit per link); bigger ones go through the dirty list.
const DIRECT_MAX: usize = 4096;

#[derive(Default)]
pub struct Shard {
    links: HashMap<ConnId, Rc<Link>>,
    topics: HashMap<u64, Vec<Rc<Link>>>,
    /// Links with frames queued in this turn, in the order they got them.
    dirty: Vec<Rc<Link>>,
}

impl Shard {
    pub fn insert(&mut self, link: Rc<Link>) {
        self.links.insert(link.id, link);
    }

    pub fn remove(&mut self, conn: ConnId) {
        self.links.remove(&conn);
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    fn mark(&mut self, link: &Rc<Link>) {
        if !link.dirty.replace(true) {
            self.dirty.push(link.clone());
        }
    }

    /// Apply a command writing at once: a frame for one link, or a broadcast
    /// to a modest room, is queued and written in one visit per link. A
    /// broadcast to a big room goes through the dirty list (with yields).
    fn apply_direct(&mut self, cmd: Cmd) {
        match &cmd {
            Cmd::Publish { topic, frame } => match self.topics.get(topic) {
                Some(subs) if subs.len() <= DIRECT_MAX => {
                    for link in subs {
                        link.queue(frame.clone());
                        link.flush();
                    }
                }
                Some(_) => self.apply(cmd),
                None => {}
            },
            Cmd::Unicast { conn, frame } => {
                if let Some(link) = self.links.get(conn) {
                    link.queue(frame.clone());
                    link.flush();
                }
            }
            _ => self.apply(cmd),
        }
    }

    fn apply(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Subscribe { topic, conn } => {
                if let Some(link) = self.links.get(&conn) {
                    self.topics.entry(topic).or_default().push(link.clone());
                }
            }
            Cmd::Unsubscribe { topic, conn } => {
                if let Some(subs) = self.topics.get_mut(&topic) {
                    if let Some(i) = subs.iter().position(|l| l.id == conn) {
                        subs.swap_remove(i);
                    }
                    if subs.is_empty() {
                        self.topics.remove(&topic);
                    }
                }
            }
            Cmd::Publish { topic, frame } => {
                let Some(subs) = self.topics.get(&topic) else {
                    return;
                };
                for link in subs {
                    link.queue(frame.clone());
                    if !link.dirty.replace(true) {
                        self.dirty.push(link.clone());
                    }
                }
            }
            Cmd::Unicast { conn, frame } => {
                if let Some(link) = self.links.get(&conn).cloned() {
                    link.queue(frame);
                    self.mark(&link);
                }
            }
            Cmd::Drain => {
                for link in self.links.values() {
                    link.tell(LinkEvent::Draining);
                }
            }
        }
    }
}

thread_local! {
    /// This worker thread's shard (created by the first link on the thread).
    pub(super) static SHARD: RefCell<Option<Shard>> = const { RefCell::new(None) };
}

/// Apply every command waiting in `rx`.
fn drain_queue(rx: &mut mpsc::UnboundedReceiver<Cmd>) {
    SHARD.with(|s| {
        if let Some(shard) = s.borrow_mut().as_mut() {
            while let Ok(cmd) = rx.try_recv() {
                shard.apply(cmd);
            }
        }
    });
}

/// Write the link at `i` of the dirty list, if there is one; false when done.
fn write_next(i: usize) -> bool {
    let link = SHARD.with(|s| {
        s.borrow()
            .as_ref()
            .and_then(|shard| shard.dirty.get(i).cloned())
    });
    match link {
        Some(link) => {
            link.dirty.set(false);
            link.flush();
            true
        }
        None => false,
    }
}

/// The shard's task: one turn per wake-up, as described above. A long pass
/// yields to the thread's other tasks every few hundred writes (sessions read
/// their clients meanwhile, rooms publish), then takes in what arrived.
pub(super) async fn run(mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut batch = std::collections::VecDeque::new();
    while let Some(first) = rx.recv().await {
        batch.push_back(first);
        while let Ok(cmd) = rx.try_recv() {
            batch.push_back(cmd);
        }
        // At most one broadcast waiting: nothing to batch, write as we go. With
        // more, each link gets all its frames in one write at the end.
        let publishes = batch
            .iter()
            .filter(|c| matches!(c, Cmd::Publish { .. }))
            .count();
        SHARD.with(|s| {
            if let Some(shard) = s.borrow_mut().as_mut() {
                for cmd in batch.drain(..) {
                    if publishes <= 1 {
                        shard.apply_direct(cmd);
                    } else {
                        shard.apply(cmd);
                    }
                }
            }
        });
        let mut i = 0;
        while write_next(i) {
            i += 1;
            if i % WRITES_PER_LOOK == 0 {
                tokio::task::yield_now().await;
                drain_queue(&mut rx);
            }
        }
        SHARD.with(|s| {
            if let Some(shard) = s.borrow_mut().as_mut() {
                shard.dirty.clear();
            }
        });
    }
}
