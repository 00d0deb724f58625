//! Contract §8 stream lifecycle, as pure bookkeeping: the live stream of a
//! room (its peak, the distinct viewers seen, the milestones reached), what it
//! adds up to when it ends, and the sliding minute behind the moderators'
//! `stats`.
//!
//! On one node a stream's figures are all here (unique viewers as an exact
//! set of keyed 64-bit hashes). In a cluster every node keeps its own part and
//! hands it to Redis now and then ([`LiveStream::take_tick`]): the viewers it
//! saw for the stream's HyperLogLog, its reactions, the peak it observed and
//! the milestones it believes were reached (Redis decides which node announces
//! each, once).

use std::collections::{BTreeSet, HashSet, VecDeque};

use crate::protocol::platform::StreamSummary;
use crate::store::platform::StreamProgress;

/// A stable 64-bit key of a user id (FNV-1a): what `seen` holds, and what is
/// stored so a restarted node recognises a returning viewer. User ids are
/// signed by the platform or made by the server, so nobody picks colliding ones.
pub fn viewer_key(user: &str) -> u64 {
    user.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A live stream as one node's room keeps it.
#[derive(Debug)]
pub struct LiveStream {
    pub id: String,
    pub title: String,
    pub started_at: i64,
    /// The room's last message number when the stream started, and its epoch:
    /// the stream's messages are the numbers after it (§5, cluster-wide).
    pub start_seq: u64,
    pub epoch: String,
    /// Highest cluster-wide viewer count seen while live.
    pub peak: u64,
    /// Reactions counted here and not yet handed on (all of them on one node).
    pub reactions: u64,
    /// Whether the stream's figures go to Redis (a cluster) or stay here.
    clustered: bool,
    /// Users seen joining ([`viewer_key`]s): an exact set on one node, the
    /// "already handed to Redis" filter in a cluster.
    seen: HashSet<u64>,
    /// One node: viewers seen and not stored yet; whether the rest changed.
    unsaved: Vec<u64>,
    changed: bool,
    /// Users not yet added to the cluster's HyperLogLog.
    new_users: Vec<String>,
    /// Milestones announced (here, or by another node).
    reached: BTreeSet<u64>,
    /// Milestones to ask Redis about.
    to_claim: BTreeSet<u64>,
    /// The peak last handed to Redis.
    told_peak: u64,
}

pub use crate::protocol::platform::Tick;

/// Who a stream belongs to and where it started (what `POST …/live` creates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStart {
    pub id: String,
    pub title: String,
    pub started_at: i64,
    pub start_seq: u64,
    pub epoch: String,
}

/// The most user ids handed to Redis in one tick (the rest wait for the next).
pub const MAX_USERS_PER_TICK: usize = 1000;

impl LiveStream {
    pub fn new(start: StreamStart, viewers: u64, clustered: bool) -> Self {
        let StreamStart {
            id,
            title,
            started_at,
            start_seq,
            epoch,
        } = start;
        LiveStream {
            id,
            title,
            started_at,
            start_seq,
            epoch,
            peak: viewers,
            reactions: 0,
            clustered,
            seen: HashSet::new(),
            unsaved: Vec::new(),
            changed: false,
            new_users: Vec::new(),
            reached: BTreeSet::new(),
            to_claim: BTreeSet::new(),
            told_peak: 0,
        }
    }

    /// A user joined (or was there at the start); true if first seen here.
    pub fn saw(&mut self, user: &str) -> bool {
        let key = viewer_key(user);
        let new = self.seen.insert(key);
        if new && self.clustered {
            self.new_users.push(user.to_owned());
        } else if new {
            self.unsaved.push(key);
        }
        new
    }

    /// A reaction counted for the stream.
    pub fn reacted(&mut self) {
        self.reactions += 1;
        self.changed = true;
    }

    /// One node: what changed since the last call, to store (None: nothing).
    pub fn take_progress(&mut self, room: &str) -> Option<StreamProgress> {
        if self.clustered || (!self.changed && self.unsaved.is_empty()) {
            return None;
        }
        self.changed = false;
        Some(StreamProgress {
            id: self.id.clone(),
            room: room.to_owned(),
            peak: self.peak,
            reactions: self.reactions,
            reached: self.reached.iter().copied().collect(),
            viewers: std::mem::take(&mut self.unsaved),
        })
    }

