//! Room actor: one per live stream room. Every decision about a room is made
//! here, in one place and in one order: who is a member, the viewer count, the
//! last messages (`recent`), the reactions of the current window, the message
//! rate limits, slow mode, timeouts and bans.
//!
//! Fan-out is the hot path: a frame is serialised once and the same refcounted
//! bytes are pushed into each member's bounded outbound queue with `try_send`.
//! A member whose queue is full is dropped from the room and told to close
//! (1008); the room never waits for anyone. No locks, no database calls and no
//! per-receiver allocation happen in [`Room::broadcast`].
//!
//! The room must not touch sockets or the database directly: it hands frames to
//! sessions' queues and writes to the store actor, which batches them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::WeakAddr;
use actix::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::value::RawValue;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::auth::Identity;
use crate::bridge::{self, ClusterEvent, RedisBridge};
use crate::metrics::{self, METRICS};
use crate::protocol::{
    self, ChatMessage, ErrorCode, Frame, LeftReason, ModAction, Refusal, ServerFrame,
};
use crate::registry::{Registry, RoomIdle, RoomViewers};
use crate::store::{self, ModLogEntry, Store, Write};

/// A connection's id, unique within this process.
pub type ConnId = u64;

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

/// The optional fields of a moderation log entry.
#[derive(Default)]
struct LogDetails<'a> {
    user: Option<&'a str>,
    reason: Option<&'a str>,
    seconds: Option<u64>,
    message_id: Option<&'a str>,
}

/// Viewer statistics of the current analytics period.
#[derive(Debug, Default, Clone, PartialEq)]
struct PeriodStats {
    start: i64,
    min: u64,
    max: u64,
    /// Sum of count × milliseconds, for the time-weighted average.
    weighted: f64,
    last_count: u64,
    last_at: i64,
    messages: u64,
    reactions: u64,
}

impl PeriodStats {
    fn starting(start: i64, now: i64, count: u64) -> Self {
        PeriodStats {
            start,
            min: count,
            max: count,
            weighted: 0.0,
            last_count: count,
            last_at: now.max(start),
            messages: 0,
            reactions: 0,
        }
    }

    /// The count became `count` at `now`.
    fn observe(&mut self, now: i64, count: u64) {
        let now = now.max(self.last_at);
        self.weighted += self.last_count as f64 * (now - self.last_at) as f64;
        self.last_at = now;
        self.last_count = count;
        self.min = self.min.min(count);
        self.max = self.max.max(count);
    }

    /// The snapshot of the period ending at `end`, or None if nothing happened in it.
    fn close(&mut self, end: i64, room: &str) -> Option<store::Snapshot> {
        self.observe(end, self.last_count);
        let length = (end - self.start).max(1) as f64;
        let idle = self.max == 0 && self.messages == 0 && self.reactions == 0;
        (!idle).then(|| store::Snapshot {
            room: room.to_owned(),
            minute: self.start,
            min: self.min,
            max: self.max,
            avg: (self.weighted / length * 100.0).round() / 100.0,
            messages: self.messages,
            reactions: self.reactions,
        })
    }
}

/// A connection as a room sees it: who, where its frames go, how to reach its actor.
#[derive(Clone)]
pub struct Conn {
    pub id: ConnId,
    pub user: Arc<Identity>,
    /// The session's bounded outbound queue.
    pub outbox: mpsc::Sender<Frame>,
    /// Where to say that this connection is no longer in the room.
    pub notify: Recipient<Detached>,
}

/// Tells a session it is no longer a member of `room` (join refused, banned, or too slow).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Detached {
    pub room: String,
    /// Set when the whole connection must close.
    pub close: Option<CloseCause>,
}

/// Why a room asks a session to close its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Its outbound queue overflowed (close 1008).
    SlowConsumer,
}

