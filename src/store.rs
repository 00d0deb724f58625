//! Store actor: the only place a row is written or read, through SeaORM.
//!
//! Writes arrive as fire-and-forget messages from rooms and are kept, in
//! arrival order, in one bounded in-memory queue. A flush takes the head of the
//! queue, turns each run of consecutive chat messages into one multi-row
//! INSERT, and removes the writes only once the database has taken them. A
//! failed flush keeps them and retries with backoff, so a slow or absent
//! database never stalls a room: rooms never wait on this actor.
//!
//! Reads (history, recent, the server API) run concurrently with flushes and
//! merge in the queued messages of their room, so an acked message is readable
//! at once even before it is written.
//!
//! This module must not decide anything about rooms or users; it stores what it
//! is told and answers what it is asked.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use entity::message;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, Database, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::oneshot;

use crate::protocol::ChatMessage;
use crate::settings::{DatabaseSettings, StoreSettings};

/// Most writes held in memory while the database is away; past this, new writes
/// are refused loudly (logged and counted) instead of growing without bound.
pub const MAX_QUEUED_WRITES: usize = 200_000;

/// One write, in the order rooms asked for it.
#[derive(Debug, Clone)]
enum Write {
    Message(Arc<ChatMessage>),
}

/// What the rest of the server can see of the store without a round trip.
#[derive(Debug, Default)]
pub struct StoreStatus {
    /// The database is open and migrated.
    pub ready: AtomicBool,
    /// Writes waiting for the database.
    pub queued: AtomicUsize,
    /// Writes refused because the queue was full.
    pub dropped: AtomicUsize,
}

/// Errors of the store's read side.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is not ready yet")]
    NotReady,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

pub struct Store {
    db_settings: DatabaseSettings,
    settings: StoreSettings,
    db: Option<DatabaseConnection>,
    queue: VecDeque<Write>,
    in_flight: bool,
    failures: u32,
    status: Arc<StoreStatus>,
    /// Callers of [`Flush`] waiting for the queue to empty.
    flush_waiters: Vec<oneshot::Sender<()>>,
}

impl Store {
    pub fn new(db_settings: DatabaseSettings, settings: StoreSettings) -> Self {
        Store {
            db_settings,
            settings,
            db: None,
            queue: VecDeque::new(),
            in_flight: false,
            failures: 0,
            status: Arc::new(StoreStatus::default()),
            flush_waiters: Vec::new(),
        }
    }

