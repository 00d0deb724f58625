//! Store actor: the only place a row is written or read, through SeaORM.
//!
//! Writes arrive as fire-and-forget messages from rooms and are kept, in
//! arrival order, in one bounded [`queue::WriteQueue`]. A flush takes the head
//! of the queue (a run of chat messages becomes one multi-row INSERT) and
//! removes the writes only once the database has taken them. A failed flush
//! keeps them and retries with backoff, so a slow or absent database never
//! stalls a room: rooms never wait on this actor.
//!
//! Reads ([`read`], stateless functions on the connection) run concurrently
//! with flushes; the actor merges in the queued writes of their room, so an
//! acked message is readable at once even before it is written.
//!
//! Layout: [`write`] (what a write is, and its SQL), [`queue`], [`read`],
//! [`rows`] (row ↔ type mapping), [`db`] (connect and migrate), [`platform`]
//! (§8's room state and streams), [`moderation`] and [`moderation_reads`]
//! (§7's moderation v2).
//!
//! This module must not decide anything about rooms or users; it stores what it
//! is told and answers what it is asked.

pub mod db;
pub mod moderation;
pub mod moderation_reads;
pub mod moderation_state;
pub mod platform;
pub mod queue;
pub mod read;
pub mod rows;
pub mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::oneshot;

pub use db::{open_database, sea_orm_exec};
pub use read::RoomSnapshot;
pub use write::{ModLogEntry, Snapshot, Write};

use crate::metrics::{self, METRICS};
use crate::protocol::ChatMessage;
use crate::settings::{DatabaseSettings, StoreSettings};
use queue::WriteQueue;

/// What the rest of the server can see of the store without a round trip.
#[derive(Debug, Default)]
pub struct StoreStatus {
    /// The database is open and migrated.
    pub ready: AtomicBool,
    /// The last write or check reached the database.
    pub db_ok: AtomicBool,
    /// Writes waiting for the database.
    pub queued: AtomicUsize,
    /// Bytes those writes hold.
    pub queued_bytes: AtomicUsize,
    /// Most bytes of chat messages the queue takes (`store.max_queue_bytes`).
    pub max_bytes: usize,
    /// Chat messages refused because the queue was full (never acked, never lost).
    pub dropped: AtomicUsize,
}

impl StoreStatus {
    /// Will the store take a chat message of about `bytes`? Rooms ask before
    /// they ack, so what is acked is always queued; moderation writes are
    /// taken whatever the queue holds.
    pub fn accepts(&self, bytes: usize) -> bool {
        let ok = self.queued_bytes.load(Ordering::Relaxed) + bytes <= self.max_bytes;
        if !ok {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// The database is migrated and answering.
    pub fn healthy(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.db_ok.load(Ordering::Acquire)
    }
}

/// Errors of the store's read side.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is not ready yet")]
    NotReady,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error("the store is unreachable")]
    Unreachable,
}

impl From<MailboxError> for StoreError {
    fn from(_: MailboxError) -> Self {
        StoreError::Unreachable
    }
}

pub struct Store {
    db_settings: DatabaseSettings,
    settings: StoreSettings,
    db: Option<DatabaseConnection>,
    queue: WriteQueue,
    in_flight: bool,
    failures: u32,
    status: Arc<StoreStatus>,
    /// Viewer snapshots older than this are deleted (hourly).
    snapshot_retention: Duration,
    /// Callers of [`Flush`] waiting for the queue to empty.
    flush_waiters: Vec<oneshot::Sender<()>>,
}

impl Store {
    pub fn new(db_settings: DatabaseSettings, settings: StoreSettings) -> Self {
        let max_bytes = settings.max_queue_bytes;
        Store {
            db_settings,
            settings,
            db: None,
            queue: WriteQueue::new(),
            in_flight: false,
            failures: 0,
            status: Arc::new(StoreStatus {
                max_bytes,
                ..StoreStatus::default()
            }),
            snapshot_retention: Duration::from_secs(90 * 24 * 3600),
            flush_waiters: Vec::new(),
        }
    }

    /// How long viewer snapshots are kept.
    pub fn with_snapshot_retention(mut self, retention: Duration) -> Self {
        self.snapshot_retention = retention;
        self
    }

    pub fn status(&self) -> Arc<StoreStatus> {
        self.status.clone()
    }

    /// The connection, for a read (the read itself runs outside the actor).
    fn reader(&self) -> Result<DatabaseConnection, StoreError> {
        self.db.clone().ok_or(StoreError::NotReady)
    }

