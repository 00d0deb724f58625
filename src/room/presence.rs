//! Presence: the other nodes' connection counts in this room (each stands for
//! the presence TTL without a refresh), and the coalescing of a changing count
//! into at most one announcement per interval (the `viewers` frame, and this
//! node's count told to the cluster).
//!
//! No timers here: the room asks when to announce and schedules it itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Other nodes' counts in the room, and when each was last heard.
#[derive(Default)]
pub struct RemoteCounts {
    by_node: HashMap<String, (u64, Instant)>,
}

impl RemoteCounts {
    /// Connections joined to the room on other nodes.
    pub fn total(&self) -> u64 {
        self.by_node.values().map(|(n, _)| n).sum()
    }

    /// A node told us its count; true if that changes the total.
    pub fn set(&mut self, node: String, count: u64, now: Instant) -> bool {
        if count == 0 {
            return self.by_node.remove(&node).is_some();
        }
        let old = self.by_node.insert(node, (count, now));
        old.map(|(n, _)| n) != Some(count)
    }

    /// Start over from what Redis holds.
    pub fn replace(&mut self, counts: HashMap<String, u64>, now: Instant) {
        self.by_node = counts.into_iter().map(|(n, c)| (n, (c, now))).collect();
    }

    /// Forget nodes not heard from within `ttl`; true if any was forgotten.
    pub fn expire(&mut self, ttl: Duration) -> bool {
        let before = self.by_node.len();
        self.by_node.retain(|_, (_, seen)| seen.elapsed() < ttl);
        self.by_node.len() != before
    }
}

/// Announces a changing value at most once per `interval`: at once after a
/// quiet interval, else when the interval since the last announcement is over;
/// never the same value twice in a row.
pub struct Coalescer {
    interval: Duration,
    sent: u64,
    last_at: Option<Instant>,
    scheduled: bool,
}

impl Coalescer {
    pub fn new(interval: Duration) -> Self {
        Coalescer {
            interval,
            sent: 0,
            last_at: None,
            scheduled: false,
        }
    }

    /// The value changed: how long to wait before announcing, or None if an
    /// announcement is already scheduled (it will carry the newest value).
    pub fn schedule(&mut self, now: Instant) -> Option<Duration> {
        if self.scheduled {
            return None;
        }
        self.scheduled = true;
        Some(
            self.last_at
                .map(|t| {
                    self.interval
                        .saturating_sub(now.saturating_duration_since(t))
                })
                .unwrap_or(Duration::ZERO),
        )
    }

    /// The value was announced out of turn (a moderator joined, §7).
    pub fn sent_now(&mut self, value: u64, now: Instant) {
        self.sent = value;
        self.last_at = Some(now);
    }

    /// The scheduled moment came: the value to announce, if it is new.
    pub fn fire(&mut self, value: u64, now: Instant) -> Option<u64> {
        self.scheduled = false;
        if value == self.sent {
            return None;
        }
        self.sent = value;
        self.last_at = Some(now);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_goes_at_once_and_later_ones_wait_for_the_interval() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Duration::from_secs(1));
        assert_eq!(c.schedule(t0), Some(Duration::ZERO));
        assert_eq!(c.schedule(t0), None, "one announcement at a time");
        assert_eq!(c.fire(3, t0), Some(3));
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!(c.schedule(t1), Some(Duration::from_millis(700)));
        assert_eq!(c.fire(3, t0 + Duration::from_secs(1)), None, "unchanged");
        assert_eq!(c.schedule(t1), Some(Duration::from_millis(700)));
    }

    #[test]
    fn remote_counts_sum_nodes_and_drop_zeroes() {
        let now = Instant::now();
        let mut r = RemoteCounts::default();
        assert!(r.set("a".into(), 2, now));
        assert!(!r.set("a".into(), 2, now));
        assert!(r.set("b".into(), 3, now));
        assert_eq!(r.total(), 5);
        assert!(r.set("a".into(), 0, now));
        assert_eq!(r.total(), 3);
        assert!(!r.expire(Duration::from_secs(60)));
        assert!(r.expire(Duration::ZERO));
        assert_eq!(r.total(), 0);
    }
}
