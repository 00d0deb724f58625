//! Session actor: one per WebSocket connection. It owns the connection's
//! logic and state: the read side ([`inbound`]), the heartbeat and idle
//! timeout, the user's identity, the rooms it joined; it parses every frame and
//! answers bad input itself, so a bad client never reaches a room.
//!
//! What it sends goes through its [`Link`] on this worker thread's hub shard,
//! the same queue rooms deliver into, bounded in frames and bytes. A link that
//! overflows (a slow consumer) or stops taking bytes goes down by itself and
//! tells the session, which ends. Close codes and reasons are in [`close`].
//!
//! The session must not decide room matters (membership, limits, bans): it
//! routes requests to the registry or to the rooms it has joined, which answer
//! the connection directly through its [`Route`].

mod budget;
pub mod caps;
pub mod close;
pub mod inbound;
mod token;
mod users;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::auth::Identity;
use crate::hub::{self, Down, Hub, Link, LinkEvent, LinkLimits, Route, ShardHandle, wire};
use crate::metrics::{self, METRICS};
use crate::protocol::{
    self, ErrorCode, Frame, MessageId, ModAction, Parsed, Refusal, Request, RoomId, ServerFrame,
    TextLimits, WelcomeUser,
};
use crate::registry::{ForRoom, JoinRoom, Registry};
use crate::room::{self, Conn, ConnId, Detached, Moderate, Room};
use crate::settings::Limits;
use crate::store::{LoadHistory, Store};
use close::Close;
use inbound::{Inbound, Reader};

/// Longest interval between server pings (and the `heartbeat_ms` of `welcome`).
const MAX_HEARTBEAT: Duration = Duration::from_secs(30);

/// What every session of this node shares.
pub struct SessionShared {
    pub node_id: String,
    pub registry: Addr<Registry>,
    pub store: Addr<Store>,
    pub hub: Hub,
    pub limits: Limits,
    pub text: TextLimits,
    pub emojis: Arc<[String]>,
    pub anonymous_chat: bool,
    pub reaction_quota: Quota,
    /// Verifies refreshed tokens.
    pub auth: crate::auth::Authenticator,
    /// Window over which draining connections are closed.
    pub drain_window: Duration,
    /// Contract §8: this node's connections by user (notifications, presence).
    pub users: Addr<crate::users::Users>,
}

impl SessionShared {
    /// Ping interval: half the idle timeout, at most 30 s.
    pub fn heartbeat(&self) -> Duration {
        (self.limits.idle_timeout() / 2).min(MAX_HEARTBEAT)
    }

    /// The bounds of a connection's outbound queue.
    pub fn link_limits(&self) -> LinkLimits {
        LinkLimits {
            max_frames: self.limits.outbound_queue,
            max_bytes: self.limits.outbound_bytes,
            write_timeout: Duration::from_secs(self.limits.write_timeout_s.max(1)),
        }
    }
}

pub struct Session {
    id: ConnId,
    /// This connection's place under the connection caps (given back on drop).
    _cap: caps::CapGuard,
    user: Arc<Identity>,
    shared: Arc<SessionShared>,
    link: Rc<Link>,
    route: Route,
    rooms: HashMap<RoomId, Addr<Room>>,
    last_seen: Instant,
    bad_frames: u32,
    reactions: Option<DefaultDirectRateLimiter>,
    /// Contract §6: what the client's frames cost comes out of this bucket.
    budget: DefaultDirectRateLimiter,
    /// Refusals in a row, for closing a connection that keeps being refused.
    refused: budget::RefusalStreak,
    /// Closes the connection when the token runs out (re-armed on refresh).
    expiry: Option<SpawnHandle>,
    /// Contract §8: when this connection last said it is typing.
    last_typing: Option<Instant>,
    span: tracing::Span,
}

