//! Contract §8's `room.occupied` / `room.vacated` as a room sees them: it
//! says whether it has members on this node, and the episode opens with the
//! first member in and closes with the last member out.
//!
//! On one node the room decides and announces both itself. In a cluster the
//! bridge keeps the room's occupants in Redis and announces (see
//! `bridge::occupancy`); the room sends one step at a time and waits for its
//! answer, so a node's steps for a room reach Redis in order.
//!
//! Tracked only when webhooks are configured: otherwise this costs one branch
//! per change of the viewer count, nothing on the message path.

use std::time::Duration;

use actix::prelude::*;

use super::Room;
use crate::bridge::occupancy::{SetOccupied, announce_occupied, announce_vacated};
use crate::protocol;
use crate::webhooks::kind;

/// When to try again after Redis could not take a step.
const RETRY: Duration = Duration::from_secs(1);

/// What this node last told the cluster (or, on one node, decided).
#[derive(Debug, Default)]
pub struct Occupancy {
    /// We count as occupying the room.
    occupying: bool,
    /// A step is on its way to Redis.
    busy: bool,
    /// One node: when the open episode began.
    since: Option<i64>,
}

impl Room {
    /// The member count changed: open or close the episode if that changed.
    pub(super) fn occupancy_changed(&mut self, ctx: &mut Context<Self>) {
        let has_members = !self.members.is_empty();
        if self.occupancy.busy
            || has_members == self.occupancy.occupying
            || !(self.cfg.webhooks.wants(kind::ROOM_OCCUPIED)
                || self.cfg.webhooks.wants(kind::ROOM_VACATED))
        {
            return;
        }
        let Some(bridge) = self.cfg.bridge.clone() else {
            self.occupancy.occupying = has_members;
            if has_members {
                let since = protocol::now_ms();
                self.occupancy.since = Some(since);
                announce_occupied(&self.cfg.webhooks, &self.id, since);
            } else if let Some(since) = self.occupancy.since.take() {
                announce_vacated(&self.cfg.webhooks, &self.id, since);
            }
            return;
        };
        self.occupancy.busy = true;
        let room = self.id.clone();
        let step = bridge.send(SetOccupied {
            room,
            occupied: has_members,
        });
        ctx.spawn(step.into_actor(self).map(move |res, act, ctx| {
            act.occupancy.busy = false;
            match res {
                Ok(Ok(())) => {
                    act.occupancy.occupying = has_members;
                    act.occupancy_changed(ctx);
                }
                Ok(Err(err)) => {
                    tracing::warn!(parent: &act.span, error = %err, "occupancy did not reach redis; retrying");
                    ctx.run_later(RETRY, |act, ctx| act.occupancy_changed(ctx));
                }
                Err(_) => {} // the bridge is gone: the node is stopping
            }
        }));
    }
}
