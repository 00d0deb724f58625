//! The store's §7 requests: the server API's listings with shadow-banned
//! users' messages marked, one user's messages and log entries (purges, user
//! cards), one message with its mark (pins, the hierarchy on deletes), and the
//! cluster-wide decision on a held message. Reads merge in what is queued,
//! like the other reads of the store.

use actix::prelude::*;

use super::moderation::{self, Decision, HeldRecord, ModWrite};
use super::{ModLogEntry, Store, StoreError};
use crate::protocol::ChatMessage;

/// A message and whether its author was shadow-banned when they sent it.
pub type Marked = (ChatMessage, bool);

impl Store {
    /// This room's queued messages (shadow-banned users' marked), oldest first.
    fn queued_marked(&self, room: &str) -> Vec<Marked> {
        let mut queued: Vec<Marked> = self
            .queue
            .messages(room, None)
            .into_iter()
            .map(|m| (m, false))
            .collect();
        queued.extend(
            self.queue
                .moderation_v2(room)
                .into_iter()
                .filter_map(|w| match w {
                    ModWrite::ShadowMessage(m) => Some(((*m).clone(), true)),
                    _ => None,
                }),
        );
        queued.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        queued
    }
}

/// Stored and queued messages merged: by id, once each, none whose deletion
/// is queued, the newest `limit`.
fn merge(
    mut stored: Vec<Marked>,
    queued: Vec<Marked>,
    deleted: &[String],
    limit: usize,
) -> Vec<Marked> {
    stored.extend(queued);
    stored.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    stored.dedup_by(|a, b| a.0.id == b.0.id);
    stored.retain(|(m, _)| !deleted.contains(&m.id));
    let skip = stored.len().saturating_sub(limit);
    stored.drain(..skip);
    stored
}

/// The server API's messages of a room (`GET /api/rooms/{room}/messages`):
/// like `LoadHistory`, with shadow-banned users' messages in, marked.
#[derive(Message)]
#[rtype(result = "Result<Vec<Marked>, StoreError>")]
pub struct LoadListing {
    pub room: String,
    pub before: Option<String>,
    pub limit: u64,
}

impl Handler<LoadListing> for Store {
    type Result = ResponseFuture<Result<Vec<Marked>, StoreError>>;
    fn handle(&mut self, msg: LoadListing, _: &mut Context<Self>) -> Self::Result {
        let mut queued = self.queued_marked(&msg.room);
        if let Some(before) = &msg.before {
            queued.retain(|(m, _)| m.id < *before);
        }
        let deleted = self.queue.deletes(&msg.room);
        let db = self.reader();
        Box::pin(async move {
            let stored =
                moderation::listing(&db?, &msg.room, msg.before.as_deref(), None, msg.limit)
                    .await?;
            Ok(merge(stored, queued, &deleted, msg.limit as usize))
        })
    }
}

/// One user's newest messages in a room (from `since`, epoch ms, if given),
/// oldest first, marked: a purge's targets, a user card's messages.
#[derive(Message)]
#[rtype(result = "Result<Vec<Marked>, StoreError>")]
pub struct LoadUserMessages {
    pub room: String,
    pub user: String,
    pub since: Option<i64>,
    pub limit: u64,
}

impl Handler<LoadUserMessages> for Store {
    type Result = ResponseFuture<Result<Vec<Marked>, StoreError>>;
    fn handle(&mut self, msg: LoadUserMessages, _: &mut Context<Self>) -> Self::Result {
        let mut queued = self.queued_marked(&msg.room);
        queued.retain(|(m, _)| m.user == msg.user && msg.since.is_none_or(|s| m.ts >= s));
        let deleted = self.queue.deletes(&msg.room);
        let db = self.reader();
        Box::pin(async move {
            let user = Some((msg.user.as_str(), msg.since));
            let stored = moderation::listing(&db?, &msg.room, None, user, msg.limit).await?;
            Ok(merge(stored, queued, &deleted, msg.limit as usize))
        })
    }
}

/// One message of a room, if it exists and is not deleted, with its mark.
#[derive(Message)]
#[rtype(result = "Result<Option<Marked>, StoreError>")]
pub struct FindMessage {
    pub room: String,
    pub id: String,
}

impl Handler<FindMessage> for Store {
    type Result = ResponseFuture<Result<Option<Marked>, StoreError>>;
    fn handle(&mut self, msg: FindMessage, _: &mut Context<Self>) -> Self::Result {
        if self.queue.deletes(&msg.room).contains(&msg.id) {
            return Box::pin(async { Ok(None) });
        }
        let queued = self
            .queued_marked(&msg.room)
            .into_iter()
            .find(|(m, _)| m.id == msg.id);
        let db = self.reader();
        Box::pin(async move {
            if queued.is_some() {
                return Ok(queued);
            }
            Ok(moderation::find_message(&db?, &msg.room, &msg.id).await?)
        })
    }
}

/// The log entries about one user in a room, newest first (queued ones included).
#[derive(Message)]
#[rtype(result = "Result<Vec<ModLogEntry>, StoreError>")]
pub struct LoadUserLog {
    pub room: String,
    pub user: String,
    pub limit: u64,
}

impl Handler<LoadUserLog> for Store {
    type Result = ResponseFuture<Result<Vec<ModLogEntry>, StoreError>>;
    fn handle(&mut self, msg: LoadUserLog, _: &mut Context<Self>) -> Self::Result {
        let queued: Vec<ModLogEntry> = self
            .queue
            .log(&msg.room)
            .into_iter()
            .filter(|e| e.user.as_deref() == Some(msg.user.as_str()))
            .collect();
        let db = self.reader();
        Box::pin(async move {
            let mut entries = moderation::user_log(&db?, &msg.room, &msg.user, msg.limit).await?;
            entries.extend(queued);
            entries.sort_by(|a, b| b.id.cmp(&a.id));
            entries.dedup_by(|a, b| a.id == b.id);
            entries.truncate(msg.limit as usize);
            Ok(entries)
        })
    }
}

/// Decide a held message for the whole cluster (§7: approve on any node):
/// answers true if this is the decision, false if another came first. Runs
/// at once, beside the queue.
#[derive(Message)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct DecideHeld {
    pub held: HeldRecord,
    pub decision: Decision,
    pub by: String,
    pub at: i64,
}

impl Handler<DecideHeld> for Store {
    type Result = ResponseFuture<Result<bool, StoreError>>;
    fn handle(&mut self, msg: DecideHeld, _: &mut Context<Self>) -> Self::Result {
        let db = self.reader();
        Box::pin(async move {
            moderation::decide_held(&db?, &msg.held, msg.decision, &msg.by, msg.at)
                .await
                .map_err(|e| match e.downcast::<sea_orm::DbErr>() {
                    Ok(db) => StoreError::Db(db),
                    Err(_) => StoreError::Unreachable,
                })
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
            seq: None,
            epoch: None,
        }
    }

    #[test]
    fn stored_and_queued_messages_merge_with_their_marks() {
        let got = merge(
            vec![(m("a"), false), (m("c"), true)],
            vec![(m("c"), true), (m("b"), true), (m("d"), false)],
            &["d".to_owned()],
            3,
        );
        let ids: Vec<_> = got.iter().map(|(m, s)| (m.id.as_str(), *s)).collect();
        assert_eq!(ids, [("a", false), ("b", true), ("c", true)]);
    }
}
