//! The pacing and phases every scenario shares.
//!
//! A run goes through three phases, announced to the connection tasks on a
//! `watch` channel of [`Phase`]:
//!
//! 1. **Setup**: tasks connect and join, then wait.
//! 2. **Go**: once every worker process has passed the `joined` barrier,
//!    [`go`] takes the start instant, starts the client's CPU meter, samples the
//!    servers (leader only) and sends [`Phase::Go`] with that instant. Tasks
//!    schedule their sends from it with a [`Schedule`]: send k is due at
//!    go + start + k × interval, so a late send never pushes the later ones back.
//! 3. **Stop**: [`stop_and_join`] tells the tasks to close and collects what
//!    they report, bounded in time.
//!
//! Between Go and Stop a scenario waits for its sends and deliveries with
//! [`poll_until`], always bounded by a deadline.
//!
//! A connection task follows the phases with a [`Follower`]: `due` the next
//! send's instant (or `None`), `advance` inside its `select!` loop.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use super::{Busy, BusyMeter, Ctx};
use crate::coord::Worker;
use crate::sys::{ServerSample, unix_ns};

/// What connection tasks are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connecting; wait.
    Setup,
    /// Start the measured activity, scheduled from this instant.
    Go(Instant),
    /// Close and report.
    Stop,
}

/// Resolves when the phase becomes [`Phase::Stop`] (or its sender is dropped).
pub async fn wait_stop(phase: &mut watch::Receiver<Phase>) {
    loop {
        if *phase.borrow_and_update() == Phase::Stop {
            return;
        }
        if phase.changed().await.is_err() {
            return;
        }
    }
}

/// When the sends of one connection (or one room) are due, in seconds after go:
/// send `k` at `start + k × interval`, for `k < count`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Seconds after go of send 0.
    pub start: f64,
    /// Seconds between sends.
    pub interval: f64,
    /// Sends in all: k = 0 ..< count.
    pub count: u64,
}

impl Schedule {
    /// `rate` sends per second for `duration` seconds, the first at go: every
    /// k with k / rate < duration, i.e. ⌈duration × rate⌉ sends.
    pub fn per_second(rate: f64, duration: f64) -> Schedule {
        Schedule {
            start: 0.0,
            interval: 1.0 / rate,
            count: (duration * rate).ceil() as u64,
        }
    }

    /// `rate` sends per second for `duration` seconds, each in the middle of its
    /// 1/rate slot: ⌊duration × rate⌋ sends, all due before `duration`.
    /// A rate of 0 gives no sends.
    pub fn mid_slot(rate: f64, duration: f64) -> Schedule {
        Schedule {
            start: 0.5 / rate,
            interval: 1.0 / rate,
            count: (duration * rate).floor() as u64,
        }
    }

    /// The same, shifted by `i / n` of one interval: `n` rooms or connections
    /// sending at the same rate are spread evenly instead of sending together.
    pub fn staggered(self, i: usize, n: usize) -> Schedule {
        Schedule {
            start: self.start + self.interval * i as f64 / n as f64,
            ..self
        }
    }

    /// Seconds after go at which send `k` is due; `None` once `k` ≥ `count`.
    pub fn offset_s(&self, k: u64) -> Option<f64> {
        (k < self.count).then_some(self.start + k as f64 * self.interval)
    }

    /// The instant send `k` is due, given the go instant.
    pub fn due(&self, go: Instant, k: u64) -> Option<Instant> {
        self.offset_s(k).map(|s| go + Duration::from_secs_f64(s))
    }
}

/// A connection task's view of the phase: remembers the go instant.
pub struct Follower {
    rx: watch::Receiver<Phase>,
    go: Option<Instant>,
}

impl Follower {
    /// Start following; `None` if the run is already stopping.
    pub fn new(mut rx: watch::Receiver<Phase>) -> Option<Follower> {
        let go = match *rx.borrow_and_update() {
            Phase::Go(at) => Some(at),
            Phase::Stop => return None,
            Phase::Setup => None,
        };
        Some(Follower { rx, go })
    }

    /// The go instant, once the run has started.
    pub fn go(&self) -> Option<Instant> {
        self.go
    }

    /// When send `k` of `schedule` is due: `None` before go and after the last.
    pub fn due(&self, schedule: &Schedule, k: u64) -> Option<Instant> {
        schedule.due(self.go?, k)
    }

    /// Wait for the next phase change; `false` on [`Phase::Stop`] (or when the
    /// sender is gone). Cancel-safe, for use in `select!`.
    pub async fn advance(&mut self) -> bool {
        if self.rx.changed().await.is_err() {
            return false;
        }
        match *self.rx.borrow_and_update() {
            Phase::Go(at) => self.go = Some(at),
            Phase::Stop => return false,
            Phase::Setup => {}
        }
        true
    }
}

/// Sleep until `due`, or forever when there is nothing due (a `select!` arm
/// that never fires).
pub async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The start of the measured part of a run, as taken by [`go`].
pub struct Started {
    pub at: Instant,
    pub unix_ns: u64,
    /// The client's CPU and wall time from `at`.
    pub meter: BusyMeter,
    /// The servers at `at` (leader only, with `--server-pid`).
    pub server: Option<ServerSample>,
}