    /// Delete viewer snapshots past their retention (and §8 state keys
    /// deleted more than a day ago).
    fn prune_snapshots(&mut self, ctx: &mut Context<Self>) {
        use entity::viewer_snapshot;
        let Some(db) = self.db.clone() else { return };
        let now = crate::protocol::now_ms();
        let cutoff = now - self.snapshot_retention.as_millis() as i64;
        ctx.spawn(
            async move {
                if let Err(err) =
                    platform::prune_deleted_state(&db, now - DELETED_STATE_KEPT_MS).await
                {
                    tracing::warn!(error = %err, "pruning deleted state keys failed");
                }
                viewer_snapshot::Entity::delete_many()
                    .filter(viewer_snapshot::Column::Minute.lt(cutoff))
                    .exec(&db)
                    .await
            }
            .into_actor(self)
            .map(|res, _, _| match res {
                Ok(r) if r.rows_affected > 0 => {
                    tracing::info!(deleted = r.rows_affected, "pruned old viewer snapshots")
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "pruning viewer snapshots failed"),
            }),
        );
    }

    /// Connect and migrate, retrying with backoff until it works.
    fn connect(&mut self, ctx: &mut Context<Self>) {
        let settings = self.db_settings.clone();
        let attempt = self.failures;
        ctx.spawn(
            async move { open_database(&settings).await }
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Ok(db) => {
                        tracing::info!("database open and migrated");
                        act.db = Some(db);
                        act.failures = 0;
                        act.status.db_ok.store(true, Ordering::Release);
                        act.status.ready.store(true, Ordering::Release);
                        act.flush(ctx);
                        act.prune_snapshots(ctx);
                    }
                    Err(err) => {
                        act.failures = attempt + 1;
                        let delay = backoff(act.failures);
                        tracing::warn!(error = %format!("{err:#}"), retry_in_ms = delay.as_millis() as u64,
                            "database not reachable");
                        ctx.run_later(delay, |act, ctx| act.connect(ctx));
                    }
                }),
        );
    }

    fn enqueue(&mut self, write: Write, ctx: &mut Context<Self>) {
        self.queue.push(write);
        self.publish_len();
        if self.queue.len() >= self.settings.batch_size {
            self.flush(ctx);
        }
    }

    fn publish_len(&self) {
        self.status
            .queued
            .store(self.queue.len(), Ordering::Relaxed);
        self.status
            .queued_bytes
            .store(self.queue.bytes(), Ordering::Relaxed);
    }

    /// Check now and then that the database answers (for `/readyz`), when no
    /// write is in flight to tell us.
    fn check_health(&mut self, ctx: &mut Context<Self>) {
        let Some(db) = self.db.clone().filter(|_| !self.in_flight) else {
            return;
        };
        ctx.spawn(
            async move { tokio::time::timeout(Duration::from_secs(3), db.ping()).await }
                .into_actor(self)
                .map(|res, act, _| {
                    let ok = matches!(res, Ok(Ok(())));
                    if act.status.db_ok.swap(ok, Ordering::AcqRel) != ok {
                        if ok {
                            tracing::info!("database reachable again");
                        } else {
                            tracing::warn!("database unreachable: /readyz answers 503");
                        }
                    }
                }),
        );
    }

    /// Write the head of the queue. At most one flush runs at a time, which keeps
    /// writes in order; the writes leave the queue only once they are stored.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.queue.is_empty() {
            self.wake_flush_waiters();
            return;
        }
        if self.in_flight {
            return;
        }
        let Some(db) = self.db.clone() else { return };
        let batch = self.queue.head_batch(self.settings.batch_size);
        let n = batch.len();
        self.in_flight = true;
        let started = std::time::Instant::now();
        ctx.spawn(
            async move { write::execute(&db, &batch).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.in_flight = false;
                    match res {
                        Ok(()) => {
                            metrics::inc(&METRICS.store_writes);
                            METRICS
                                .store_last_write_us
                                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                            if act.failures > 0 {
                                tracing::info!(queued = act.queue.len(), "database writes resumed");
                            }
                            act.failures = 0;
                            act.status.db_ok.store(true, Ordering::Release);
                            act.queue.commit(n);
                            act.publish_len();
                            act.flush(ctx);
                        }
                        Err(err) => {
                            metrics::inc(&METRICS.store_write_failures);
                            act.status.db_ok.store(false, Ordering::Release);
                            act.failures += 1;
                            let delay = backoff(act.failures);
                            tracing::warn!(error = %format!("{err:#}"), queued = act.queue.len(),
                                retry_in_ms = delay.as_millis() as u64, "database write failed; keeping the writes");
                            ctx.run_later(delay, |act, ctx| act.flush(ctx));
                        }
                    }
                }),
        );
    }

    fn wake_flush_waiters(&mut self) {
        for w in self.flush_waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

impl Actor for Store {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Rooms must never wait on us, whatever our mailbox holds.
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        self.connect(ctx);
        let every = Duration::from_millis(self.settings.flush_interval_ms.max(1));
        ctx.run_interval(every, |act, ctx| act.flush(ctx));
        ctx.run_interval(Duration::from_secs(3600), |act, ctx| {
            act.prune_snapshots(ctx)
        });
        ctx.run_interval(Duration::from_secs(5), |act, ctx| act.check_health(ctx));
    }
}

