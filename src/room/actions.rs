//! §7 carried out by the room: who may act (rank and hierarchy), what each
//! moderator action changes, who is told, what is stored and what the other
//! nodes hear; and the chat paths a message can take besides the plain one
//! (delayed, held for review, shadowed).
//!
//! The rules are in [`super::modes`] (§7) and [`super::moderation`] (v1); this
//! file is the actor's glue for them. It must not touch sockets or the
//! database: frames go to members' queues, writes to the store actor.

use std::sync::Arc;

use actix::prelude::*;

use super::moderate::Caller;
use super::modes::{Modes, Rank};
use super::{Conn, Room};
use crate::bridge::ClusterEvent;
use crate::protocol::moderation::{ChatSettings, MessageFrame, PURGE_WINDOW_MS};
use crate::protocol::{self, ChatMessage, ErrorCode, Frame, ModAction, Refusal, ServerFrame};
use crate::store::moderation::{Listed, ModWrite, PinRecord, Warning};
use crate::store::{self, ModLogEntry, Write};

/// Who decides on held messages nobody answered in time.
pub const AUTOMOD: &str = "automod";

/// What a §7 action did on the node where it was taken: the id to ack, what
/// to store, and the action as the other nodes must apply it.
pub(super) struct Done {
    pub ack_id: String,
    pub writes: Vec<Write>,
    pub wire: Option<ModAction>,
}

impl Room {
    /// A connection's rank here: its room token's roles, its connection
    /// token's `mod` claim, the stored list.
    pub(super) fn conn_rank(&self, conn: &Conn) -> Rank {
        self.modes
            .rank_of(&self.id, &conn.user, conn.roles.as_ref())
    }

    /// The rank of whoever takes an action.
    pub(super) fn actor_rank(&self, by: &Caller) -> Rank {
        match by {
            Caller::Api(_) => Rank::Api,
            Caller::User { user, conn, roles } => {
                let member = conn.and_then(|c| self.members.get(c));
                match member {
                    Some(m) => self.conn_rank(m),
                    None => self.modes.rank_of(&self.id, user, roles.as_ref()),
                }
            }
        }
    }

    /// The highest rank `user` has in the room: any connection of theirs
    /// here or (as their nodes' presence said) on another node, or the list.
    pub(super) fn user_rank(&self, user: &str) -> Rank {
        let listed = if self.modes.is_listed(user) {
            Rank::Mod
        } else {
            Rank::Viewer
        };
        let ttl = self.cfg.presence_ttl;
        let elsewhere = self
            .ranked_elsewhere
            .values()
            .filter(|(at, _)| at.elapsed() < ttl)
            .flat_map(|(_, ranks)| ranks.iter())
            .filter(|(u, _)| u == user)
            .map(|(_, r)| rank_of_wire(*r))
            .fold(Rank::Viewer, Rank::max);
        self.members
            .of_user(user)
            .map(|c| self.conn_rank(c))
            .fold(listed.max(elsewhere), Rank::max)
    }

    /// This node's members who rank above viewers, for the other nodes
    /// (each user once, at their highest rank).
    pub(super) fn local_ranks(&self) -> Vec<(String, u8)> {
        let mut ranks: std::collections::HashMap<&str, u8> = std::collections::HashMap::new();
        for conn in self.members.conns() {
            let wire = match self.conn_rank(conn) {
                Rank::Broadcaster => 2,
                Rank::Mod => 1,
                _ => continue,
            };
            let r = ranks.entry(&conn.user.id).or_insert(0);
            *r = (*r).max(wire);
        }
        ranks.into_iter().map(|(u, r)| (u.to_owned(), r)).collect()
    }

    /// Another node's presence named who ranks above viewers there.
    pub(super) fn remote_ranks(&mut self, node: &str, ranks: Vec<(String, u8)>) {
        if ranks.is_empty() {
            self.ranked_elsewhere.remove(node);
        } else {
            self.ranked_elsewhere
                .insert(node.to_owned(), (std::time::Instant::now(), ranks));
        }
    }

