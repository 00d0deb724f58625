//! §7's rows: what moderation v2 stores for a room (settings, terms, the
//! moderator list, shadow bans, warnings, the pin, held messages, the last
//! clear, shadow-banned users' messages), how each write becomes SQL, and the
//! state a room loads from them (with what is still queued replayed on top).
//!
//! Every write is idempotent, like the others of `write`. The one write that
//! does not wait in the queue is a decision on a held message
//! ([`decide_held`]): it must know at once whether it was the first.
//!
//! This file stores and reads what it is told; it decides nothing.

use std::sync::Arc;

use anyhow::Context as _;
use entity::{
    held_message, message, moderation_log, room_moderator, room_pin, room_setting, room_shadow_ban,
    room_term, room_warning,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use super::rows;
use super::write::ModLogEntry;
use crate::protocol::ChatMessage;
use crate::protocol::moderation::{ChatSettings, Term};

pub use super::moderation_state::{ModerationSnapshot, load};

/// Most held messages a room loads (and keeps) at once.
pub const MAX_HELD: usize = 1_000;

/// A moderator of the stored list, as `GET /api/rooms/{room}/moderators` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub user: String,
    pub added_by: String,
    pub ts: i64,
}

/// A warning waiting for its acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub reason: Option<String>,
    pub by: String,
}

/// A room's live pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRecord {
    pub message: ChatMessage,
    /// When it ends (epoch ms).
    pub until: i64,
    pub by: String,
}

/// A message AutoMod held, waiting for a moderator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRecord {
    pub msg: ChatMessage,
    /// The pattern that held it, as configured.
    pub term: String,
    /// When it is dropped unanswered (epoch ms).
    pub expires_at: i64,
}

/// What a moderator (or the expiry) decided about a held message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// One §7 write (see [`Write::Moderation`]).
#[derive(Debug, Clone)]
pub enum ModWrite {
    /// The chat settings (slow mode goes to its own column, the rest as JSON).
    Settings {
        room: String,
        settings: ChatSettings,
    },
    /// The room's own terms, replaced.
    Terms {
        room: String,
        terms: Vec<Term>,
        by: String,
        ts: i64,
    },
    ModeratorAdd {
        room: String,
        user: String,
        by: String,
        ts: i64,
    },
    ModeratorRemove {
        room: String,
        user: String,
    },
    ShadowBan {
        room: String,
        user: String,
        reason: Option<String>,
        by: String,
        ts: i64,
    },
    /// An unban lifts a shadow ban too.
    ShadowLift {
        room: String,
        user: String,
    },
    Warn {
        room: String,
        user: String,
        reason: Option<String>,
        by: String,
        ts: i64,
    },
    Acknowledged {
        room: String,
        user: String,
    },
    Pin {
        room: String,
        pin: Arc<PinRecord>,
        ts: i64,
    },
    Unpin {
        room: String,
    },
    /// A clear: `recent` starts after this id.
    Clear {
        room: String,
        after: String,
    },
    /// A message held for review.
    Held(Arc<HeldRecord>),
    /// An acked message of a shadow-banned user (no sequence number).
    ShadowMessage(Arc<ChatMessage>),
}

impl ModWrite {
    pub fn room(&self) -> &str {
        match self {
            ModWrite::Held(h) => &h.msg.room,
            ModWrite::ShadowMessage(m) => &m.room,
            ModWrite::Settings { room, .. }
            | ModWrite::Terms { room, .. }
            | ModWrite::ModeratorAdd { room, .. }
            | ModWrite::ModeratorRemove { room, .. }
            | ModWrite::ShadowBan { room, .. }
            | ModWrite::ShadowLift { room, .. }
            | ModWrite::Warn { room, .. }
            | ModWrite::Acknowledged { room, .. }
            | ModWrite::Pin { room, .. }
            | ModWrite::Unpin { room }
            | ModWrite::Clear { room, .. } => room,
        }
    }

    /// Roughly the memory it holds while queued.
    pub fn size(&self) -> usize {
        let text = |m: &ChatMessage| m.text.len() + m.name.len() + m.user.len() + 64;
        match self {
            ModWrite::Terms { terms, .. } => terms.iter().map(|t| t.pattern.len() + 16).sum(),
            ModWrite::Pin { pin, .. } => text(&pin.message),
            ModWrite::Held(h) => text(&h.msg) + h.term.len(),
            ModWrite::ShadowMessage(m) => text(m),
            ModWrite::ShadowBan { reason, .. } | ModWrite::Warn { reason, .. } => {
                64 + reason.as_ref().map_or(0, String::len)
            }
            _ => 64,
        }
    }
}