/// How long the row of a deleted state key is kept (a write of an older value
/// still on its way must find it).
const DELETED_STATE_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Exponential backoff from 100 ms to 5 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(6)).min(5_000))
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// Store a write (a message, a ban, a deletion, a log entry, …); batched, in order,
/// and never waiting for the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Persist {
    pub write: Write,
}

impl Handler<Persist> for Store {
    type Result = ();
    fn handle(&mut self, msg: Persist, ctx: &mut Context<Self>) {
        self.enqueue(msg.write, ctx);
    }
}

/// Older messages of a room: the newest `limit` before `before`, oldest first,
/// deleted ones left out. Includes messages still waiting to be written.
#[derive(Message)]
#[rtype(result = "Result<Vec<ChatMessage>, StoreError>")]
pub struct LoadHistory {
    pub room: String,
    pub before: Option<String>,
    pub limit: u64,
}

impl Handler<LoadHistory> for Store {
    type Result = ResponseFuture<Result<Vec<ChatMessage>, StoreError>>;
    fn handle(&mut self, msg: LoadHistory, _: &mut Context<Self>) -> Self::Result {
        let queued = self.queue.messages(&msg.room, msg.before.as_deref());
        let deleted = self.queue.deletes(&msg.room);
        let db = self.reader();
        Box::pin(async move {
            let db = db?;
            let stored =
                read::history(&db, &msg.room, msg.before.as_deref(), msg.limit, None).await?;
            Ok(read::merge_newest(
                stored,
                queued,
                &deleted,
                msg.limit as usize,
            ))
        })
    }
}

/// Load the state a room starts from: what is stored, with what is still queued replayed on top.
#[derive(Message)]
#[rtype(result = "Result<RoomSnapshot, StoreError>")]
pub struct LoadRoom {
    pub room: String,
    pub recent: u64,
}

impl Handler<LoadRoom> for Store {
    type Result = ResponseFuture<Result<RoomSnapshot, StoreError>>;
    fn handle(&mut self, msg: LoadRoom, _: &mut Context<Self>) -> Self::Result {
        let queued = self.queue.messages(&msg.room, None);
        let deleted = self.queue.deletes(&msg.room);
        let moderation = self.queue.moderation(&msg.room);
        let queued_platform = self.queue.platform(&msg.room);
        let queued_moderation = self.queue.moderation_v2(&msg.room);
        let db = self.reader();
        Box::pin(async move {
            let db = db?;
            let mut snap =
                read::room_state(&db, &msg.room, msg.recent, queued, &deleted, moderation).await?;
            snap.platform = platform::load(&db, &msg.room, &queued_platform).await?;
            snap.moderation = moderation::load(&db, &msg.room, &queued_moderation).await?;
            Ok(snap)
        })
    }
}

/// Contract §5: a room's non-deleted messages of `epoch` after `after`, by
/// sequence, at most `limit`, messages still waiting to be written included;
/// and the numbers of those deleted in that range.
#[derive(Message)]
#[rtype(result = "Result<(Vec<ChatMessage>, Vec<u64>), StoreError>")]
pub struct LoadSince {
    pub room: String,
    pub epoch: String,
    pub after: u64,
    pub limit: u64,
}

impl Handler<LoadSince> for Store {
    type Result = ResponseFuture<Result<(Vec<ChatMessage>, Vec<u64>), StoreError>>;
    fn handle(&mut self, msg: LoadSince, _: &mut Context<Self>) -> Self::Result {
        let queued: Vec<ChatMessage> = self
            .queue
            .messages(&msg.room, None)
            .into_iter()
            .filter(|m| m.epoch.as_deref() == Some(msg.epoch.as_str()))
            .filter(|m| m.seq.is_some_and(|s| s > msg.after))
            .collect();
        let deleted = self.queue.deletes(&msg.room);
        let db = self.reader();
        Box::pin(async move {
            let (mut found, mut gone) =
                read::since(&db?, &msg.room, &msg.epoch, msg.after, msg.limit).await?;
            found.extend(queued);
            found.sort_by_key(|m| m.seq);
            found.dedup_by(|a, b| a.id == b.id);
            gone.extend(
                found
                    .iter()
                    .filter(|m| deleted.contains(&m.id))
                    .filter_map(|m| m.seq),
            );
            found.retain(|m| !deleted.contains(&m.id));
            found.truncate(msg.limit as usize);
            Ok((found, gone))
        })
    }
}