pub struct Room {
    id: String,
    cfg: RoomConfig,
    registry: Addr<Registry>,
    members: HashMap<ConnId, Conn>,
    peak: u64,
    recent: VecDeque<Arc<ChatMessage>>,
    /// `recent` serialised as a JSON array, rebuilt only after it changes.
    recent_json: Option<Box<RawValue>>,
    ids: ulid::Generator,
    limiter: DefaultKeyedRateLimiter<String>,
    api_limiter: governor::DefaultDirectRateLimiter,
    /// Reaction counts of the current window, by emoji index: this node's
    /// (published to the cluster) and other nodes' (only shown here).
    reactions: Vec<u64>,
    remote_reactions: Vec<u64>,
    /// Other nodes' connection counts here, and when each was last heard.
    remote: HashMap<String, (u64, Instant)>,
    /// Local count last told to the cluster, and whether a update is scheduled.
    presence_sent: u64,
    presence_scheduled: bool,
    /// Viewer count last broadcast, and whether a broadcast is scheduled.
    viewers_sent: u64,
    viewers_last_at: Option<Instant>,
    viewers_scheduled: bool,
    slow_mode: u64,
    last_post: HashMap<String, Instant>,
    bans: HashSet<String>,
    /// User → end of timeout (epoch ms).
    timeouts: HashMap<String, i64>,
    idle: Option<SpawnHandle>,
    /// This period's analytics, written as a snapshot when it ends.
    stats: PeriodStats,
    /// Server-Sent-Events streams of the viewer count.
    watchers: Vec<mpsc::Sender<u64>>,
    /// Our own address, to tell ourselves about members dropped mid-broadcast.
    me: Option<WeakAddr<Room>>,
    span: tracing::Span,
}

impl Room {
    pub fn new(id: String, cfg: RoomConfig, registry: Addr<Registry>) -> Self {
        let limiter = RateLimiter::keyed(cfg.message_quota);
        let api_limiter = RateLimiter::direct(cfg.api_quota);
        let span = tracing::info_span!("room", room = %id);
        Room {
            reactions: vec![0; cfg.emojis.len()],
            remote_reactions: vec![0; cfg.emojis.len()],
            remote: HashMap::new(),
            presence_sent: 0,
            presence_scheduled: false,
            id,
            cfg,
            registry,
            members: HashMap::new(),
            peak: 0,
            recent: VecDeque::new(),
            recent_json: None,
            ids: ulid::Generator::new(),
            limiter,
            api_limiter,
            viewers_sent: 0,
            viewers_last_at: None,
            viewers_scheduled: false,
            slow_mode: 0,
            last_post: HashMap::new(),
            bans: HashSet::new(),
            timeouts: HashMap::new(),
            idle: None,
            stats: PeriodStats::default(),
            watchers: Vec::new(),
            me: None,
            span,
        }
    }

    /// Connections joined to the room on every node: ours plus what the others last said.
    fn viewers(&self) -> u64 {
        self.members.len() as u64 + self.remote.values().map(|(n, _)| n).sum::<u64>()
    }

    /// Tell the cluster our local count, at most once per presence interval.
    fn presence_changed(&mut self, ctx: &mut Context<Self>) {
        if self.cfg.bridge.is_none() || self.presence_scheduled {
            return;
        }
        self.presence_scheduled = true;
        ctx.run_later(self.cfg.presence_interval, |act, _| {
            act.presence_scheduled = false;
            let local = act.members.len() as u64;
            if local != act.presence_sent
                && let Some(bridge) = &act.cfg.bridge
            {
                act.presence_sent = local;
                bridge.do_send(bridge::LocalCount {
                    room: act.id.clone(),
                    count: local,
                });
            }
        });
    }

    /// Publish an event of this node's to the other nodes.
    /// The event is only built when there is a cluster to send it to: a single
    /// node pays nothing for it on the message path.
    fn publish_cluster(&self, event: impl FnOnce() -> ClusterEvent) {
        if let Some(bridge) = &self.cfg.bridge {
            bridge.do_send(bridge::Publish {
                room: self.id.clone(),
                event: event(),
            });
        }
    }

    /// Push one frame to every member. On a full queue the member is dropped.
    fn broadcast(&mut self, frame: &Frame) {
        metrics::add(&METRICS.deliveries, self.members.len() as u64);
        let mut too_slow: Vec<ConnId> = Vec::new();
        for (id, conn) in &self.members {
            if let Err(err) = conn.outbox.try_send(frame.clone()) {
                // Full: too slow. Closed: the session is gone and its Leave is on its way.
                if matches!(err, TrySendError::Full(_)) {
                    too_slow.push(*id);
                }
            }
        }
        if !too_slow.is_empty() {
            metrics::add(&METRICS.slow_consumers, too_slow.len() as u64);
            metrics::add(&METRICS.leaves, too_slow.len() as u64);
            self.membership_changed();
        }
        for id in too_slow {
            if let Some(conn) = self.members.remove(&id) {
                tracing::warn!(parent: &self.span, session = id, user = %conn.user.id, "outbound queue full: dropping slow consumer");
                conn.notify.do_send(Detached {
                    room: self.id.clone(),
                    close: Some(CloseCause::SlowConsumer),
                });
            }
        }
    }

