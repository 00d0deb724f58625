//! A room's message sequence (contract §5): the epoch that names it and the
//! last number given.
//!
//! On one node the room numbers its messages itself and keeps the epoch with
//! its settings, so a restart continues the sequence. In a cluster Redis
//! numbers them, atomically with the publish; every node (the origin too)
//! takes them from the room's channel in that order, drops repeats, and fills
//! a gap from the room's Redis stream before going on. Pure bookkeeping: the
//! room acts on what [`Sequence::arrived`] says.

/// What to do with a numbered message that arrived from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// The next one: deliver it.
    Next,
    /// Seen already (or older): drop it.
    Repeat,
    /// Messages `from..seq` are missing: fetch them, then deliver this one.
    Gap { from: u64 },
    /// The sequence restarted (Redis lost it): a new epoch from here on.
    NewEpoch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    epoch: String,
    last: u64,
}

impl Sequence {
    pub fn new(epoch: String, last: u64) -> Self {
        Sequence { epoch, last }
    }

    /// A fresh epoch name (a ULID: unique across nodes and restarts).
    pub fn fresh_epoch() -> String {
        ulid::Ulid::generate().to_string().to_lowercase()
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn last(&self) -> u64 {
        self.last
    }

    /// Number the next message (one node).
    pub fn number(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// A message numbered `seq` in `epoch` arrived from the cluster.
    pub fn arrived(&mut self, seq: u64, epoch: &str) -> Arrival {
        if epoch != self.epoch {
            self.epoch = epoch.to_owned();
            self.last = seq;
            return Arrival::NewEpoch;
        }
        if seq <= self.last {
            return Arrival::Repeat;
        }
        let from = self.last + 1;
        self.last = seq;
        if seq == from {
            Arrival::Next
        } else {
            Arrival::Gap { from }
        }
    }

    /// Can a client at `seq` of `epoch` be brought up to date exactly, with at
    /// most `max` messages? (Then: the messages after `seq` are what it missed.)
    pub fn can_resume(&self, seq: u64, epoch: &str, max: u64) -> bool {
        epoch == self.epoch && seq <= self.last && self.last - seq <= max
    }

    /// Redis told us where the sequence stands (a node joining the cluster).
    pub fn reset(&mut self, epoch: String, last: u64) {
        self.epoch = epoch;
        self.last = last;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_grow_by_one_and_arrivals_are_sorted_into_next_repeat_gap_and_new_epoch() {
        let mut s = Sequence::new("e1".into(), 0);
        assert_eq!(s.number(), 1);
        assert_eq!(s.arrived(2, "e1"), Arrival::Next);
        assert_eq!(s.arrived(2, "e1"), Arrival::Repeat);
        assert_eq!(s.arrived(1, "e1"), Arrival::Repeat);
        assert_eq!(s.arrived(5, "e1"), Arrival::Gap { from: 3 });
        assert_eq!(s.last(), 5);
        assert_eq!(s.arrived(1, "e2"), Arrival::NewEpoch);
        assert_eq!((s.epoch(), s.last()), ("e2", 1));
    }

    #[test]
    fn a_client_resumes_only_within_the_epoch_and_the_window() {
        let s = Sequence::new("e1".into(), 1_500);
        assert!(s.can_resume(1_041, "e1", 1_000));
        assert!(s.can_resume(1_500, "e1", 1_000), "nothing missed");
        assert!(!s.can_resume(400, "e1", 1_000), "1100 missing");
        assert!(!s.can_resume(1_041, "e0", 1_000), "another epoch");
        assert!(
            !s.can_resume(1_600, "e1", 1_000),
            "a position we never gave"
        );
    }
}
