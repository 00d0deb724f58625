//! Rows ↔ the server's own types: the only place that knows how a message, a
//! log entry or a snapshot is laid out in its table.

use entity::{message, moderation_log, viewer_snapshot};
use sea_orm::ActiveValue::Set;

use super::write::{ModLogEntry, Snapshot};
use crate::protocol::ChatMessage;

pub fn message_row(m: &ChatMessage) -> message::ActiveModel {
    message::ActiveModel {
        id: Set(m.id.clone()),
        room: Set(m.room.clone()),
        user_id: Set(m.user.clone()),
        name: Set(m.name.clone()),
        text: Set(m.text.clone()),
        badges: Set(serde_json::to_string(&m.badges).unwrap_or_else(|_| "[]".to_owned())),
        ts: Set(m.ts),
        deleted_at: Set(None),
        deleted_by: Set(None),
        seq: Set(m.seq.map(|s| s as i64)),
        epoch: Set(m.epoch.as_deref().map(str::to_owned)),
        shadow: Set(false),
    }
}

pub fn chat_message(row: message::Model) -> ChatMessage {
    ChatMessage {
        badges: serde_json::from_str(&row.badges).unwrap_or_default(),
        seq: row.seq.map(|s| s.max(0) as u64),
        epoch: row.epoch.map(Into::into),
        room: row.room,
        id: row.id,
        user: row.user_id,
        name: row.name,
        text: row.text,
        ts: row.ts,
    }
}

pub fn log_row(e: &ModLogEntry) -> moderation_log::ActiveModel {
    moderation_log::ActiveModel {
        id: Set(e.id.clone()),
        room: Set(e.room.clone()),
        action: Set(e.action.clone()),
        user_id: Set(e.user.clone()),
        moderator_id: Set(e.by.clone()),
        reason: Set(e.reason.clone()),
        seconds: Set(e.seconds.map(|s| s as i64)),
        message_id: Set(e.message_id.clone()),
        ts: Set(e.ts),
    }
}

pub fn log_entry(r: moderation_log::Model) -> ModLogEntry {
    ModLogEntry {
        id: r.id,
        room: r.room,
        action: r.action,
        user: r.user_id,
        by: r.moderator_id,
        reason: r.reason,
        seconds: r.seconds.map(|s| s.max(0) as u64),
        message_id: r.message_id,
        ts: r.ts,
    }
}

pub fn snapshot_row(s: &Snapshot) -> viewer_snapshot::ActiveModel {
    viewer_snapshot::ActiveModel {
        room: Set(s.room.clone()),
        minute: Set(s.minute),
        min: Set(s.min as i64),
        max: Set(s.max as i64),
        avg: Set(s.avg),
        messages: Set(s.messages as i64),
        reactions: Set(s.reactions as i64),
    }
}

pub fn snapshot(r: viewer_snapshot::Model) -> Snapshot {
    Snapshot {
        room: r.room,
        minute: r.minute,
        min: r.min.max(0) as u64,
        max: r.max.max(0) as u64,
        avg: r.avg,
        messages: r.messages.max(0) as u64,
        reactions: r.reactions.max(0) as u64,
    }
}
