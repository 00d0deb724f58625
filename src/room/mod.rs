//! Room actor: one per live stream room. Every decision about a room is made
//! here, in one place and in one order: who is a member, the viewer count, the
//! last messages, the reactions of the current window, the message rate
//! limits, slow mode, timeouts and bans.
//!
//! The actor is glue; each job has its own part:
//! [`members`] (membership and fan-out), [`moderation`] (the rules, as pure
//! functions returning effects), [`reactions`], [`presence`] (other nodes'
//! counts and coalescing), [`recent`] and [`analytics`]. Every message a room
//! handles is in [`msg`].
//!
//! The room must not touch sockets or the database directly: it hands frames
//! to sessions' queues and writes to the store actor, which batches them. It
//! talks up to the registry only through the [`RoomHooks`] it was given.

mod actions;
pub mod analytics;
pub mod automod;
mod held;
mod life;
mod live;
pub mod members;
pub mod moderate;
pub mod moderation;
pub mod modes;
pub mod msg;
mod occupancy;
mod platform;
pub mod presence;
pub mod reactions;
pub mod recent;
mod resume;
pub mod sequence;
pub mod state;
pub mod stream;
pub mod unique;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::WeakAddr;
use actix::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::auth::Identity;
use crate::bridge::{self, ClusterEvent, RedisBridge};
use crate::metrics::{self, METRICS};
use crate::protocol::{self, ChatMessage, ErrorCode, Refusal, RoomId, ServerFrame};
use crate::store::{self, Store, Write};

use analytics::PeriodStats;
pub use live::{EndLive, GoLive, LiveView};
pub use members::{Conn, ConnId, Detached, Members};
pub use moderate::{
    Acknowledge, Authorize, Caller, HeldList, IsDelayed, Moderate, Moderators, RoomTerms,
    UserState, UserStateOf,
};
use moderation::ModState;
pub use msg::{
    Info, Join, Leave, Post, PostAs, PublishEvent, React, Refresh, RoomHooks, RoomIdle, RoomInfo,
    RoomViewers, TryStop, Typing, WatchViewers,
};
pub use platform::{GetState, SetState};
use presence::{Coalescer, RemoteCounts};
use reactions::Reactions;
use recent::Recent;

/// Settings every room shares.
#[derive(Clone)]
pub struct RoomConfig {
    /// Messages kept in memory and sent in `joined.recent`.
    pub recent: usize,
    pub reaction_window: Duration,
    pub viewers_interval: Duration,
    pub idle_grace: Duration,
    /// The configured emoji set; reactions carry an index into it.
    pub emojis: Arc<[String]>,
    /// Messages per user per room (GCRA).
    pub message_quota: Quota,
    /// System messages and events from the server API, per room.
    pub api_quota: Quota,
    /// The cluster bridge, when `redis.url` is set.
    pub bridge: Option<Addr<RedisBridge>>,
    /// How often, at most, this node tells the cluster its count in a room changed.
    pub presence_interval: Duration,
    /// How long another node's count stands without a refresh.
    pub presence_ttl: Duration,
    /// Length of an analytics snapshot period (a minute in production).
    pub snapshot_period: Duration,
    pub store: Addr<Store>,
    /// Contract §5: at most this many missed messages are recovered exactly.
    pub recovery_max: u64,
    /// What the store holds: a room acks a message only if the store takes it.
    pub store_status: Arc<store::StoreStatus>,
    /// Events for the platform's webhook (a no-op when none is configured).
    pub webhooks: crate::webhooks::Webhooks,
    /// Contract §7: `automod.terms`, for every room (checked at startup).
    pub automod_terms: Arc<[protocol::moderation::Term]>,
    /// Contract §7: how long a held message waits for a moderator (`automod.hold_s`).
    pub hold: Duration,
    /// Contract §8: `rooms.viewer_milestones`, in order, without repeats.
    pub milestones: Arc<[u64]>,
    /// Contract §8: how often moderators get `stats` (`rooms.stats_interval_s`).
    pub stats_interval: Duration,
    /// Contract §8: send `message.created` for every chat message (`webhooks.messages`).
    pub webhook_messages: bool,
}

