//! Webhooks (contract §8): events for the platform's backend, signed, from a
//! stored outbox, delivered at least once, in order per room, by exactly one
//! node.
//!
//! This module owns the outbox and its delivery. Rooms and routes only hand it
//! events through a [`Webhooks`] handle; a slow or dead receiver never slows
//! them down.

use actix::prelude::*;

/// One event for the webhook receiver.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Emit {
    /// `room.occupied`, `room.vacated`, `moderation.action`, `message.held`,
    /// `stream.ended`, `analytics.minute` or `message.created`.
    pub kind: &'static str,
    pub room: String,
    pub data: serde_json::Value,
    /// For events every node of a cluster sees (a room occupied or vacated):
    /// the same key on every node, so the event is stored once.
    pub dedupe_key: Option<String>,
}

/// Where events go: the webhook actor, or nowhere when `webhooks.url` is unset.
#[derive(Clone, Default)]
pub struct Webhooks {
    sink: Option<Recipient<Emit>>,
}

impl Webhooks {
    pub fn new(sink: Option<Recipient<Emit>>) -> Self {
        Webhooks { sink }
    }

    /// Are webhooks configured at all? (Callers skip building an event if not.)
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Hand an event to the outbox (never waits).
    pub fn emit(&self, event: Emit) {
        if let Some(sink) = &self.sink {
            sink.do_send(event);
        }
    }
}