/// One message of a room, if it exists and is not deleted (for the server API's 404).
#[derive(Message)]
#[rtype(result = "Result<Option<ChatMessage>, StoreError>")]
pub struct GetMessage {
    pub room: String,
    pub id: String,
}

impl Handler<GetMessage> for Store {
    type Result = ResponseFuture<Result<Option<ChatMessage>, StoreError>>;
    fn handle(&mut self, msg: GetMessage, _: &mut Context<Self>) -> Self::Result {
        if self.queue.deletes(&msg.room).contains(&msg.id) {
            return Box::pin(async { Ok(None) });
        }
        let queued = self
            .queue
            .messages(&msg.room, None)
            .into_iter()
            .find(|m| m.id == msg.id);
        let db = self.reader();
        Box::pin(async move {
            if queued.is_some() {
                return Ok(queued);
            }
            Ok(read::message(&db?, &msg.room, &msg.id).await?)
        })
    }
}

/// The moderation log of a room, newest first (queued entries included).
#[derive(Message)]
#[rtype(result = "Result<Vec<ModLogEntry>, StoreError>")]
pub struct LoadModerationLog {
    pub room: String,
    pub limit: u64,
}

impl Handler<LoadModerationLog> for Store {
    type Result = ResponseFuture<Result<Vec<ModLogEntry>, StoreError>>;
    fn handle(&mut self, msg: LoadModerationLog, _: &mut Context<Self>) -> Self::Result {
        let queued = self.queue.log(&msg.room);
        let db = self.reader();
        Box::pin(async move {
            let mut entries = read::moderation_log(&db?, &msg.room, msg.limit).await?;
            entries.extend(queued);
            entries.sort_by(|a, b| b.id.cmp(&a.id));
            entries.dedup_by(|a, b| a.id == b.id);
            entries.truncate(msg.limit as usize);
            Ok(entries)
        })
    }
}

/// A room's snapshots with `from <= minute < to`, oldest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<Snapshot>, StoreError>")]
pub struct LoadSnapshots {
    pub room: String,
    pub from: i64,
    pub to: i64,
}

impl Handler<LoadSnapshots> for Store {
    type Result = ResponseFuture<Result<Vec<Snapshot>, StoreError>>;
    fn handle(&mut self, msg: LoadSnapshots, _: &mut Context<Self>) -> Self::Result {
        let queued = self.queue.snapshots(&msg.room, msg.from, msg.to);
        let db = self.reader();
        Box::pin(async move {
            let mut snaps = read::snapshots(&db?, &msg.room, msg.from, msg.to).await?;
            // A queued snapshot only counts if no node's write for that minute landed first.
            for q in queued {
                if !snaps.iter().any(|s| s.minute == q.minute) {
                    snaps.push(q);
                }
            }
            snaps.sort_by_key(|s| s.minute);
            Ok(snaps)
        })
    }
}

/// Contract §8: a room's streams, newest first (queued ones included).
#[derive(Message)]
#[rtype(result = "Result<Vec<platform::StreamRecord>, StoreError>")]
pub struct LoadStreams {
    pub room: String,
    pub limit: u64,
}

impl Handler<LoadStreams> for Store {
    type Result = ResponseFuture<Result<Vec<platform::StreamRecord>, StoreError>>;
    fn handle(&mut self, msg: LoadStreams, _: &mut Context<Self>) -> Self::Result {
        let queued = self.queue.platform(&msg.room);
        let db = self.reader();
        Box::pin(async move { Ok(platform::streams(&db?, &msg.room, msg.limit, &queued).await?) })
    }
}

/// Wait until every queued write is stored (shutdown), or `timeout` passes.
/// Answers with the writes still queued (0 = all stored).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Flush {
    pub timeout: Duration,
}

impl Handler<Flush> for Store {
    type Result = ResponseActFuture<Self, usize>;
    fn handle(&mut self, msg: Flush, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flush_waiters.push(tx);
        self.flush(ctx);
        Box::pin(
            async move {
                let _ = tokio::time::timeout(msg.timeout, rx).await;
            }
            .into_actor(self)
            .map(|_, act, _| act.queue.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(30), Duration::from_millis(5_000));
    }
}