    /// Push a frame to one member; a full queue drops it like in a broadcast.
    fn send_to(&mut self, conn_id: ConnId, frame: Frame) {
        if let Some(conn) = self.members.get(&conn_id)
            && let Err(TrySendError::Full(_)) = conn.outbox.try_send(frame)
            && let Some(conn) = self.members.remove(&conn_id)
        {
            metrics::inc(&METRICS.slow_consumers);
            metrics::inc(&METRICS.leaves);
            self.membership_changed();
            conn.notify.do_send(Detached {
                room: self.id.clone(),
                close: Some(CloseCause::SlowConsumer),
            });
        }
    }

    /// Members were removed outside a join or leave (too slow, banned): have the
    /// count broadcast and the idle timer checked, from a handler that has the context.
    fn membership_changed(&self) {
        if let Some(me) = self.me.as_ref().and_then(WeakAddr::upgrade) {
            me.do_send(MembershipChanged);
        }
    }

    /// The member's identity, or a `not_joined` answer on `reply` if it is not one.
    fn member_user(
        &self,
        conn_id: ConnId,
        reply: &mpsc::Sender<Frame>,
        reference: Option<&str>,
    ) -> Option<Arc<Identity>> {
        let user = self.members.get(&conn_id).map(|c| c.user.clone());
        if user.is_none() {
            let refusal = Refusal::new(ErrorCode::NotJoined, "join the room first");
            let _ = reply.try_send(refusal.frame(Some(&self.id), reference));
        }
        user
    }

    fn refuse(&mut self, conn_id: ConnId, refusal: &Refusal, reference: Option<&str>) {
        let frame = refusal.frame(Some(&self.id), reference);
        self.send_to(conn_id, frame);
    }

    /// The count changed: broadcast it now, or once the interval since the last one has passed.
    fn viewers_changed(&mut self, ctx: &mut Context<Self>) {
        if self.viewers() > self.peak {
            self.peak = self.viewers();
        }
        self.presence_changed(ctx);
        self.stats.observe(protocol::now_ms(), self.viewers());
        if self.viewers_scheduled {
            return;
        }
        let wait = self
            .viewers_last_at
            .map(|t| self.cfg.viewers_interval.saturating_sub(t.elapsed()))
            .unwrap_or(Duration::ZERO);
        self.viewers_scheduled = true;
        ctx.run_later(wait, |act, ctx| {
            act.viewers_scheduled = false;
            let count = act.viewers();
            if count != act.viewers_sent {
                act.viewers_sent = count;
                act.viewers_last_at = Some(Instant::now());
                let frame = protocol::encode(&ServerFrame::Viewers {
                    room: &act.id,
                    count,
                });
                act.broadcast(&frame);
                act.registry.do_send(RoomViewers {
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
                act.registry.do_send(RoomIdle {
                    room: act.id.clone(),
                    addr: ctx.address(),
                });
            }
        }));
    }

    fn recent_json(&mut self) -> &RawValue {
        let recent = &self.recent;
        self.recent_json
            .get_or_insert_with(|| protocol::encode_message_list(recent.iter().map(|m| &**m)))
    }

    fn push_recent(&mut self, msg: Arc<ChatMessage>) {
        if self.recent.len() >= self.cfg.recent {
            self.recent.pop_front();
        }
        self.recent.push_back(msg);
        self.recent_json = None;
    }

    /// Milliseconds of timeout left for `user`, if any.
    fn timeout_left(&mut self, user: &str) -> Option<u64> {
        let until = *self.timeouts.get(user)?;
        let left = until - protocol::now_ms();
        if left > 0 {
            Some(left as u64)
        } else {
            self.timeouts.remove(user);
            None
        }
    }

    /// Decide whether `user` may post now. Moderators skip slow mode and rate limits.
    fn may_post(&mut self, user: &Identity) -> Result<(), Refusal> {
        if self.bans.contains(&user.id) {
            return Err(Refusal::new(
                ErrorCode::Banned,
                "you are banned from this room",
            ));
        }
        if let Some(left) = self.timeout_left(&user.id) {
            metrics::inc(&METRICS.refused_timed_out);
            return Err(Refusal::retry(
                ErrorCode::TimedOut,
                "you are timed out in this room",
                left,
            ));
        }
        if user.moderates(&self.id) {
            return Ok(());
        }
        if self.slow_mode > 0
            && let Some(last) = self.last_post.get(&user.id)
        {
            let interval = Duration::from_secs(self.slow_mode);
            let since = last.elapsed();
            if since < interval {
                metrics::inc(&METRICS.refused_slow_mode);
                let wait = (interval - since).as_millis() as u64;
                return Err(Refusal::retry(
                    ErrorCode::SlowMode,
                    format!("slow mode: one message every {} s", self.slow_mode),
                    wait,
                ));
            }
        }
        if let Err(not_until) = self.limiter.check_key(&user.id) {
            metrics::inc(&METRICS.refused_rate_limited);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Refusal::retry(
                ErrorCode::RateLimited,
                "too many messages; slow down",
                wait.as_millis() as u64 + 1,
            ));
        }
        if self.slow_mode > 0 {
            self.last_post.insert(user.id.clone(), Instant::now());
        }
        Ok(())
    }