    /// May `by` take `action`? Moderators only; the moderator list only for
    /// the broadcaster and the API; never on a rank as high as one's own.
    pub(super) fn authorize(&self, by: &Caller, action: &ModAction) -> Result<(), Refusal> {
        let rank = self.actor_rank(by);
        if !rank.moderates() {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "only moderators of this room may do that",
            ));
        }
        if matches!(
            action,
            ModAction::ModAdd { .. } | ModAction::ModRemove { .. }
        ) && rank < Rank::Broadcaster
        {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "only the broadcaster and the platform change the moderator list",
            ));
        }
        let target = match action {
            ModAction::Delete { id } => self.author_of(id),
            other => other.target().map(|u| u.to_string()),
        };
        if let Some(target) = target
            && !rank.may_act_on(self.user_rank(&target))
        {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "a moderator cannot act on a moderator or the broadcaster",
            ));
        }
        Ok(())
    }

    /// Who wrote message `id`, if the room knows it (recent or delayed).
    fn author_of(&self, id: &str) -> Option<String> {
        self.recent
            .author_of(id)
            .map(str::to_owned)
            .or_else(|| self.delayed.get(id).map(|m| m.user.clone()))
    }

    /// One frame to every connection of the room's moderators and broadcaster.
    pub(super) fn to_moderators(&self, frame: &Frame) {
        for conn in self.members.conns() {
            if self.conn_rank(conn).moderates() {
                conn.route.send(frame);
            }
        }
    }

    /// One frame to every connection of `user` in the room.
    pub(super) fn to_user(&self, user: &str, frame: &Frame) {
        for conn in self.members.of_user(user) {
            conn.route.send(frame);
        }
    }

    /// The settings as the room shows them (slow mode is v1's, kept in `moderation`).
    pub(super) fn settings(&self) -> ChatSettings {
        let mut s = *self.modes.settings();
        s.slow_mode = self.moderation.slow_mode();
        s
    }

    /// A log entry for an action taken here now.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn log(
        &self,
        id: &str,
        action: &str,
        user: Option<&str>,
        by: &str,
        reason: Option<&str>,
        seconds: Option<u64>,
        message_id: Option<&str>,
    ) -> Write {
        Write::Log(Arc::new(ModLogEntry {
            id: id.to_owned(),
            room: self.id.to_string(),
            action: action.to_owned(),
            user: user.map(str::to_owned),
            by: by.to_owned(),
            reason: reason.map(str::to_owned),
            seconds,
            message_id: message_id.map(str::to_owned),
            ts: protocol::now_ms(),
        }))
    }

    /// A `moderation` frame for the room's moderators.
    pub(super) fn tell_moderators(
        &self,
        action: &str,
        user: &str,
        reason: Option<&str>,
        by: &str,
        id: Option<&str>,
    ) {
        let frame = protocol::encode(&ServerFrame::Moderation {
            room: &self.id,
            action,
            user,
            seconds: None,
            reason,
            by,
            id,
        });
        self.to_moderators(&frame);
    }

    /// Apply a §7 action here (on the node it was taken on, or arriving from
    /// another). Answers what the origin must store and publish; another
    /// node ignores that.
    pub(super) fn apply_v2(&mut self, by: &str, action: &ModAction) -> Done {
        let id = self.next_id();
        let name = action.name();
        let room = self.id.to_string();
        let mut done = Done {
            ack_id: id.clone(),
            writes: Vec::new(),
            wire: Some(action.clone()),
        };
        match action {
            ModAction::Settings { changes } => {
                let slow_changed = self.modes.apply_settings(changes);
                if let Some(seconds) = changes.slow_mode {
                    self.moderation.set_slow_mode(seconds);
                }
                let settings = self.settings();
                let frame = protocol::encode(&ServerFrame::Settings {
                    room: &self.id,
                    settings: &settings,
                });
                self.broadcast(&frame);
                if slow_changed {
                    // v1 clients know slow mode by its own frame.
                    let frame = protocol::encode(&ServerFrame::SlowMode {
                        room: &self.id,
                        seconds: settings.slow_mode,
                    });
                    self.broadcast(&frame);
                }
                let why = changes.describe();
                done.writes = vec![
                    Write::Moderation(ModWrite::Settings { room, settings }),
                    self.log(&id, name, None, by, Some(&why), None, None),
                ];
                // Other nodes get every setting, so one that missed a change is right again.
                done.wire = Some(ModAction::Settings {
                    changes: settings.as_patch(),
                });
            }
            ModAction::Terms { terms } => {
                self.modes.set_terms(terms.clone());
                let why = format!("automod terms: {}", terms.len());
                done.writes = vec![
                    Write::Moderation(ModWrite::Terms {
                        room,
                        terms: terms.clone(),
                        by: by.to_owned(),
                        ts: protocol::now_ms(),
                    }),
                    self.log(&id, name, None, by, Some(&why), None, None),
                ];
            }
            ModAction::ShadowBan { user, reason } => {
                self.modes.shadow_ban(user);
                self.tell_moderators(name, user, reason.as_deref(), by, None);
                done.writes = vec![
                    Write::Moderation(ModWrite::ShadowBan {
                        room,
                        user: user.to_string(),
                        reason: reason.clone(),
                        by: by.to_owned(),
                        ts: protocol::now_ms(),
                    }),
                    self.log(&id, name, Some(user), by, reason.as_deref(), None, None),
                ];
            }
            ModAction::Warn { user, reason } => {
                self.modes.warn(
                    user,
                    Warning {
                        reason: reason.clone(),
                        by: by.to_owned(),
                    },
                );
                let frame = protocol::encode(&ServerFrame::Warning {
                    room: &self.id,
                    reason: reason.as_deref(),
                    by,
                });
                self.to_user(user, &frame);
                self.tell_moderators(name, user, reason.as_deref(), by, None);
                done.writes = vec![
                    Write::Moderation(ModWrite::Warn {
                        room,
                        user: user.to_string(),
                        reason: reason.clone(),
                        by: by.to_owned(),
                        ts: protocol::now_ms(),
                    }),
                    self.log(&id, name, Some(user), by, reason.as_deref(), None, None),
                ];
            }
            ModAction::Clear => {
                self.recent.replace(Vec::new());
                self.modes.set_cleared_after(id.clone());
                let frame = protocol::encode(&ServerFrame::Cleared { room: &self.id, by });
                self.broadcast(&frame);
                done.writes = vec![
                    Write::Moderation(ModWrite::Clear {
                        room,
                        after: id.clone(),
                    }),
                    self.log(&id, name, None, by, None, None, None),
                ];
            }
            ModAction::Unpin => {
                self.modes.set_pin(None);
                self.announce_pin(None, protocol::now_ms());
                done.writes = vec![
                    Write::Moderation(ModWrite::Unpin { room }),
                    self.log(&id, name, None, by, None, None, None),
                ];
            }
            ModAction::ModAdd { user } => {
                let entry = Listed {
                    user: user.to_string(),
                    added_by: by.to_owned(),
                    ts: protocol::now_ms(),
                };
                self.modes.add_listed(entry);
                self.tell_moderators(name, user, None, by, None);
                done.writes = vec![
                    Write::Moderation(ModWrite::ModeratorAdd {
                        room,
                        user: user.to_string(),
                        by: by.to_owned(),
                        ts: protocol::now_ms(),
                    }),
                    self.log(&id, name, Some(user), by, None, None, None),
                ];
            }
            ModAction::ModRemove { user } => {
                self.modes.remove_listed(user);
                self.tell_moderators(name, user, None, by, None);
                done.writes = vec![
                    Write::Moderation(ModWrite::ModeratorRemove {
                        room,
                        user: user.to_string(),
                    }),
                    self.log(&id, name, Some(user), by, None, None, None),
                ];
            }
            // A decision made elsewhere (the store said who was first there).
            ModAction::Approve { id: held } | ModAction::Deny { id: held } => {
                let approve = matches!(action, ModAction::Approve { .. });
                self.decided(held, approve, by);
                done.wire = None;
            }
            // Carried out by the origin in parts (`pin`, `purge`), never applied whole.
            ModAction::Pin { .. } | ModAction::Purge { .. } => done.wire = None,
            // v1's actions go through `room::moderation`.
            ModAction::Delete { .. }
            | ModAction::Timeout { .. }
            | ModAction::Ban { .. }
            | ModAction::Unban { .. }
            | ModAction::SlowMode { .. } => done.wire = None,
        }
        done
    }

    /// The pin changed: every member is told.
    pub(super) fn announce_pin(&self, pin: Option<&PinRecord>, now: i64) {
        let frame = protocol::encode(&ServerFrame::Pinned {
            room: &self.id,
            message: pin.map(|p| MessageFrame::plain(&p.message)),
            until: pin.map_or(now, |p| p.until),
        });
        self.broadcast(&frame);
    }

    /// Pin a message of `recent` (taken on this node).
    pub(super) fn pin_message(
        &mut self,
        by: &str,
        id: &str,
        seconds: u64,
    ) -> Result<String, Refusal> {
        let Some(message) = self.recent.find(id) else {
            return Err(Refusal::bad_request(
                "only one of the room's recent messages can be pinned",
            ));
        };
        let now = protocol::now_ms();
        let pin = PinRecord {
            message: (*message).clone(),
            until: now + seconds as i64 * 1_000,
            by: by.to_owned(),
        };
        self.modes.set_pin(Some(pin.clone()));
        self.announce_pin(Some(&pin), now);
        let action_id = self.next_id();
        let event = ClusterEvent::Pinned {
            message: Some(pin.message.clone()),
            until: pin.until,
            by: by.to_owned(),
        };
        self.publish_cluster(|| event);
        let log = self.log(
            &action_id,
            "pin",
            Some(&pin.message.user),
            by,
            None,
            Some(seconds),
            Some(id),
        );
        self.persist(Write::Moderation(ModWrite::Pin {
            room: self.id.to_string(),
            pin: Arc::new(pin),
            ts: now,
        }));
        self.persist_logged(log);
        Ok(action_id)
    }

    /// Store a log entry and hand it to the webhook (contract §8).
    pub(super) fn persist_logged(&self, write: Write) {
        if let Write::Log(entry) = &write {
            let kind = crate::webhooks::kind::MODERATION_ACTION;
            self.cfg.webhooks.event(kind, &self.id, &**entry);
        }
        self.persist(write);
    }

    /// Purge: every message of `user` of the last 10 minutes, in `recent` and
    /// stored, is deleted (one `deleted` frame each, and on every node).
    pub(super) fn purge(
        &mut self,
        by: String,
        user: String,
        reason: Option<String>,
    ) -> ResponseActFuture<Self, Result<String, Refusal>> {
        let since = protocol::now_ms() - PURGE_WINDOW_MS;
        let stored = self
            .cfg
            .store
            .send(store::moderation_reads::LoadUserMessages {
                room: self.id.to_string(),
                user: user.clone(),
                since: Some(since),
                limit: 1_000,
            });
        Box::pin(stored.into_actor(self).map(move |res, act, _| {
            let mut ids: Vec<String> = match res {
                Ok(Ok(messages)) => messages.into_iter().map(|(m, _)| m.id).collect(),
                _ => {
                    return Err(Refusal::new(
                        ErrorCode::Internal,
                        "the user's messages cannot be read right now; retry shortly",
                    ));
                }
            };
            ids.extend(act.recent.ids_of(&user, since));
            ids.extend(
                act.delayed
                    .values()
                    .filter(|m| m.user == user)
                    .map(|m| m.id.clone()),
            );
            ids.sort();
            ids.dedup();
            for id in &ids {
                let Ok(id) = protocol::MessageId::parse(id.clone()) else {
                    continue;
                };
                act.moderate_logged(&by, ModAction::Delete { id }, false);
            }
            let action_id = act.next_id();
            let why = reason.as_deref().map_or_else(
                || format!("{} messages", ids.len()),
                |r| format!("{r} ({} messages)", ids.len()),
            );
            let log = act.log(
                &action_id,
                "purge",
                Some(&user),
                &by,
                Some(&why),
                None,
                None,
            );
            act.persist_logged(log);
            Ok(action_id)
        }))
    }

    /// A shadow-banned user's message: to their own connections as usual, to
    /// moderators marked, to nobody else; stored marked (never in `recent`).
    pub(super) fn shadow(&mut self, msg: ChatMessage) {
        self.deliver_shadow(&msg);
        let msg = Arc::new(msg);
        self.persist(Write::Moderation(ModWrite::ShadowMessage(msg.clone())));
        self.publish_cluster(|| ClusterEvent::Shadow {
            msg: (*msg).clone(),
        });
    }

    pub(super) fn deliver_shadow(&self, msg: &ChatMessage) {
        let plain = MessageFrame::plain(msg).encode();
        let marked = MessageFrame::shadow(msg, true).encode();
        for conn in self.members.conns() {
            if conn.user.id == msg.user {
                conn.route.send(&plain);
            } else if self.conn_rank(conn).moderates() {
                conn.route.send(&marked);
            }
        }
    }

    /// Chat delay: the moderators get it now (marked, no seq), the room after
    /// `ms`, unless a moderator deletes it meanwhile.
    pub(super) fn delay(&mut self, msg: ChatMessage, ms: u64, ctx: &mut Context<Self>) {
        let early = MessageFrame::delayed(&msg).encode();
        self.to_moderators(&early);
        self.publish_cluster(|| ClusterEvent::Delayed { msg: msg.clone() });
        let id = msg.id.clone();
        self.delayed.insert(id.clone(), msg);
        ctx.run_later(std::time::Duration::from_millis(ms), move |act, ctx| {
            if let Some(msg) = act.delayed.remove(&id) {
                act.publish_msg(msg, ctx);
            }
        });
    }

    /// A user read their warning.
    pub(super) fn acknowledged(&mut self, user: &str, here: bool) {
        if self.modes.acknowledge(user) && here {
            self.persist(Write::Moderation(ModWrite::Acknowledged {
                room: self.id.to_string(),
                user: user.to_owned(),
            }));
            let user = user.to_owned();
            self.publish_cluster(|| ClusterEvent::Acknowledged { user });
        }
    }
}

/// A rank as presence carries it (1 mod, 2 broadcaster).
fn rank_of_wire(r: u8) -> Rank {
    match r {
        2.. => Rank::Broadcaster,
        1 => Rank::Mod,
        0 => Rank::Viewer,
    }
}

/// A room's §7 state starts from the configured terms.
pub(super) fn new_modes(cfg: &super::RoomConfig) -> Modes {
    Modes::new(cfg.automod_terms.clone())
}
