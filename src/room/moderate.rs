//! Moderator messages: who acts ([`Caller`]), an action ([`Moderate`], which
//! the room authorizes by rank and hierarchy before carrying it out in
//! `room::actions`), a member's acknowledgement of a warning, and §7's reads
//! for the server API (held messages, the moderator list, terms, a user's
//! standing); and the room's carrying out of an authorized action: v1's
//! through `room::moderation`'s rules, §7's through `room::actions`, stored
//! and published by the node it was taken on.

use std::sync::Arc;

use actix::prelude::*;

use super::moderation::{Effects, Taken, Unlist};
use super::msg::member_user;
use super::{ConnId, Room};
use crate::auth::Identity;
use crate::bridge::ClusterEvent;
use crate::hub::Route;
use crate::metrics::{self, METRICS};
use crate::protocol::{self, ErrorCode, ModAction, Refusal, ServerFrame};
use crate::store::{self, Write};

/// Who takes a moderator action.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The platform's backend (the API key), logged under this name.
    Api(String),
    /// A user: over their connection (whose room token counts if it is a
    /// member here), or with their JWT over the server API (`conn` none).
    User {
        user: Arc<Identity>,
        conn: Option<ConnId>,
        /// A room token's roles, over the server API (a member's are its own).
        roles: Option<crate::auth::RoomRoles>,
    },
}

impl Caller {
    /// The name the action is logged under.
    pub fn name(&self) -> &str {
        match self {
            Caller::Api(name) => name,
            Caller::User { user, .. } => &user.id,
        }
    }
}

/// A moderator action (its input checked), by `by`; the room decides whether
/// `by` may (rank, hierarchy). Answers the id to ack: the message id of a
/// delete, approve or deny, else the action's id in the moderation log.
#[derive(Message)]
#[rtype(result = "Result<String, Refusal>")]
pub struct Moderate {
    pub by: Caller,
    pub action: ModAction,
}

impl Handler<Moderate> for Room {
    type Result = ResponseActFuture<Self, Result<String, Refusal>>;
    fn handle(&mut self, msg: Moderate, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        if let Err(refusal) = self.authorize(&msg.by, &msg.action) {
            return Box::pin(actix::fut::ready(Err(refusal)));
        }
        let by = msg.by.name().to_owned();
        let done = match msg.action {
            ModAction::Approve { id } => {
                return self.decide(by, id.into_string(), store::moderation::Decision::Approve);
            }
            ModAction::Deny { id } => {
                return self.decide(by, id.into_string(), store::moderation::Decision::Deny);
            }
            ModAction::Purge { user, reason } => {
                return self.purge(by, user.to_string(), reason);
            }
            ModAction::Pin { id, seconds } => self.pin_message(&by, &id, seconds),
            action => Ok(self.moderate(&by, action)),
        };
        Box::pin(actix::fut::ready(done))
    }
}

/// May `by` moderate this room (for the server API's reads)?
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct Authorize {
    pub by: Caller,
}

impl Handler<Authorize> for Room {
    type Result = Result<(), Refusal>;
    fn handle(&mut self, msg: Authorize, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        if self.actor_rank(&msg.by).moderates() {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::Forbidden,
                "only moderators of this room may do that",
            ))
        }
    }
}

/// A member read its warning (contract §7). Acked.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Acknowledge {
    pub conn_id: ConnId,
    pub reference: Option<String>,
    pub reply: Route,
}

impl Handler<Acknowledge> for Room {
    type Result = ();
    fn handle(&mut self, msg: Acknowledge, _: &mut Context<Self>) {
        let reference = msg.reference.as_deref();
        let Some(user) = member_user(self, msg.conn_id, &msg.reply, reference) else {
            return;
        };
        self.acknowledged(&user.id, true);
        let id = self.next_id();
        self.ack(msg.conn_id, reference, &id);
    }
}

/// Contract §7: the held messages, oldest first.
#[derive(Message)]
#[rtype(result = "Vec<store::moderation::HeldRecord>")]
pub struct HeldList;

impl Handler<HeldList> for Room {
    type Result = MessageResult<HeldList>;
    fn handle(&mut self, _: HeldList, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        MessageResult(self.modes.held_list().into_iter().cloned().collect())
    }
}

/// Contract §7: the stored moderator list, oldest first.
#[derive(Message)]
#[rtype(result = "Vec<store::moderation::Listed>")]
pub struct Moderators;

impl Handler<Moderators> for Room {
    type Result = MessageResult<Moderators>;
    fn handle(&mut self, _: Moderators, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        let mut list: Vec<_> = self.modes.listed().cloned().collect();
        list.sort_by(|a, b| (a.ts, &a.user).cmp(&(b.ts, &b.user)));
        MessageResult(list)
    }
}

/// Contract §7: the room's own AutoMod terms.
#[derive(Message)]
#[rtype(result = "Vec<protocol::moderation::Term>")]
pub struct RoomTerms;

impl Handler<RoomTerms> for Room {
    type Result = MessageResult<RoomTerms>;
    fn handle(&mut self, _: RoomTerms, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        MessageResult(self.modes.room_terms().to_vec())
    }
}

