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
use crate::bridge::{ClusterEvent, RemoteEvent, Resync};
use crate::hub::Route;
use crate::metrics::{self, METRICS};
use crate::protocol::{self, ErrorCode, LeftReason, ModAction, Refusal, RoomId, ServerFrame};
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
        if self.moderation.is_banned(&conn.user.id) {
            let frame = Refusal::new(ErrorCode::Banned, "you are banned from this room")
                .frame(Some(&self.id), reference.as_deref());
            conn.route.send(&frame);
            conn.notify.do_send(super::Detached {
                room: self.id.clone(),
            });
            return;
        }
        match since {
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
fn member_user(
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
        let moderator = user.moderates(&self.id);
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
        if let Err(refusal) = self
            .moderation
            .check_post(&user.id, moderator, protocol::now_ms())
        {
            let frame = refusal.frame(Some(&self.id), reference);
            return self.send_to(msg.conn_id, frame);
        }
        let badges = user.badges_in(&self.id);
        self.publish(&user, badges, msg.text, Some((msg.conn_id, reference)), ctx);
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

/// A moderator action (checked), by the user named in `by`. Answers the id to
/// ack: the message id of a delete, else the action's id in the moderation log.
#[derive(Message)]
#[rtype(result = "String")]
pub struct Moderate {
    pub by: String,
    pub action: ModAction,
}

impl Handler<Moderate> for Room {
    type Result = String;
    fn handle(&mut self, msg: Moderate, ctx: &mut Context<Self>) -> String {
        let id = self.moderate(&msg.by, msg.action);
        self.touched(ctx);
        id
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
                self.apply_moderation(&by, action);
            }
            ClusterEvent::Event { name, data } => self.deliver_event(&name, &data),
            ClusterEvent::Reactions { counts } => {
                self.stats.reactions += self.reactions.add_remote(&counts);
            }
            ClusterEvent::Presence { count } => {
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
