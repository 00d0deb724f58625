//! Every message a room handles, with its handler, and the messages a room
//! sends up to the registry ([`RoomIdle`], [`RoomViewers`]), which the registry
//! hands in as [`RoomHooks`] so the room never names it.
//!
//! Each request has its own answer type: a caller never has an arm for an
//! answer that cannot come.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{Conn, ConnId, Room};
use crate::auth::Identity;
use crate::bridge::platform::PlatformEvent;
use crate::bridge::{ClusterEvent, RemoteEvent, Resync};
use crate::hub::Route;
use crate::metrics::{self, METRICS};
use crate::protocol::{self, ErrorCode, LeftReason, Refusal, RoomId, ServerFrame};
use crate::store;

// ---------------------------------------------------------------------------
// Up to the registry
// ---------------------------------------------------------------------------

/// Where a room tells the registry about itself.
#[derive(Clone)]
pub struct RoomHooks {
    pub idle: Recipient<RoomIdle>,
    pub viewers: Recipient<RoomViewers>,
}

/// A room has been empty for its grace time and offers to stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomIdle {
    pub room: RoomId,
    /// Which room actor (a newer one may have replaced it under the same id).
    pub addr: Addr<Room>,
}

/// A room's viewer count changed (sent at most once per viewers interval).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomViewers {
    pub room: RoomId,
    pub count: u64,
}

// ---------------------------------------------------------------------------
// From sessions
// ---------------------------------------------------------------------------

/// A connection joins (forwarded by the registry). The room answers the
/// connection directly: `joined`, or an `error` and `Detached`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub conn: Conn,
    /// Resume from this position (contract §5).
    pub since: Option<protocol::Since>,
    pub reference: Option<String>,
}

impl Handler<Join> for Room {
    type Result = ();
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let Join {
            conn,
            since,
            reference,
        } = msg;
        if !self.loaded {
            let frame = Refusal::retry(
                ErrorCode::Internal,
                "this room is not available right now; retry shortly",
                self.retry_load_ms(),
            )
            .frame(Some(&self.id), reference.as_deref());
            conn.route.send(&frame);
            conn.notify.do_send(super::Detached {
                room: self.id.clone(),
            });
            return;
        }
        let refused = if self.moderation.is_banned(&conn.user.id) {
            Err(Refusal::new(
                ErrorCode::Banned,
                "you are banned from this room",
            ))
        } else {
            let rank = self.conn_rank(&conn);
            self.modes.check_join(rank, conn.roles.is_some())
        };
        if let Err(refusal) = refused {
            let frame = refusal.frame(Some(&self.id), reference.as_deref());
            conn.route.send(&frame);
            conn.notify.do_send(super::Detached {
                room: self.id.clone(),
            });
            return;
        }
        match since {
            // Messages this node acked but has not delivered yet belong in the
            // resume's `recent`: wait for them (at most a second).
            Some(since) if !self.undelivered.is_empty() => {
                self.deferred.push(Join {
                    conn,
                    since: Some(since),
                    reference,
                });
                ctx.run_later(super::resume::DEFER_AT_MOST, |act, ctx| {
                    act.resume_deferred(ctx)
                });
            }
            Some(since) => self.resume(conn, since, reference, ctx),
            None => self.admit(conn, None, ctx),
        }
    }
}

/// A connection leaves. With `notify`, it gets `left` (reason `leave`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub conn_id: ConnId,
    pub notify: bool,
}

impl Handler<Leave> for Room {
    type Result = ();
    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        if let Some(conn) = self.members.remove(msg.conn_id) {
            if msg.notify {
                let frame = protocol::encode(&ServerFrame::Left {
                    room: &self.id,
                    reason: LeftReason::Leave,
                });
                conn.route.send(&frame);
            }
            self.viewers_changed(ctx);
            self.check_idle(ctx);
        }
    }
}

/// A member's token was refreshed: its new identity (roles, name, badges)
/// counts from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh {
    pub conn_id: ConnId,
    pub user: Arc<Identity>,
}

impl Handler<Refresh> for Room {
    type Result = ();
    fn handle(&mut self, msg: Refresh, _: &mut Context<Self>) {
        self.members.set_user(msg.conn_id, msg.user);
    }
}