impl RoomConfig {
    /// "`count` per `window`, burst `count`" as a governor quota.
    pub fn quota(count: u32, window: Duration) -> Quota {
        let count = NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(window / count.get())
            .unwrap_or_else(|| Quota::per_second(count))
            .allow_burst(count)
    }
}

/// Backoff between attempts to load a room's state: 100 ms doubling to 5 s.
fn load_backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

/// How often a room of a cluster reconciles with the database (plus a spread
/// of up to 5 s, so they do not all come at once: at most 30 s).
const RECONCILE_EVERY: Duration = Duration::from_secs(25);

/// Tells room actors apart across restarts of the same room id.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

pub struct Room {
    id: RoomId,
    /// This actor's number: a room stopped and started again is a new instance.
    instance: u64,
    cfg: RoomConfig,
    hooks: RoomHooks,
    members: Members,
    peak: u64,
    recent: Recent,
    ids: ulid::Generator,
    /// The room's message sequence: its epoch and last number (contract §5).
    seq: sequence::Sequence,
    /// In a cluster: this node's messages waiting for their number from Redis.
    pending_own: std::collections::HashMap<String, Arc<ChatMessage>>,
    /// In a cluster: this node's messages acked but not yet delivered here
    /// (a resume waits for them: they belong in its `recent`, contract §5).
    undelivered: std::collections::HashSet<String>,
    /// Resuming joins waiting for `undelivered` to empty.
    deferred: Vec<msg::Join>,
    /// Redis could not number messages: this node numbers them for now.
    numbering_locally: bool,
    moderation: ModState,
    /// Contract §7: settings, terms, the moderator list, shadow bans, warnings, pin, held.
    modes: modes::Modes,
    /// §7: members of other nodes who rank above viewers, by node, as their
    /// last presence said (user → rank), with when it said so.
    ranked_elsewhere: std::collections::HashMap<String, (Instant, Vec<(String, u8)>)>,
    /// Chat delay: messages acked but not yet published, by id.
    delayed: std::collections::HashMap<String, ChatMessage>,
    /// Held messages whose decision is on its way to the store.
    deciding: std::collections::HashSet<String>,
    api_limiter: governor::DefaultDirectRateLimiter,
    reactions: Reactions,
    remote: RemoteCounts,
    /// This node's count as last told to the cluster.
    presence: Coalescer,
    /// The viewer count as last broadcast.
    viewers: Coalescer,
    idle: Option<SpawnHandle>,
    /// The room's state (bans, timeouts, settings) is loaded from the store.
    loaded: bool,
    /// This period's analytics, written as a snapshot when it ends.
    stats: PeriodStats,
    /// Server-Sent-Events streams of the viewer count.
    watchers: Vec<mpsc::Sender<u64>>,
    /// Contract §8: the room's state keys, versioned.
    state: state::RoomState,
    /// Contract §8: the live stream, if one is.
    live: Option<stream::LiveStream>,
    /// Contract §8: whether this node occupies the room (`room.occupied`).
    occupancy: occupancy::Occupancy,
    /// Messages and reactions since the room started (every node's), for `stats`.
    totals: (u64, u64),
    /// Samples of `totals` for the per-minute figures.
    rate: stream::RateWindow,
    /// Our own address, to tell ourselves about members removed by a ban.
    me: Option<WeakAddr<Room>>,
    span: tracing::Span,
}

impl Room {
    pub fn new(id: RoomId, cfg: RoomConfig, hooks: RoomHooks) -> Self {
        let span = tracing::info_span!("room", room = %id);
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        Room {
            instance,
            members: Members::new(id.clone(), instance),
            peak: 0,
            recent: Recent::new(cfg.recent),
            ids: ulid::Generator::new(),
            seq: sequence::Sequence::new(sequence::Sequence::fresh_epoch(), 0),
            pending_own: std::collections::HashMap::new(),
            undelivered: std::collections::HashSet::new(),
            deferred: Vec::new(),
            numbering_locally: false,
            moderation: ModState::new(cfg.message_quota),
            modes: actions::new_modes(&cfg),
            ranked_elsewhere: std::collections::HashMap::new(),
            delayed: std::collections::HashMap::new(),
            deciding: std::collections::HashSet::new(),
            api_limiter: RateLimiter::direct(cfg.api_quota),
            reactions: Reactions::new(cfg.emojis.clone()),
            remote: RemoteCounts::default(),
            presence: Coalescer::new(cfg.presence_interval),
            viewers: Coalescer::new(cfg.viewers_interval),
            idle: None,
            loaded: false,
            stats: PeriodStats::default(),
            watchers: Vec::new(),
            state: state::RoomState::default(),
            live: None,
            occupancy: occupancy::Occupancy::default(),
            totals: (0, 0),
            rate: stream::RateWindow::default(),
            me: None,
            span,
            id,
            cfg,
            hooks,
        }
    }

