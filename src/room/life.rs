//! A room's life: loading its state from the store (and refusing joins until
//! it has), its timers, and taking its place in the cluster.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::analytics::PeriodStats;
use super::{RECONCILE_EVERY, Room, load_backoff, moderation, sequence};
use crate::bridge::{self, Resync};
use crate::protocol;
use crate::store::{self, Write};

/// When a room that just came online in a cluster reads the store again.
const CATCH_UP_AFTER: Duration = Duration::from_millis(400);

impl Room {
    /// The room loaded `recent` from the store, but Redis has numbered
    /// messages up to `seq` that were not stored yet when it did (another
    /// node published them just before this room subscribed): read them from
    /// the room's Redis stream into `recent` before anyone joins.
    fn catch_up(&mut self, epoch: &str, seq: u64, ctx: &mut Context<Self>) {
        let Some(bridge) = self.cfg.bridge.clone() else {
            return;
        };
        // The newest of `recent` numbered in this epoch (none in a room
        // whose first messages are not stored yet).
        let stored_seq = if self.seq.epoch() == epoch {
            self.seq.last()
        } else {
            0
        };
        let stored = self.recent.last_seq_in(epoch).unwrap_or(0).max(stored_seq);
        if seq <= stored {
            return;
        }
        let from = (stored + 1).max(seq.saturating_sub(self.cfg.recent as u64) + 1);
        let read = bridge.send(bridge::ReadLog {
            room: self.id.clone(),
            epoch: epoch.to_owned(),
            from,
            to: seq,
        });
        ctx.wait(read.into_actor(self).map(|res, act, _| {
            let cleared = act.modes.cleared_after().map(str::to_owned);
            for msg in res.ok().flatten().unwrap_or_default() {
                if cleared.as_ref().is_none_or(|c| msg.id > *c)
                    && act.recent.find(&msg.id).is_none()
                {
                    act.recent.push(std::sync::Arc::new(msg));
                }
            }
        }));
    }

    /// Take what the store holds for this room (at start, and on a resync).
    pub(super) fn load(&mut self, snapshot: store::RoomSnapshot, with_recent: bool) {
        let store::RoomSnapshot {
            recent,
            bans,
            timeouts,
            slow_mode,
            epoch,
            seq,
            platform,
            moderation: v2,
        } = snapshot;
        // §7: a clear hides what came before it from `recent` (history keeps it).
        let recent: Vec<_> = match &v2.cleared_after {
            Some(after) => recent.into_iter().filter(|m| &m.id > after).collect(),
            None => recent,
        };
        self.modes.load(v2, slow_mode);
        self.load_platform(platform, with_recent);
        if with_recent {
            self.recent.replace(recent);
            // The sequence continues where it stopped. A room with no epoch yet
            // gets one; a cluster's rooms take theirs from Redis (`join_cluster`).
            match epoch {
                Some(epoch) => self.seq = sequence::Sequence::new(epoch, seq),
                None if self.cfg.bridge.is_none() => self.persist(Write::Epoch {
                    room: self.id.to_string(),
                    epoch: self.seq.epoch().to_owned(),
                }),
                None => {}
            }
        } else {
            self.recent.reconcile(&recent);
        }
        let newly_banned = self.moderation.load(moderation::Loaded {
            bans,
            timeouts,
            slow_mode,
        });
        for user in newly_banned {
            self.remove_user(&user);
        }
    }

