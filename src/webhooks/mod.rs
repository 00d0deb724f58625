//! Webhooks (contract §8): events for the platform's backend, signed, from a
//! stored outbox, delivered at least once, in order per room, by exactly one
//! node.
//!
//! This module owns the outbox and its delivery. Rooms and routes only hand it
//! events through a [`Webhooks`] handle; a slow or dead receiver never slows
//! them down: [`Webhooks::emit`] is a `do_send`, the actor stores events in
//! batches off the hot path, and every delivery runs in its own task with a
//! timeout.
//!
//! Layout: [`sender`] (the actor: when to store, claim and send), [`attempt`]
//! (after a try: delivered, retry when, or give up), [`outbox`] (the SQL of
//! each step, on the table every node shares),
//! [`deliver`] (the HTTP POST and the backoff), [`sign`] (HMAC-SHA256),
//! [`stats`] (the counters `/metrics` shows).
//!
//! # Emitting an event (for the code that knows when one happens)
//!
//! ```text
//! // One node sees it (a moderator action taken here, a held message, …):
//! self.cfg.webhooks.event(webhooks::kind::MESSAGE_HELD, &self.id, &held);
//! // Every node sees it (the first member in, the last out): a key that names
//! // this occurrence the same way on every node, so it is stored once.
//! let key = webhooks::dedupe_key(webhooks::kind::ROOM_OCCUPIED, &self.id, occupied_since);
//! self.cfg.webhooks.cluster_event(webhooks::kind::ROOM_OCCUPIED, &self.id, key, &data);
//! ```
//!
//! The event's `id` and `ts` are given when the node's actor receives it; its
//! body is fixed then, and every retry sends the same bytes.
//!
//! This module must not decide anything about rooms. It imports nothing of the
//! crate but `settings`: the store, the protocol and the metrics all sit above
//! it (startup hands it a way to open the database, and `/metrics` calls
//! [`render_metrics`]).

pub mod attempt;
pub mod deliver;
pub mod outbox;
pub mod sender;
pub mod sign;
pub mod stats;

use actix::prelude::*;

pub use sender::{OpenDb, Shutdown, WebhookSender};
pub use stats::render_metrics;

/// The event types of contract §8.
pub mod kind {
    pub const ROOM_OCCUPIED: &str = "room.occupied";
    pub const ROOM_VACATED: &str = "room.vacated";
    pub const MODERATION_ACTION: &str = "moderation.action";
    pub const MESSAGE_HELD: &str = "message.held";
    pub const STREAM_ENDED: &str = "stream.ended";
    pub const ANALYTICS_MINUTE: &str = "analytics.minute";
    /// Only with `webhooks.messages = true`.
    pub const MESSAGE_CREATED: &str = "message.created";

    /// Every type, for checking `webhooks.events`.
    pub const ALL: [&str; 7] = [
        ROOM_OCCUPIED,
        ROOM_VACATED,
        MODERATION_ACTION,
        MESSAGE_HELD,
        STREAM_ENDED,
        ANALYTICS_MINUTE,
        MESSAGE_CREATED,
    ];
}

/// Why webhooks cannot start as configured.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhooks.url is not a usable URL: {0}")]
    BadUrl(String),
    #[error("webhooks.events names an unknown event type {0:?}")]
    UnknownEvent(String),
}

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
    /// `webhooks.events`: the types sent (None: all of them).
    only: Option<std::sync::Arc<[&'static str]>>,
}

impl Webhooks {
    pub fn new(sink: Option<Recipient<Emit>>) -> Self {
        Webhooks { sink, only: None }
    }

    /// Send only the types named in `events` (`webhooks.events`; empty: all).
    pub fn only(mut self, events: &[String]) -> Result<Self, WebhookError> {
        if events.is_empty() {
            return Ok(self);
        }
        let mut kinds = Vec::with_capacity(events.len());
        for name in events {
            let known = kind::ALL.iter().find(|k| **k == name.as_str());
            kinds.push(*known.ok_or_else(|| WebhookError::UnknownEvent(name.clone()))?);
        }
        self.only = Some(kinds.into());
        Ok(self)
    }

    /// Are webhooks configured at all? (Callers skip building an event if not.)
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Is an event of `kind` sent? (Webhooks on, and the type not filtered out.)
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled() && self.only.as_ref().is_none_or(|only| only.contains(&kind))
    }

    /// Hand an event to the outbox (never waits).
    pub fn emit(&self, event: Emit) {
        if let Some(sink) = &self.sink {
            sink.do_send(event);
        }
    }

    /// Emit `kind` in `room` with `data` as its `data`, for an event only this
    /// node sees. Does nothing (not even serialise) when webhooks are off.
    pub fn event(&self, kind: &'static str, room: &str, data: &impl serde::Serialize) {
        self.send(kind, room, data, None);
    }

    /// Like [`Webhooks::event`], for an event every node of a cluster sees:
    /// `key` (see [`dedupe_key`]) is the same on every node, and the outbox
    /// stores the first copy only.
    pub fn cluster_event(
        &self,
        kind: &'static str,
        room: &str,
        key: String,
        data: &impl serde::Serialize,
    ) {
        self.send(kind, room, data, Some(key));
    }

    fn send(
        &self,
        kind: &'static str,
        room: &str,
        data: &impl serde::Serialize,
        dedupe_key: Option<String>,
    ) {
        if !self.wants(kind) {
            return;
        }
        match serde_json::to_value(data) {
            Ok(data) => self.emit(Emit {
                kind,
                room: room.to_owned(),
                data,
                dedupe_key,
            }),
            Err(err) => {
                tracing::error!(kind, room, error = %err, "webhook event not sent: its data does not serialise")
            }
        }
    }
}

/// Milliseconds since the Unix epoch (event times, leases, schedules).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The dedupe key of one occurrence of a cluster-wide event: `kind`, `room`,
/// and what tells this occurrence from the room's others, identical on every
/// node (e.g. the time the room became occupied, as the cluster agrees on it).
pub fn dedupe_key(kind: &str, room: &str, occurrence: impl std::fmt::Display) -> String {
    format!("{kind}:{room}:{occurrence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_without_a_sink_is_off_and_emitting_is_harmless() {
        let off = Webhooks::default();
        assert!(!off.enabled());
        off.event(kind::MODERATION_ACTION, "r", &serde_json::json!({"a": 1}));
    }

    #[test]
    fn webhooks_events_filters_by_type_and_refuses_unknown_names() {
        let all = Webhooks::default().only(&[]).unwrap();
        assert!(!all.wants(kind::ROOM_OCCUPIED), "off without a sink");
        let only = Webhooks::default()
            .only(&["analytics.minute".to_owned()])
            .unwrap();
        assert_eq!(only.only.as_deref(), Some(&[kind::ANALYTICS_MINUTE][..]));
        assert!(matches!(
            Webhooks::default().only(&["room.opened".to_owned()]),
            Err(WebhookError::UnknownEvent(name)) if name == "room.opened"
        ));
    }

    #[test]
    fn dedupe_keys_name_the_kind_room_and_occurrence() {
        assert_eq!(
            dedupe_key(kind::ROOM_OCCUPIED, "shop", 1_700_000_000_000i64),
            "room.occupied:shop:1700000000000"
        );
    }
}
