//! Joining (contract §2, §5): a member admitted with the room's recent
//! messages, or resumed from a position with exactly the messages it missed;
//! and the numbered messages of a cluster, taken in order from the channel.
//!
//! A resume reads what it needs (the store; in a cluster also the room's Redis
//! stream) while the room waits, so no message is published in between: what
//! the joiner gets, and then receives live, has no gap and no repeat.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;

use super::sequence::{Arrival, Sequence};
use super::{Conn, Room};
use crate::bridge::{ReadLog, Sequenced};
use crate::protocol::{self, ChatMessage, ServerFrame, Since};
use crate::store::{LoadSince, Write};

impl Room {
    /// Make `conn` a member and answer `joined`: with `recovered` and the
    /// messages it missed when it resumed, else with the recent ones.
    pub(super) fn admit(
        &mut self,
        conn: Conn,
        resumed: Option<(bool, Option<Vec<ChatMessage>>)>,
        ctx: &mut Context<Self>,
    ) {
        let id = conn.id;
        let ranked = self.conn_rank(&conn).moderates();
        self.stream_saw(&conn.user.id);
        // A second join of the same room by the same connection just answers again.
        self.members.insert(conn);
        if ranked {
            // The other nodes must know at once whom a moderator there may not act on.
            self.presence_now();
        }
        let viewers = self.viewers();
        let slow_mode = self.moderation.slow_mode();
        let (recovered, missed) = match resumed {
            Some((recovered, missed)) => (Some(recovered), missed),
            None => (None, None),
        };
        let missed = missed.map(|m| protocol::encode_message_list(m.iter()));
        let settings = self.settings();
        let pinned = self.modes.pin(protocol::now_ms()).cloned();
        let state = self.state.joined();
        let frame = protocol::encode(&ServerFrame::Joined {
            room: &self.id,
            viewers,
            slow_mode,
            recent: match &missed {
                Some(list) => list,
                None => self.recent.json(),
            },
            seq: self.seq.last(),
            epoch: self.seq.epoch(),
            recovered,
            state,
            stream: Room::joined_stream(&self.live),
            settings: &settings,
            pinned: pinned.as_ref().map(|p| protocol::moderation::PinView {
                message: protocol::moderation::MessageFrame::plain(&p.message),
                until: p.until,
            }),
        });
        self.send_to(id, frame);
        self.viewers_changed(ctx);
        self.check_idle(ctx);
    }

    /// A join with `since`: exactly what was missed when the epoch matches and
    /// at most `recovery.max_messages` are missing, else the usual recent.
    pub(super) fn resume(
        &mut self,
        conn: Conn,
        since: Since,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let _ = reference;
        if !self
            .seq
            .can_resume(since.seq, &since.epoch, self.cfg.recovery_max)
        {
            return self.admit(conn, Some((false, None)), ctx);
        }
        let (from, to) = (since.seq + 1, self.seq.last());
        if from > to {
            return self.admit(conn, Some((true, Some(Vec::new()))), ctx);
        }
        let epoch = self.seq.epoch().to_owned();
        let stored = self.cfg.store.send(LoadSince {
            room: self.id.to_string(),
            epoch: epoch.clone(),
            after: since.seq,
            limit: to - since.seq,
        });
        let logged = self.cfg.bridge.clone().map(|b| {
            b.send(ReadLog {
                room: self.id.clone(),
                epoch,
                from,
                to,
            })
        });
        let read = async move {
            let stored = stored.await.ok().and_then(Result::ok);
            let logged = match logged {
                Some(l) => l.await.ok().flatten(),
                None => None,
            };
            (stored, logged)
        };
        ctx.wait(read.into_actor(self).map(move |(stored, logged), act, ctx| {
            let missed = complete(from, to, stored, logged);
            if missed.is_none() {
                tracing::info!(parent: &act.span, from, to, "could not recover a resuming client exactly");
            }
            let recovered = missed.is_some();
            act.admit(conn, Some((recovered, missed)), ctx);
        }));
    }

    /// A numbered chat message from the cluster (this node's own too): deliver
    /// it in order; repeats are dropped, a gap is filled from the room's stream.
    pub(super) fn arrived(&mut self, msg: ChatMessage, ctx: &mut Context<Self>) {
        let (Some(seq), Some(epoch)) = (msg.seq, msg.epoch.clone()) else {
            // A node of an earlier version: no number to keep in order.
            return self.deliver(Arc::new(msg));
        };
        self.numbering_locally = false;
        match self.seq.arrived(seq, &epoch) {
            Arrival::Repeat => {}
            Arrival::Next | Arrival::NewEpoch => self.deliver(Arc::new(msg)),
            Arrival::Gap { from } => {
                let Some(bridge) = self.cfg.bridge.clone() else {
                    return self.deliver(Arc::new(msg));
                };
                let read = bridge.send(ReadLog {
                    room: self.id.clone(),
                    epoch: epoch.to_string(),
                    from,
                    to: seq - 1,
                });
                // Hold everything else until the gap is filled, so the order stays.
                ctx.wait(read.into_actor(self).map(move |got, act, _| {
                    let missing = got.ok().flatten().unwrap_or_default();
                    if missing.len() as u64 != seq - from {
                        tracing::warn!(parent: &act.span, from, to = seq - 1, found = missing.len(),
                            "a gap in the room's sequence could not be filled");
                    }
                    for m in missing {
                        if !act.moderation.is_banned(&m.user) {
                            act.deliver(Arc::new(m));
                        }
                    }
                    act.deliver(Arc::new(msg));
                }));
            }
        }
    }
}