    /// A new id: a ULID, monotonic within this room (messages and actions sort in
    /// the order the room accepted them, even within one millisecond).
    fn next_id(&mut self) -> String {
        self.ids
            .generate()
            .unwrap_or_else(|_| ulid::Ulid::generate())
            .to_string()
    }

    /// The analytics period ended: store its snapshot (if anything happened) and start the next.
    fn close_period(&mut self) {
        let period = self.cfg.snapshot_period.as_millis().max(1) as i64;
        let now = protocol::now_ms();
        let end = now - now % period;
        if let Some(snap) = self.stats.close(end, &self.id) {
            self.persist(Write::Snapshot(snap));
        }
        self.stats = PeriodStats::starting(end, now, self.viewers());
    }

    fn persist(&self, write: Write) {
        self.cfg.store.do_send(store::Persist { write });
    }

    fn persist_if(&self, local: bool, write: Write) {
        if local {
            self.persist(write);
        }
    }

    /// Log a moderation action issued on this node (the store writes it in order
    /// with everything else; other nodes log their own).
    fn log_action_if(
        &self,
        local: bool,
        id: &str,
        action: &str,
        by: &str,
        details: LogDetails<'_>,
    ) {
        if !local {
            return;
        }
        self.persist(Write::Log(Arc::new(ModLogEntry {
            id: id.to_owned(),
            room: self.id.clone(),
            action: action.to_owned(),
            user: details.user.map(str::to_owned),
            by: by.to_owned(),
            reason: details.reason.map(str::to_owned),
            seconds: details.seconds,
            message_id: details.message_id.map(str::to_owned),
            ts: protocol::now_ms(),
        })));
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
    ) -> Arc<ChatMessage> {
        let id = self.next_id();
        if let Some((conn_id, reference)) = ack_to {
            let ack = protocol::encode(&ServerFrame::Ack { reference, id: &id });
            self.send_to(conn_id, ack);
        }
        let msg = Arc::new(ChatMessage {
            room: self.id.clone(),
            id,
            user: user.id.clone(),
            name: user.name.clone(),
            text,
            ts: protocol::now_ms(),
            badges,
        });
        metrics::inc(&METRICS.messages_in);
        self.stats.messages += 1;
        self.persist(Write::Message(msg.clone()));
        let frame = protocol::encode(&ServerFrame::Message(&msg));
        self.broadcast(&frame);
        self.push_recent(msg.clone());
        self.publish_cluster(|| ClusterEvent::Message {
            msg: (*msg).clone(),
        });
        msg
    }