    /// One node, at start: go on from the figures stored before a restart.
    pub fn resume(&mut self, stored: StreamProgress) {
        self.peak = self.peak.max(stored.peak);
        self.reactions += stored.reactions;
        self.reached.extend(stored.reached);
        // Those present now were seen already, or are new and still unsaved.
        let stored_seen: HashSet<u64> = stored.viewers.into_iter().collect();
        self.unsaved.retain(|k| !stored_seen.contains(k));
        self.seen.extend(stored_seen);
        self.changed = true;
    }

    /// Distinct users seen here (exact on one node).
    pub fn unique_here(&self) -> u64 {
        self.seen.len() as u64
    }

    /// The cluster-wide count is `viewers`: keep the peak, and answer the
    /// milestones of `config` it reaches that are not announced yet (on one
    /// node these are now announced; in a cluster they wait for Redis).
    pub fn observe(&mut self, viewers: u64, config: &[u64]) -> Vec<u64> {
        if viewers > self.peak {
            self.peak = viewers;
            self.changed = true;
        }
        let due: Vec<u64> = config
            .iter()
            .copied()
            .filter(|m| *m > 0 && *m <= viewers && !self.reached.contains(m))
            .collect();
        if self.clustered {
            self.to_claim.extend(due.iter().copied());
            return Vec::new();
        }
        self.reached.extend(due.iter().copied());
        self.changed |= !due.is_empty();
        due
    }

    /// A milestone was announced (by this node or another); true if news here.
    pub fn reached(&mut self, value: u64) -> bool {
        self.to_claim.remove(&value);
        self.reached.insert(value)
    }

    /// Is there anything to hand to Redis?
    pub fn has_tick(&self) -> bool {
        self.reactions > 0
            || self.peak > self.told_peak
            || !self.to_claim.is_empty()
            || !self.new_users.is_empty()
    }

    /// What to hand to Redis now (and forget here).
    pub fn take_tick(&mut self) -> Tick {
        let n = self.new_users.len().min(MAX_USERS_PER_TICK);
        self.told_peak = self.peak;
        Tick {
            reactions: std::mem::take(&mut self.reactions),
            peak: self.peak,
            milestones: std::mem::take(&mut self.to_claim).into_iter().collect(),
            users: self.new_users.drain(..n).collect(),
        }
    }

    /// Redis did not take a tick: keep it for the next one.
    pub fn untake(&mut self, tick: Tick) {
        self.reactions += tick.reactions;
        self.told_peak = 0;
        self.to_claim.extend(tick.milestones);
        self.new_users.extend(tick.users);
    }

    /// What the stream adds up to when it ends at `ended_at`, on one node:
    /// `messages` are the numbers the room gave out since it started.
    pub fn summary(&self, ended_at: i64, last_seq: u64, epoch: &str) -> StreamSummary {
        StreamSummary {
            duration_s: duration_s(self.started_at, ended_at),
            peak: self.peak,
            unique_viewers: self.unique_here(),
            messages: messages_since(self.start_seq, &self.epoch, last_seq, epoch),
            reactions: self.reactions,
        }
    }
}

/// Whole seconds from `started_at` to `ended_at` (ms).
pub fn duration_s(started_at: i64, ended_at: i64) -> u64 {
    (ended_at.saturating_sub(started_at).max(0) / 1000) as u64
}

/// Messages numbered after `start_seq` of `start_epoch`, given the room's
/// sequence now; a sequence that restarted (new epoch) counts from its start.
pub fn messages_since(start_seq: u64, start_epoch: &str, last_seq: u64, epoch: &str) -> u64 {
    if start_epoch == epoch {
        last_seq.saturating_sub(start_seq)
    } else {
        last_seq
    }
}

/// The configured milestones, in order, without repeats or zero.
pub fn milestones(config: &[u64]) -> Vec<u64> {
    let set: BTreeSet<u64> = config.iter().copied().filter(|m| *m > 0).collect();
    set.into_iter().collect()
}

/// A room's running totals sampled over time, for "the last 60 s" figures.
#[derive(Debug, Default)]
pub struct RateWindow {
    /// (epoch ms, messages so far, reactions so far), oldest first.
    samples: VecDeque<(i64, u64, u64)>,
}

/// How far back the per-minute figures look.
pub const RATE_WINDOW_MS: i64 = 60_000;

