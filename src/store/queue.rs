//! The write queue: every write in the order rooms asked for it, kept until the
//! database has taken it, with the bytes it holds counted. Pure: the actor
//! decides when to flush; this only holds, batches and answers what is queued
//! for a room (reads merge that in, so an acked message is readable at once).
//! It never refuses a write: rooms check the bound before they ack a message
//! (`StoreStatus::accepts`), and moderation writes are always kept.

use std::collections::VecDeque;

use super::write::{ModLogEntry, Snapshot, Write};
use crate::protocol::ChatMessage;

#[derive(Default)]
pub struct WriteQueue {
    writes: VecDeque<Write>,
    bytes: usize,
}

impl WriteQueue {
    pub fn new() -> Self {
        WriteQueue::default()
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Bytes the queued writes hold (an estimate, see `Write::size`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Queue a write at the back.
    pub fn push(&mut self, write: Write) {
        self.bytes += write.size();
        self.writes.push_back(write);
    }

    /// The next batch: the run of consecutive messages at the head (at most
    /// `max`), or the one other write there. The writes stay queued.
    pub fn head_batch(&self, max: usize) -> Vec<Write> {
        match self.writes.front() {
            Some(Write::Message(_)) => self
                .writes
                .iter()
                .take(max)
                .take_while(|w| matches!(w, Write::Message(_)))
                .cloned()
                .collect(),
            Some(other) => vec![other.clone()],
            None => Vec::new(),
        }
    }

    /// The first `n` writes are stored: drop them.
    pub fn commit(&mut self, n: usize) {
        for w in self.writes.drain(..n.min(self.writes.len())) {
            self.bytes -= w.size();
        }
    }

    /// Queued writes of `room`, in order.
    fn of_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Write> + 'a {
        self.writes.iter().filter(move |w| w.room() == room)
    }

    /// Queued messages of `room` older than `before`.
    pub fn messages(&self, room: &str, before: Option<&str>) -> Vec<ChatMessage> {
        self.of_room(room)
            .filter_map(|w| match w {
                Write::Message(m) if before.is_none_or(|b| m.id.as_str() < b) => {
                    Some((**m).clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Ids of `room`'s messages whose deletion is queued.
    pub fn deletes(&self, room: &str) -> Vec<String> {
        self.of_room(room)
            .filter_map(|w| match w {
                Write::Delete { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Queued changes to `room`'s bans, timeouts and slow mode, in order.
    pub fn moderation(&self, room: &str) -> Vec<Write> {
        self.of_room(room)
            .filter(|w| {
                matches!(
                    w,
                    Write::Ban { .. }
                        | Write::Unban { .. }
                        | Write::Timeout { .. }
                        | Write::SlowMode { .. }
                )
            })
            .cloned()
            .collect()
    }

    /// Queued moderation log entries of `room`.
    pub fn log(&self, room: &str) -> Vec<ModLogEntry> {
        self.of_room(room)
            .filter_map(|w| match w {
                Write::Log(e) => Some((**e).clone()),
                _ => None,
            })
            .collect()
    }

    /// Queued §7 writes of `room` (moderation v2), in order.
    pub fn moderation_v2(&self, room: &str) -> Vec<super::moderation::ModWrite> {
        self.of_room(room)
            .filter_map(|w| match w {
                Write::Moderation(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// Queued §8 writes of `room` (state, streams), in order.
    pub fn platform(&self, room: &str) -> Vec<super::platform::PlatformWrite> {
        self.of_room(room)
            .filter_map(|w| match w {
                Write::Platform(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Queued snapshots of `room` with `from <= minute < to`.
    pub fn snapshots(&self, room: &str, from: i64, to: i64) -> Vec<Snapshot> {
        self.of_room(room)
            .filter_map(|w| match w {
                Write::Snapshot(s) if (from..to).contains(&s.minute) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn msg(room: &str, id: &str) -> Write {
        Write::Message(Arc::new(ChatMessage::sample(room, id, "u")))
    }

    #[test]
    fn batches_are_runs_of_messages_or_one_other_write() {
        let mut q = WriteQueue::new();
        q.push(msg("r", "a"));
        q.push(msg("r", "b"));
        q.push(Write::SlowMode {
            room: "r".into(),
            seconds: 5,
        });
        q.push(msg("r", "c"));
        assert_eq!(q.head_batch(10).len(), 2);
        assert_eq!(q.head_batch(1).len(), 1);
        q.commit(2);
        assert!(matches!(q.head_batch(10)[..], [Write::SlowMode { .. }]));
        q.commit(1);
        assert_eq!(q.head_batch(10).len(), 1);
        q.commit(1);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0, "bytes are given back as writes leave");
    }

    #[test]
    fn reads_see_only_their_rooms_queued_writes() {
        let mut q = WriteQueue::new();
        q.push(msg("r", "a"));
        q.push(msg("other", "b"));
        q.push(msg("r", "c"));
        q.push(Write::Delete {
            room: "r".into(),
            id: "a".into(),
            by: "m".into(),
            at: 0,
        });
        let ids: Vec<String> = q.messages("r", None).into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["a", "c"]);
        let older: Vec<String> = q
            .messages("r", Some("c"))
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(older, ["a"]);
        assert_eq!(q.deletes("r"), ["a"]);
        assert!(q.deletes("other").is_empty());
    }

    #[test]
    fn the_queue_counts_the_bytes_it_holds() {
        let mut q = WriteQueue::new();
        q.push(msg("r", "a"));
        let one = q.bytes();
        assert!(one > 96, "{one}");
        q.push(msg("r", "b"));
        assert_eq!(q.bytes(), 2 * one);
        q.commit(1);
        assert_eq!(q.bytes(), one);
    }
}