    /// Send the reactions of the window that just ended, if there were any:
    /// ours and those other nodes reported, in one frame; ours also to the cluster.
    fn flush_reactions(&mut self) {
        let local_any = self.reactions.iter().any(|&n| n > 0);
        if !local_any && self.remote_reactions.iter().all(|&n| n == 0) {
            return;
        }
        if local_any {
            self.publish_cluster(|| ClusterEvent::Reactions {
                counts: self
                    .reactions
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| (self.cfg.emojis[i].clone(), *n))
                    .collect(),
            });
        }
        let mut counts = serde_json::Map::new();
        for (i, (mine, theirs)) in self
            .reactions
            .iter_mut()
            .zip(self.remote_reactions.iter_mut())
            .enumerate()
        {
            let n = *mine + *theirs;
            if n > 0 {
                counts.insert(self.cfg.emojis[i].clone(), n.into());
            }
            *mine = 0;
            *theirs = 0;
        }
        let frame = protocol::encode(&ServerFrame::Reactions {
            room: &self.id,
            counts: &counts,
        });
        self.broadcast(&frame);
    }

    /// Apply a moderator action, store it and log it; answer with the id to ack
    /// (the message id for a delete, else the action's id in the moderation log).
    fn moderate(&mut self, by: &str, action: ModAction) -> Result<String, Refusal> {
        metrics::inc(&METRICS.moderation_actions);
        self.publish_cluster(|| ClusterEvent::Moderation {
            by: by.to_owned(),
            action: action.clone(),
        });
        self.apply_moderation(by, action, true)
    }

    /// Apply a moderator action here. `local`: it was issued on this node, so
    /// store and log it too (a remote one was stored by its own node).
    fn apply_moderation(
        &mut self,
        by: &str,
        action: ModAction,
        local: bool,
    ) -> Result<String, Refusal> {
        let action_id = self.next_id();
        let now = protocol::now_ms();
        tracing::info!(parent: &self.span, by, action = action.name(), "moderation");
        match action {
            ModAction::Delete { id } => {
                let author = self
                    .recent
                    .iter()
                    .find(|m| m.id == id)
                    .map(|m| m.user.clone());
                if author.is_some() {
                    self.recent.retain(|m| m.id != id);
                    self.recent_json = None;
                }
                self.persist_if(
                    local,
                    Write::Delete {
                        room: self.id.clone(),
                        id: id.clone(),
                        by: by.to_owned(),
                        at: now,
                    },
                );
                let details = LogDetails {
                    user: author.as_deref(),
                    message_id: Some(&id),
                    ..LogDetails::default()
                };
                self.log_action_if(local, &action_id, "delete", by, details);
                let frame = protocol::encode(&ServerFrame::Deleted {
                    room: &self.id,
                    id: &id,
                    by,
                });
                self.broadcast(&frame);
                Ok(id)
            }
            ModAction::Timeout {
                user,
                seconds,
                reason,
            } => {
                let until = now + seconds as i64 * 1000;
                self.timeouts.insert(user.clone(), until);
                self.persist_if(
                    local,
                    Write::Timeout {
                        room: self.id.clone(),
                        user: user.clone(),
                        until,
                    },
                );
                let details = LogDetails {
                    user: Some(&user),
                    reason: reason.as_deref(),
                    seconds: Some(seconds),
                    ..LogDetails::default()
                };
                self.log_action_if(local, &action_id, "timeout", by, details);
                self.broadcast_moderation("timeout", &user, Some(seconds), reason.as_deref(), by);
                Ok(action_id)
            }
            ModAction::Ban { user, reason } => {
                self.bans.insert(user.clone());
                self.timeouts.remove(&user);
                self.persist_if(
                    local,
                    Write::Ban {
                        room: self.id.clone(),
                        user: user.clone(),
                        reason: reason.clone(),
                        by: by.to_owned(),
                        ts: now,
                    },
                );
                let details = LogDetails {
                    user: Some(&user),
                    reason: reason.as_deref(),
                    ..LogDetails::default()
                };
                self.log_action_if(local, &action_id, "ban", by, details);
                self.remove_user(&user);
                let before = self.recent.len();
                self.recent.retain(|m| m.user != user);
                if self.recent.len() != before {
                    self.recent_json = None;
                }
                self.broadcast_moderation("ban", &user, None, reason.as_deref(), by);
                Ok(action_id)
            }
            ModAction::Unban { user } => {
                self.bans.remove(&user);
                self.timeouts.remove(&user);
                self.persist_if(
                    local,
                    Write::Unban {
                        room: self.id.clone(),
                        user: user.clone(),
                    },
                );
                let details = LogDetails {
                    user: Some(&user),
                    ..LogDetails::default()
                };
                self.log_action_if(local, &action_id, "unban", by, details);
                self.broadcast_moderation("unban", &user, None, None, by);
                Ok(action_id)
            }
            ModAction::SlowMode { seconds } => {
                self.slow_mode = seconds;
                if seconds == 0 {
                    self.last_post.clear();
                }
                self.persist_if(
                    local,
                    Write::SlowMode {
                        room: self.id.clone(),
                        seconds,
                    },
                );
                let details = LogDetails {
                    seconds: Some(seconds),
                    ..LogDetails::default()
                };
                self.log_action_if(local, &action_id, "slow_mode", by, details);
                let frame = protocol::encode(&ServerFrame::SlowMode {
                    room: &self.id,
                    seconds,
                });
                self.broadcast(&frame);
                Ok(action_id)
            }
        }
    }

    fn broadcast_moderation(
        &mut self,
        action: &str,
        user: &str,
        seconds: Option<u64>,
        reason: Option<&str>,
        by: &str,
    ) {
        let frame = protocol::encode(&ServerFrame::Moderation {
            room: &self.id,
            action,
            user,
            seconds,
            reason,
            by,
        });
        self.broadcast(&frame);
    }

    /// Remove every connection of `user` (a ban): `left` with reason `banned` to each.
    fn remove_user(&mut self, user: &str) {
        let gone: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, c)| c.user.id == user)
            .map(|(id, _)| *id)
            .collect();
        let left = protocol::encode(&ServerFrame::Left {
            room: &self.id,
            reason: LeftReason::Banned,
        });
        if !gone.is_empty() {
            metrics::add(&METRICS.leaves, gone.len() as u64);
            self.membership_changed();
        }
        for id in gone {
            if let Some(conn) = self.members.remove(&id) {
                let _ = conn.outbox.try_send(left.clone());
                conn.notify.do_send(Detached {
                    room: self.id.clone(),
                    close: None,
                });
            }
        }
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Messages from sessions and the registry must never block their senders.
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        metrics::inc(&METRICS.rooms);
        self.me = Some(ctx.address().downgrade());
        // Load recent messages before handling anything else (joins wait in the mailbox).
        let load = self.cfg.store.send(store::LoadRoom {
            room: self.id.clone(),
            recent: self.cfg.recent as u64,
        });
        ctx.wait(load.into_actor(self).map(|res, act, _| {
            match res {
                Ok(Ok(snapshot)) => {
                    act.recent = snapshot.recent.into_iter().map(Arc::new).collect();
                    act.recent_json = None;
                    act.bans = snapshot.bans;
                    act.timeouts = snapshot.timeouts;
                    act.slow_mode = snapshot.slow_mode;
                }
                Ok(Err(err)) => tracing::error!(parent: &act.span, error = %err, "could not load room state; starting empty"),
                Err(err) => tracing::error!(parent: &act.span, error = %err, "store unreachable; starting empty"),
            }
        }));
        if let Some(bridge) = self.cfg.bridge.clone() {
            let online = bridge.send(bridge::RoomOnline {
                room: self.id.clone(),
                addr: ctx.address(),
            });
            ctx.wait(online.into_actor(self).map(|res, act, _| {
                let now = Instant::now();
                if let Ok(counts) = res {
                    act.remote = counts
                        .into_iter()
                        .map(|(node, n)| (node, (n, now)))
                        .collect();
                }
            }));
            // Another node that stops refreshing its count drops out after the TTL.
            let every = (self.cfg.presence_ttl / 5).max(Duration::from_millis(100));
            ctx.run_interval(every, |act, ctx| {
                let ttl = act.cfg.presence_ttl;
                let before = act.remote.len();
                act.remote.retain(|_, (_, seen)| seen.elapsed() < ttl);
                if act.remote.len() != before {
                    act.viewers_changed(ctx);
                }
            });
        }
        ctx.run_interval(self.cfg.reaction_window, |act, _| act.flush_reactions());
        // Analytics: close each period on its wall-clock boundary.
        let period = self.cfg.snapshot_period.as_millis().max(1) as i64;
        let now = protocol::now_ms();
        self.stats = PeriodStats::starting(now - now % period, now, self.viewers());
        let first = Duration::from_millis((period - now % period) as u64);
        ctx.run_later(first, move |act, ctx| {
            act.close_period();
            ctx.run_interval(Duration::from_millis(period as u64), |act, _| {
                act.close_period()
            });
        });
        // SSE streams that went away stop keeping the room alive.
        ctx.run_interval(Duration::from_secs(5), |act, ctx| {
            let before = act.watchers.len();
            act.watchers.retain(|w| !w.is_closed());
            if act.watchers.len() != before {
                act.check_idle(ctx);
            }
        });
        // Forget rate-limit state of users who have been quiet long enough to be full again.
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            act.limiter.retain_recent();
            act.limiter.shrink_to_fit();
            let slow = Duration::from_secs(act.slow_mode);
            act.last_post.retain(|_, t| t.elapsed() < slow);
            let now = protocol::now_ms();
            act.timeouts.retain(|_, until| *until > now);
        });
        self.check_idle(ctx);
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        metrics::dec(&METRICS.rooms);
        if let Some(bridge) = &self.cfg.bridge {
            bridge.do_send(bridge::RoomOffline {
                room: self.id.clone(),
                addr: ctx.address(),
            });
        }
        tracing::debug!(parent: &self.span, "room stopped");
    }
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// A connection joins (forwarded by the registry). The room answers the
/// connection directly: `joined`, or an `error` and [`Detached`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub conn: Conn,
    pub reference: Option<String>,
}

