//! Reads, as stateless functions on a `&DatabaseConnection` (the SeaORM
//! example's `Query` shape): history, a room's starting state, one message,
//! the moderation log and analytics. The actor merges in what is still queued.

use std::collections::{HashMap, HashSet};

use entity::{message, moderation_log, viewer_snapshot};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::rows;
use super::write::{ModLogEntry, Snapshot, Write};
use crate::protocol::ChatMessage;

/// The newest `limit` non-deleted messages of `room` before `before`, oldest first.
pub async fn history(
    db: &DatabaseConnection,
    room: &str,
    before: Option<&str>,
    limit: u64,
    without_banned: Option<&[String]>,
) -> Result<Vec<ChatMessage>, DbErr> {
    use entity::room_ban;
    use sea_orm::sea_query::Query;
    let mut q = message::Entity::find()
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::DeletedAt.is_null())
        // §7: nobody else sees a shadow-banned user's messages.
        .filter(message::Column::Shadow.eq(false));
    if let Some(b) = before {
        q = q.filter(message::Column::Id.lt(b));
    }
    if let Some(unbanned) = without_banned {
        // A subquery, not a list of ids: a room may have any number of bans.
        // `unbanned` are the few users whose unban is still queued.
        let mut banned = Query::select()
            .column(room_ban::Column::UserId)
            .from(room_ban::Entity)
            .and_where(room_ban::Column::Room.eq(room))
            .to_owned();
        if !unbanned.is_empty() {
            banned
                .and_where(room_ban::Column::UserId.is_not_in(unbanned.iter().map(String::as_str)));
        }
        q = q.filter(message::Column::UserId.not_in_subquery(banned));
    }
    let found = q
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(found.into_iter().rev().map(rows::chat_message).collect())
}

/// Merge stored and queued messages: sorted by id, no duplicates, none whose
/// deletion is queued, the newest `limit`.
pub fn merge_newest(
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
    /// The epoch of the room's sequence, if it has one (contract §5).
    pub epoch: Option<String>,
    /// The last sequence number of that epoch (0 if none).
    pub seq: u64,
    /// Contract §8: the room's state and open stream.
    pub platform: super::platform::PlatformSnapshot,
    /// Contract §7: moderation v2 (settings, terms, moderators, pin, held, …).
    pub moderation: super::moderation::ModerationSnapshot,
}

pub async fn room_state(
    db: &DatabaseConnection,
    room: &str,
    recent: u64,
    queued: Vec<ChatMessage>,
    deleted: &[String],
    moderation: Vec<Write>,
) -> Result<RoomSnapshot, DbErr> {
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
    let setting = room_setting::Entity::find_by_id(room.to_owned())
        .one(db)
        .await?;
    let slow_mode = setting
        .as_ref()
        .map(|s| s.slow_mode.max(0) as u64)
        .unwrap_or(0);
    let epoch = setting.and_then(|s| s.epoch);
    let stored_seq = match &epoch {
        Some(e) => last_seq(db, room, e).await?,
        None => 0,
    };
    // A queued message may be newer than any stored one.
    let queued_seq = queued
        .iter()
        .filter(|m| m.epoch.as_deref() == epoch.as_deref())
        .filter_map(|m| m.seq)
        .max()
        .unwrap_or(0);
    let mut snap = RoomSnapshot {
        recent: Vec::new(),
        bans,
        timeouts,
        slow_mode,
        epoch,
        seq: stored_seq.max(queued_seq),
        platform: Default::default(),
        moderation: Default::default(),
    };
    let unbanned: Vec<String> = moderation
        .iter()
        .filter_map(|w| match w {
            Write::Unban { user, .. } => Some(user.clone()),
            _ => None,
        })
        .collect();
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
    let stored: Vec<ChatMessage> = history(db, room, None, recent, Some(&unbanned))
        .await?
        .into_iter()
        .filter(|m| !snap.bans.contains(&m.user)) // bans still queued
        .collect();
    let queued = queued
        .into_iter()
        .filter(|m| !snap.bans.contains(&m.user))
        .collect();
    snap.recent = merge_newest(stored, queued, deleted, recent as usize);
    Ok(snap)
}

/// The highest sequence number stored for `room` in `epoch` (0 if none).
async fn last_seq(db: &DatabaseConnection, room: &str, epoch: &str) -> Result<u64, DbErr> {
    let newest = message::Entity::find()
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::Epoch.eq(epoch))
        .filter(message::Column::Seq.is_not_null())
        .order_by_desc(message::Column::Seq)
        .one(db)
        .await?;
    Ok(newest.and_then(|m| m.seq).map_or(0, |s| s.max(0) as u64))
}

/// A room's messages of `epoch` after `after`, by sequence, at most `limit`
/// (contract §5: what a resuming client missed): the ones to send, and the
/// sequence numbers of those deleted (so a reader can tell deleted from missing).
pub async fn since(
    db: &DatabaseConnection,
    room: &str,
    epoch: &str,
    after: u64,
    limit: u64,
) -> Result<(Vec<ChatMessage>, Vec<u64>), DbErr> {
    let found = message::Entity::find()
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::Epoch.eq(epoch))
        .filter(message::Column::Seq.gt(after as i64))
        .order_by_asc(message::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    let (deleted, live): (Vec<_>, Vec<_>) = found.into_iter().partition(|m| m.deleted_at.is_some());
    Ok((
        live.into_iter().map(rows::chat_message).collect(),
        deleted
            .iter()
            .filter_map(|m| m.seq)
            .map(|s| s.max(0) as u64)
            .collect(),
    ))
}

