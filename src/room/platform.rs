//! Contract §8 in a room: its state keys (set and deleted through the server
//! API, sent as `state` frames and in `joined.state`). The bookkeeping is
//! [`super::state`]; this part decides where a write goes: on one node it is
//! versioned here and stored; in a cluster Redis versions and publishes it
//! (every node, this one too, applies a room's writes in version order) and
//! the node that took the request stores it.
//!
//! Must not block the room on Redis: a write waits for its answer without
//! holding up the mailbox only as long as the bridge's timeout.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use serde_json::value::RawValue;

use super::Room;
use super::state::RoomState;
use crate::bridge::platform::PlatformEvent;
use crate::bridge::scripts::{PlatformError, ReadPlatform, StreamViewers, WriteState};
use crate::protocol::{self, ErrorCode, Refusal, ServerFrame, StateKey};
use crate::store::platform::PlatformWrite;
use crate::store::{Snapshot, Write};

/// When to try a state write again after Redis could not take it.
const STATE_RETRY_MS: u64 = 1_000;
/// How long the writing node waits for its own write on the channel before
/// applying it from Redis's answer.
const CHANNEL_FALLBACK: std::time::Duration = std::time::Duration::from_secs(1);

/// `analytics.minute`'s data: the period's snapshot as the analytics API
/// lists it (`minute`, `min`, `max`, `avg`, `messages`, `reactions`), and the
/// room at its end.
#[derive(serde::Serialize)]
struct MinuteData {
    #[serde(flatten)]
    snapshot: Snapshot,
    /// Connections on every node.
    viewers: u64,
    /// The live stream's distinct viewers so far; 0 without one.
    unique_viewers: u64,
    live: bool,
}

/// Set a state key (`data`) or delete it (`None`); the room broadcasts it.
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct SetState {
    pub key: StateKey,
    /// Checked already (any JSON but null, at most 2 KiB).
    pub data: Option<Box<RawValue>>,
}

/// The room's state as an object (`{}` when it has none).
#[derive(Message)]
#[rtype(result = "Box<RawValue>")]
pub struct GetState;

fn too_many_keys() -> Refusal {
    Refusal::bad_request(format!(
        "a room holds at most {} state keys; delete one first",
        protocol::platform::MAX_STATE_KEYS
    ))
}

impl Handler<SetState> for Room {
    type Result = ResponseActFuture<Self, Result<(), Refusal>>;
    fn handle(&mut self, msg: SetState, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        if let Err(refusal) = self.check_api_rate() {
            return Box::pin(fut::ready(Err(refusal)));
        }
        let key = msg.key.to_string();
        if msg.data.is_some() && self.state.check_set(&key).is_err() {
            return Box::pin(fut::ready(Err(too_many_keys())));
        }
        let candidate = self.state.next_version(protocol::now_ms());
        let Some(bridge) = self.cfg.bridge.clone() else {
            self.persist_state(&key, msg.data.as_deref(), candidate);
            self.apply_state(&key, msg.data, candidate);
            return Box::pin(fut::ready(Ok(())));
        };
        let write = {
            let (room, key, data) = (self.id.clone(), key.clone(), msg.data.clone());
            move |expect_existing| WriteState {
                room: room.clone(),
                key: key.clone(),
                data: data.clone(),
                candidate,
                expect_existing,
            }
        };
        let seed = ReadPlatform {
            room: self.id.clone(),
            state_seed: Some(self.state_seed()),
            stream_seed: None,
        };
        let expect_existing = self.state.in_use();
        let asked = async move {
            let first = bridge.send(write(expect_existing)).await;
            match first {
                // Redis lost the room's state: put ours back, then write again.
                Ok(Err(PlatformError::Missing)) => {
                    bridge.send(seed).await.ok();
                    bridge.send(write(false)).await
                }
                other => other,
            }
        };
        Box::pin(asked.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(version)) => {
                // Applied when it comes back on the channel, in Redis's order
                // with the other nodes' writes; applied from here only if the
                // channel lost it (an older version is ignored either way).
                act.persist_state(&key, msg.data.as_deref(), version);
                ctx.run_later(CHANNEL_FALLBACK, move |act, _| {
                    act.apply_state(&key, msg.data, version)
                });
                Ok(())
            }
            Ok(Err(PlatformError::TooManyKeys)) => Err(too_many_keys()),
            Ok(Err(err)) => {
                tracing::warn!(parent: &act.span, error = %err, "a state write did not reach redis");
                Err(Refusal::retry(
                    ErrorCode::Internal,
                    "the room's state cannot be written right now; retry shortly",
                    STATE_RETRY_MS,
                ))
            }
            Err(err) => {
                tracing::error!(parent: &act.span, error = %err, "the bridge is gone");
                Err(Refusal::retry(
                    ErrorCode::Internal,
                    "the room's state cannot be written right now; retry shortly",
                    STATE_RETRY_MS,
                ))
            }
        }))
    }
}

impl Handler<GetState> for Room {
    type Result = MessageResult<GetState>;
    fn handle(&mut self, _: GetState, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        MessageResult(self.state.object())
    }
}