/// The messages `from..=to` from what the store and the stream hold, or None
/// if some number is accounted for by neither (it would be a gap).
fn complete(
    from: u64,
    to: u64,
    stored: Option<(Vec<ChatMessage>, Vec<u64>)>,
    logged: Option<Vec<ChatMessage>>,
) -> Option<Vec<ChatMessage>> {
    let (stored, deleted) = stored.unwrap_or_default();
    let deleted: HashSet<u64> = deleted.into_iter().collect();
    let mut by_seq: std::collections::BTreeMap<u64, ChatMessage> =
        std::collections::BTreeMap::new();
    // The stream first; the store's copy wins (it knows of deletions).
    for m in logged.into_iter().flatten() {
        if let Some(s) = m.seq {
            by_seq.insert(s, m);
        }
    }
    for m in stored {
        if let Some(s) = m.seq {
            by_seq.insert(s, m);
        }
    }
    let accounted = (from..=to).all(|s| by_seq.contains_key(&s) || deleted.contains(&s));
    accounted.then(|| {
        by_seq
            .into_iter()
            .filter(|(s, _)| (from..=to).contains(s) && !deleted.contains(s))
            .map(|(_, m)| m)
            .collect()
    })
}

/// The longest a resuming join waits for this node's own messages to come
/// back numbered (Redis is slow or lost one: the resume then goes ahead).
pub(super) const DEFER_AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);

/// This node's acked messages are all delivered: resume the joins that waited.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct ResumeDeferred;

impl Handler<ResumeDeferred> for Room {
    type Result = ();
    fn handle(&mut self, _: ResumeDeferred, ctx: &mut Context<Self>) {
        self.resume_deferred(ctx);
    }
}

impl Room {
    /// Resume every join that waited (once: later calls find none).
    pub(super) fn resume_deferred(&mut self, ctx: &mut Context<Self>) {
        for join in std::mem::take(&mut self.deferred) {
            if let Some(since) = join.since {
                self.resume(join.conn, since, join.reference, ctx);
            }
        }
    }
}

/// This node's message got its number from Redis: store it with it. Without
/// one (Redis failed), the room numbers it itself under an epoch of its own,
/// delivers and stores it; resuming clients then start over (recovered: false).
impl Handler<Sequenced> for Room {
    type Result = ();
    fn handle(&mut self, msg: Sequenced, ctx: &mut Context<Self>) {
        let Some(own) = self.pending_own.remove(&msg.id) else {
            return;
        };
        // Should its copy from the channel never come, joins stop waiting for it.
        let id = msg.id.clone();
        ctx.run_later(DEFER_AT_MOST, move |act, _| {
            act.undelivered.remove(&id);
        });
        let mut own = (*own).clone();
        match msg.position {
            Some((seq, epoch)) => {
                own.seq = Some(seq);
                own.epoch = Some(epoch.into());
                self.message_created(&own);
                self.persist(Write::Message(Arc::new(own)));
            }
            None => {
                if !self.numbering_locally {
                    self.numbering_locally = true;
                    self.seq = Sequence::new(Sequence::fresh_epoch(), 0);
                    tracing::warn!(parent: &self.span, epoch = self.seq.epoch(),
                        "redis could not number a message: numbering here under a new epoch");
                }
                own.seq = Some(self.seq.number());
                own.epoch = Some(self.seq.epoch().into());
                let own = Arc::new(own);
                self.message_created(&own);
                self.persist(Write::Message(own.clone()));
                self.deliver(own);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: u64) -> ChatMessage {
        ChatMessage {
            room: "r".into(),
            id: format!("01J00000000000000000000{seq:03}"),
            user: "u".into(),
            name: "u".into(),
            text: "t".into(),
            ts: 0,
            badges: vec![],
            seq: Some(seq),
            epoch: Some("e".into()),
        }
    }

    #[test]
    fn a_resume_is_exact_only_when_every_number_is_accounted_for() {
        // The store has 3 and 5 (4 deleted), the stream 5 and 6.
        let stored = Some((vec![m(3), m(5)], vec![4]));
        let logged = Some(vec![m(5), m(6)]);
        let got = complete(3, 6, stored.clone(), logged.clone()).unwrap();
        let seqs: Vec<_> = got.iter().map(|m| m.seq.unwrap()).collect();
        assert_eq!(seqs, [3, 5, 6], "deleted 4 left out, nothing twice");
        // 7 is nowhere: not exact.
        assert!(complete(3, 7, stored, logged).is_none());
        // One node, no stream: the store alone.
        assert_eq!(
            complete(1, 1, Some((vec![m(1)], vec![])), None)
                .unwrap()
                .len(),
            1
        );
    }
}
