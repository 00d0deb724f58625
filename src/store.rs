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

use std::collections::{HashMap, HashSet, VecDeque};
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

use crate::metrics::{self, METRICS};
use crate::protocol::ChatMessage;
use crate::settings::{DatabaseSettings, StoreSettings};

/// Most writes held in memory while the database is away; past this, new writes
/// are refused loudly (logged and counted) instead of growing without bound.
pub const MAX_QUEUED_WRITES: usize = 200_000;

/// One write, in the order rooms asked for it. Every write is idempotent
/// (upserts, conditional updates, inserts that ignore duplicates), so retrying
/// one whose answer was lost is safe.
#[derive(Debug, Clone)]
pub enum Write {
    /// An acked chat message.
    Message(Arc<ChatMessage>),
    /// Mark a message deleted (it stays in the table).
    Delete {
        room: String,
        id: String,
        by: String,
        at: i64,
    },
    /// A moderation log entry.
    Log(Arc<ModLogEntry>),
    /// A ban in force.
    Ban {
        room: String,
        user: String,
        reason: Option<String>,
        by: String,
        ts: i64,
    },
    /// Lift a ban and a timeout.
    Unban { room: String, user: String },
    /// A timeout until `until` (epoch ms).
    Timeout {
        room: String,
        user: String,
        until: i64,
    },
    /// Slow mode changed.
    SlowMode { room: String, seconds: u64 },
    /// A room's statistics for one minute (the first node's write wins).
    Snapshot(Snapshot),
}

/// One room's viewer statistics for one period (a minute by default).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot {
    #[serde(skip)]
    pub room: String,
    /// Start of the period (epoch ms).
    pub minute: i64,
    pub min: u64,
    pub max: u64,
    pub avg: f64,
    pub messages: u64,
    pub reactions: u64,
}

