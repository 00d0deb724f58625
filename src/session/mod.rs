//! Session actor: one per WebSocket connection. It owns the socket's read side,
//! the heartbeat and idle timeout, the user's identity and the connection's
//! bounded outbound queue; it parses every frame and answers bad input itself,
//! so a bad client never reaches a room.
//!
//! Writes go through one bounded queue (`limits.outbound_queue` frames), filled
//! with `try_send` by rooms and by this actor, and drained by the response body
//! ([`outbound`]). When a room finds the queue full the connection is too slow
//! to keep up: it is closed with 1008 and the room moves on. Close codes and
//! reasons are in [`close`].
//!
//! The session must not decide room matters (membership, limits, bans): it
//! routes requests to the registry or to the rooms it has joined, which answer
//! into the same queue.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod close;
pub mod outbound;

use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, ProtocolError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Identity;
use crate::metrics::{self, METRICS};
use crate::protocol::{
    self, ErrorCode, Frame, MessageId, ModAction, Parsed, Refusal, Request, RoomId, ServerFrame,
    TextLimits, WelcomeUser,
};
use crate::registry::{ForRoom, JoinRoom, Registry};
use crate::room::{self, CloseCause, Conn, ConnId, Detached, Moderate, Room};
use crate::settings::Limits;
use crate::store::{LoadHistory, Store};
use close::Close;
use outbound::{Closing, Control, Outbound};

/// Longest interval between server pings (and the `heartbeat_ms` of `welcome`).
const MAX_HEARTBEAT: Duration = Duration::from_secs(30);

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// What every session of this node shares.
pub struct SessionShared {
    pub node_id: String,
    pub registry: Addr<Registry>,
    pub store: Addr<Store>,
    pub limits: Limits,
    pub text: TextLimits,
    pub emojis: Arc<[String]>,
    pub anonymous_chat: bool,
    pub reaction_quota: Quota,
    /// Turns true when the node starts draining (SIGTERM).
    pub draining: tokio::sync::watch::Receiver<bool>,
    /// Window over which draining connections are closed.
    pub drain_window: Duration,
}

impl SessionShared {
    /// Ping interval: half the idle timeout, at most 30 s.
    pub fn heartbeat(&self) -> Duration {
        (self.limits.idle_timeout() / 2).min(MAX_HEARTBEAT)
    }
}

pub struct Session {
    id: ConnId,
    user: Arc<Identity>,
    shared: Arc<SessionShared>,
    outbox: mpsc::Sender<Frame>,
    control: mpsc::Sender<Control>,
    closer: Option<oneshot::Sender<Closing>>,
    rooms: HashMap<RoomId, Addr<Room>>,
    last_seen: Instant,
    bad_frames: u32,
    reactions: Option<DefaultDirectRateLimiter>,
    span: tracing::Span,
}

/// Upgrade an authenticated request to a WebSocket served by a new [`Session`].
///
/// `actix-ws` does the handshake and decodes what the client sends. What we
/// send does not go through `actix_ws::Session` (an awaited send per frame into
/// a second, fixed 32-slot channel, drained by a task per connection): the
/// response body is [`Outbound`], which drains this session's bounded queue
/// directly and encodes every frame waiting in it into one buffer per poll.
pub fn start(
    req: &HttpRequest,
    body: web::Payload,
    user: Identity,
    shared: Arc<SessionShared>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, ws, stream) = actix_ws::handle(req, body)?;
    drop(ws);
    let max = shared.limits.max_frame_bytes;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    let (outbox, frames) = mpsc::channel(shared.limits.outbound_queue);
    let (control, control_rx) = mpsc::channel(8);
    let (closer, closing) = oneshot::channel();
    let (head, inbound_guard) = response.into_parts();
    let outbound = Outbound::new(frames, control_rx, closing, inbound_guard);
    let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("session", session = id, user = %user.id);
    Session::create(move |ctx| {
        ctx.add_stream(stream);
        Session {
            id,
            user: Arc::new(user),
            shared,
            outbox,
            control,
            closer: Some(closer),
            rooms: HashMap::new(),
            last_seen: Instant::now(),
            bad_frames: 0,
            reactions: None,
            span,
        }
    });
    Ok(head
        .set_body(actix_web::body::BodyStream::new(outbound))
        .map_into_boxed_body())
}

impl Session {
    /// Queue a frame for this connection. A full queue means the client is not
    /// reading: close it like a room would.
    fn send(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outbox.try_send(frame) {
            self.close(Close::SlowConsumer, ctx);
        }
    }

