//! Contract §8 stream lifecycle in a room: going live and ending (through the
//! server API), the stream's figures (peak, distinct viewers, reactions,
//! messages), viewer milestones, and the moderators' `stats`. The figures'
//! bookkeeping is [`super::stream`]; this part decides who hears what.
//!
//! On one node everything is counted here. In a cluster Redis holds the
//! stream: one start and one end win, every node hands in its part every
//! [`TICK_EVERY`] and Redis picks the node that announces each milestone. A
//! node's reactions not yet handed in when the stream ends (at most one
//! tick's worth) are not in the summary.
//!
//! Must not block fan-out: frames are built once and handed to members'
//! queues; Redis is asked from futures, never waited on in a broadcast.

use std::time::Duration;

use actix::prelude::*;

use super::Room;
use super::stream::{LiveStream, StreamStart};
use crate::bridge::platform::{PlatformEvent, StreamEvent};
use crate::bridge::scripts::{EndStream, StartStream, StreamFields, TickStream};
use crate::bridge::{self, ClusterEvent};
use crate::protocol::platform::{MILESTONE_VIEWERS, StreamStatus, StreamSummary};
use crate::protocol::{self, ErrorCode, Refusal, ServerFrame};
use crate::store::Write;
use crate::store::platform::{PlatformWrite, StreamRecord};

/// How often a cluster node hands its part of the live stream to Redis.
pub const TICK_EVERY: Duration = Duration::from_secs(1);
/// How often the room samples its totals for the per-minute figures.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// When to try again after Redis could not take a stream change.
const STREAM_RETRY_MS: u64 = 1_000;

/// The room's live stream as `POST …/live` answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveView {
    pub id: String,
    pub status: StreamStatus,
    pub title: String,
    pub started_at: i64,
}

/// Go live with `title` (cleaned already); answers the live stream (the one
/// already live, if there is one).
#[derive(Message)]
#[rtype(result = "Result<LiveView, Refusal>")]
pub struct GoLive {
    pub title: String,
}

/// End the live stream; answers its summary, or None if none was live.
#[derive(Message)]
#[rtype(result = "Result<Option<StreamSummary>, Refusal>")]
pub struct EndLive;

fn unavailable() -> Refusal {
    Refusal::retry(
        ErrorCode::Internal,
        "the room's stream cannot be changed right now; retry shortly",
        STREAM_RETRY_MS,
    )
}

fn view(s: &LiveStream) -> LiveView {
    LiveView {
        id: s.id.clone(),
        status: StreamStatus::Live,
        title: s.title.clone(),
        started_at: s.started_at,
    }
}

fn start_of(f: &StreamFields) -> StreamStart {
    StreamStart {
        id: f.id.clone(),
        title: f.title.clone(),
        started_at: f.started_at,
        start_seq: f.start_seq,
        epoch: f.epoch.clone(),
    }
}

impl Handler<GoLive> for Room {
    type Result = ResponseActFuture<Self, Result<LiveView, Refusal>>;
    fn handle(&mut self, msg: GoLive, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        if let Some(live) = &self.live {
            return Box::pin(fut::ready(Ok(view(live))));
        }
        let start = StreamStart {
            id: self.next_id(),
            title: msg.title,
            started_at: protocol::now_ms(),
            start_seq: self.seq.last(),
            epoch: self.seq.epoch().to_owned(),
        };
        let Some(bridge) = self.cfg.bridge.clone() else {
            self.stream_started(start, true, true);
            let answer = self.live.as_ref().map(view).ok_or_else(unavailable);
            return Box::pin(fut::ready(answer));
        };
        let ask = bridge.send(StartStream {
            room: self.id.clone(),
            id: start.id.clone(),
            title: start.title.clone(),
            started_at: start.started_at,
            viewers: self.viewers(),
        });
        Box::pin(ask.into_actor(self).map(|res, act, _| {
            let (won, fields) = match res {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => {
                    tracing::warn!(parent: &act.span, error = %err, "could not start a stream in redis");
                    return Err(unavailable());
                }
                Err(_) => return Err(unavailable()),
            };
            // Ours: announced and stored here, and sent to the other nodes. One
            // another node started is announced here when its event comes.
            if won {
                act.stream_started(start_of(&fields), true, true);
                act.publish_cluster(|| {
                    ClusterEvent::Platform(PlatformEvent::Stream(StreamEvent::Live {
                        id: fields.id.clone(),
                        title: fields.title.clone(),
                        started_at: fields.started_at,
                    }))
                });
            }
            Ok(match act.live.as_ref().filter(|l| l.id == fields.id) {
                Some(live) => view(live),
                None => LiveView {
                    id: fields.id,
                    status: StreamStatus::Live,
                    title: fields.title,
                    started_at: fields.started_at,
                },
            })
        }))
    }
}