/// The member's identity, or a `not_joined` answer on `reply` if it is not one.
pub(super) fn member_user(
    room: &Room,
    conn_id: ConnId,
    reply: &Route,
    reference: Option<&str>,
) -> Option<Arc<Identity>> {
    let user = room.members.get(conn_id).map(|c| c.user.clone());
    if user.is_none() {
        let refusal = Refusal::new(ErrorCode::NotJoined, "join the room first");
        reply.send(&refusal.frame(Some(&room.id), reference));
    }
    user
}

/// What a stored message holds besides its text (ids, names, badges), roughly.
const MESSAGE_OVERHEAD: usize = 256;
/// When to try again after the store refused a message.
const STORE_FULL_RETRY_MS: u64 = 1_000;

/// A member sends a chat message (text already cleaned by the protocol layer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    pub conn_id: ConnId,
    pub text: String,
    pub reference: Option<String>,
    /// Where to answer if the sender turns out not to be a member.
    pub reply: Route,
}

impl Handler<Post> for Room {
    type Result = ();
    fn handle(&mut self, msg: Post, ctx: &mut Context<Self>) {
        let reference = msg.reference.as_deref();
        let Some(user) = member_user(self, msg.conn_id, &msg.reply, reference) else {
            return;
        };
        let (rank, roles) = match self.members.get(msg.conn_id) {
            Some(conn) => (self.conn_rank(conn), conn.roles),
            None => (super::modes::Rank::Viewer, None),
        };
        let vip = roles.is_some_and(|r| r.vip);
        if !self
            .cfg
            .store_status
            .accepts(msg.text.len() + MESSAGE_OVERHEAD)
        {
            // The database is slow or away and its queue is full: refuse
            // rather than ack a message that could be lost.
            let refusal = Refusal::retry(
                ErrorCode::Internal,
                "messages cannot be stored right now; retry shortly",
                STORE_FULL_RETRY_MS,
            );
            return self.send_to(msg.conn_id, refusal.frame(Some(&self.id), reference));
        }
        if let Err(refusal) =
            self.moderation
                .check_post(&user.id, rank.moderates(), vip, protocol::now_ms())
        {
            let frame = refusal.frame(Some(&self.id), reference);
            return self.send_to(msg.conn_id, frame);
        }
        let poster = super::modes::Poster {
            user: &user.id,
            rank,
            roles: roles.as_ref(),
        };
        let verdict = self
            .modes
            .check_chat(poster, &msg.text, protocol::now_ms(), Instant::now());
        let verdict = match verdict {
            Ok(v) => v,
            Err(refusal) => {
                let frame = refusal.frame(Some(&self.id), reference);
                return self.send_to(msg.conn_id, frame);
            }
        };
        let mut badges = user.badges_in(&self.id);
        let extra = match rank {
            super::modes::Rank::Broadcaster => Some(crate::auth::BROADCASTER_BADGE),
            super::modes::Rank::Mod => Some(crate::auth::MOD_BADGE),
            _ => None,
        };
        if let Some(badge) = extra
            && !badges.iter().any(|b| b == badge)
        {
            badges.push(badge.to_owned());
        }
        let message = self.new_message(&user, badges, msg.text);
        match verdict {
            super::modes::Verdict::Publish => {
                self.ack(msg.conn_id, reference, &message.id);
                self.publish_msg(message, ctx);
            }
            super::modes::Verdict::Delay(ms) => {
                self.ack(msg.conn_id, reference, &message.id);
                self.delay(message, ms, ctx);
            }
            super::modes::Verdict::Hold { term } => {
                self.hold(message, term, msg.conn_id, reference);
            }
            super::modes::Verdict::Shadow => {
                self.ack(msg.conn_id, reference, &message.id);
                self.shadow(message);
            }
        }
    }
}

/// A member reacts; `emoji` indexes the configured set.
#[derive(Message)]
#[rtype(result = "()")]
pub struct React {
    pub conn_id: ConnId,
    pub emoji: usize,
    pub reference: Option<String>,
    /// Where to answer if the sender turns out not to be a member.
    pub reply: Route,
}

