//! The webhook actor, one per node: takes [`Emit`]s off the hot path, stores
//! them in batches in the outbox, and delivers what is due.
//!
//! - **Storing.** An event gets its id, `ts` and final body the moment it
//!   arrives; it waits in memory (bounded) until its batch is inserted, and a
//!   failed insert is retried with backoff, so the database being slow or away
//!   never reaches a room.
//! - **Delivering.** Every [`POLL_EVERY`] (and after each insert or outcome)
//!   the actor asks the outbox for due room heads, claims some with a lease
//!   ([`LEASE`]), and sends each in its own task, at most [`MAX_IN_FLIGHT`] at
//!   once. The outcome goes back to the row: delivered, due again after a
//!   backoff, or failed once `webhooks.retry_s` has passed since it was created.
//!
//! This file decides *when*; the SQL of each step is in [`super::outbox`], the
//! HTTP in [`super::deliver`], what follows a failed try in [`super::attempt`].
//! It must not know what an event means.

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use entity::webhook_outbox;
use futures_util::future::LocalBoxFuture;
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;

use super::attempt::{Outcome, Schedule, record};
use super::deliver::Deliverer;
use super::outbox::{self, NewEvent, Pending};
use super::stats::{self, inc};
use super::{Emit, WebhookError, now_ms};
use crate::settings::Settings;

/// How long a claimed event stays this node's: longer than one request may
/// take ([`super::deliver::REQUEST_TIMEOUT`]) plus recording its outcome. A node that
/// dies holding a lease delays that room's event by at most this much.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the outbox is asked for due events when nothing else wakes us.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// Events being sent at once by one node (each from a different room).
pub const MAX_IN_FLIGHT: usize = 16;
/// How often the pending gauges are read from the outbox.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// Delivered and failed events are kept this long (so that a late copy of a
/// keyed event is still refused), then deleted.
const KEEP_DONE: Duration = Duration::from_secs(24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// On shutdown, how long deliveries under way may take to finish (within the
/// shutdown's own bound).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Longest room id, event type and dedupe key the outbox columns hold.
const MAX_ROOM: usize = 64;
const MAX_KIND: usize = 64;
const MAX_KEY: usize = 255;

/// Opens the database once the store has migrated it (startup provides it, so
/// this module needs nothing from the store).
pub type OpenDb = Box<dyn Fn() -> LocalBoxFuture<'static, anyhow::Result<DatabaseConnection>>>;

/// The body every receiver gets, fields in this order.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    room: &'a str,
    ts: i64,
    data: &'a serde_json::Value,
}

pub struct WebhookSender {
    node: String,
    schedule: Schedule,
    batch_size: usize,
    flush_every: Duration,
    max_queued_bytes: usize,
    open: OpenDb,
    db: Option<DatabaseConnection>,
    deliverer: Rc<Deliverer>,
    ids: ulid::Generator,
    /// Events not stored yet, oldest first.
    queue: VecDeque<NewEvent>,
    queued_bytes: usize,
    inserting: bool,
    db_failures: u32,
    polling: bool,
    /// A poll was asked for while one ran.
    repoll: bool,
    /// Room → seq of the event this node is sending there.
    in_flight: HashMap<String, i64>,
    /// The outbox's pending events, as last read.
    stored: Pending,
    stopping: bool,
    /// Shutdown waits on these: everything stored; no delivery under way.
    stored_waiters: Vec<oneshot::Sender<()>>,
    idle_waiters: Vec<oneshot::Sender<()>>,
}