impl Handler<EndLive> for Room {
    type Result = ResponseActFuture<Self, Result<Option<StreamSummary>, Refusal>>;
    fn handle(&mut self, _: EndLive, ctx: &mut Context<Self>) -> Self::Result {
        self.touched(ctx);
        let Some(bridge) = self.cfg.bridge.clone() else {
            let Some(live) = self.live.take() else {
                return Box::pin(fut::ready(Ok(None)));
            };
            let now = protocol::now_ms();
            let summary = live.summary(now, self.seq.last(), self.seq.epoch());
            self.stream_ended(&live.id, &start_record(&live), summary, true);
            return Box::pin(fut::ready(Ok(Some(summary))));
        };
        let last = self.live.as_mut().map(|l| (l.id.clone(), l.take_tick()));
        let ask = bridge.send(EndStream {
            room: self.id.clone(),
            last,
        });
        Box::pin(ask.into_actor(self).map(|res, act, _| {
            let ended = match res {
                Ok(Ok(ended)) => ended,
                Ok(Err(err)) => {
                    tracing::warn!(parent: &act.span, error = %err, "could not end a stream in redis");
                    return Err(unavailable());
                }
                Err(_) => return Err(unavailable()),
            };
            let Some(ended) = ended else {
                act.live = None;
                return Ok(None);
            };
            let f = &ended.fields;
            let now = protocol::now_ms();
            let summary = StreamSummary {
                duration_s: super::stream::duration_s(f.started_at, now),
                peak: f.peak,
                unique_viewers: ended.unique_viewers,
                messages: super::stream::messages_since(
                    f.start_seq,
                    &f.epoch,
                    ended.last_seq,
                    &ended.epoch,
                ),
                reactions: f.reactions,
            };
            let record = StreamRecord {
                id: f.id.clone(),
                room: act.id.to_string(),
                title: f.title.clone(),
                started_at: f.started_at,
                start_seq: f.start_seq,
                epoch: Some(f.epoch.clone()),
                ended_at: None,
                summary: None,
                progress: None,
            };
            act.stream_ended(&f.id, &record, summary, true);
            let id = f.id.clone();
            act.publish_cluster(|| {
                ClusterEvent::Platform(PlatformEvent::Stream(StreamEvent::Ended { id, summary }))
            });
            Ok(Some(summary))
        }))
    }
}

/// The stored row of a live stream (no summary yet).
fn start_record(live: &LiveStream) -> StreamRecord {
    StreamRecord {
        id: live.id.clone(),
        room: String::new(),
        title: live.title.clone(),
        started_at: live.started_at,
        start_seq: live.start_seq,
        epoch: Some(live.epoch.clone()),
        ended_at: None,
        summary: None,
        progress: None,
    }
}

impl Room {
    /// A stream went live (here, or on another node): everyone in the room
    /// now counts as a viewer of it; with `announce` members hear of it, with
    /// `store` (this node started it) it is stored.
    fn stream_started(&mut self, start: StreamStart, announce: bool, store: bool) {
        let viewers = self.viewers();
        let mut live = LiveStream::new(start, viewers, self.cfg.bridge.is_some());
        for conn in self.members.conns() {
            live.saw(&conn.user.id);
        }
        if announce {
            let frame = protocol::encode(&ServerFrame::Stream {
                room: &self.id,
                status: StreamStatus::Live,
                title: Some(&live.title),
                started_at: Some(live.started_at),
                summary: None,
            });
            self.broadcast(&frame);
        }
        if store {
            let mut record = start_record(&live);
            record.room = self.id.to_string();
            self.persist(Write::Platform(PlatformWrite::StreamStarted(
                std::sync::Arc::new(record),
            )));
        }
        self.live = Some(live);
        self.stream_viewers();
    }