/// Serve an upgraded connection: its link on this thread's shard, the bytes
/// already read past the handshake, and who it is.
pub fn start(
    link: Rc<Link>,
    shard: ShardHandle,
    already: Vec<u8>,
    user: Identity,
    cap: caps::CapGuard,
    shared: Arc<SessionShared>,
) {
    let id = link.id;
    let span = tracing::debug_span!("session", session = id, user = %user.id);
    let max = shared.limits.max_frame_bytes;
    Session::create(move |ctx| {
        link.set_session(ctx.address().recipient());
        ctx.add_stream(Reader::new(link.clone(), max, already));
        Session {
            id,
            _cap: cap,
            user: Arc::new(user),
            route: Route { shard, conn: id },
            link,
            rooms: HashMap::new(),
            last_seen: Instant::now(),
            bad_frames: 0,
            reactions: None,
            budget: RateLimiter::direct(budget::frame_quota(&shared.limits)),
            refused: budget::RefusalStreak::default(),
            expiry: None,
            last_typing: None,
            span,
            shared,
        }
    });
}

impl Session {
    /// Send a frame to this connection.
    fn send(&mut self, frame: Frame) {
        self.link.send(wire::text(&frame));
    }

    fn refuse(&mut self, refusal: &Refusal, room: Option<&str>, reference: Option<&str>) {
        self.send(refusal.frame(room, reference));
    }

    /// End the connection with a close frame (after what is queued, unless the
    /// reason says otherwise).
    fn close(&mut self, why: Close, ctx: &mut Context<Self>) {
        let (code, text) = why.code_and_text();
        self.link.close(code, &text, true);
        ctx.stop();
    }

    fn conn(&self, roles: Option<crate::auth::RoomRoles>, ctx: &Context<Self>) -> Conn {
        Conn {
            id: self.id,
            user: self.user.clone(),
            route: self.route.clone(),
            notify: ctx.address().recipient(),
            roles,
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let parsed = protocol::parse_client_frame(text, &self.shared.text);
        let cost = match &parsed {
            Ok(p) => p.request.cost(self.shared.limits.history_frame_cost),
            Err(_) => 1,
        };
        if !self.spend(cost, &parsed, ctx) {
            return;
        }
        match parsed {
            Ok(parsed) => {
                self.bad_frames = 0;
                self.dispatch(parsed, ctx);
            }
            Err(rejected) => {
                let malformed = rejected.refusal.code == ErrorCode::BadRequest;
                self.send(rejected.frame());
                if malformed {
                    self.bad_frame(ctx);
                }
            }
        }
    }

    /// Count a malformed frame; too many in a row close the connection.
    fn bad_frame(&mut self, ctx: &mut Context<Self>) {
        self.bad_frames += 1;
        if self.bad_frames >= self.shared.limits.max_bad_frames {
            tracing::info!(parent: &self.span, bad_frames = self.bad_frames, "closing after too many bad frames");
            self.close(Close::BadFrames, ctx);
        }
    }

    fn dispatch(&mut self, parsed: Parsed, ctx: &mut Context<Self>) {
        let Parsed { request, reference } = parsed;
        match request {
            Request::Ping => {
                let frame = protocol::encode(&ServerFrame::Pong {
                    reference: reference.as_deref(),
                    ts: protocol::now_ms(),
                });
                self.send(frame);
            }
            Request::Join { room, since, token } => {
                let roles = match token.as_deref().map(|t| self.room_roles(t, &room)) {
                    None => None,
                    Some(Ok(roles)) => Some(roles),
                    Some(Err(refusal)) => {
                        return self.refuse(&refusal, Some(&room), reference.as_deref());
                    }
                };
                self.join(room, since, roles, reference, ctx)
            }
            Request::Leave { room } => match self.rooms.remove(&room) {
                Some(addr) => {
                    addr.do_send(room::Leave {
                        conn_id: self.id,
                        notify: true,
                    });
                    self.rooms_changed();
                }
                None => self.not_joined(&room, reference.as_deref()),
            },
            Request::Message { room, text } => {
                if self.user.anonymous && !self.shared.anonymous_chat {
                    let refusal = Refusal::new(
                        ErrorCode::Forbidden,
                        "anonymous viewers cannot send messages; sign in",
                    );
                    return self.refuse(&refusal, Some(&room), reference.as_deref());
                }
                match self.rooms.get(&room) {
                    Some(addr) => addr.do_send(room::Post {
                        conn_id: self.id,
                        text,
                        reference,
                        reply: self.route.clone(),
                    }),
                    None => self.not_joined(&room, reference.as_deref()),
                }
            }
            Request::Reaction { room, emoji } => self.react(room, emoji, reference),
            Request::History {
                room,
                before,
                limit,
            } => self.history(room, before, limit, reference, ctx),
            Request::Moderate { room, action } => self.moderate(room, action, reference, ctx),
            Request::Refresh { token } => self.refresh(&token, reference, ctx),
            Request::Acknowledge { room } => match self.rooms.get(&room) {
                Some(addr) => addr.do_send(room::Acknowledge {
                    conn_id: self.id,
                    reference,
                    reply: self.route.clone(),
                }),
                None => self.not_joined(&room, reference.as_deref()),
            },
            Request::Typing { room } => self.typing(room, reference),
        }
    }

    /// The node is shutting down: at a moment spread over the drain window (so
    /// clients do not all reconnect to the other pods at once), say `left`
    /// (`shutdown`) for each room, then `reconnect`, and close with 1012.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        let window = self.shared.drain_window.as_millis().max(1) as u64;
        let delay = spread(self.id, window);
        ctx.run_later(Duration::from_millis(delay), |act, ctx| {
            let rooms: Vec<RoomId> = act.rooms.keys().cloned().collect();
            for room in &rooms {
                let left = protocol::encode(&ServerFrame::Left {
                    room,
                    reason: protocol::LeftReason::Shutdown,
                });
                act.send(left);
            }
            let after_ms = 250 + spread(act.id.rotate_left(17), 1_000);
            act.send(protocol::encode(&ServerFrame::Reconnect { after_ms }));
            act.close(Close::Restart, ctx);
        });
    }