impl Room {
    /// §8 `message.created` (with `webhooks.messages`), sent by the node
    /// that accepted the message, once it is numbered.
    pub(super) fn message_created(&self, msg: &protocol::ChatMessage) {
        if self.cfg.webhook_messages {
            let kind = crate::webhooks::kind::MESSAGE_CREATED;
            self.cfg.webhooks.event(kind, &self.id, msg);
        }
    }

    /// §8 `analytics.minute`: the period's figures (cluster-wide ones, as
    /// this node sees them). Every node of a cluster sends its copy under the
    /// same key, and the outbox keeps the first: one event per room and period.
    /// Without `ctx` (the room has stopped) it goes with this node's figures.
    pub(super) fn minute_webhook(&self, snapshot: &Snapshot, ctx: Option<&mut Context<Self>>) {
        let kind = crate::webhooks::kind::ANALYTICS_MINUTE;
        if !self.cfg.webhooks.wants(kind) {
            return;
        }
        let key = crate::webhooks::dedupe_key(kind, &self.id, snapshot.minute);
        let data = MinuteData {
            snapshot: snapshot.clone(),
            viewers: self.viewers(),
            unique_viewers: self.live.as_ref().map_or(0, |l| l.unique_here()),
            live: self.live.is_some(),
        };
        match (&self.cfg.bridge, ctx) {
            (Some(bridge), Some(ctx)) if data.live => {
                let ask = bridge.send(StreamViewers {
                    room: self.id.clone(),
                });
                ctx.spawn(ask.into_actor(self).map(move |res, act, _| {
                    let cluster = res.ok().flatten().unwrap_or(0);
                    let data = MinuteData {
                        unique_viewers: cluster.max(data.unique_viewers),
                        ..data
                    };
                    act.cfg.webhooks.cluster_event(kind, &act.id, key, &data);
                }));
            }
            _ => self.cfg.webhooks.cluster_event(kind, &self.id, key, &data),
        }
    }

    /// Store a write this node took, with its version.
    fn persist_state(&self, key: &str, data: Option<&RawValue>, version: i64) {
        let stored: Option<Arc<str>> = data.map(|d| Arc::from(d.get()));
        self.persist(Write::Platform(PlatformWrite::State {
            room: self.id.to_string(),
            key: key.to_owned(),
            data: stored,
            version,
            at: protocol::now_ms(),
        }));
    }

    /// Apply a versioned write; members hear of it if it was newer.
    fn apply_state(&mut self, key: &str, data: Option<Box<RawValue>>, version: i64) {
        let frame_data = data.clone();
        if !self.state.apply(key, data, version) {
            return;
        }
        let frame = protocol::encode(&ServerFrame::State {
            room: &self.id,
            key,
            data: frame_data.as_deref(),
        });
        self.broadcast(&frame);
    }

    /// The state as Redis is seeded with: key → JSON, and the version.
    fn state_seed(&self) -> (BTreeMap<String, String>, i64) {
        let entries = self
            .state
            .entries()
            .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
            .collect();
        (entries, self.state.version())
    }

    /// The state as stored, at start or on a resync: taken if newer.
    pub(super) fn load_platform(
        &mut self,
        snap: crate::store::platform::PlatformSnapshot,
        at_start: bool,
    ) {
        self.state
            .replace(RoomState::from_stored(snap.state, snap.version));
        if at_start {
            self.load_stream(snap.stream);
        }
    }

    /// In a cluster, once subscribed: read the room's state from Redis
    /// (seeding it with ours if Redis lost it) before the first join.
    pub(super) fn read_platform(&mut self, ctx: &mut Context<Self>) {
        let Some(bridge) = self.cfg.bridge.clone() else {
            return;
        };
        let read = bridge.send(ReadPlatform {
            room: self.id.clone(),
            state_seed: self.state.in_use().then(|| self.state_seed()),
            stream_seed: self.stream_seed(),
        });
        ctx.wait(read.into_actor(self).map(|res, act, _| match res {
            Ok(Ok(online)) => {
                if let Some((entries, version)) = online.state {
                    act.state.replace(RoomState::from_stored(entries, version));
                }
                act.online_stream(online.stream);
            }
            Ok(Err(err)) => {
                tracing::warn!(parent: &act.span, error = %err, "could not read the room's state from redis; using the stored copy");
            }
            Err(_) => {}
        }));
    }

    /// A §8 event from the cluster (checked by the bridge).
    pub(super) fn platform_event(&mut self, event: PlatformEvent) {
        match event {
            PlatformEvent::State { key, data, version } => self.apply_state(&key, data, version),
            PlatformEvent::Stream(event) => self.remote_stream(event),
            PlatformEvent::Milestone { stream, value } => self.remote_milestone(&stream, value),
            PlatformEvent::Typing { user, name } => {
                self.relay_typing(&user, &name, None);
            }
            // Notifications come by the node's inbox, never a room's channel.
            PlatformEvent::Notify { .. } => {}
        }
    }
}