    pub fn status(&self) -> Arc<StoreStatus> {
        self.status.clone()
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
                        act.status.ready.store(true, Ordering::Release);
                        act.flush(ctx);
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
        if self.queue.len() >= MAX_QUEUED_WRITES {
            let dropped = self.status.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                queued = self.queue.len(),
                dropped,
                "write queue full while the database is away: refusing a write"
            );
            return;
        }
        self.queue.push_back(write);
        self.status
            .queued
            .store(self.queue.len(), Ordering::Relaxed);
        if self.queue.len() >= self.settings.batch_size {
            self.flush(ctx);
        }
    }

    /// Write the head of the queue. At most one flush runs at a time, which keeps
    /// writes in order; the writes leave the queue only once they are stored.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.queue.is_empty() {
            if self.queue.is_empty() {
                self.wake_flush_waiters();
            }
            return;
        }
        let Some(db) = self.db.clone() else { return };
        // One batch: the longest run of consecutive messages at the head.
        let batch: Vec<Arc<ChatMessage>> = self
            .queue
            .iter()
            .take(self.settings.batch_size)
            .map(|w| match w {
                Write::Message(m) => m.clone(),
            })
            .collect();
        let n = batch.len();
        self.in_flight = true;
        ctx.spawn(
            async move { insert_messages(&db, &batch).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.in_flight = false;
                    match res {
                        Ok(()) => {
                            if act.failures > 0 {
                                tracing::info!(queued = act.queue.len(), "database writes resumed");
                            }
                            act.failures = 0;
                            act.queue.drain(..n);
                            act.status.queued.store(act.queue.len(), Ordering::Relaxed);
                            act.flush(ctx);
                        }
                        Err(err) => {
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

    /// Queued messages of `room` older than `before`, for merging into reads.
    fn queued_messages(&self, room: &str, before: Option<&str>) -> Vec<ChatMessage> {
        self.queue
            .iter()
            .map(|w| match w {
                Write::Message(m) => m,
            })
            .filter(|m| m.room == room && before.is_none_or(|b| m.id.as_str() < b))
            .map(|m| (**m).clone())
            .collect()
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
    }
}

/// Exponential backoff from 100 ms to 5 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(6)).min(5_000))
}

/// Open the database named by `settings.url` and run every pending migration.
pub async fn open_database(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    use migration::MigratorTrait;
    let url = settings.url.expose();
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("failed to create the database directory {}", dir.display())
        })?;
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(settings.max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let db = Database::connect(opts)
        .await
        .context("failed to connect to the database")?;
    migration::Migrator::up(&db, None)
        .await
        .context("failed to run migrations")?;
    Ok(db)
}

/// The file path of a `sqlite://path?...` URL (None for memory or other databases).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

async fn insert_messages(
    db: &DatabaseConnection,
    batch: &[Arc<ChatMessage>],
) -> anyhow::Result<()> {
    let rows = batch.iter().map(|m| message::ActiveModel {
        id: Set(m.id.clone()),
        room: Set(m.room.clone()),
        user_id: Set(m.user.clone()),
        name: Set(m.name.clone()),
        text: Set(m.text.clone()),
        badges: Set(serde_json::to_string(&m.badges).unwrap_or_else(|_| "[]".to_owned())),
        ts: Set(m.ts),
        deleted_at: Set(None),
        deleted_by: Set(None),
    });
    // A retry after a write that did land (but whose answer was lost) must not fail.
    message::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(message::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to insert messages")?;
    Ok(())
}

fn to_chat(row: message::Model) -> ChatMessage {
    ChatMessage {
        badges: serde_json::from_str(&row.badges).unwrap_or_default(),
        room: row.room,
        id: row.id,
        user: row.user_id,
        name: row.name,
        text: row.text,
        ts: row.ts,
    }
}

/// The newest `limit` non-deleted messages of `room` before `before`, oldest first.
async fn read_history(
    db: &DatabaseConnection,
    room: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<ChatMessage>, sea_orm::DbErr> {
    let mut q = message::Entity::find()
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::DeletedAt.is_null());
    if let Some(b) = before {
        q = q.filter(message::Column::Id.lt(b));
    }
    let rows = q
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().rev().map(to_chat).collect())
}

/// Merge stored and queued messages: sorted by id, no duplicates, the newest `limit`.
fn merge_newest(
    mut stored: Vec<ChatMessage>,
    queued: Vec<ChatMessage>,
    limit: usize,
) -> Vec<ChatMessage> {
    if !queued.is_empty() {
        stored.extend(queued);
        stored.sort_by(|a, b| a.id.cmp(&b.id));
        stored.dedup_by(|a, b| a.id == b.id);
    }
    let skip = stored.len().saturating_sub(limit);
    stored.drain(..skip);
    stored
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// Store an acked chat message (batched; never waits for the database).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersistMessage {
    pub message: Arc<ChatMessage>,
}

impl Handler<PersistMessage> for Store {
    type Result = ();
    fn handle(&mut self, msg: PersistMessage, ctx: &mut Context<Self>) {
        self.enqueue(Write::Message(msg.message), ctx);
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
        let queued = self.queued_messages(&msg.room, msg.before.as_deref());
        let db = self.db.clone();
        Box::pin(async move {
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            let stored = read_history(&db, &msg.room, msg.before.as_deref(), msg.limit).await?;
            Ok(merge_newest(stored, queued, msg.limit as usize))
        })
    }
}

/// What a room needs from the database when it starts.
#[derive(Debug, Default)]
pub struct RoomSnapshot {
    /// The newest non-deleted messages, oldest first.
    pub recent: Vec<ChatMessage>,
}

/// Load the state a room starts from.
#[derive(Message)]
#[rtype(result = "Result<RoomSnapshot, StoreError>")]
pub struct LoadRoom {
    pub room: String,
    pub recent: u64,
}

impl Handler<LoadRoom> for Store {
    type Result = ResponseFuture<Result<RoomSnapshot, StoreError>>;
    fn handle(&mut self, msg: LoadRoom, _: &mut Context<Self>) -> Self::Result {
        let queued = self.queued_messages(&msg.room, None);
        let db = self.db.clone();
        Box::pin(async move {
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            let stored = read_history(&db, &msg.room, None, msg.recent).await?;
            Ok(RoomSnapshot {
                recent: merge_newest(stored, queued, msg.recent as usize),
            })
        })
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

    fn m(id: &str) -> ChatMessage {
        ChatMessage {
            room: "r".into(),
            id: id.into(),
            user: "u".into(),
            name: "u".into(),
            text: "t".into(),
            ts: 0,
            badges: vec![],
        }
    }

    #[test]
    fn queued_and_stored_messages_merge_in_id_order_without_duplicates() {
        let merged = merge_newest(vec![m("a"), m("c")], vec![m("c"), m("b"), m("d")], 3);
        let ids: Vec<_> = merged.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "d"]);
    }

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/roomcast.db?mode=rwc"),
            Some("data/roomcast.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/x"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(30), Duration::from_millis(5_000));
    }
}