    fn not_joined(&mut self, room: &str, reference: Option<&str>) {
        let refusal = Refusal::new(ErrorCode::NotJoined, "join the room first");
        self.refuse(&refusal, Some(room), reference);
    }

    fn join(
        &mut self,
        room: RoomId,
        since: Option<protocol::Since>,
        roles: Option<crate::auth::RoomRoles>,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        if !self.rooms.contains_key(&room)
            && self.rooms.len() >= self.shared.limits.max_rooms_per_connection
        {
            let refusal = Refusal::new(
                ErrorCode::TooManyRooms,
                format!(
                    "a connection may join at most {} rooms",
                    self.shared.limits.max_rooms_per_connection
                ),
            );
            return self.refuse(&refusal, Some(&room), reference.as_deref());
        }
        let echo = reference.clone();
        let request = self.shared.registry.send(JoinRoom {
            room: room.clone(),
            conn: self.conn(roles, ctx),
            since,
            reference,
        });
        // Hold further frames until the room is known, so they reach it after the join.
        ctx.wait(request.into_actor(self).map(move |res, act, _| match res {
            Ok(Ok(addr)) => {
                act.rooms.insert(room, addr);
                act.rooms_changed();
            }
            Ok(Err(refused)) => act.refuse(&refused.refusal(), Some(&room), echo.as_deref()),
            Err(err) => {
                tracing::error!(parent: &act.span, room = %room, error = %err, "registry unreachable");
                let refusal = Refusal::new(ErrorCode::Internal, "could not join the room");
                act.refuse(&refusal, Some(&room), None);
            }
        }));
    }