/// One message of a room, if it exists and is not deleted.
pub async fn message(
    db: &DatabaseConnection,
    room: &str,
    id: &str,
) -> Result<Option<ChatMessage>, DbErr> {
    let row = message::Entity::find_by_id(id.to_owned())
        .filter(message::Column::Room.eq(room))
        .filter(message::Column::DeletedAt.is_null())
        .one(db)
        .await?;
    Ok(row.map(rows::chat_message))
}

/// A room's moderation log, newest first.
pub async fn moderation_log(
    db: &DatabaseConnection,
    room: &str,
    limit: u64,
) -> Result<Vec<ModLogEntry>, DbErr> {
    let found = moderation_log::Entity::find()
        .filter(moderation_log::Column::Room.eq(room))
        .order_by_desc(moderation_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(found.into_iter().map(rows::log_entry).collect())
}

/// A room's snapshots with `from <= minute < to`, oldest first.
pub async fn snapshots(
    db: &DatabaseConnection,
    room: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Snapshot>, DbErr> {
    let found = viewer_snapshot::Entity::find()
        .filter(viewer_snapshot::Column::Room.eq(room))
        .filter(viewer_snapshot::Column::Minute.gte(from))
        .filter(viewer_snapshot::Column::Minute.lt(to))
        .order_by_asc(viewer_snapshot::Column::Minute)
        .limit(50_000)
        .all(db)
        .await?;
    Ok(found.into_iter().map(rows::snapshot).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DatabaseSettings, Secret};
    use std::sync::Arc;

    fn m(id: &str) -> ChatMessage {
        ChatMessage::sample("r", id, "u")
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

    async fn memory_db() -> DatabaseConnection {
        super::super::db::open_database(&DatabaseSettings {
            url: Secret::new("sqlite::memory:"),
            max_connections: 1,
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_rooms_state_is_its_bans_timeouts_slow_mode_and_unbanned_recent_messages() {
        let db = memory_db().await;
        let mut msgs = Vec::new();
        for (i, user) in ["u1", "u2", "u1"].iter().enumerate() {
            let mut msg = m(&format!("01J0000000000000000000000{i}"));
            msg.user = (*user).into();
            msgs.push(Write::Message(Arc::new(msg)));
        }
        super::super::write::execute(&db, &msgs).await.unwrap();
        for w in [
            Write::Ban {
                room: "r".into(),
                user: "u2".into(),
                reason: None,
                by: "m".into(),
                ts: 1,
            },
            Write::Timeout {
                room: "r".into(),
                user: "u3".into(),
                until: i64::MAX,
            },
            Write::Timeout {
                room: "r".into(),
                user: "u4".into(),
                until: 1,
            },
            Write::SlowMode {
                room: "r".into(),
                seconds: 7,
            },
        ] {
            super::super::write::execute(&db, &[w]).await.unwrap();
        }
        // A queued unban of u2 and a queued ban of u1 replay over what is stored.
        let queued_mod = vec![
            Write::Unban {
                room: "r".into(),
                user: "u2".into(),
            },
            Write::Ban {
                room: "r".into(),
                user: "u1".into(),
                reason: None,
                by: "m".into(),
                ts: 2,
            },
        ];
        let s = room_state(&db, "r", 50, vec![], &[], queued_mod)
            .await
            .unwrap();
        assert_eq!(s.bans, HashSet::from(["u1".to_owned()]));
        assert_eq!(
            s.timeouts.keys().collect::<Vec<_>>(),
            ["u3"],
            "ended timeouts are not loaded"
        );
        assert_eq!(s.slow_mode, 7);
        let authors: Vec<_> = s.recent.iter().map(|m| m.user.as_str()).collect();
        assert_eq!(authors, ["u2"], "banned users' messages leave recent");
        // Another room sees none of it.
        let other = room_state(&db, "other", 50, vec![], &[], vec![])
            .await
            .unwrap();
        assert!(other.bans.is_empty() && other.recent.is_empty());
    }

    #[tokio::test]
    async fn history_pages_backwards_and_skips_deleted_messages() {
        let db = memory_db().await;
        let ids: Vec<String> = (0..5)
            .map(|i| format!("01J0000000000000000000000{i}"))
            .collect();
        let batch: Vec<Write> = ids
            .iter()
            .map(|id| Write::Message(Arc::new(m(id))))
            .collect();
        super::super::write::execute(&db, &batch).await.unwrap();
        let del = Write::Delete {
            room: "r".into(),
            id: ids[3].clone(),
            by: "m".into(),
            at: 1,
        };
        super::super::write::execute(&db, &[del]).await.unwrap();
        let page = history(&db, "r", Some(&ids[4]), 2, None).await.unwrap();
        let got: Vec<_> = page.iter().map(|m| m.id.clone()).collect();
        assert_eq!(got, [ids[1].clone(), ids[2].clone()]);
        assert!(message(&db, "r", &ids[3]).await.unwrap().is_none());
        assert!(message(&db, "r", &ids[2]).await.unwrap().is_some());
        assert!(message(&db, "other", &ids[2]).await.unwrap().is_none());
    }
}