    /// The stream ended: members hear its summary; with `store` (this node
    /// ended it) it is stored and the `stream.ended` webhook goes out.
    fn stream_ended(
        &mut self,
        id: &str,
        start: &StreamRecord,
        summary: StreamSummary,
        store: bool,
    ) {
        if self.live.as_ref().is_some_and(|l| l.id == id) {
            self.live = None;
        }
        let frame = protocol::encode(&ServerFrame::Stream {
            room: &self.id,
            status: StreamStatus::Ended,
            title: None,
            started_at: None,
            summary: Some(&summary),
        });
        self.broadcast(&frame);
        if !store {
            return;
        }
        let now = protocol::now_ms();
        let record = StreamRecord {
            room: self.id.to_string(),
            ended_at: Some(now),
            summary: Some(summary),
            progress: None,
            ..start.clone()
        };
        self.cfg.webhooks.event(
            crate::webhooks::kind::STREAM_ENDED,
            &self.id,
            &serde_json::json!({
                "id": record.id,
                "title": record.title,
                "started_at": record.started_at,
                "ended_at": now,
                "summary": summary,
            }),
        );
        self.persist(Write::Platform(PlatformWrite::StreamEnded(
            std::sync::Arc::new(record),
        )));
    }

    /// The viewer count changed: the live stream's peak and milestones.
    pub(super) fn stream_viewers(&mut self) {
        let viewers = self.viewers();
        let Some(live) = &mut self.live else {
            return;
        };
        let due = live.observe(viewers, &self.cfg.milestones);
        for value in due {
            self.announce_milestone(value);
        }
    }

    /// A member joined while the stream is live: one more distinct viewer?
    pub(super) fn stream_saw(&mut self, user: &str) {
        if let Some(live) = &mut self.live {
            live.saw(user);
        }
    }

    /// A reaction taken on this node counts for the live stream.
    pub(super) fn stream_reacted(&mut self) {
        if let Some(live) = &mut self.live {
            live.reacted();
        }
    }

    fn announce_milestone(&self, value: u64) {
        let frame = protocol::encode(&ServerFrame::Milestone {
            room: &self.id,
            kind: MILESTONE_VIEWERS,
            value,
        });
        self.broadcast(&frame);
    }