    fn react(&mut self, room: RoomId, emoji: String, reference: Option<String>) {
        let Some(index) = self.shared.emojis.iter().position(|e| *e == emoji) else {
            let refusal = Refusal::bad_request(format!(
                "unknown emoji {emoji:?}; allowed: {}",
                self.shared.emojis.join(", ")
            ));
            return self.refuse(&refusal, Some(&room), reference.as_deref());
        };
        let Some(addr) = self.rooms.get(&room).cloned() else {
            return self.not_joined(&room, reference.as_deref());
        };
        let quota = self.shared.reaction_quota;
        let limiter = self
            .reactions
            .get_or_insert_with(|| RateLimiter::direct(quota));
        if let Err(not_until) = limiter.check() {
            metrics::inc(&METRICS.refused_reactions);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let refusal = Refusal::retry(
                ErrorCode::RateLimited,
                "too many reactions; slow down",
                wait.as_millis() as u64 + 1,
            );
            return self.refuse(&refusal, Some(&room), reference.as_deref());
        }
        addr.do_send(room::React {
            conn_id: self.id,
            emoji: index,
            reference,
            reply: self.route.clone(),
        });
    }

    fn history(
        &mut self,
        room: RoomId,
        before: Option<MessageId>,
        limit: u64,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        if !self.rooms.contains_key(&room) {
            return self.not_joined(&room, reference.as_deref());
        }
        let request = self.shared.store.send(LoadHistory {
            room: room.to_string(),
            before: before.map(MessageId::into_string),
            limit,
        });
        ctx.spawn(request.into_actor(self).map(move |res, act, _| {
            let frame = match res {
                Ok(Ok(messages)) => protocol::encode(&ServerFrame::History {
                    reference: reference.as_deref(),
                    room: &room,
                    messages: &protocol::encode_message_list(messages.iter()),
                }),
                Ok(Err(err)) => {
                    tracing::error!(parent: &act.span, room = %room, error = %err, "history read failed");
                    Refusal::new(ErrorCode::Internal, "history is unavailable right now")
                        .frame(Some(&room), reference.as_deref())
                }
                Err(err) => {
                    tracing::error!(parent: &act.span, room = %room, error = %err, "store unreachable");
                    Refusal::new(ErrorCode::Internal, "history is unavailable right now")
                        .frame(Some(&room), reference.as_deref())
                }
            };
            act.send(frame);
        }));
    }

    fn moderate(
        &mut self,
        room: RoomId,
        action: ModAction,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        // Outside its rooms, only a moderator by token may act (and so start
        // a room); inside, the room decides (room-token roles, stored list).
        if !self.rooms.contains_key(&room) && !self.user.moderates(&room) {
            let refusal = Refusal::new(
                ErrorCode::Forbidden,
                "only moderators of this room may do that",
            );
            return self.refuse(&refusal, Some(&room), reference.as_deref());
        }
        let request = self.shared.registry.send(ForRoom {
            room: room.clone(),
            msg: Moderate {
                by: room::Caller::User {
                    user: self.user.clone(),
                    conn: Some(self.id),
                    roles: None,
                },
                action,
            },
        });
        ctx.spawn(request.into_actor(self).map(move |res, act, _| {
            let frame = match res {
                Ok(Ok(Ok(id))) => protocol::encode(&ServerFrame::Ack {
                    reference: reference.as_deref(),
                    id: &id,
                }),
                Ok(Ok(Err(refusal))) => refusal.frame(Some(&room), reference.as_deref()),
                Ok(Err(_)) | Err(_) => Refusal::new(ErrorCode::Internal, "moderation failed")
                    .frame(Some(&room), reference.as_deref()),
            };
            act.send(frame);
        }));
    }

    /// Contract §8: at most one typing indicator per 3 s, from token users.
    fn typing(&mut self, room: RoomId, reference: Option<String>) {
        if self.user.anonymous {
            let refusal = Refusal::new(ErrorCode::Forbidden, "anonymous viewers cannot type");
            return self.refuse(&refusal, Some(&room), reference.as_deref());
        }
        let Some(addr) = self.rooms.get(&room) else {
            return self.not_joined(&room, reference.as_deref());
        };
        if self
            .last_typing
            .is_some_and(|t| t.elapsed() < TYPING_INTERVAL)
        {
            return; // ephemeral: a faster one is dropped, not refused
        }
        self.last_typing = Some(Instant::now());
        addr.do_send(room::Typing { conn_id: self.id });
    }
}