impl Handler<React> for Room {
    type Result = ();
    fn handle(&mut self, msg: React, _: &mut Context<Self>) {
        let reference = msg.reference.as_deref();
        let Some(user) = member_user(self, msg.conn_id, &msg.reply, reference) else {
            return;
        };
        if let Err(refusal) = self.moderation.check_react(&user.id, protocol::now_ms()) {
            let frame = refusal.frame(Some(&self.id), reference);
            return self.send_to(msg.conn_id, frame);
        }
        if self.reactions.add_local(msg.emoji) {
            self.stats.reactions += 1;
            self.totals.1 += 1;
            self.stream_reacted();
            metrics::inc(&METRICS.reactions);
        }
    }
}

// ---------------------------------------------------------------------------
// From the server API and moderators (through the registry)
// ---------------------------------------------------------------------------

/// A room as the server API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomInfo {
    pub room: String,
    pub viewers: u64,
    pub peak: u64,
    pub slow_mode: u64,
    /// Contract §5: the room's latest sequence number and its epoch.
    pub seq: u64,
    pub epoch: String,
    /// Contract §7: every setting.
    pub settings: protocol::moderation::ChatSettings,
}

/// Room info: viewers, peak, slow mode.
#[derive(Message)]
#[rtype(result = "RoomInfo")]
pub struct Info;

impl Handler<Info> for Room {
    type Result = MessageResult<Info>;
    fn handle(&mut self, _: Info, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        MessageResult(self.info())
    }
}

/// Contract §8: a member is typing (its session keeps it to one per 3 s).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Typing {
    pub conn_id: ConnId,
}

impl Handler<Typing> for Room {
    type Result = ();
    fn handle(&mut self, msg: Typing, _: &mut Context<Self>) {
        let Some(conn) = self.members.get(msg.conn_id) else {
            return;
        };
        let (user, name) = (conn.user.id.clone(), conn.user.name.clone());
        if self.relay_typing(&user, &name, Some(msg.conn_id)) {
            self.publish_cluster(|| ClusterEvent::Platform(PlatformEvent::Typing { user, name }));
        }
    }
}

impl Room {
    /// Send a typing indicator to the members here (but the typing
    /// connection itself), if the room's `typing` setting lets it through.
    pub(super) fn relay_typing(&self, user: &str, name: &str, from: Option<ConnId>) -> bool {
        if !self.modes.settings().typing_on(self.viewers()) {
            return false;
        }
        let frame = protocol::encode(&ServerFrame::Typing {
            room: &self.id,
            user,
            name,
        });
        for other in self.members.conns() {
            if Some(other.id) != from {
                other.route.send(&frame);
            }
        }
        true
    }
}

/// A message from a system user of the server API (no per-user limits, the
/// room's API rate instead). Answers the message id.
#[derive(Message)]
#[rtype(result = "Result<String, Refusal>")]
pub struct PostAs {
    pub user: Identity,
    pub text: String,
}

impl Handler<PostAs> for Room {
    type Result = Result<String, Refusal>;
    fn handle(&mut self, msg: PostAs, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        self.check_api_rate()?;
        if !self
            .cfg
            .store_status
            .accepts(msg.text.len() + MESSAGE_OVERHEAD)
        {
            return Err(Refusal::retry(
                ErrorCode::Internal,
                "messages cannot be stored right now; retry shortly",
                STORE_FULL_RETRY_MS,
            ));
        }
        let posted = self.publish(&msg.user, vec!["system".to_owned()], msg.text, None, ctx);
        Ok(posted.id.clone())
    }
}

/// A platform event, broadcast as an `event` frame.
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct PublishEvent {
    pub name: String,
    pub data: Box<RawValue>,
}

impl Handler<PublishEvent> for Room {
    type Result = Result<(), Refusal>;
    fn handle(&mut self, msg: PublishEvent, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        self.check_api_rate()?;
        self.deliver_event(&msg.name, &msg.data);
        let PublishEvent { name, data } = msg;
        self.publish_cluster(|| ClusterEvent::Event { name, data });
        Ok(())
    }
}

/// Send the viewer count into `tx` on every change (SSE). Answers the count now.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct WatchViewers {
    pub tx: mpsc::Sender<u64>,
}