    /// `joined.stream`: the live stream, if one is (of `live`, so the
    /// caller may borrow the room's other parts meanwhile).
    pub(super) fn joined_stream(
        live: &Option<LiveStream>,
    ) -> Option<protocol::platform::StreamLive<'_>> {
        live.as_ref().map(|l| protocol::platform::StreamLive {
            status: StreamStatus::Live,
            title: &l.title,
            started_at: l.started_at,
        })
    }

    /// The open stream as stored, at start: live again (nothing announced).
    pub(super) fn load_stream(&mut self, open: Option<StreamRecord>) {
        if self.live.is_some() {
            return;
        }
        if let Some(mut r) = open {
            let stored = r.progress.take();
            let start = StreamStart {
                id: r.id,
                title: r.title,
                started_at: r.started_at,
                start_seq: r.start_seq,
                epoch: r.epoch.unwrap_or_default(),
            };
            self.stream_started(start, false, false);
            if let (Some(live), Some(stored), None) = (&mut self.live, stored, &self.cfg.bridge) {
                live.resume(stored);
            }
        }
    }

    /// One node: store what the live stream counted since the last time.
    fn save_stream(&mut self) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        if let Some(progress) = live.take_progress(&self.id) {
            self.persist(Write::Platform(PlatformWrite::StreamProgress(
                std::sync::Arc::new(progress),
            )));
        }
    }

    /// What Redis holds of the stream when this room comes online in a
    /// cluster: the one live there (or none) wins over the stored copy.
    pub(super) fn online_stream(&mut self, fields: Option<StreamFields>) {
        match fields {
            Some(f) if self.live.as_ref().is_none_or(|l| l.id != f.id) => {
                self.live = None;
                let reached = f.reached.clone();
                self.stream_started(start_of(&f), false, false);
                if let Some(live) = &mut self.live {
                    for value in reached {
                        live.reached(value);
                    }
                }
            }
            Some(_) => {}
            None => self.live = None,
        }
    }

    /// The stream hash to seed Redis with if it lost it.
    pub(super) fn stream_seed(&self) -> Option<StreamFields> {
        self.live.as_ref().map(|l| StreamFields {
            id: l.id.clone(),
            title: l.title.clone(),
            started_at: l.started_at,
            start_seq: l.start_seq,
            epoch: l.epoch.clone(),
            peak: l.peak,
            reactions: 0,
            reached: Vec::new(),
        })
    }

    /// A stream event from another node (checked by the bridge).
    pub(super) fn remote_stream(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Live {
                id,
                title,
                started_at,
            } => {
                if self.live.as_ref().is_some_and(|l| l.id == id) {
                    return;
                }
                let start = StreamStart {
                    id,
                    title,
                    started_at,
                    start_seq: self.seq.last(),
                    epoch: self.seq.epoch().to_owned(),
                };
                self.stream_started(start, true, false);
            }
            StreamEvent::Ended { id, summary } => {
                let record = StreamRecord {
                    id: id.clone(),
                    room: String::new(),
                    title: String::new(),
                    started_at: 0,
                    start_seq: 0,
                    epoch: None,
                    ended_at: None,
                    summary: None,
                    progress: None,
                };
                self.stream_ended(&id, &record, summary, false);
            }
        }
    }

    /// Another node announced a milestone of the live stream.
    pub(super) fn remote_milestone(&mut self, stream: &str, value: u64) {
        let Some(live) = &mut self.live else {
            return;
        };
        if live.id == stream && live.reached(value) {
            self.announce_milestone(value);
        }
    }

    /// Timers of §8: the cluster tick, the rate samples, the moderators' stats.
    pub(super) fn start_live_timers(&mut self, ctx: &mut Context<Self>) {
        if self.cfg.bridge.is_some() {
            ctx.run_interval(TICK_EVERY, |act, ctx| act.tick_stream(ctx));
        } else {
            ctx.run_interval(TICK_EVERY, |act, _| act.save_stream());
        }
        self.rate.sample(protocol::now_ms(), 0, 0);
        ctx.run_interval(SAMPLE_EVERY, |act, _| {
            let (m, r) = act.totals;
            act.rate.sample(protocol::now_ms(), m, r);
        });
        let every = self.cfg.stats_interval.max(Duration::from_millis(100));
        ctx.run_interval(every, |act, ctx| act.send_stats(ctx));
    }

    /// Hand this node's part of the live stream to Redis; announce the
    /// milestones Redis gave this node.
    fn tick_stream(&mut self, ctx: &mut Context<Self>) {
        let (Some(bridge), Some(live)) = (self.cfg.bridge.clone(), self.live.as_mut()) else {
            return;
        };
        if !live.has_tick() {
            return;
        }
        let id = live.id.clone();
        let tick = live.take_tick();
        let ask = bridge.send(TickStream {
            room: self.id.clone(),
            id: id.clone(),
            tick: tick.clone(),
        });
        ctx.spawn(ask.into_actor(self).map(move |res, act, _| {
            let Some(live) = act.live.as_mut().filter(|l| l.id == id) else {
                return;
            };
            let news: Vec<u64> = match res {
                Ok(Ok(Some(won))) => won.into_iter().filter(|v| live.reached(*v)).collect(),
                // The stream is over in Redis: its end is on its way.
                Ok(Ok(None)) => Vec::new(),
                Ok(Err(_)) | Err(_) => {
                    live.untake(tick);
                    Vec::new()
                }
            };
            for value in news {
                act.announce_milestone(value);
                let stream = id.clone();
                act.publish_cluster(|| {
                    ClusterEvent::Platform(PlatformEvent::Milestone { stream, value })
                });
            }
        }));
    }

    /// The moderators' and broadcaster's `stats` (contract §8).
    fn send_stats(&mut self, ctx: &mut Context<Self>) {
        if !self.members.conns().any(|c| self.conn_rank(c).moderates()) {
            return;
        }
        let now = protocol::now_ms();
        let (m, r) = self.totals;
        let (messages_per_min, reactions_per_min) = self.rate.per_min(now, m, r);
        let unique_here = self.live.as_ref().map(LiveStream::unique_here);
        let peak = self.live.as_ref().map_or(self.peak, |l| l.peak);
        let send = move |act: &Room, unique_viewers: u64| {
            let frame = protocol::encode(&ServerFrame::Stats {
                room: &act.id,
                viewers: act.viewers(),
                peak,
                unique_viewers,
                messages_per_min,
                reactions_per_min,
            });
            act.to_moderators(&frame);
        };
        match (&self.cfg.bridge, unique_here) {
            (Some(bridge), Some(here)) => {
                let ask = bridge.send(bridge::scripts::StreamViewers {
                    room: self.id.clone(),
                });
                ctx.spawn(ask.into_actor(self).map(move |res, act, _| {
                    let cluster = res.ok().flatten().unwrap_or(0);
                    send(act, cluster.max(here));
                }));
            }
            (_, unique) => send(self, unique.unwrap_or(0)),
        }
    }
}