/// A user's standing in the room, for the user card (contract §7).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserState {
    pub banned: bool,
    pub timed_out_until: Option<i64>,
    pub shadow_banned: bool,
    pub warned: bool,
}

/// Ask for a user's standing.
#[derive(Message)]
#[rtype(result = "UserState")]
pub struct UserStateOf {
    pub user: String,
}

impl Handler<UserStateOf> for Room {
    type Result = MessageResult<UserStateOf>;
    fn handle(&mut self, msg: UserStateOf, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        let now = protocol::now_ms();
        let user = msg.user.as_str();
        MessageResult(UserState {
            banned: self.moderation.is_banned(user),
            timed_out_until: self
                .moderation
                .timeout_left(user, now)
                .map(|left| now + left as i64),
            shadow_banned: self.modes.is_shadow_banned(user),
            warned: self.modes.is_warned(user),
        })
    }
}

/// Is message `id` in its chat delay here (acked, not yet published)?
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsDelayed {
    pub id: String,
}

impl Handler<IsDelayed> for Room {
    type Result = bool;
    fn handle(&mut self, msg: IsDelayed, _: &mut Context<Self>) -> bool {
        self.delayed.contains_key(&msg.id)
    }
}

impl Room {
    /// A moderator action taken (and authorized) on this node: apply it,
    /// store it, tell the cluster. Answers the id to ack.
    pub(super) fn moderate(&mut self, by: &str, action: ModAction) -> String {
        self.moderate_logged(by, action, true)
    }

    /// [`Room::moderate`]; without `log` the action is not logged on its own
    /// (the deletes of a purge, which is logged once).
    pub(super) fn moderate_logged(&mut self, by: &str, action: ModAction, log: bool) -> String {
        metrics::inc(&METRICS.moderation_actions);
        if !action.is_v1() {
            let done = self.apply_v2(by, &action);
            if let Some(action) = done.wire {
                self.publish_cluster(|| ClusterEvent::Moderation {
                    by: by.to_owned(),
                    action,
                });
            }
            for write in done.writes {
                self.persist_logged(write);
            }
            return done.ack_id;
        }
        self.publish_cluster(|| ClusterEvent::Moderation {
            by: by.to_owned(),
            action: action.clone(),
        });
        let effects = self.apply_moderation(by, action);
        for write in effects.writes {
            if !log && matches!(write, Write::Log(_)) {
                continue;
            }
            // Contract §8: the log entry goes to the webhook from the node the action was taken on.
            self.persist_logged(write);
        }
        effects.ack_id
    }

    /// Apply a moderator action here, wherever it was taken: change the state
    /// and carry out its effects on members and `recent`. The caller decides
    /// whether to store the effects' writes (only the origin node does).
    pub(super) fn apply_moderation(&mut self, by: &str, action: ModAction) -> Effects {
        tracing::info!(parent: &self.span, by, action = action.name(), "moderation");
        let action_id = self.next_id();
        let author = match &action {
            ModAction::Delete { id } => self.recent.author_of(id).map(str::to_owned),
            _ => None,
        };
        let taken = Taken {
            room: &self.id,
            by,
            action_id,
            now: protocol::now_ms(),
            author: author.as_deref(),
        };
        let mut effects = self.moderation.apply(taken, action.clone());
        match &action {
            // A message deleted during its chat delay never goes out, nor
            // one whose author was banned meanwhile.
            ModAction::Delete { id } => {
                self.delayed.remove(id.as_str());
            }
            ModAction::Ban { user, .. } => {
                self.delayed.retain(|_, m| m.user != user.as_str());
            }
            ModAction::SlowMode { seconds } => {
                self.modes.set_slow_mode(*seconds);
                let settings = self.settings();
                let frame = protocol::encode(&ServerFrame::Settings {
                    room: &self.id,
                    settings: &settings,
                });
                self.broadcast(&frame);
            }
            // An unban lifts a shadow ban too.
            ModAction::Unban { user } if self.modes.lift_shadow(user) => {
                effects.writes.insert(
                    0,
                    Write::Moderation(store::moderation::ModWrite::ShadowLift {
                        room: self.id.to_string(),
                        user: user.to_string(),
                    }),
                );
            }
            _ => {}
        }
        if let Some(user) = &effects.evict {
            self.remove_user(user);
        }
        match &effects.unlist {
            Unlist::Nothing => false,
            Unlist::Message(id) => self.recent.remove_id(id),
            Unlist::User(user) => self.recent.remove_user(user),
        };
        if !effects.announce.is_empty() {
            self.broadcast(&effects.announce);
        }
        effects
    }

    /// Remove every connection of `user` (a ban): `left` with reason `banned` to each.
    pub(super) fn remove_user(&mut self, user: &str) {
        let left = protocol::encode(&ServerFrame::Left {
            room: &self.id,
            reason: protocol::LeftReason::Banned,
        });
        if self.members.remove_user(user, &left) > 0 {
            self.membership_changed();
        }
    }
}