/// Run one §7 write.
pub async fn execute(db: &DatabaseConnection, write: &ModWrite) -> anyhow::Result<()> {
    match write {
        ModWrite::Settings { room, settings } => {
            let row = room_setting::ActiveModel {
                room: Set(room.clone()),
                slow_mode: Set(settings.slow_mode as i64),
                settings: Set(Some(serde_json::to_string(settings)?)),
                ..Default::default()
            };
            room_setting::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(room_setting::Column::Room)
                        .update_columns([
                            room_setting::Column::SlowMode,
                            room_setting::Column::Settings,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a room's settings")?;
        }
        ModWrite::Clear { room, after } => {
            let row = room_setting::ActiveModel {
                room: Set(room.clone()),
                slow_mode: Set(0),
                cleared_after: Set(Some(after.clone())),
                ..Default::default()
            };
            room_setting::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(room_setting::Column::Room)
                        .update_column(room_setting::Column::ClearedAfter)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a clear")?;
        }
        ModWrite::Terms {
            room,
            terms,
            by,
            ts,
        } => {
            let row = room_term::ActiveModel {
                room: Set(room.clone()),
                terms: Set(serde_json::to_string(terms)?),
                updated_by: Set(by.clone()),
                ts: Set(*ts),
            };
            room_term::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(room_term::Column::Room)
                        .update_columns([
                            room_term::Column::Terms,
                            room_term::Column::UpdatedBy,
                            room_term::Column::Ts,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a room's terms")?;
        }
        ModWrite::ModeratorAdd { room, user, by, ts } => {
            let row = room_moderator::ActiveModel {
                room: Set(room.clone()),
                user_id: Set(user.clone()),
                added_by: Set(by.clone()),
                ts: Set(*ts),
            };
            room_moderator::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        room_moderator::Column::Room,
                        room_moderator::Column::UserId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to add a moderator")?;
        }
        ModWrite::ModeratorRemove { room, user } => {
            room_moderator::Entity::delete_many()
                .filter(room_moderator::Column::Room.eq(room.as_str()))
                .filter(room_moderator::Column::UserId.eq(user.as_str()))
                .exec(db)
                .await
                .context("failed to remove a moderator")?;
        }
        ModWrite::ShadowBan {
            room,
            user,
            reason,
            by,
            ts,
        } => {
            let row = room_shadow_ban::ActiveModel {
                room: Set(room.clone()),
                user_id: Set(user.clone()),
                reason: Set(reason.clone()),
                moderator_id: Set(by.clone()),
                ts: Set(*ts),
            };
            room_shadow_ban::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        room_shadow_ban::Column::Room,
                        room_shadow_ban::Column::UserId,
                    ])
                    .update_columns([
                        room_shadow_ban::Column::Reason,
                        room_shadow_ban::Column::ModeratorId,
                        room_shadow_ban::Column::Ts,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a shadow ban")?;
        }
        ModWrite::ShadowLift { room, user } => {
            room_shadow_ban::Entity::delete_many()
                .filter(room_shadow_ban::Column::Room.eq(room.as_str()))
                .filter(room_shadow_ban::Column::UserId.eq(user.as_str()))
                .exec(db)
                .await
                .context("failed to lift a shadow ban")?;
        }
        ModWrite::Warn {
            room,
            user,
            reason,
            by,
            ts,
        } => {
            let row = room_warning::ActiveModel {
                room: Set(room.clone()),
                user_id: Set(user.clone()),
                reason: Set(reason.clone()),
                moderator_id: Set(by.clone()),
                ts: Set(*ts),
            };
            room_warning::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([room_warning::Column::Room, room_warning::Column::UserId])
                        .update_columns([
                            room_warning::Column::Reason,
                            room_warning::Column::ModeratorId,
                            room_warning::Column::Ts,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a warning")?;
        }
        ModWrite::Acknowledged { room, user } => {
            room_warning::Entity::delete_many()
                .filter(room_warning::Column::Room.eq(room.as_str()))
                .filter(room_warning::Column::UserId.eq(user.as_str()))
                .exec(db)
                .await
                .context("failed to clear a warning")?;
        }
        ModWrite::Pin { room, pin, ts } => {
            let row = room_pin::ActiveModel {
                room: Set(room.clone()),
                message: Set(serde_json::to_string(&pin.message)?),
                until_ts: Set(pin.until),
                moderator_id: Set(pin.by.clone()),
                ts: Set(*ts),
            };
            room_pin::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(room_pin::Column::Room)
                        .update_columns([
                            room_pin::Column::Message,
                            room_pin::Column::UntilTs,
                            room_pin::Column::ModeratorId,
                            room_pin::Column::Ts,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a pin")?;
        }
        ModWrite::Unpin { room } => {
            room_pin::Entity::delete_many()
                .filter(room_pin::Column::Room.eq(room.as_str()))
                .exec(db)
                .await
                .context("failed to remove a pin")?;
        }
        ModWrite::Held(held) => {
            held_message::Entity::insert(held_row(held)?)
                .on_conflict(
                    OnConflict::column(held_message::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a held message")?;
        }
        ModWrite::ShadowMessage(m) => {
            let mut row = rows::message_row(m);
            row.shadow = Set(true);
            message::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(message::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a shadow-banned user's message")?;
        }
    }
    Ok(())
}

fn held_row(held: &HeldRecord) -> anyhow::Result<held_message::ActiveModel> {
    Ok(held_message::ActiveModel {
        id: Set(held.msg.id.clone()),
        room: Set(held.msg.room.clone()),
        user_id: Set(held.msg.user.clone()),
        message: Set(serde_json::to_string(&held.msg)?),
        term: Set(held.term.clone()),
        expires_at: Set(held.expires_at),
        decision: Set(None),
        decided_by: Set(None),
        decided_at: Set(None),
    })
}

/// Decide a held message, once for the whole cluster: the row is written if
/// it is not there yet (its node may still have it queued), then the decision
/// is taken only if none was. True if this call decided it.
pub async fn decide_held(
    db: &DatabaseConnection,
    held: &HeldRecord,
    decision: Decision,
    by: &str,
    at: i64,
) -> anyhow::Result<bool> {
    held_message::Entity::insert(held_row(held)?)
        .on_conflict(
            OnConflict::column(held_message::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .context("failed to store a held message")?;
    let done = held_message::Entity::update_many()
        .col_expr(
            held_message::Column::Decision,
            Expr::value(decision.as_str()),
        )
        .col_expr(held_message::Column::DecidedBy, Expr::value(by.to_owned()))
        .col_expr(held_message::Column::DecidedAt, Expr::value(at))
        .filter(held_message::Column::Id.eq(held.msg.id.as_str()))
        .filter(held_message::Column::Decision.is_null())
        .exec(db)
        .await
        .context("failed to decide a held message")?;
    Ok(done.rows_affected == 1)
}

/// A room's messages for the server API, shadow-banned users' marked: the
/// newest `limit` not deleted before `before` (or, with `user`, that user's
/// from `since` on), oldest first.
pub async fn listing(
    db: &DatabaseConnection,
    room: &str,
    before: Option<&str>,
    user: Option<(&str, Option<i64>)>,
    limit: u64,
) -> Result<Vec<(ChatMessage, bool)>, DbErr> {
    let mut q = message::Entity::find()
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::DeletedAt.is_null());
    if let Some(b) = before {
        q = q.filter(message::Column::Id.lt(b));
    }
    if let Some((user, since)) = user {
        q = q.filter(message::Column::UserId.eq(user));
        if let Some(since) = since {
            q = q.filter(message::Column::Ts.gte(since));
        }
    }
    let found = q
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .rev()
        .map(|row| {
            let shadow = row.shadow;
            (rows::chat_message(row), shadow)
        })
        .collect())
}

/// One message of a room, not deleted, and whether it is a shadow-banned user's.
pub async fn find_message(
    db: &DatabaseConnection,
    room: &str,
    id: &str,
) -> Result<Option<(ChatMessage, bool)>, DbErr> {
    let row = message::Entity::find_by_id(id.to_owned())
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::DeletedAt.is_null())
        .one(db)
        .await?;
    Ok(row.map(|r| {
        let shadow = r.shadow;
        (rows::chat_message(r), shadow)
    }))
}

/// The log entries about `user` in `room`, newest first.
pub async fn user_log(
    db: &DatabaseConnection,
    room: &str,
    user: &str,
    limit: u64,
) -> Result<Vec<ModLogEntry>, DbErr> {
    let found = moderation_log::Entity::find()
        .filter(moderation_log::Column::Room.eq(room))
        .filter(moderation_log::Column::UserId.eq(user))
        .order_by_desc(moderation_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(found.into_iter().map(rows::log_entry).collect())
}
