//! §7 AutoMod's hold-for-review, carried out by the room: a held message goes
//! to the moderators (on every node) and the store; a moderator's approve or
//! deny, or the expiry after `automod.hold_s`, is decided once cluster-wide
//! (the store says who was first) and then carried out: an approved message
//! is published with its held id and the next `seq`, a denied one's author is
//! told. No socket or database here: frames go to queues, decisions to the store.

use std::sync::Arc;

use actix::prelude::*;

use super::actions::AUTOMOD;
use super::{ConnId, Room};
use crate::bridge::ClusterEvent;
use crate::protocol::moderation::MessageFrame;
use crate::protocol::{self, ChatMessage, ErrorCode, ModAction, Refusal, ServerFrame};
use crate::store::moderation::{Decision, HeldRecord, ModWrite};
use crate::store::{self, Write};

impl Room {
    /// A held message was decided (here or elsewhere): it leaves the queue;
    /// a denied one's author is told. An approved one is published by the
    /// node that approved it, like any message.
    pub(super) fn decided(&mut self, held: &str, approve: bool, by: &str) -> Option<HeldRecord> {
        self.deciding.remove(held);
        let record = self.modes.take_held(held)?;
        let author = record.msg.user.clone();
        if !approve {
            let frame = protocol::encode(&ServerFrame::Denied {
                room: &self.id,
                id: held,
            });
            self.to_user(&author, &frame);
        }
        let action = if approve { "approve" } else { "deny" };
        self.tell_moderators(action, &author, None, by, Some(held));
        Some(record)
    }

    /// Approve or deny a held message: the store says whether this was the
    /// first decision anywhere; only the first is carried out.
    pub(super) fn decide(
        &mut self,
        by: String,
        held: String,
        decision: Decision,
    ) -> ResponseActFuture<Self, Result<String, Refusal>> {
        let Some(record) = self.modes.held(&held).cloned() else {
            return Box::pin(actix::fut::ready(Err(Refusal::bad_request(
                "no such held message (decided already, or expired)",
            ))));
        };
        self.deciding.insert(held.clone());
        let ask = self.cfg.store.send(store::moderation_reads::DecideHeld {
            held: record,
            decision,
            by: by.clone(),
            at: protocol::now_ms(),
        });
        Box::pin(ask.into_actor(self).map(move |res, act, ctx| {
            act.deciding.remove(&held);
            match res {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    act.modes.take_held(&held);
                    return Err(Refusal::bad_request(
                        "this held message was decided already",
                    ));
                }
                _ => {
                    return Err(Refusal::new(
                        ErrorCode::Internal,
                        "the decision cannot be stored right now; retry shortly",
                    ));
                }
            }
            let approve = decision == Decision::Approve;
            let Some(record) = act.decided(&held, approve, &by) else {
                return Ok(held);
            };
            let action = if approve {
                ModAction::Approve {
                    id: protocol::MessageId::parse(held.clone())?,
                }
            } else {
                ModAction::Deny {
                    id: protocol::MessageId::parse(held.clone())?,
                }
            };
            let name = action.name();
            act.publish_cluster(|| ClusterEvent::Moderation {
                by: by.clone(),
                action,
            });
            let action_id = act.next_id();
            let log = act.log(
                &action_id,
                name,
                Some(&record.msg.user),
                &by,
                Some(&record.term),
                None,
                Some(&held),
            );
            act.persist_logged(log);
            if approve {
                // Published with its held id and the next seq.
                act.publish_msg(record.msg, ctx);
            }
            Ok(held)
        }))
    }

    /// Hold `msg` for review under `term`: the sender is told `held`, the
    /// moderators get it, the store and the other nodes keep it.
    pub(super) fn hold(
        &mut self,
        msg: ChatMessage,
        term: String,
        to: ConnId,
        reference: Option<&str>,
    ) {
        let frame = protocol::encode(&ServerFrame::Held {
            reference,
            room: &self.id,
            id: &msg.id,
        });
        self.send_to(to, frame);
        let frame = protocol::encode(&ServerFrame::HeldMessage {
            room: &self.id,
            message: MessageFrame::plain(&msg),
            term: &term,
        });
        self.to_moderators(&frame);
        let expires_at = protocol::now_ms() + self.cfg.hold.as_millis() as i64;
        self.cfg.webhooks.event(
            crate::webhooks::kind::MESSAGE_HELD,
            &self.id,
            &serde_json::json!({
                "message": MessageFrame::plain(&msg),
                "term": term,
                "expires_at": expires_at,
            }),
        );
        let record = HeldRecord {
            msg,
            term,
            expires_at,
        };
        self.publish_cluster(|| ClusterEvent::Held {
            msg: record.msg.clone(),
            term: record.term.clone(),
            expires_at,
        });
        let action_id = self.next_id();
        let log = self.log(
            &action_id,
            "hold",
            Some(&record.msg.user),
            AUTOMOD,
            Some(&record.term),
            None,
            Some(&record.msg.id),
        );
        self.persist(Write::Moderation(ModWrite::Held(Arc::new(record.clone()))));
        self.persist_logged(log);
        self.modes.hold(record);
    }

    /// A held message arrived from another node.
    pub(super) fn held_elsewhere(&mut self, record: HeldRecord) {
        let frame = protocol::encode(&ServerFrame::HeldMessage {
            room: &self.id,
            message: MessageFrame::plain(&record.msg),
            term: &record.term,
        });
        self.to_moderators(&frame);
        self.modes.hold(record);
    }

    /// Deny what nobody answered within `automod.hold_s` (any node may; the
    /// store lets one win).
    pub(super) fn expire_held(&mut self, ctx: &mut Context<Self>) {
        let now = protocol::now_ms();
        let due: Vec<String> = self
            .modes
            .held_list()
            .into_iter()
            .filter(|h| h.expires_at <= now && !self.deciding.contains(&h.msg.id))
            .map(|h| h.msg.id.clone())
            .collect();
        for id in due {
            let decision = self.decide(AUTOMOD.to_owned(), id, Decision::Deny);
            ctx.spawn(decision.map(|_, _, _| ()));
        }
    }
}