impl Handler<Join> for Room {
    type Result = ();
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let Join { conn, reference } = msg;
        if self.bans.contains(&conn.user.id) {
            let frame = Refusal::new(ErrorCode::Banned, "you are banned from this room")
                .frame(Some(&self.id), reference.as_deref());
            let _ = conn.outbox.try_send(frame);
            conn.notify.do_send(Detached {
                room: self.id.clone(),
                close: None,
            });
            return;
        }
        let id = conn.id;
        metrics::inc(&METRICS.joins);
        // A second join of the same room by the same connection just answers again.
        self.members.insert(id, conn);
        let viewers = self.viewers();
        let slow_mode = self.slow_mode;
        let room = self.id.clone();
        let recent = self.recent_json();
        let frame = protocol::encode(&ServerFrame::Joined {
            room: &room,
            viewers,
            slow_mode,
            recent,
        });
        self.send_to(id, frame);
        self.viewers_changed(ctx);
        self.check_idle(ctx);
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
        if let Some(conn) = self.members.remove(&msg.conn_id) {
            metrics::inc(&METRICS.leaves);
            if msg.notify {
                let frame = protocol::encode(&ServerFrame::Left {
                    room: &self.id,
                    reason: LeftReason::Leave,
                });
                let _ = conn.outbox.try_send(frame);
            }
            self.viewers_changed(ctx);
            self.check_idle(ctx);
        }
    }
}