/// A moderation action as logged and as the server API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModLogEntry {
    pub id: String,
    #[serde(skip)]
    pub room: String,
    pub action: String,
    pub user: Option<String>,
    pub by: String,
    pub reason: Option<String>,
    pub seconds: Option<u64>,
    pub message_id: Option<String>,
    pub ts: i64,
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
    /// Viewer snapshots older than this are deleted (hourly).
    snapshot_retention: Duration,
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
            snapshot_retention: Duration::from_secs(90 * 24 * 3600),
            flush_waiters: Vec::new(),
        }
    }

    /// How long viewer snapshots are kept.
    pub fn with_snapshot_retention(mut self, retention: Duration) -> Self {
        self.snapshot_retention = retention;
        self
    }

    /// Delete viewer snapshots past their retention.
    fn prune_snapshots(&mut self, ctx: &mut Context<Self>) {
        use entity::viewer_snapshot;
        let Some(db) = self.db.clone() else { return };
        let cutoff = crate::protocol::now_ms() - self.snapshot_retention.as_millis() as i64;
        ctx.spawn(
            async move {
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
        // One batch: the run of consecutive messages at the head, or one other write.
        let batch: Vec<Write> = match self.queue.front() {
            Some(Write::Message(_)) => self
                .queue
                .iter()
                .take(self.settings.batch_size)
                .take_while(|w| matches!(w, Write::Message(_)))
                .cloned()
                .collect(),
            Some(other) => vec![other.clone()],
            None => return,
        };
        let n = batch.len();
        self.in_flight = true;
        let started = std::time::Instant::now();
        ctx.spawn(
            async move { execute(&db, &batch).await }
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
                            act.queue.drain(..n);
                            act.status.queued.store(act.queue.len(), Ordering::Relaxed);
                            act.flush(ctx);
                        }
                        Err(err) => {
                            metrics::inc(&METRICS.store_write_failures);
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
            .filter_map(|w| match w {
                Write::Message(m) if m.room == room && before.is_none_or(|b| m.id.as_str() < b) => {
                    Some((**m).clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Ids of `room`'s messages whose deletion is still queued.
    fn queued_deletes(&self, room: &str) -> Vec<String> {
        self.queue
            .iter()
            .filter_map(|w| match w {
                Write::Delete { room: r, id, .. } if r == room => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Queued moderation writes of `room`, in order, to replay over what is stored.
    fn queued_moderation(&self, room: &str) -> Vec<Write> {
        self.queue
            .iter()
            .filter(|w| match w {
                Write::Ban { room: r, .. }
                | Write::Unban { room: r, .. }
                | Write::Timeout { room: r, .. }
                | Write::SlowMode { room: r, .. } => r == room,
                Write::Log(e) => e.room == room,
                _ => false,
            })
            .cloned()
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
        ctx.run_interval(Duration::from_secs(3600), |act, ctx| {
            act.prune_snapshots(ctx)
        });
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

/// Run one SQL statement on the database at `url` (administration: tests and
/// tools create databases with it).
pub async fn sea_orm_exec(url: &str, sql: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let db = Database::connect(url).await.context("failed to connect")?;
    db.execute_unprepared(sql)
        .await
        .context("statement failed")?;
    db.close().await.context("failed to close")?;
    Ok(())
}

/// The file path of a `sqlite://path?...` URL (None for memory or other databases).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Run one batch: a multi-row INSERT of messages, or one other write.
async fn execute(db: &DatabaseConnection, batch: &[Write]) -> anyhow::Result<()> {
    use entity::{moderation_log, room_ban, room_setting, room_timeout};
    use sea_orm::sea_query::Expr;
    let Some(first) = batch.first() else {
        return Ok(());
    };
    match first {
        Write::Message(_) => {
            let rows = batch.iter().filter_map(|w| match w {
                Write::Message(m) => Some(message::ActiveModel {
                    id: Set(m.id.clone()),
                    room: Set(m.room.clone()),
                    user_id: Set(m.user.clone()),
                    name: Set(m.name.clone()),
                    text: Set(m.text.clone()),
                    badges: Set(
                        serde_json::to_string(&m.badges).unwrap_or_else(|_| "[]".to_owned())
                    ),
                    ts: Set(m.ts),
                    deleted_at: Set(None),
                    deleted_by: Set(None),
                }),
                _ => None,
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
        }
        Write::Delete { room, id, by, at } => {
            message::Entity::update_many()
                .col_expr(message::Column::DeletedAt, Expr::value(*at))
                .col_expr(message::Column::DeletedBy, Expr::value(by.clone()))
                .filter(message::Column::Id.eq(id.as_str()))
                .filter(message::Column::Room.eq(room.as_str()))
                .filter(message::Column::DeletedAt.is_null())
                .exec(db)
                .await
                .context("failed to mark a message deleted")?;
        }
        Write::Log(e) => {
            let row = moderation_log::ActiveModel {
                id: Set(e.id.clone()),
                room: Set(e.room.clone()),
                action: Set(e.action.clone()),
                user_id: Set(e.user.clone()),
                moderator_id: Set(e.by.clone()),
                reason: Set(e.reason.clone()),
                seconds: Set(e.seconds.map(|s| s as i64)),
                message_id: Set(e.message_id.clone()),
                ts: Set(e.ts),
            };
            moderation_log::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(moderation_log::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to log a moderation action")?;
        }
        Write::Ban {
            room,
            user,
            reason,
            by,
            ts,
        } => {
            let row = room_ban::ActiveModel {
                room: Set(room.clone()),
                user_id: Set(user.clone()),
                reason: Set(reason.clone()),
                moderator_id: Set(by.clone()),
                ts: Set(*ts),
            };
            room_ban::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([room_ban::Column::Room, room_ban::Column::UserId])
                        .update_columns([
                            room_ban::Column::Reason,
                            room_ban::Column::ModeratorId,
                            room_ban::Column::Ts,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a ban")?;
        }
        Write::Unban { room, user } => {
            room_ban::Entity::delete_many()
                .filter(room_ban::Column::Room.eq(room.as_str()))
                .filter(room_ban::Column::UserId.eq(user.as_str()))
                .exec(db)
                .await
                .context("failed to lift a ban")?;
            room_timeout::Entity::delete_many()
                .filter(room_timeout::Column::Room.eq(room.as_str()))
                .filter(room_timeout::Column::UserId.eq(user.as_str()))
                .exec(db)
                .await
                .context("failed to lift a timeout")?;
        }
        Write::Timeout { room, user, until } => {
            let row = room_timeout::ActiveModel {
                room: Set(room.clone()),
                user_id: Set(user.clone()),
                until_ts: Set(*until),
            };
            room_timeout::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([room_timeout::Column::Room, room_timeout::Column::UserId])
                        .update_column(room_timeout::Column::UntilTs)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a timeout")?;
        }
        Write::Snapshot(snap) => {
            use entity::viewer_snapshot;
            let row = viewer_snapshot::ActiveModel {
                room: Set(snap.room.clone()),
                minute: Set(snap.minute),
                min: Set(snap.min as i64),
                max: Set(snap.max as i64),
                avg: Set(snap.avg),
                messages: Set(snap.messages as i64),
                reactions: Set(snap.reactions as i64),
            };
            viewer_snapshot::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        viewer_snapshot::Column::Room,
                        viewer_snapshot::Column::Minute,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a viewer snapshot")?;
        }
        Write::SlowMode { room, seconds } => {
            let row = room_setting::ActiveModel {
                room: Set(room.clone()),
                slow_mode: Set(*seconds as i64),
            };
            room_setting::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(room_setting::Column::Room)
                        .update_column(room_setting::Column::SlowMode)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store slow mode")?;
        }
    }
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
    without_users: &[String],
) -> Result<Vec<ChatMessage>, sea_orm::DbErr> {
    let mut q = message::Entity::find()
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::DeletedAt.is_null());
    if let Some(b) = before {
        q = q.filter(message::Column::Id.lt(b));
    }
    if !without_users.is_empty() {
        q = q.filter(message::Column::UserId.is_not_in(without_users.iter().map(String::as_str)));
    }
    let rows = q
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().rev().map(to_chat).collect())
}

/// Merge stored and queued messages: sorted by id, no duplicates, none whose
/// deletion is queued, the newest `limit`.
fn merge_newest(
    mut stored: Vec<ChatMessage>,
    queued: Vec<ChatMessage>,
    deleted: &[String],
    limit: usize,
) -> Vec<ChatMessage> {
    if !queued.is_empty() {
        stored.extend(queued);
        stored.sort_by(|a, b| a.id.cmp(&b.id));
        stored.dedup_by(|a, b| a.id == b.id);
    }
    if !deleted.is_empty() {
        stored.retain(|m| !deleted.contains(&m.id));
    }
    let skip = stored.len().saturating_sub(limit);
    stored.drain(..skip);
    stored
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

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
        let deleted = self.queued_deletes(&msg.room);
        let db = self.db.clone();
        Box::pin(async move {
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            let stored =
                read_history(&db, &msg.room, msg.before.as_deref(), msg.limit, &[]).await?;
            Ok(merge_newest(stored, queued, &deleted, msg.limit as usize))
        })
    }
}

/// What a room needs from the database when it starts.
#[derive(Debug, Default)]
pub struct RoomSnapshot {
    /// The newest non-deleted messages of users not banned, oldest first.
    pub recent: Vec<ChatMessage>,
    /// Users banned from the room.
    pub bans: HashSet<String>,
    /// Users timed out, with the end of their timeout (epoch ms); only those still running.
    pub timeouts: HashMap<String, i64>,
    pub slow_mode: u64,
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
        let queued = self.queued_messages(&msg.room, None);
        let deleted = self.queued_deletes(&msg.room);
        let moderation = self.queued_moderation(&msg.room);
        let db = self.db.clone();
        Box::pin(async move {
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            load_room(&db, &msg.room, msg.recent, queued, &deleted, moderation).await
        })
    }
}

async fn load_room(
    db: &DatabaseConnection,
    room: &str,
    recent: u64,
    queued: Vec<ChatMessage>,
    deleted: &[String],
    moderation: Vec<Write>,
) -> Result<RoomSnapshot, StoreError> {
    use entity::{room_ban, room_setting, room_timeout};
    let now = crate::protocol::now_ms();
    let bans = room_ban::Entity::find()
        .filter(room_ban::Column::Room.eq(room))
        .all(db)
        .await?
        .into_iter()
        .map(|b| b.user_id)
        .collect();
    let timeouts = room_timeout::Entity::find()
        .filter(room_timeout::Column::Room.eq(room))
        .filter(room_timeout::Column::UntilTs.gt(now))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.user_id, t.until_ts))
        .collect();
    let slow_mode = room_setting::Entity::find_by_id(room.to_owned())
        .one(db)
        .await?
        .map(|s| s.slow_mode.max(0) as u64)
        .unwrap_or(0);
    let mut snap = RoomSnapshot {
        recent: Vec::new(),
        bans,
        timeouts,
        slow_mode,
    };
    for write in moderation {
        match write {
            Write::Ban { user, .. } => {
                snap.timeouts.remove(&user);
                snap.bans.insert(user);
            }
            Write::Unban { user, .. } => {
                snap.bans.remove(&user);
                snap.timeouts.remove(&user);
            }
            Write::Timeout { user, until, .. } => {
                snap.timeouts.insert(user, until);
            }
            Write::SlowMode { seconds, .. } => snap.slow_mode = seconds,
            _ => {}
        }
    }
    let banned: Vec<String> = snap.bans.iter().cloned().collect();
    let stored = read_history(db, room, None, recent, &banned).await?;
    let queued = queued
        .into_iter()
        .filter(|m| !snap.bans.contains(&m.user))
        .collect();
    snap.recent = merge_newest(stored, queued, deleted, recent as usize);
    Ok(snap)
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
        if self.queued_deletes(&msg.room).contains(&msg.id) {
            return Box::pin(async { Ok(None) });
        }
        let queued = self
            .queued_messages(&msg.room, None)
            .into_iter()
            .find(|m| m.id == msg.id);
        let db = self.db.clone();
        Box::pin(async move {
            if queued.is_some() {
                return Ok(queued);
            }
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            let row = message::Entity::find_by_id(msg.id)
                .filter(message::Column::Room.eq(msg.room))
                .filter(message::Column::DeletedAt.is_null())
                .one(&db)
                .await?;
            Ok(row.map(to_chat))
        })
    }
}

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
        use entity::moderation_log;
        let queued: Vec<ModLogEntry> = self
            .queued_moderation(&msg.room)
            .into_iter()
            .filter_map(|w| match w {
                Write::Log(e) => Some((*e).clone()),
                _ => None,
            })
            .collect();
        let db = self.db.clone();
        Box::pin(async move {
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            let rows = moderation_log::Entity::find()
                .filter(moderation_log::Column::Room.eq(msg.room.as_str()))
                .order_by_desc(moderation_log::Column::Id)
                .limit(msg.limit)
                .all(&db)
                .await?;
            let mut entries: Vec<ModLogEntry> = rows
                .into_iter()
                .map(|r| ModLogEntry {
                    id: r.id,
                    room: r.room,
                    action: r.action,
                    user: r.user_id,
                    by: r.moderator_id,
                    reason: r.reason,
                    seconds: r.seconds.map(|s| s.max(0) as u64),
                    message_id: r.message_id,
                    ts: r.ts,
                })
                .collect();
            entries.extend(queued);
            entries.sort_by(|a, b| b.id.cmp(&a.id));
            entries.dedup_by(|a, b| a.id == b.id);
            entries.truncate(msg.limit as usize);
            Ok(entries)
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
        use entity::viewer_snapshot;
        let queued: Vec<Snapshot> = self
            .queue
            .iter()
            .filter_map(|w| match w {
                Write::Snapshot(s)
                    if s.room == msg.room && (msg.from..msg.to).contains(&s.minute) =>
                {
                    Some(s.clone())
                }
                _ => None,
            })
            .collect();
        let db = self.db.clone();
        Box::pin(async move {
            let Some(db) = db else {
                return Err(StoreError::NotReady);
            };
            let rows = viewer_snapshot::Entity::find()
                .filter(viewer_snapshot::Column::Room.eq(msg.room.as_str()))
                .filter(viewer_snapshot::Column::Minute.gte(msg.from))
                .filter(viewer_snapshot::Column::Minute.lt(msg.to))
                .order_by_asc(viewer_snapshot::Column::Minute)
                .limit(50_000)
                .all(&db)
                .await?;
            let mut snaps: Vec<Snapshot> = rows
                .into_iter()
                .map(|r| Snapshot {
                    room: r.room,
                    minute: r.minute,
                    min: r.min.max(0) as u64,
                    max: r.max.max(0) as u64,
                    avg: r.avg,
                    messages: r.messages.max(0) as u64,
                    reactions: r.reactions.max(0) as u64,
                })
                .collect();
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
        let merged = merge_newest(vec![m("a"), m("c")], vec![m("c"), m("b"), m("d")], &[], 3);
        let ids: Vec<_> = merged.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "d"]);
    }

    #[test]
    fn queued_deletions_hide_messages_from_reads() {
        let merged = merge_newest(vec![m("a"), m("b")], vec![m("c")], &["b".to_owned()], 10);
        let ids: Vec<_> = merged.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
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