/// Contract §8: the shortest interval between two typing indicators.
const TYPING_INTERVAL: Duration = Duration::from_secs(3);

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let welcome = protocol::encode(&ServerFrame::Welcome {
            user: WelcomeUser {
                id: &self.user.id,
                name: &self.user.name,
                anonymous: self.user.anonymous,
                moderates: &self.user.moderates,
            },
            node: &self.shared.node_id,
            heartbeat_ms: self.shared.heartbeat().as_millis() as u64,
            expires_at: self.user.expires_at,
        });
        self.send(welcome);
        self.arm_expiry(ctx);
        self.user_online();
        metrics::inc(&METRICS.connections);
        metrics::inc(&METRICS.connections_total);
        tracing::debug!(parent: &self.span, "connected");
        // Ping every heartbeat; close a connection silent for the idle timeout.
        let heartbeat = self.shared.heartbeat();
        let check =
            (self.shared.limits.idle_timeout() / 4).clamp(Duration::from_millis(100), heartbeat);
        let mut last_ping = Instant::now();
        ctx.run_interval(check, move |act, ctx| {
            if act.last_seen.elapsed() >= act.shared.limits.idle_timeout() {
                tracing::info!(parent: &act.span, "closing idle connection");
                act.close(Close::Idle, ctx);
                return;
            }
            if last_ping.elapsed() >= heartbeat {
                last_ping = Instant::now();
                act.link.send(wire::ping());
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::dec(&METRICS.connections);
        self.user_offline();
        for addr in self.rooms.values() {
            addr.do_send(room::Leave {
                conn_id: self.id,
                notify: false,
            });
        }
        // Stopped without a close of our own (the peer went away): end the socket.
        if self.link.is_open() {
            let (code, text) = Close::Echo(1000).code_and_text();
            self.link.close(code, &text, false);
        }
        hub::detach(self.id);
        tracing::debug!(parent: &self.span, "disconnected");
    }
}

impl StreamHandler<Inbound> for Session {
    fn handle(&mut self, item: Inbound, ctx: &mut Context<Self>) {
        self.last_seen = Instant::now();
        match item {
            Inbound::Text(text) => self.on_text(&text, ctx),
            Inbound::Binary => {
                let refusal =
                    Refusal::bad_request("binary frames are not supported; send JSON text frames");
                self.refuse(&refusal, None, None);
                self.bad_frame(ctx);
            }
            Inbound::Ping(payload) => self.link.send(wire::pong(&payload)),
            Inbound::Pong => {}
            Inbound::Close(code) => self.close(Close::Echo(code.unwrap_or(1000)), ctx),
            Inbound::Bad(hub::wire::FrameError::TooBig) => {
                let max = self.shared.limits.max_frame_bytes;
                tracing::info!(parent: &self.span, "closing: frame larger than {max} bytes");
                self.close(Close::TooBig { max }, ctx);
            }
            Inbound::Bad(hub::wire::FrameError::Protocol) => {
                tracing::info!(parent: &self.span, "closing on a WebSocket protocol error");
                self.close(Close::Protocol, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<LinkEvent> for Session {
    type Result = ();
    fn handle(&mut self, event: LinkEvent, ctx: &mut Context<Self>) {
        match event {
            LinkEvent::Down(Down::SlowConsumer) => {
                tracing::warn!(parent: &self.span, "closing slow consumer (outbound queue full)");
                metrics::inc(&METRICS.slow_consumers);
                ctx.stop();
            }
            LinkEvent::Down(Down::Dead) => ctx.stop(),
            LinkEvent::Draining => self.drain(ctx),
        }
    }
}

impl Handler<Detached> for Session {
    type Result = ();
    fn handle(&mut self, msg: Detached, _: &mut Context<Self>) {
        if self.rooms.remove(&msg.room).is_some() {
            self.rooms_changed();
        }
    }
}

/// The reaction quota: `per_second` per connection, burst the same.
pub fn reaction_quota(per_second: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
}

/// A well-spread number in `0..window` from a connection id (Fibonacci hashing).
fn spread(id: ConnId, window: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % window.max(1)
}