/// A member sends a chat message (text already cleaned by the protocol layer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    pub conn_id: ConnId,
    pub text: String,
    pub reference: Option<String>,
    /// Where to answer if the sender turns out not to be a member.
    pub reply: mpsc::Sender<Frame>,
}

impl Handler<Post> for Room {
    type Result = ();
    fn handle(&mut self, msg: Post, _: &mut Context<Self>) {
        let Some(user) = self.member_user(msg.conn_id, &msg.reply, msg.reference.as_deref()) else {
            return;
        };
        if let Err(refusal) = self.may_post(&user) {
            self.refuse(msg.conn_id, &refusal, msg.reference.as_deref());
            return;
        }
        let badges = user.badges_in(&self.id);
        self.publish(
            &user,
            badges,
            msg.text,
            Some((msg.conn_id, msg.reference.as_deref())),
        );
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
    pub reply: mpsc::Sender<Frame>,
}

impl Handler<React> for Room {
    type Result = ();
    fn handle(&mut self, msg: React, _: &mut Context<Self>) {
        let Some(user) = self.member_user(msg.conn_id, &msg.reply, msg.reference.as_deref()) else {
            return;
        };
        if let Some(left) = self.timeout_left(&user.id) {
            let refusal =
                Refusal::retry(ErrorCode::TimedOut, "you are timed out in this room", left);
            self.refuse(msg.conn_id, &refusal, msg.reference.as_deref());
            return;
        }
        if let Some(n) = self.reactions.get_mut(msg.emoji) {
            *n += 1;
            self.stats.reactions += 1;
            metrics::inc(&METRICS.reactions);
        }
    }
}

/// What the server API and moderators can ask of a room.
#[derive(Debug, Clone)]
pub enum CommandKind {
    /// Room info: viewers, peak, slow mode.
    Info,
    /// A moderator action, by the user named in `by`.
    Moderate { by: String, action: ModAction },
    /// A message from a system user of the server API (no rate limits).
    PostAs { user: Identity, text: String },
    /// A platform event, broadcast as an `event` frame.
    Event { name: String, data: Box<RawValue> },
    /// Send the viewer count into `tx` on every change (SSE); answers with Info.
    WatchViewers { tx: mpsc::Sender<u64> },
}

/// Answers to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Info(RoomInfo),
    /// The id to ack: the message id (delete, post) or the moderation action's id.
    Done {
        id: String,
    },
}

/// A room as the server API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomInfo {
    pub room: String,
    pub viewers: u64,
    pub peak: u64,
    pub slow_mode: u64,
}

/// A request that does not come from a member's connection (sent through the registry).
#[derive(Message)]
#[rtype(result = "Result<CommandOutcome, Refusal>")]
pub struct Command {
    pub kind: CommandKind,
}