    /// Load the room's state before handling anything else (joins wait in the
    /// mailbox). Until it is loaded the room admits no one (a room without
    /// its bans must not run); a failed load is retried with backoff.
    pub(super) fn load_state(&mut self, ctx: &mut Context<Self>, attempt: u32) {
        let load = self.cfg.store.send(store::LoadRoom {
            room: self.id.to_string(),
            recent: self.cfg.recent as u64,
        });
        ctx.wait(load.into_actor(self).map(move |res, act, ctx| {
            let err = match res {
                Ok(Ok(snapshot)) => {
                    act.load(snapshot, true);
                    // The cluster after the store: what Redis numbered since
                    // is read on top of what was loaded (`catch_up`).
                    if !act.loaded {
                        act.join_cluster(ctx);
                    }
                    act.loaded = true;
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            let delay = load_backoff(attempt);
            tracing::error!(parent: &act.span, error = %err, retry_in_ms = delay.as_millis() as u64,
                "could not load room state; refusing joins until it loads");
            act.loaded = false;
            ctx.run_later(delay, move |act, ctx| act.load_state(ctx, attempt + 1));
        }));
    }

    /// How long a join waits before trying a room whose state is not loaded.
    pub(super) fn retry_load_ms(&self) -> u64 {
        500
    }

    /// Timers every room runs while it lives.
    pub(super) fn start_timers(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.cfg.reaction_window, |act, _| act.flush_reactions());
        // Analytics: close each period on its wall-clock boundary.
        let period = self.cfg.snapshot_period.as_millis().max(1) as i64;
        let now = protocol::now_ms();
        self.stats = PeriodStats::starting(now - now % period, now, self.viewers());
        let first = Duration::from_millis((period - now % period) as u64);
        ctx.run_later(first, move |act, ctx| {
            act.close_period(ctx);
            ctx.run_interval(Duration::from_millis(period as u64), |act, ctx| {
                act.close_period(ctx)
            });
        });
        // SSE streams that went away stop keeping the room alive.
        ctx.run_interval(Duration::from_secs(5), |act, ctx| {
            let before = act.watchers.len();
            act.watchers.retain(|w| !w.is_closed());
            if act.watchers.len() != before {
                act.check_idle(ctx);
            }
        });
        // Forget rate-limit state of users quiet long enough to be full again.
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            act.moderation.prune(protocol::now_ms());
            act.modes.prune(Instant::now());
        });
        // §7: held messages nobody answered in time are denied.
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.expire_held(ctx));
        self.start_live_timers(ctx);
    }

    /// In a cluster: subscribe to the room's channel and learn the other
    /// nodes' counts before the first join is handled.
    pub(super) fn join_cluster(&mut self, ctx: &mut Context<Self>) {
        let Some(bridge) = self.cfg.bridge.clone() else {
            return;
        };
        let online = bridge.send(bridge::RoomOnline {
            room: self.id.clone(),
            instance: self.instance,
            events: ctx.address().recipient(),
            resync: ctx.address().recipient(),
            candidate_epoch: sequence::Sequence::fresh_epoch(),
        });
        ctx.wait(online.into_actor(self).map(|res, act, ctx| {
            if let Ok(online) = res {
                act.remote.replace(online.counts, Instant::now());
                if let Some((seq, epoch)) = online.position {
                    act.catch_up(&epoch, seq, ctx);
                    act.seq.reset(epoch, seq);
                }
            }
            // Subscribed by now: §8 state written from here on arrives on the channel.
            act.read_platform(ctx);
        }));
        // What another node changed just before this room subscribed may not
        // have been stored when the room loaded (writes are batched): look
        // again once those batches are in (contract §7: within 1 s).
        ctx.run_later(CATCH_UP_AFTER, |_, ctx| ctx.notify(Resync));
        // Reconcile with the database now and then: whatever an event lost
        // between nodes is there (contract §6: within 30 s). Rooms spread out.
        let every = RECONCILE_EVERY + Duration::from_millis(self.instance % 5_000);
        ctx.run_interval(every, |_, ctx| {
            ctx.notify(Resync);
        });
        // Another node that stops refreshing its count drops out after the TTL.
        let every = (self.cfg.presence_ttl / 5).max(Duration::from_millis(100));
        ctx.run_interval(every, |act, ctx| {
            if act.remote.expire(act.cfg.presence_ttl) {
                act.viewers_changed(ctx);
            }
        });
    }
}