/// The go phase: wait until every worker has joined its connections (barrier
/// `joined`), then take the start instant, start the CPU meter, sample the
/// servers (leader) and tell the tasks to go.
pub async fn go(
    worker: &mut Worker,
    ctx: &Ctx,
    phase: &watch::Sender<Phase>,
) -> anyhow::Result<Started> {
    worker.barrier("joined", Value::Null).await?;
    let at = Instant::now();
    let unix_ns = unix_ns();
    let meter = BusyMeter::start();
    let server = if worker.is_leader() {
        ctx.sample_servers()
    } else {
        None
    };
    let _ = phase.send(Phase::Go(at));
    Ok(Started {
        at,
        unix_ns,
        meter,
        server,
    })
}

impl Started {
    /// The end of the measured part: wait for every worker at barrier `name`,
    /// sample the servers (leader) and stop the meter.
    pub async fn finish(
        &self,
        worker: &mut Worker,
        ctx: &Ctx,
        name: &str,
    ) -> anyhow::Result<(Busy, Option<ServerSample>)> {
        worker.barrier(name, Value::Null).await?;
        let server = if worker.is_leader() {
            ctx.sample_servers()
        } else {
            None
        };
        Ok((self.meter.stop(), server))
    }
}

/// Poll `done` every `every` until it holds or `deadline` has passed; returns
/// whether it held.
pub async fn poll_until(
    deadline: Instant,
    every: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Extra time, beyond one connection's close, that the tasks get to finish.
const JOIN_SLACK: Duration = Duration::from_secs(10);

/// The stop phase: tell every task to close, hand each task's result to `each`
/// as it finishes (an `Err` if it panicked), for at most `close_wait` + 10 s;
/// tasks still running then are aborted.
pub async fn stop_and_join<T: 'static>(
    phase: &watch::Sender<Phase>,
    tasks: &mut JoinSet<T>,
    close_wait: Duration,
    mut each: impl FnMut(Result<T, JoinError>),
) {
    let _ = phase.send(Phase::Stop);
    let deadline = Instant::now() + close_wait + JOIN_SLACK;
    while let Ok(Some(res)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        each(res);
    }
    tasks.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn per_second_sends_every_k_below_duration_times_rate() {
        let s = Schedule::per_second(20.0, 20.0);
        assert_eq!(s.count, 400);
        assert_eq!(s.offset_s(0), Some(0.0));
        assert!(close(s.offset_s(1).unwrap(), 0.05));
        assert!(close(s.offset_s(399).unwrap(), 19.95));
        assert_eq!(s.offset_s(400), None);
        // A fractional last slot still gets its send: k / rate < duration.
        let s = Schedule::per_second(3.0, 1.5);
        assert_eq!(s.count, 5);
        assert!(s.offset_s(4).unwrap() < 1.5);
    }

    #[test]
    fn staggering_spreads_rooms_within_one_interval() {
        let base = Schedule::per_second(5.0, 2.0);
        let offsets: Vec<f64> = (0..4)
            .map(|r| base.staggered(r, 4).offset_s(0).unwrap())
            .collect();
        for (got, want) in offsets.iter().zip([0.0, 0.05, 0.1, 0.15]) {
            assert!(close(*got, want), "{offsets:?}");
        }
        let last = base.staggered(3, 4);
        assert_eq!(last.count, base.count);
        assert!(close(last.offset_s(9).unwrap(), 0.15 + 9.0 * 0.2));
        // Stagger i of n never reaches the next interval.
        assert!(base.staggered(99, 100).offset_s(0).unwrap() < base.interval);
    }

    #[test]
    fn mid_slot_keeps_every_send_inside_the_duration() {
        let s = Schedule::mid_slot(4.0, 2.0);
        assert_eq!(s.count, 8);
        assert!(close(s.offset_s(0).unwrap(), 0.125));
        assert!(close(s.offset_s(7).unwrap(), 1.875));
        // Partial slots are not sent; no rate means no sends (and no division by zero shows).
        assert_eq!(Schedule::mid_slot(3.0, 1.5).count, 4);
        let none = Schedule::mid_slot(0.0, 10.0);
        assert_eq!(none.count, 0);
        assert_eq!(none.offset_s(0), None);
    }

    #[test]
    fn sends_are_due_from_the_go_instant() {
        let go = Instant::now();
        let s = Schedule::per_second(10.0, 1.0).staggered(1, 2);
        assert_eq!(s.due(go, 0), Some(go + Duration::from_millis(50)));
        assert_eq!(s.due(go, 3), Some(go + Duration::from_millis(350)));
        assert_eq!(s.due(go, 10), None);
    }

    #[tokio::test]
    async fn a_follower_learns_go_and_stop() {
        let (tx, rx) = watch::channel(Phase::Setup);
        let mut f = Follower::new(rx).expect("not stopped");
        let s = Schedule::per_second(1.0, 1.0);
        assert_eq!(f.due(&s, 0), None);
        let at = Instant::now();
        tx.send(Phase::Go(at)).unwrap();
        assert!(f.advance().await);
        assert_eq!(f.go(), Some(at));
        assert_eq!(f.due(&s, 0), Some(at));
        tx.send(Phase::Stop).unwrap();
        assert!(!f.advance().await);
        assert!(Follower::new(tx.subscribe()).is_none());
        drop(tx);
        assert!(!f.advance().await);
    }

    #[tokio::test]
    async fn polling_is_bounded() {
        let t = Instant::now();
        assert!(
            !poll_until(
                t + Duration::from_millis(30),
                Duration::from_millis(5),
                || false
            )
            .await
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
        let mut n = 0;
        assert!(
            poll_until(t + Duration::from_secs(5), Duration::from_millis(1), || {
                n += 1;
                n == 3
            })
            .await
        );
    }
}