impl WebhookSender {
    /// The actor for `settings.webhooks`, or `None` when `webhooks.url` is unset.
    pub fn configured(
        settings: &Settings,
        node: String,
        open: OpenDb,
    ) -> Result<Option<WebhookSender>, WebhookError> {
        let hooks = &settings.webhooks;
        let Some(url) = hooks.url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let uri: awc::http::Uri = url
            .parse()
            .map_err(|e: awc::http::uri::InvalidUri| WebhookError::BadUrl(e.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(WebhookError::BadUrl(
                "expected http://host/… or https://host/…".to_owned(),
            ));
        }
        let secret = match &hooks.secret {
            Some(s) if !s.expose().is_empty() => s.expose().as_bytes().to_vec(),
            _ => {
                tracing::warn!(
                    "webhooks.url is set but webhooks.secret is not: bodies are signed with an empty key"
                );
                Vec::new()
            }
        };
        tracing::info!(host = uri.host().unwrap_or(""), "webhooks enabled");
        Ok(Some(WebhookSender {
            deliverer: Rc::new(Deliverer::new(url, &secret, &node)),
            node,
            schedule: Schedule {
                base: Duration::from_millis(hooks.retry_base_ms.max(1)),
                give_up_after_ms: (hooks.retry_s.saturating_mul(1000)).min(i64::MAX as u64) as i64,
            },
            batch_size: settings.store.batch_size.max(1),
            flush_every: Duration::from_millis(settings.store.flush_interval_ms.max(1)),
            max_queued_bytes: settings.store.max_queue_bytes,
            open,
            db: None,
            ids: ulid::Generator::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            inserting: false,
            db_failures: 0,
            polling: false,
            repoll: false,
            in_flight: HashMap::new(),
            stored: Pending::default(),
            stopping: false,
            stored_waiters: Vec::new(),
            idle_waiters: Vec::new(),
        }))
    }

    /// Open the database (retrying until it works), drop the leases a previous
    /// life of this node left, then start storing and delivering.
    fn connect(&mut self, ctx: &mut Context<Self>) {
        let node = self.node.clone();
        let opening = (self.open)();
        ctx.spawn(
            async move {
                let db = opening.await?;
                let released = outbox::release(&db, &node)
                    .await
                    .context("failed to release this node's old leases")?;
                Ok::<_, anyhow::Error>((db, released))
            }
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok((db, released)) => {
                    if released > 0 {
                        tracing::info!(released, "took back webhook events this node held before");
                    }
                    act.db = Some(db);
                    act.db_failures = 0;
                    act.flush(ctx);
                    act.poll(ctx);
                    act.refresh_stats(ctx);
                    act.prune(ctx);
                }
                Err(err) => {
                    act.db_failures += 1;
                    let delay = db_backoff(act.db_failures);
                    tracing::warn!(error = %format!("{err:#}"), retry_in_ms = delay.as_millis() as u64,
                        "webhook outbox: database not reachable");
                    ctx.run_later(delay, |act, ctx| act.connect(ctx));
                }
            }),
        );
    }

    /// Give an event its id, time and body, and queue it for the next insert.
    fn accept(&mut self, msg: Emit, ctx: &mut Context<Self>) {
        let Emit {
            kind,
            room,
            data,
            dedupe_key,
        } = msg;
        if room.len() > MAX_ROOM
            || kind.len() > MAX_KIND
            || dedupe_key.as_ref().is_some_and(|k| k.len() > MAX_KEY)
        {
            inc(&stats::DROPPED);
            tracing::error!(kind, room = %room, "webhook event refused: room, type or dedupe key too long");
            return;
        }
        let id = self
            .ids
            .generate()
            .unwrap_or_else(|_| ulid::Ulid::generate())
            .to_string();
        let created_at = now_ms();
        let envelope = Envelope {
            id: &id,
            kind,
            room: &room,
            ts: created_at,
            data: &data,
        };
        let body = match serde_json::to_string(&envelope) {
            Ok(body) => body,
            Err(err) => {
                inc(&stats::DROPPED);
                tracing::error!(kind, room = %room, error = %err, "webhook event refused: cannot serialise it");
                return;
            }
        };
        let event = NewEvent {
            id,
            kind: kind.to_owned(),
            room,
            body,
            dedupe_key,
            created_at,
        };
        if self.queued_bytes + event.size() > self.max_queued_bytes {
            inc(&stats::DROPPED);
            tracing::error!(kind, room = %event.room, queued = self.queue.len(),
                "webhook queue full while the database is away: dropping an event");
            return;
        }
        self.queued_bytes += event.size();
        self.queue.push_back(event);
        if self.queue.len() >= self.batch_size {
            self.flush(ctx);
        }
    }

    /// Insert the head of the queue. One insert at a time keeps the order; the
    /// events leave the queue only once stored.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.inserting {
            return;
        }
        if self.queue.is_empty() {
            self.wake_waiters();
            return;
        }
        let Some(db) = self.db.clone() else { return };
        let batch: Vec<NewEvent> = self.queue.iter().take(self.batch_size).cloned().collect();
        self.inserting = true;
        ctx.spawn(
            async move {
                outbox::insert(&db, &batch)
                    .await
                    .map(|_| batch.len())
                    .context("failed to store webhook events")
            }
            .into_actor(self)
            .map(|res, act, ctx| {
                act.inserting = false;
                match res {
                    Ok(n) => {
                        for e in act.queue.drain(..n.min(act.queue.len())) {
                            act.queued_bytes = act.queued_bytes.saturating_sub(e.size());
                        }
                        act.db_failures = 0;
                        act.poll(ctx);
                        act.flush(ctx);
                    }
                    Err(err) => {
                        act.db_failures += 1;
                        let delay = db_backoff(act.db_failures);
                        tracing::warn!(error = %format!("{err:#}"), queued = act.queue.len(),
                            retry_in_ms = delay.as_millis() as u64, "webhook outbox insert failed; keeping the events");
                        ctx.run_later(delay, |act, ctx| act.flush(ctx));
                    }
                }
            }),
        );
    }

    /// Claim due room heads (up to the free slots) and start sending them.
    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let Some(db) = self.db.clone() else { return };
        if self.polling {
            self.repoll = true;
            return;
        }
        let free = MAX_IN_FLIGHT.saturating_sub(self.in_flight.len());
        if free == 0 {
            return;
        }
        self.polling = true;
        let node = self.node.clone();
        let busy: HashSet<String> = self.in_flight.keys().cloned().collect();
        ctx.spawn(
            async move {
                let now = now_ms();
                let lease_until = now + LEASE.as_millis() as i64;
                let rows = outbox::due(&db, now, (free + busy.len()) as u64)
                    .await
                    .context("failed to read due webhook events")?;
                let mut won = Vec::new();
                for row in rows
                    .into_iter()
                    .filter(|r| !busy.contains(&r.room))
                    .take(free)
                {
                    match outbox::claim(&db, row.seq, &node, now, lease_until).await {
                        Ok(true) => won.push(row),
                        Ok(false) => {} // another node was faster
                        Err(err) => {
                            // Send what we won; the rest waits for the next poll.
                            tracing::warn!(error = %err, "failed to claim a webhook event");
                            break;
                        }
                    }
                }
                Ok::<_, anyhow::Error>(won)
            }
            .into_actor(self)
            .map(|res, act, ctx| {
                act.polling = false;
                match res {
                    // Stopping: the leases just won are released with the others.
                    Ok(won) if act.stopping => drop(won),
                    Ok(won) => {
                        for row in won {
                            act.deliver(row, ctx);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "webhook outbox poll failed")
                    }
                }
                if std::mem::take(&mut act.repoll) {
                    act.poll(ctx);
                }
            }),
        );
    }

    /// Send one claimed event in its own task, then record the outcome.
    fn deliver(&mut self, row: webhook_outbox::Model, ctx: &mut Context<Self>) {
        let Some(db) = self.db.clone() else { return };
        let room = row.room.clone();
        self.in_flight.insert(room.clone(), row.seq);
        let deliverer = self.deliverer.clone();
        let node = self.node.clone();
        let schedule = self.schedule;
        ctx.spawn(
            async move {
                inc(&stats::ATTEMPTS);
                let result = deliverer.post(&row.body).await;
                if result.is_ok() {
                    inc(&stats::DELIVERED);
                }
                record(&db, &node, &row, result, schedule).await
            }
            .into_actor(self)
            .map(move |outcome, act, ctx| {
                act.in_flight.remove(&room);
                match outcome {
                    Outcome::Retry(delay) => {
                        ctx.run_later(delay, |act, ctx| act.poll(ctx));
                    }
                    Outcome::Failed => inc(&stats::FAILED),
                    Outcome::Delivered | Outcome::Unrecorded => {}
                }
                act.poll(ctx);
                act.wake_waiters();
            }),
        );
    }

    /// Read the pending count and age from the outbox for the gauges.
    fn refresh_stats(&mut self, ctx: &mut Context<Self>) {
        let Some(db) = self.db.clone() else {
            self.publish_gauges();
            return;
        };
        ctx.spawn(
            async move { outbox::pending(&db).await }
                .into_actor(self)
                .map(|res, act, _| {
                    match res {
                        Ok(p) => act.stored = p,
                        Err(err) => tracing::debug!(error = %err, "webhook stats unavailable"),
                    }
                    act.publish_gauges();
                }),
        );
    }

    fn publish_gauges(&self) {
        let now = now_ms();
        let queued_oldest = self.queue.front().map(|e| e.created_at);
        let oldest = match (self.stored.oldest, queued_oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let pending = self.stored.count + self.queue.len() as u64;
        stats::PENDING.store(pending, std::sync::atomic::Ordering::Relaxed);
        let age = oldest.map_or(0, |t| (now - t).max(0) as u64);
        stats::OLDEST_PENDING_MS.store(age, std::sync::atomic::Ordering::Relaxed);
    }

    /// Delete events delivered or given up on long ago.
    fn prune(&mut self, ctx: &mut Context<Self>) {
        let Some(db) = self.db.clone() else { return };
        let before = now_ms() - KEEP_DONE.as_millis() as i64;
        ctx.spawn(
            async move { outbox::prune(&db, before).await }
                .into_actor(self)
                .map(|res, _, _| match res {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned old webhook events"),
                    Err(err) => tracing::warn!(error = %err, "pruning webhook events failed"),
                }),
        );
    }

    /// Tell a waiting shutdown what it waits for has happened.
    fn wake_waiters(&mut self) {
        if self.queue.is_empty() && !self.inserting {
            for w in self.stored_waiters.drain(..) {
                let _ = w.send(());
            }
        }
        if self.in_flight.is_empty() {
            for w in self.idle_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }
}

/// Exponential backoff from 100 ms to 5 s, for the database.
fn db_backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(6)).min(5_000))
}