    /// Connections joined to the room on every node: ours plus what the others last said.
    fn viewers(&self) -> u64 {
        self.members.len() as u64 + self.remote.total()
    }

    fn info(&self) -> RoomInfo {
        RoomInfo {
            room: self.id.to_string(),
            viewers: self.viewers(),
            peak: self.peak,
            slow_mode: self.moderation.slow_mode(),
            seq: self.seq.last(),
            epoch: self.seq.epoch().to_owned(),
            settings: self.settings(),
        }
    }

    /// One frame to every member.
    fn broadcast(&self, frame: &protocol::Frame) {
        self.members.broadcast(frame);
    }

    /// One frame to one member.
    fn send_to(&self, conn: ConnId, frame: protocol::Frame) {
        self.members.send_to(conn, &frame);
    }

    /// Members were removed outside a join or leave (banned): have the
    /// count broadcast and the idle timer checked, from a handler that has the context.
    fn membership_changed(&self) {
        if let Some(me) = self.me.as_ref().and_then(WeakAddr::upgrade) {
            me.do_send(msg::MembershipChanged);
        }
    }

    /// The count changed: broadcast it now, or once the interval since the last one has passed.
    fn viewers_changed(&mut self, ctx: &mut Context<Self>) {
        self.peak = self.peak.max(self.viewers());
        self.stream_viewers();
        self.presence_changed(ctx);
        self.occupancy_changed(ctx);
        self.stats.observe(protocol::now_ms(), self.viewers());
        let Some(wait) = self.viewers.schedule(Instant::now()) else {
            return;
        };
        ctx.run_later(wait, |act, ctx| {
            let count = act.viewers();
            if let Some(count) = act.viewers.fire(count, Instant::now()) {
                let frame = protocol::encode(&ServerFrame::Viewers {
                    room: &act.id,
                    count,
                });
                act.broadcast(&frame);
                act.hooks.viewers.do_send(RoomViewers {
                    room: act.id.clone(),
                    count,
                });
                act.watchers.retain(|w| match w.try_send(count) {
                    Ok(()) | Err(TrySendError::Full(_)) => true,
                    Err(TrySendError::Closed(_)) => false,
                });
            }
            act.check_idle(ctx);
        });
    }

    /// Tell the cluster our local count, at most once per presence interval.
    fn presence_changed(&mut self, ctx: &mut Context<Self>) {
        if self.cfg.bridge.is_none() {
            return;
        }
        let Some(wait) = self.presence.schedule(Instant::now()) else {
            return;
        };
        ctx.run_later(wait, |act, _| {
            let local = act.members.len() as u64;
            if let Some(count) = act.presence.fire(local, Instant::now())
                && let Some(bridge) = &act.cfg.bridge
            {
                bridge.do_send(bridge::LocalCount {
                    room: act.id.clone(),
                    count,
                    ranks: act.local_ranks(),
                });
            }
        });
    }

    /// Tell the cluster our count and ranked members now, out of turn.
    fn presence_now(&mut self) {
        if let Some(bridge) = &self.cfg.bridge {
            let count = self.members.len() as u64;
            bridge.do_send(bridge::LocalCount {
                room: self.id.clone(),
                count,
                ranks: self.local_ranks(),
            });
            self.presence.sent_now(count, Instant::now());
        }
    }

    /// Start the idle timer when the last member left; the registry stops us after it.
    fn check_idle(&mut self, ctx: &mut Context<Self>) {
        if !self.members.is_empty() || !self.watchers.is_empty() {
            if let Some(h) = self.idle.take() {
                ctx.cancel_future(h);
            }
            return;
        }
        if self.idle.is_some() {
            return;
        }
        self.idle = Some(ctx.run_later(self.cfg.idle_grace, |act, ctx| {
            act.idle = None;
            if act.members.is_empty() && act.watchers.is_empty() {
                act.hooks.idle.do_send(RoomIdle {
                    room: act.id.clone(),
                    addr: ctx.address(),
                });
            }
        }));
    }

