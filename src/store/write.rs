//! What the store writes: every kind of [`Write`], and how one batch of them
//! becomes SQL. Every write is idempotent (upserts, conditional updates,
//! inserts that ignore duplicates), so retrying one whose answer was lost is safe.

use std::sync::Arc;

use anyhow::Context as _;
use entity::message;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::protocol::ChatMessage;

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
    /// The epoch of a room's message sequence (contract §5), set once.
    Epoch { room: String, epoch: String },
    /// A room's statistics for one minute (the first node's write wins).
    Snapshot(Snapshot),
    /// Contract §8: room state and streams (see `store::platform`).
    Platform(super::platform::PlatformWrite),
    /// Contract §7: moderation v2 (see `store::moderation`).
    Moderation(super::moderation::ModWrite),
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

impl Write {
    /// The room a write belongs to.
    pub fn room(&self) -> &str {
        match self {
            Write::Message(m) => &m.room,
            Write::Log(e) => &e.room,
            Write::Snapshot(s) => &s.room,
            Write::Platform(p) => p.room(),
            Write::Moderation(m) => m.room(),
            Write::Delete { room, .. }
            | Write::Ban { room, .. }
            | Write::Unban { room, .. }
            | Write::Timeout { room, .. }
            | Write::SlowMode { room, .. }
            | Write::Epoch { room, .. } => room,
        }
    }

    /// Roughly how much memory the write holds while it waits, for the queue's bound.
    pub fn size(&self) -> usize {
        const BASE: usize = 96;
        BASE + match self {
            Write::Message(m) => {
                m.room.len()
                    + m.id.len()
                    + m.user.len()
                    + m.name.len()
                    + m.text.len()
                    + m.badges.iter().map(|b| b.len() + 24).sum::<usize>()
            }
            Write::Log(e) => {
                e.room.len()
                    + e.action.len()
                    + e.by.len()
                    + e.user.as_ref().map_or(0, String::len)
                    + e.reason.as_ref().map_or(0, String::len)
            }
            Write::Ban {
                room,
                user,
                reason,
                by,
                ..
            } => room.len() + user.len() + by.len() + reason.as_ref().map_or(0, String::len),
            Write::Delete { room, id, by, .. } => room.len() + id.len() + by.len(),
            Write::Unban { room, user } | Write::Timeout { room, user, .. } => {
                room.len() + user.len()
            }
            Write::SlowMode { room, .. } => room.len(),
            Write::Epoch { room, epoch } => room.len() + epoch.len(),
            Write::Snapshot(s) => s.room.len(),
            Write::Platform(p) => p.size(),
            Write::Moderation(m) => m.size(),
        }
    }
}

/// Run one batch: a multi-row INSERT of messages, or one other write.
pub async fn execute(db: &DatabaseConnection, batch: &[Write]) -> anyhow::Result<()> {
    use entity::{moderation_log, room_ban, room_setting, room_timeout};
    use sea_orm::sea_query::Expr;
    let Some(first) = batch.first() else {
        return Ok(());
    };
    match first {
        Write::Message(_) => {
            let rows = batch.iter().filter_map(|w| match w {
                Write::Message(m) => Some(super::rows::message_row(m)),
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
            let row = super::rows::log_row(e);
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
            let row = super::rows::snapshot_row(snap);
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
        Write::Platform(write) => super::platform::execute(db, write).await?,
        Write::Moderation(write) => super::moderation::execute(db, write).await?,
        Write::Epoch { room, epoch } => {
            let row = room_setting::ActiveModel {
                room: Set(room.clone()),
                slow_mode: Set(0),
                epoch: Set(Some(epoch.clone())),
                ..Default::default()
            };
            room_setting::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(room_setting::Column::Room)
                        .update_column(room_setting::Column::Epoch)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a room's epoch")?;
        }
        Write::SlowMode { room, seconds } => {
            let row = room_setting::ActiveModel {
                room: Set(room.clone()),
                slow_mode: Set(*seconds as i64),
                ..Default::default()
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