impl Actor for WebhookSender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Rooms never wait on us, whatever our mailbox holds.
        ctx.set_mailbox_capacity(0);
        self.connect(ctx);
        ctx.run_interval(self.flush_every, |act, ctx| act.flush(ctx));
        ctx.run_interval(POLL_EVERY, |act, ctx| act.poll(ctx));
        ctx.run_interval(STATS_EVERY, |act, ctx| act.refresh_stats(ctx));
        ctx.run_interval(PRUNE_EVERY, |act, ctx| act.prune(ctx));
    }
}

impl Handler<Emit> for WebhookSender {
    type Result = ();
    fn handle(&mut self, msg: Emit, ctx: &mut Context<Self>) {
        self.accept(msg, ctx);
    }
}

/// Stop (at shutdown), all within `timeout`: store every queued event, let
/// deliveries under way finish (a few seconds at most), release this node's
/// leases so another node (or the next start) takes its events at once, and
/// stop the actor. Answers the events that could not be stored (lost).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "usize")]
pub struct Shutdown {
    /// The whole shutdown's bound; the last fifth of it is kept for releasing
    /// the leases.
    pub timeout: Duration,
}

impl Handler<Shutdown> for WebhookSender {
    type Result = ResponseActFuture<Self, usize>;
    fn handle(&mut self, msg: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        let (stored_tx, stored_rx) = oneshot::channel();
        let (idle_tx, idle_rx) = oneshot::channel();
        self.stored_waiters.push(stored_tx);
        self.idle_waiters.push(idle_tx);
        self.flush(ctx);
        self.wake_waiters();
        let waiting = msg.timeout.mul_f64(0.8);
        Box::pin(
            async move {
                let started = tokio::time::Instant::now();
                let _ = tokio::time::timeout(waiting, stored_rx).await;
                let grace = SHUTDOWN_GRACE.min(waiting.saturating_sub(started.elapsed()));
                let _ = tokio::time::timeout(grace, idle_rx).await;
            }
            .into_actor(self)
            .then(|(), act, _| {
                let db = act.db.clone();
                let node = act.node.clone();
                async move {
                    match db {
                        Some(db) => outbox::release(&db, &node).await.map_err(Some),
                        None => Err(None),
                    }
                }
                .into_actor(act)
            })
            .map(|released, act, ctx| {
                match released {
                    Ok(n) => tracing::info!(released = n, "webhooks stopped"),
                    Err(Some(err)) => tracing::warn!(error = %err,
                        "failed to release webhook leases; they run out by themselves"),
                    Err(None) => {}
                }
                let lost = act.queue.len();
                if lost > 0 {
                    tracing::error!(
                        lost,
                        "shutting down with webhook events the database did not take"
                    );
                }
                act.publish_gauges();
                ctx.stop();
                lost
            }),
        )
    }
}
