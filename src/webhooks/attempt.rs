//! What becomes of one delivery attempt: delivered, due again after a backoff,
//! or given up on once `webhooks.retry_s` has passed since the event was
//! created; and writing that to the event's row (only while this node holds
//! its lease).
//!
//! This file decides the schedule of one event; it must not send anything nor
//! choose which event goes next (the actor does).

use std::time::Duration;

use entity::webhook_outbox;
use sea_orm::DatabaseConnection;

use super::deliver::{self, DeliveryError};
use super::{now_ms, outbox};

/// What became of one attempt.
pub enum Outcome {
    Delivered,
    /// Due again after this long.
    Retry(Duration),
    Failed,
    /// The row is no longer ours, or the outcome could not be written: the
    /// lease runs out and the event is sent again (at least once).
    Unrecorded,
}

/// The retry schedule, from `[webhooks]`.
#[derive(Clone, Copy)]
pub struct Schedule {
    /// `webhooks.retry_base_ms`.
    pub base: Duration,
    /// `webhooks.retry_s`, in ms.
    pub give_up_after_ms: i64,
}

/// After a failed attempt: try again at (epoch ms), or give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    RetryAt(i64),
    GiveUp,
}

impl Schedule {
    /// After the `attempt`-th try (1-based) of an event created at
    /// `created_at` failed at `now`: give up once `retry_s` has passed since
    /// it was created, else wait the backoff (scaled by `jitter`), but never
    /// past that point, so the last try is made right at it.
    pub fn after_failure(&self, now: i64, created_at: i64, attempt: u32, jitter: f64) -> Next {
        let give_up_at = created_at.saturating_add(self.give_up_after_ms);
        if now >= give_up_at {
            return Next::GiveUp;
        }
        let wait = deliver::backoff(attempt, self.base, jitter);
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        Next::RetryAt(now.saturating_add(wait_ms).min(give_up_at))
    }
}

/// Write what became of one attempt. `row` is as claimed: `attempts` does not
/// count this one yet.
pub async fn record(
    db: &DatabaseConnection,
    node: &str,
    row: &webhook_outbox::Model,
    result: Result<u16, DeliveryError>,
    schedule: Schedule,
) -> Outcome {
    let now = now_ms();
    let attempt = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
    let written = match result {
        Ok(_) => outbox::mark_delivered(db, row.seq, node, now)
            .await
            .map(|ours| (ours, Outcome::Delivered)),
        Err(err) => {
            let error = err.to_string();
            match schedule.after_failure(now, row.created_at, attempt, deliver::jitter()) {
                Next::GiveUp => {
                    tracing::error!(event = %row.id, kind = %row.kind, room = %row.room, attempts = attempt,
                        error = %error, "webhook event given up after webhooks.retry_s");
                    outbox::mark_failed(db, row.seq, node, now, &error)
                        .await
                        .map(|ours| (ours, Outcome::Failed))
                }
                Next::RetryAt(at) => {
                    tracing::debug!(event = %row.id, room = %row.room, attempt, error = %error,
                        retry_in_ms = at - now, "webhook attempt failed");
                    let wait = Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
                    outbox::retry_at(db, row.seq, node, at, &error)
                        .await
                        .map(|ours| (ours, Outcome::Retry(wait)))
                }
            }
        }
    };
    match written {
        Ok((true, outcome)) => outcome,
        Ok((false, _)) => {
            tracing::warn!(event = %row.id, room = %row.room,
                "webhook event's lease ran out before its outcome was recorded; it may be sent again");
            Outcome::Unrecorded
        }
        Err(err) => {
            tracing::warn!(event = %row.id, room = %row.room, error = %err,
                "failed to record a webhook outcome; the event will be sent again when its lease runs out");
            Outcome::Unrecorded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_until_retry_s_then_give_up() {
        let s = Schedule {
            base: Duration::from_millis(1000),
            give_up_after_ms: 3_600_000,
        };
        assert_eq!(s.after_failure(10, 0, 1, 1.0), Next::RetryAt(1_010));
        assert_eq!(s.after_failure(10, 0, 3, 1.0), Next::RetryAt(4_010));
        assert_eq!(s.after_failure(10, 0, 1, 0.8), Next::RetryAt(810));
        // The last try is made at the deadline, and a failure there gives up.
        assert_eq!(
            s.after_failure(3_599_000, 0, 9, 1.0),
            Next::RetryAt(3_600_000)
        );
        assert_eq!(s.after_failure(3_600_000, 0, 10, 1.0), Next::GiveUp);
        // Tried for the first time after a long outage: given up at once.
        assert_eq!(s.after_failure(9_000_000, 0, 1, 1.0), Next::GiveUp);
    }
}
