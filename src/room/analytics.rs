//! Stream analytics: a room's viewer statistics over one period (a minute by
//! default), closed into a [`Snapshot`] for the store when the period ends.
//!
//! Pure bookkeeping: the room feeds it counts and times; it keeps no timers.

use crate::store::Snapshot;

/// Viewer statistics of the current analytics period.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PeriodStats {
    start: i64,
    min: u64,
    max: u64,
    /// Sum of count × milliseconds, for the time-weighted average.
    weighted: f64,
    last_count: u64,
    last_at: i64,
    pub messages: u64,
    pub reactions: u64,
}

impl PeriodStats {
    pub fn starting(start: i64, now: i64, count: u64) -> Self {
        PeriodStats {
            start,
            min: count,
            max: count,
            weighted: 0.0,
            last_count: count,
            last_at: now.max(start),
            messages: 0,
            reactions: 0,
        }
    }

    /// The count became `count` at `now`.
    pub fn observe(&mut self, now: i64, count: u64) {
        let now = now.max(self.last_at);
        self.weighted += self.last_count as f64 * (now - self.last_at) as f64;
        self.last_at = now;
        self.last_count = count;
        self.min = self.min.min(count);
        self.max = self.max.max(count);
    }

    /// The snapshot of the period ending at `end`, or None if nothing happened in it.
    pub fn close(&mut self, end: i64, room: &str) -> Option<Snapshot> {
        self.observe(end, self.last_count);
        let length = (end - self.start).max(1) as f64;
        let idle = self.max == 0 && self.messages == 0 && self.reactions == 0;
        (!idle).then(|| Snapshot {
            room: room.to_owned(),
            minute: self.start,
            min: self.min,
            max: self.max,
            avg: (self.weighted / length * 100.0).round() / 100.0,
            messages: self.messages,
            reactions: self.reactions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_stats_weight_the_average_by_time() {
        // 60 s period: 2 viewers for 30 s, then 4 for 30 s → avg 3, min 2, max 4.
        let mut s = PeriodStats::starting(0, 0, 2);
        s.observe(30_000, 4);
        s.messages = 7;
        let snap = s.close(60_000, "r").unwrap();
        assert_eq!(
            (snap.min, snap.max, snap.avg, snap.messages),
            (2, 4, 3.0, 7)
        );
        assert_eq!(snap.minute, 0);
        // A quiet, empty period writes nothing.
        assert_eq!(PeriodStats::starting(0, 0, 0).close(60_000, "r"), None);
    }
}