    /// A request from outside (the server API, a moderator): an empty room
    /// that is used restarts its idle grace.
    fn touched(&mut self, ctx: &mut Context<Self>) {
        if self.members.is_empty()
            && let Some(h) = self.idle.take()
        {
            ctx.cancel_future(h);
        }
        self.check_idle(ctx);
    }

    /// A new id: a ULID, monotonic within this room (messages and actions sort in
    /// the order the room accepted them, even within one millisecond).
    fn next_id(&mut self) -> String {
        self.ids
            .generate()
            .unwrap_or_else(|_| ulid::Ulid::generate())
            .to_string()
    }

    fn persist(&self, write: Write) {
        self.cfg.store.do_send(store::Persist { write });
    }

    /// Publish an event of this node's to the other nodes. The event is only
    /// built when there is a cluster to send it to: a single node pays nothing.
    fn publish_cluster(&self, event: impl FnOnce() -> ClusterEvent) {
        if let Some(bridge) = &self.cfg.bridge {
            bridge.do_send(bridge::Publish {
                room: self.id.clone(),
                event: event(),
            });
        }
    }

    /// The server API's own limit on system messages and events in this room.
    fn check_api_rate(&self) -> Result<(), Refusal> {
        self.api_limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Refusal::retry(
                ErrorCode::RateLimited,
                "too many server API posts to this room; slow down",
                wait.as_millis() as u64 + 1,
            )
        })
    }

    /// Accept a message: give it an id, ack it to its sender (the ack goes first,
    /// so the sender learns the id before its own message), send it to everyone,
    /// keep it in `recent` and hand it to the store.
    fn publish(
        &mut self,
        user: &Identity,
        badges: Vec<String>,
        text: String,
        ack_to: Option<(ConnId, Option<&str>)>,
        ctx: &mut Context<Self>,
    ) -> Arc<ChatMessage> {
        let msg = self.new_message(user, badges, text);
        if let Some((conn_id, reference)) = ack_to {
            self.ack(conn_id, reference, &msg.id);
        }
        self.publish_msg(msg, ctx)
    }

    /// Tell a member its request was taken, under `id`.
    fn ack(&self, conn_id: ConnId, reference: Option<&str>, id: &str) {
        let ack = protocol::encode(&ServerFrame::Ack { reference, id });
        self.send_to(conn_id, ack);
    }

    /// A new message of `user` in this room, with its id (not yet numbered).
    fn new_message(&mut self, user: &Identity, badges: Vec<String>, text: String) -> ChatMessage {
        ChatMessage {
            room: self.id.to_string(),
            id: self.next_id(),
            user: user.id.clone(),
            name: user.name.clone(),
            text,
            ts: protocol::now_ms(),
            badges,
            seq: None,
            epoch: None,
        }
    }

    /// Number a message, send it to everyone, keep it in `recent` and hand it
    /// to the store (in a cluster: once Redis has numbered it).
    fn publish_msg(&mut self, mut msg: ChatMessage, ctx: &mut Context<Self>) -> Arc<ChatMessage> {
        metrics::inc(&METRICS.messages_in);
        if let Some(bridge) = &self.cfg.bridge {
            // Redis numbers it as it publishes it; this node delivers it when it
            // comes back on the channel, in the order every node sees (and
            // stores it once its number is known, see `Sequenced`).
            let msg = Arc::new(msg);
            self.pending_own.insert(msg.id.clone(), msg.clone());
            self.undelivered.insert(msg.id.clone());
            bridge.do_send(bridge::PublishMessage {
                room: self.id.clone(),
                msg: (*msg).clone(),
                candidate_epoch: sequence::Sequence::fresh_epoch(),
                reply: ctx.address().recipient(),
            });
            return msg;
        }
        msg.seq = Some(self.seq.number());
        msg.epoch = Some(self.seq.epoch().into());
        let msg = Arc::new(msg);
        self.message_created(&msg);
        self.persist(Write::Message(msg.clone()));
        self.deliver(msg.clone());
        msg
    }

    /// A message accepted here or on another node: to every member, and into `recent`.
    fn deliver(&mut self, msg: Arc<ChatMessage>) {
        self.stats.messages += 1;
        self.totals.0 += 1;
        // Only a cluster node with its own messages in flight has anything to
        // settle here: a single node never hashes the id.
        if !self.undelivered.is_empty()
            && self.undelivered.remove(&msg.id)
            && self.undelivered.is_empty()
            && !self.deferred.is_empty()
            && let Some(me) = self.me.as_ref().and_then(WeakAddr::upgrade)
        {
            me.do_send(resume::ResumeDeferred);
        }
        self.modes.remember(&msg.text);
        let frame = protocol::encode(&ServerFrame::Message(&msg));
        self.broadcast(&frame);
        self.recent.push(msg);
    }

    /// A platform event, from the API here or from another node.
    fn deliver_event(&mut self, name: &str, data: &serde_json::value::RawValue) {
        let frame = protocol::encode(&ServerFrame::Event {
            room: &self.id,
            name,
            data,
        });
        self.broadcast(&frame);
    }

    /// Send the reactions of the window that just ended, if there were any:
    /// ours and those other nodes reported, in one frame; ours also to the cluster.
    fn flush_reactions(&mut self) {
        let Some(window) = self.reactions.take_window() else {
            return;
        };
        if let Some(counts) = window.local {
            self.publish_cluster(|| ClusterEvent::Reactions { counts });
        }
        let frame = protocol::encode(&ServerFrame::Reactions {
            room: &self.id,
            counts: &window.counts,
        });
        self.broadcast(&frame);
    }

    /// The analytics period ended: store its snapshot (if anything happened) and start the next.
    fn close_period(&mut self, ctx: &mut Context<Self>) {
        let period = self.cfg.snapshot_period.as_millis().max(1) as i64;
        let now = protocol::now_ms();
        let end = now - now % period;
        if let Some(snap) = self.stats.close(end, &self.id) {
            self.minute_webhook(&snap, Some(ctx));
            self.persist(Write::Snapshot(snap));
        }
        self.stats = PeriodStats::starting(end, now, self.viewers());
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Messages from sessions and the registry must never block their senders.
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        metrics::inc(&METRICS.rooms);
        self.me = Some(ctx.address().downgrade());
        // Loads the state, then (in a cluster) takes the room's place there.
        self.load_state(ctx, 0);
        self.start_timers(ctx);
        self.check_idle(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::dec(&METRICS.rooms);
        // The period so far is not lost with the room (unless other nodes
        // still hold members: theirs closes it whole).
        if self.remote.total() == 0
            && let Some(snap) = self.stats.close(protocol::now_ms(), &self.id)
        {
            self.minute_webhook(&snap, None);
            self.persist(Write::Snapshot(snap));
        }
        if let Some(bridge) = &self.cfg.bridge {
            bridge.do_send(bridge::RoomOffline {
                room: self.id.clone(),
                instance: self.instance,
            });
        }
        tracing::debug!(parent: &self.span, "room stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::DefaultKeyedRateLimiter;

    #[test]
    fn five_per_ten_seconds_is_a_burst_of_five_then_one_every_two_seconds() {
        let quota = RoomConfig::quota(5, Duration::from_secs(10));
        assert_eq!(quota.burst_size().get(), 5);
        assert_eq!(quota.replenish_interval(), Duration::from_secs(2));
        let limiter: DefaultKeyedRateLimiter<String> = RateLimiter::keyed(quota);
        let user = "u".to_owned();
        for _ in 0..5 {
            assert!(limiter.check_key(&user).is_ok());
        }
        let wait = limiter
            .check_key(&user)
            .unwrap_err()
            .wait_time_from(DefaultClock::default().now());
        // The sixth must wait for one replenishment: just under 2 s.
        assert!(
            wait <= Duration::from_secs(2) && wait > Duration::from_millis(1900),
            "{wait:?}"
        );
        // Another user is not affected.
        assert!(limiter.check_key(&"v".to_owned()).is_ok());
    }

    #[test]
    fn twenty_reactions_per_second_quota() {
        let quota = RoomConfig::quota(20, Duration::from_secs(1));
        assert_eq!(quota.burst_size().get(), 20);
        assert_eq!(quota.replenish_interval(), Duration::from_millis(50));
    }
}