impl RateWindow {
    /// Record the totals at `now`, forgetting samples no longer needed.
    pub fn sample(&mut self, now: i64, messages: u64, reactions: u64) {
        self.samples.push_back((now, messages, reactions));
        // Keep the newest sample at least a window old: it is the base.
        while self.samples.len() > 1 && self.samples[1].0 <= now - RATE_WINDOW_MS {
            self.samples.pop_front();
        }
    }

    /// Messages and reactions in the last 60 s before `now` (or since the
    /// first sample, if that is more recent), given the totals now.
    pub fn per_min(&self, now: i64, messages: u64, reactions: u64) -> (u64, u64) {
        let base = self
            .samples
            .iter()
            .rev()
            .find(|(t, _, _)| *t <= now - RATE_WINDOW_MS)
            .or(self.samples.front());
        match base {
            Some(&(_, m, r)) => (messages.saturating_sub(m), reactions.saturating_sub(r)),
            None => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> StreamStart {
        StreamStart {
            id: "s".into(),
            title: "t".into(),
            started_at: 1_000,
            start_seq: 10,
            epoch: "e".into(),
        }
    }

    #[test]
    fn on_one_node_unique_viewers_are_exact_and_milestones_come_once_each() {
        let config = milestones(&[1000, 100, 0, 100, 10_000]);
        assert_eq!(config, [100, 1000, 10_000]);
        let mut s = LiveStream::new(start(), 150, false);
        for u in ["a", "b", "a", "c"] {
            s.saw(u);
        }
        assert_eq!(s.unique_here(), 3);
        assert_eq!(
            s.observe(150, &config),
            [100],
            "at once when it starts above"
        );
        assert!(s.observe(120, &config).is_empty());
        assert_eq!(s.observe(20_000, &config), [1000, 10_000]);
        assert!(s.observe(20_000, &config).is_empty());
        s.reactions = 7;
        let sum = s.summary(62_500, 25, "e");
        assert_eq!(
            sum,
            StreamSummary {
                duration_s: 61,
                peak: 20_000,
                unique_viewers: 3,
                messages: 15,
                reactions: 7
            }
        );
    }

    #[test]
    fn in_a_cluster_a_node_hands_its_part_to_redis_in_ticks() {
        let config = milestones(&[100, 1000]);
        let mut s = LiveStream::new(start(), 5, true);
        assert!(s.has_tick(), "the starting peak");
        s.saw("a");
        s.saw("a");
        s.saw("b");
        assert!(s.observe(150, &config).is_empty(), "Redis decides");
        s.reactions = 4;
        let tick = s.take_tick();
        assert_eq!(
            tick,
            Tick {
                reactions: 4,
                peak: 150,
                milestones: vec![100],
                users: vec!["a".into(), "b".into()]
            }
        );
        assert!(!s.has_tick());
        // Another node announced it: not claimed again.
        assert!(s.reached(100));
        assert!(!s.reached(100));
        assert!(s.observe(150, &config).is_empty());
        assert!(!s.has_tick());
        // A tick Redis did not take is kept.
        s.saw("c");
        let t = s.take_tick();
        s.untake(t);
        assert_eq!(s.take_tick().users, ["c"]);
    }

    #[test]
    fn messages_count_the_sequence_numbers_given_since_the_start() {
        assert_eq!(messages_since(10, "e", 25, "e"), 15);
        assert_eq!(
            messages_since(10, "e", 4, "e2"),
            4,
            "the sequence restarted"
        );
        assert_eq!(duration_s(5_000, 4_000), 0);
    }

    #[test]
    fn the_rate_window_counts_the_last_minute() {
        let mut w = RateWindow::default();
        assert_eq!(w.per_min(0, 5, 5), (0, 0));
        w.sample(0, 0, 0);
        assert_eq!(
            w.per_min(30_000, 10, 4),
            (10, 4),
            "less than a minute known"
        );
        for t in (5_000..=120_000).step_by(5_000) {
            w.sample(t, t as u64 / 1000, t as u64 / 500);
        }
        // At 120 s the base is the sample at 60 s: 60 messages, 120 reactions.
        assert_eq!(w.per_min(120_000, 120, 240), (60, 120));
        assert!(w.samples.len() <= 14, "old samples are forgotten");
    }
}