impl Handler<WatchViewers> for Room {
    type Result = u64;
    fn handle(&mut self, msg: WatchViewers, ctx: &mut Context<Self>) -> u64 {
        self.watchers.push(msg.tx);
        self.touched(ctx);
        self.viewers()
    }
}

// ---------------------------------------------------------------------------
// From the cluster bridge
// ---------------------------------------------------------------------------

impl Handler<RemoteEvent> for Room {
    type Result = ();
    fn handle(&mut self, msg: RemoteEvent, ctx: &mut Context<Self>) {
        match msg.event {
            // Checked against this node's bans and timeouts too: a ban that has
            // not reached the other node yet must not let its messages through here.
            ClusterEvent::Message { msg } => {
                let now = protocol::now_ms();
                let own = self.pending_own.contains_key(&msg.id);
                if !own
                    && (self.moderation.is_banned(&msg.user)
                        || self.moderation.timeout_left(&msg.user, now).is_some())
                {
                    tracing::info!(parent: &self.span, user = %msg.user, "dropped a remote message of a banned or timed-out user");
                } else {
                    self.arrived(msg, ctx);
                }
            }
            // Stored and logged by the node where it was taken.
            ClusterEvent::Moderation { by, action } => {
                if action.is_v1() {
                    self.apply_moderation(&by, action);
                } else {
                    self.apply_v2(&by, &action);
                }
            }
            ClusterEvent::Shadow { msg } => self.deliver_shadow(&msg),
            ClusterEvent::Delayed { msg } => {
                self.to_moderators(&protocol::moderation::MessageFrame::delayed(&msg).encode());
            }
            ClusterEvent::Held {
                msg,
                term,
                expires_at,
            } => self.held_elsewhere(store::moderation::HeldRecord {
                msg,
                term,
                expires_at,
            }),
            ClusterEvent::Pinned { message, until, by } => {
                let pin =
                    message.map(|message| store::moderation::PinRecord { message, until, by });
                self.announce_pin(pin.as_ref(), protocol::now_ms());
                self.modes.set_pin(pin);
            }
            ClusterEvent::Acknowledged { user } => self.acknowledged(&user, false),
            ClusterEvent::Platform(event) => self.platform_event(event),
            ClusterEvent::Event { name, data } => self.deliver_event(&name, &data),
            ClusterEvent::Reactions { counts } => {
                let added = self.reactions.add_remote(&counts);
                self.stats.reactions += added;
                self.totals.1 += added;
            }
            ClusterEvent::Presence { count, ranks } => {
                self.remote_ranks(&msg.node, ranks);
                if self.remote.set(msg.node, count, Instant::now()) {
                    self.viewers_changed(ctx);
                }
            }
        }
        self.check_idle(ctx);
    }
}

/// Reconcile with the database: bans, timeouts and slow mode as stored, and
/// messages deleted (or whose author was banned) on other nodes leave `recent`.
impl Handler<Resync> for Room {
    type Result = ();
    fn handle(&mut self, _: Resync, ctx: &mut Context<Self>) {
        let load = self.cfg.store.send(store::LoadRoom {
            room: self.id.to_string(),
            recent: self.cfg.recent as u64,
        });
        ctx.spawn(load.into_actor(self).map(|res, act, _| {
            if let Ok(Ok(snapshot)) = res {
                act.load(snapshot, false);
            }
        }));
    }
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

/// Members left without a Leave (see `Room::membership_changed`).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct MembershipChanged;

impl Handler<MembershipChanged> for Room {
    type Result = ();
    fn handle(&mut self, _: MembershipChanged, ctx: &mut Context<Self>) {
        self.viewers_changed(ctx);
        self.check_idle(ctx);
    }
}

/// The registry asks an idle room to stop; it refuses (false) if anyone joined meanwhile.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TryStop;

impl Handler<TryStop> for Room {
    type Result = bool;
    fn handle(&mut self, _: TryStop, ctx: &mut Context<Self>) -> bool {
        if self.members.is_empty() && self.idle.is_none() {
            ctx.stop();
            true
        } else {
            false
        }
    }
}
