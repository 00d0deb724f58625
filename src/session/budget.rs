//! The frame budget (contract §6): every client frame costs from a bucket per
//! connection (`history` costs more); an empty bucket refuses the frame, at no
//! cost, and a connection refused every second for 5 s is closed with 1008.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::Quota;
use governor::clock::{Clock, DefaultClock};

use super::Session;
use super::close::Close;
use crate::protocol::{ErrorCode, Parsed, Refusal, Rejected};
use crate::settings::Limits;

/// Refusals by the frame budget that keep coming: at least one in every second.
#[derive(Default)]
pub(super) struct RefusalStreak {
    since: Option<Instant>,
    last: Option<Instant>,
}

/// A connection refused for this long, without a second free of refusals, is closed.
const REFUSED_FOR: Duration = Duration::from_secs(5);

impl RefusalStreak {
    /// A frame was refused now; true once refusals have gone on for [`REFUSED_FOR`].
    fn refused(&mut self, now: Instant) -> bool {
        let going_on = self
            .last
            .is_some_and(|last| now.duration_since(last) <= Duration::from_secs(1));
        if !going_on {
            self.since = Some(now);
        }
        self.last = Some(now);
        self.since
            .is_some_and(|since| now.duration_since(since) >= REFUSED_FOR)
    }
}

/// The frame budget: `limits.frames_per_s`, burst `limits.frames_burst`.
pub(super) fn frame_quota(limits: &Limits) -> Quota {
    let rate = NonZeroU32::new(limits.frames_per_s).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limits.frames_burst).unwrap_or(rate);
    Quota::per_second(rate).allow_burst(burst)
}

impl Session {
    /// Take `cost` from the frame budget; false (and the frame refused, which
    /// costs nothing) if it is empty. A connection refused for 5 s without a
    /// pause is closed with 1008.
    pub(super) fn spend(
        &mut self,
        cost: u32,
        parsed: &Result<Parsed, Box<Rejected>>,
        ctx: &mut Context<Self>,
    ) -> bool {
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        let wait = match self.budget.check_n(cost) {
            Ok(Ok(())) => return true,
            Ok(Err(not_until)) => not_until.wait_time_from(DefaultClock::default().now()),
            // More than the whole bucket: never possible, wait one full refill.
            Err(_) => Duration::from_secs(1),
        };
        let (room, reference) = match parsed {
            Ok(p) => (p.request.room().map(str::to_owned), p.reference.clone()),
            Err(r) => (r.room.clone(), r.reference.clone()),
        };
        let refusal = Refusal::retry(
            ErrorCode::RateLimited,
            "too many frames; slow down",
            wait.as_millis() as u64 + 1,
        );
        self.refuse(&refusal, room.as_deref(), reference.as_deref());
        if self.refused.refused(Instant::now()) {
            tracing::info!(parent: &self.span, "closing: frame budget spent for 5 s");
            self.close(Close::BudgetSpent, ctx);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_only_refusals_that_keep_coming() {
        let t0 = Instant::now();
        let mut s = RefusalStreak::default();
        let at = |ms| t0 + Duration::from_millis(ms);
        for ms in (0..5_000).step_by(900) {
            assert!(!s.refused(at(ms)), "{ms}");
        }
        assert!(s.refused(at(5_300)), "five seconds of refusals");
        // A second without one starts over.
        let mut s = RefusalStreak::default();
        assert!(!s.refused(at(0)));
        assert!(!s.refused(at(2_500)));
        assert!(!s.refused(at(5_100)));
    }
}