impl Handler<Command> for Room {
    type Result = Result<CommandOutcome, Refusal>;
    fn handle(&mut self, msg: Command, ctx: &mut Context<Self>) -> Self::Result {
        let out = match msg.kind {
            CommandKind::WatchViewers { tx } => {
                self.watchers.push(tx);
                Ok(CommandOutcome::Info(RoomInfo {
                    room: self.id.clone(),
                    viewers: self.viewers(),
                    peak: self.peak,
                    slow_mode: self.slow_mode,
                }))
            }
            CommandKind::Info => Ok(CommandOutcome::Info(RoomInfo {
                room: self.id.clone(),
                viewers: self.viewers(),
                peak: self.peak,
                slow_mode: self.slow_mode,
            })),
            CommandKind::Moderate { by, action } => self
                .moderate(&by, action)
                .map(|id| CommandOutcome::Done { id }),
            CommandKind::PostAs { user, text } => self.check_api_rate().map(|()| {
                let msg = self.publish(&user, vec!["system".to_owned()], text, None);
                CommandOutcome::Done { id: msg.id.clone() }
            }),
            CommandKind::Event { name, data } => self.check_api_rate().map(|()| {
                let frame = protocol::encode(&ServerFrame::Event {
                    room: &self.id,
                    name: &name,
                    data: &data,
                });
                self.broadcast(&frame);
                self.publish_cluster(|| ClusterEvent::Event { name, data });
                CommandOutcome::Done { id: self.next_id() }
            }),
        };
        // Activity on an empty room restarts its idle timer.
        if self.members.is_empty()
            && let Some(h) = self.idle.take()
        {
            ctx.cancel_future(h);
        }
        self.check_idle(ctx);
        out
    }
}

/// An event from another node of the cluster (through the Redis bridge).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Remote {
    pub node: String,
    pub event: ClusterEvent,
}

impl Handler<Remote> for Room {
    type Result = ();
    fn handle(&mut self, msg: Remote, ctx: &mut Context<Self>) {
        match msg.event {
            ClusterEvent::Message { msg } => {
                self.stats.messages += 1;
                let msg = Arc::new(msg);
                let frame = protocol::encode(&ServerFrame::Message(&msg));
                self.broadcast(&frame);
                self.push_recent(msg);
            }
            ClusterEvent::Moderation { by, action } => {
                let _ = self.apply_moderation(&by, action, false);
            }
            ClusterEvent::Event { name, data } => {
                let frame = protocol::encode(&ServerFrame::Event {
                    room: &self.id,
                    name: &name,
                    data: &data,
                });
                self.broadcast(&frame);
            }
            ClusterEvent::Reactions { counts } => {
                for (emoji, n) in counts {
                    if let Some(i) = self.cfg.emojis.iter().position(|e| *e == emoji) {
                        self.remote_reactions[i] += n;
                        self.stats.reactions += n;
                    }
                }
            }
            ClusterEvent::Presence { count } => {
                let changed = if count == 0 {
                    self.remote.remove(&msg.node).is_some()
                } else {
                    let old = self.remote.insert(msg.node, (count, Instant::now()));
                    old.map(|(n, _)| n) != Some(count)
                };
                if changed {
                    self.viewers_changed(ctx);
                }
            }
        }
        self.check_idle(ctx);
    }
}

/// Read bans, timeouts and slow mode again from the database (after the bridge
/// was away, actions taken on other nodes meanwhile are only there).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

impl Handler<Resync> for Room {
    type Result = ();
    fn handle(&mut self, _: Resync, ctx: &mut Context<Self>) {
        let load = self.cfg.store.send(store::LoadRoom {
            room: self.id.clone(),
            recent: 0,
        });
        ctx.spawn(load.into_actor(self).map(|res, act, _| {
            if let Ok(Ok(snapshot)) = res {
                for user in snapshot
                    .bans
                    .difference(&act.bans)
                    .cloned()
                    .collect::<Vec<_>>()
                {
                    act.remove_user(&user);
                }
                act.bans = snapshot.bans;
                act.timeouts = snapshot.timeouts;
                act.slow_mode = snapshot.slow_mode;
            }
        }));
    }
}

/// Members left without a Leave (see [`Room::membership_changed`]).
#[derive(Message)]
#[rtype(result = "()")]
struct MembershipChanged;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn period_stats_weight_the_average_by_time() {
        // 60 s period: 2 viewers for 30 s, then 4 for 30 s → avg 3, min 2, max 4.
        let mut s = PeriodStats::starting(0, 0, 2);
        s.observe(30_000, 4);
        s.messages = 7;
        let snap = s.close(60_000, "r").unwrap();
        assert_eq!(
            (snap.min, snap.max, snap.avg, snap.messages),
            (2, 4, 3.0, 7)
        );
        assert_eq!(snap.minute, 0);
        // A quiet, empty period writes nothing.
        assert_eq!(PeriodStats::starting(0, 0, 0).close(60_000, "r"), None);
    }

    #[test]
    fn twenty_reactions_per_second_quota() {
        let quota = RoomConfig::quota(20, Duration::from_secs(1));
        assert_eq!(quota.burst_size().get(), 20);
        assert_eq!(quota.replenish_interval(), Duration::from_millis(50));
    }
}