    fn refuse(
        &mut self,
        refusal: &Refusal,
        room: Option<&str>,
        reference: Option<&str>,
        ctx: &mut Context<Self>,
    ) {
        self.send(refusal.frame(room, reference), ctx);
    }

    /// End the connection with a close frame (after what is queued, unless the
    /// reason says otherwise).
    fn close(&mut self, why: Close, ctx: &mut Context<Self>) {
        if why == Close::SlowConsumer {
            tracing::warn!(parent: &self.span, "closing slow consumer (outbound queue full)");
        }
        if let Some(closer) = self.closer.take() {
            let _ = closer.send(Closing {
                reason: Some(why.reason()),
                drain: why.drain(),
            });
        }
        ctx.stop();
    }

    fn conn(&self, ctx: &Context<Self>) -> Conn {
        Conn {
            id: self.id,
            user: self.user.clone(),
            outbox: self.outbox.clone(),
            notify: ctx.address().recipient(),
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        match protocol::parse_client_frame(text, &self.shared.text) {
            Ok(parsed) => {
                self.bad_frames = 0;
                self.dispatch(parsed, ctx);
            }
            Err(rejected) => {
                let malformed = rejected.refusal.code == ErrorCode::BadRequest;
                self.send(rejected.frame(), ctx);
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
                self.send(frame, ctx);
            }
            Request::Join { room } => self.join(room, reference, ctx),
            Request::Leave { room } => match self.rooms.remove(&room) {
                Some(addr) => addr.do_send(room::Leave {
                    conn_id: self.id,
                    notify: true,
                }),
                None => self.not_joined(&room, reference.as_deref(), ctx),
            },
            Request::Message { room, text } => {
                if self.user.anonymous && !self.shared.anonymous_chat {
                    let refusal = Refusal::new(
                        ErrorCode::Forbidden,
                        "anonymous viewers cannot send messages; sign in",
                    );
                    return self.refuse(&refusal, Some(&room), reference.as_deref(), ctx);
                }
                match self.rooms.get(&room) {
                    Some(addr) => addr.do_send(room::Post {
                        conn_id: self.id,
                        text,
                        reference,
                        reply: self.outbox.clone(),
                    }),
                    None => self.not_joined(&room, reference.as_deref(), ctx),
                }
            }
            Request::Reaction { room, emoji } => self.react(room, emoji, reference, ctx),
            Request::History {
                room,
                before,
                limit,
            } => self.history(room, before, limit, reference, ctx),
            Request::Moderate { room, action } => self.moderate(room, action, reference, ctx),
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
                act.send(left, ctx);
            }
            let after_ms = 250 + spread(act.id.rotate_left(17), 1_000);
            act.send(protocol::encode(&ServerFrame::Reconnect { after_ms }), ctx);
            act.close(Close::Restart, ctx);
        });
    }

    fn not_joined(&mut self, room: &str, reference: Option<&str>, ctx: &mut Context<Self>) {
        let refusal = Refusal::new(ErrorCode::NotJoined, "join the room first");
        self.refuse(&refusal, Some(room), reference, ctx);
    }

    fn join(&mut self, room: RoomId, reference: Option<String>, ctx: &mut Context<Self>) {
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
            return self.refuse(&refusal, Some(&room), reference.as_deref(), ctx);
        }
        let request = self.shared.registry.send(JoinRoom {
            room: room.clone(),
            conn: self.conn(ctx),
            reference,
        });
        // Hold further frames until the room is known, so they reach it after the join.
        ctx.wait(request.into_actor(self).map(move |res, act, ctx| match res {
            Ok(addr) => {
                act.rooms.insert(room, addr);
            }
            Err(err) => {
                tracing::error!(parent: &act.span, room = %room, error = %err, "registry unreachable");
                let refusal = Refusal::new(ErrorCode::Internal, "could not join the room");
                act.refuse(&refusal, Some(&room), None, ctx);
            }
        }));
    }

    fn react(
        &mut self,
        room: RoomId,
        emoji: String,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let Some(index) = self.shared.emojis.iter().position(|e| *e == emoji) else {
            let refusal = Refusal::bad_request(format!(
                "unknown emoji {emoji:?}; allowed: {}",
                self.shared.emojis.join(", ")
            ));
            return self.refuse(&refusal, Some(&room), reference.as_deref(), ctx);
        };
        let Some(addr) = self.rooms.get(&room).cloned() else {
            return self.not_joined(&room, reference.as_deref(), ctx);
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
            return self.refuse(&refusal, Some(&room), reference.as_deref(), ctx);
        }
        addr.do_send(room::React {
            conn_id: self.id,
            emoji: index,
            reference,
            reply: self.outbox.clone(),
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
            return self.not_joined(&room, reference.as_deref(), ctx);
        }
        let request = self.shared.store.send(LoadHistory {
            room: room.to_string(),
            before: before.map(MessageId::into_string),
            limit,
        });
        ctx.spawn(request.into_actor(self).map(move |res, act, ctx| {
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
            act.send(frame, ctx);
        }));
    }

    fn moderate(
        &mut self,
        room: RoomId,
        action: ModAction,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        if !self.user.moderates(&room) {
            let refusal = Refusal::new(
                ErrorCode::Forbidden,
                "only moderators of this room may do that",
            );
            return self.refuse(&refusal, Some(&room), reference.as_deref(), ctx);
        }
        let request = self.shared.registry.send(ForRoom {
            room: room.clone(),
            msg: Moderate {
                by: self.user.id.clone(),
                action,
            },
        });
        ctx.spawn(request.into_actor(self).map(move |res, act, ctx| {
            let frame = match res {
                Ok(Ok(id)) => protocol::encode(&ServerFrame::Ack {
                    reference: reference.as_deref(),
                    id: &id,
                }),
                Ok(Err(_)) | Err(_) => Refusal::new(ErrorCode::Internal, "moderation failed")
                    .frame(Some(&room), reference.as_deref()),
            };
            act.send(frame, ctx);
        }));
    }
}

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
        });
        self.send(welcome, ctx);
        metrics::inc(&METRICS.connections);
        metrics::inc(&METRICS.connections_total);
        {
            tracing::debug!(parent: &self.span, "connected");
        }
        // On drain, leave in our own good time within the window (see `drain`).
        let mut draining = self.shared.draining.clone();
        ctx.spawn(
            async move {
                let _ = draining.wait_for(|d| *d).await;
            }
            .into_actor(self)
            .map(|_, act, ctx| act.drain(ctx)),
        );
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
                let _ = act.control.try_send(Control::Ping);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::dec(&METRICS.connections);
        for addr in self.rooms.values() {
            addr.do_send(room::Leave {
                conn_id: self.id,
                notify: false,
            });
        }
        // Dropping `closer` without a reason also ends the writer (with a plain close).
        tracing::debug!(parent: &self.span, "disconnected");
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for Session {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(AggregatedMessage::Text(text)) => {
                self.last_seen = Instant::now();
                self.on_text(&text, ctx);
            }
            Ok(AggregatedMessage::Binary(_)) => {
                self.last_seen = Instant::now();
                let refusal = Refusal::bad_request(
                    "binary frames are not supported; send JSON text frames".to_owned(),
                );
                self.refuse(&refusal, None, None, ctx);
                self.bad_frame(ctx);
            }
            Ok(AggregatedMessage::Ping(bytes)) => {
                self.last_seen = Instant::now();
                let _ = self.control.try_send(Control::Pong(bytes));
            }
            Ok(AggregatedMessage::Pong(_)) => self.last_seen = Instant::now(),
            Ok(AggregatedMessage::Close(reason)) => {
                let code = reason.map(|r| r.code).unwrap_or(CloseCode::Normal);
                self.close(Close::Echo(code), ctx);
            }
            Err(err) => {
                let too_big = matches!(err, ProtocolError::Overflow)
                    || matches!(&err, ProtocolError::Io(e) if e.to_string().contains("maximum continuation size"));
                if too_big {
                    tracing::info!(parent: &self.span, "closing: frame larger than {} bytes", self.shared.limits.max_frame_bytes);
                    let max = self.shared.limits.max_frame_bytes;
                    self.close(Close::TooBig { max }, ctx);
                } else {
                    tracing::info!(parent: &self.span, error = %err, "closing on a WebSocket protocol error");
                    self.close(Close::Protocol, ctx);
                }
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Detached> for Session {
    type Result = ();
    fn handle(&mut self, msg: Detached, ctx: &mut Context<Self>) {
        self.rooms.remove(&msg.room);
        if msg.close == Some(CloseCause::SlowConsumer) {
            self.close(Close::SlowConsumer, ctx);
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
