//! Contract §8's rows: a room's state (one row per key, versioned) and its
//! streams. What is written ([`PlatformWrite`], carried by `Write::Platform`),
//! its SQL, and what a room loads when it starts ([`PlatformSnapshot`]), with
//! the writes still queued replayed on top.
//!
//! Every write is idempotent and safe in any order: a state row changes only
//! for a higher version (a deleted key keeps its row with no data, so a late
//! write of an older value cannot bring it back), a stream row is inserted
//! once and its summary written once.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use entity::{room_state, stream, stream_viewer};
use sea_orm::sea_query::{Alias, Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::protocol::platform::StreamSummary;

/// One §8 write, in order with the room's other writes.
#[derive(Debug, Clone)]
pub enum PlatformWrite {
    /// A state key set (`data`) or deleted (`None`) at `version`.
    State {
        room: String,
        key: String,
        data: Option<Arc<str>>,
        version: i64,
        at: i64,
    },
    /// A stream went live (its row, without a summary).
    StreamStarted(Arc<StreamRecord>),
    /// A stream ended (its row, with `ended_at` and the summary).
    StreamEnded(Arc<StreamRecord>),
    /// A live stream's figures so far (one node: so a restart goes on counting).
    StreamProgress(Arc<StreamProgress>),
}

/// A live stream's figures as one node keeps them: its peak, reactions and
/// milestones so far, and the viewers first seen since the last progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamProgress {
    pub id: String,
    pub room: String,
    pub peak: u64,
    pub reactions: u64,
    pub reached: Vec<u64>,
    /// Stable keys of user ids (see `room::stream::viewer_key`).
    pub viewers: Vec<u64>,
}

/// A stream as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamRecord {
    pub id: String,
    #[serde(skip)]
    pub room: String,
    pub title: String,
    pub started_at: i64,
    /// The room's last message number when it started, and its epoch.
    #[serde(skip)]
    pub start_seq: u64,
    #[serde(skip)]
    pub epoch: Option<String>,
    pub ended_at: Option<i64>,
    pub summary: Option<StreamSummary>,
    /// While live: its figures so far, as stored (viewers: every one seen).
    #[serde(skip)]
    pub progress: Option<StreamProgress>,
}

/// What a room starts from: its state and its open stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSnapshot {
    /// Key → value (JSON), for the keys that are set.
    pub state: BTreeMap<String, String>,
    /// The highest state version the room has used (deleted keys included).
    pub version: i64,
    /// The stream that is live, if one is.
    pub stream: Option<StreamRecord>,
}

impl PlatformWrite {
    pub fn room(&self) -> &str {
        match self {
            PlatformWrite::State { room, .. } => room,
            PlatformWrite::StreamStarted(s) | PlatformWrite::StreamEnded(s) => &s.room,
            PlatformWrite::StreamProgress(p) => &p.room,
        }
    }

    /// Roughly the bytes it holds while it waits.
    pub fn size(&self) -> usize {
        match self {
            PlatformWrite::State {
                room, key, data, ..
            } => room.len() + key.len() + data.as_ref().map_or(0, |d| d.len()),
            PlatformWrite::StreamStarted(s) | PlatformWrite::StreamEnded(s) => {
                64 + s.room.len() + s.title.len()
            }
            PlatformWrite::StreamProgress(p) => {
                64 + p.room.len() + 8 * (p.reached.len() + p.viewers.len())
            }
        }
    }
}

/// Run one write.
pub async fn execute(db: &DatabaseConnection, write: &PlatformWrite) -> anyhow::Result<()> {
    match write {
        PlatformWrite::State {
            room,
            key,
            data,
            version,
            at,
        } => {
            let row = room_state::ActiveModel {
                room: Set(room.clone()),
                key: Set(key.clone()),
                data: Set(data.as_deref().map(str::to_owned)),
                version: Set(*version),
                updated_at: Set(*at),
            };
            use sea_orm::sea_query::ExprTrait as _;
            let newer = Expr::col((room_state::Entity, room_state::Column::Version)).lt(Expr::col(
                (Alias::new("excluded"), room_state::Column::Version),
            ));
            room_state::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([room_state::Column::Room, room_state::Column::Key])
                        .update_columns([
                            room_state::Column::Data,
                            room_state::Column::Version,
                            room_state::Column::UpdatedAt,
                        ])
                        .action_and_where(newer)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a room's state")?;
        }
        PlatformWrite::StreamStarted(s) => {
            stream::Entity::insert(stream_row(s))
                .on_conflict(
                    OnConflict::column(stream::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a stream")?;
        }
        PlatformWrite::StreamEnded(s) => {
            // Inserted here too if its start was never stored (another node started it).
            stream::Entity::insert(stream_row(s))
                .on_conflict(
                    OnConflict::column(stream::Column::Id)
                        .update_columns([
                            stream::Column::EndedAt,
                            stream::Column::DurationS,
                            stream::Column::Peak,
                            stream::Column::UniqueViewers,
                            stream::Column::Messages,
                            stream::Column::Reactions,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .context("failed to store a stream's summary")?;
            // The summary keeps the count; the viewers themselves go.
            stream_viewer::Entity::delete_many()
                .filter(stream_viewer::Column::StreamId.eq(s.id.as_str()))
                .exec(db)
                .await
                .context("failed to remove a stream's viewers")?;
        }
        PlatformWrite::StreamProgress(p) => store_progress(db, p).await?,
    }
    Ok(())
}

/// Viewer rows per INSERT (two bound values each: well under every backend's limit).
const VIEWERS_PER_INSERT: usize = 1_000;

/// Keep a live stream's figures: its row (while it has not ended) and the new viewers.
async fn store_progress(db: &DatabaseConnection, p: &StreamProgress) -> anyhow::Result<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let live = stream::Entity::update_many()
        .col_expr(stream::Column::Peak, Expr::value(n(p.peak)))
        .col_expr(stream::Column::Reactions, Expr::value(n(p.reactions)))
        .col_expr(
            stream::Column::Reached,
            Expr::value(serde_json::to_string(&p.reached)?),
        )
        .filter(stream::Column::Id.eq(p.id.as_str()))
        .filter(stream::Column::EndedAt.is_null())
        .exec(db)
        .await
        .context("failed to store a live stream's figures")?;
    if live.rows_affected == 0 {
        return Ok(()); // it has ended (or was never stored): nothing to keep
    }
    for chunk in p.viewers.chunks(VIEWERS_PER_INSERT) {
        let rows = chunk.iter().map(|v| stream_viewer::ActiveModel {
            stream_id: Set(p.id.clone()),
            viewer: Set(*v as i64),
        });
        stream_viewer::Entity::insert_many(rows)
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(db)
            .await
            .context("failed to store a live stream's viewers")?;
    }
    Ok(())
}

fn stream_row(s: &StreamRecord) -> stream::ActiveModel {
    let sum = s.summary.unwrap_or_default();
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    stream::ActiveModel {
        id: Set(s.id.clone()),
        room: Set(s.room.clone()),
        title: Set(s.title.clone()),
        started_at: Set(s.started_at),
        ended_at: Set(s.ended_at),
        start_seq: Set(n(s.start_seq)),
        epoch: Set(s.epoch.clone()),
        duration_s: Set(s.summary.map(|m| n(m.duration_s))),
        peak: Set(n(sum.peak)),
        unique_viewers: Set(n(sum.unique_viewers)),
        messages: Set(n(sum.messages)),
        reactions: Set(n(sum.reactions)),
        reached: Default::default(),
    }
}

fn stream_record(r: stream::Model) -> StreamRecord {
    let n = |v: i64| v.max(0) as u64;
    let summary = r.ended_at.map(|_| StreamSummary {
        duration_s: n(r.duration_s.unwrap_or(0)),
        peak: n(r.peak),
        unique_viewers: n(r.unique_viewers),
        messages: n(r.messages),
        reactions: n(r.reactions),
    });
    StreamRecord {
        id: r.id.clone(),
        room: r.room.clone(),
        title: r.title,
        started_at: r.started_at,
        start_seq: n(r.start_seq),
        epoch: r.epoch,
        ended_at: r.ended_at,
        progress: r.ended_at.is_none().then(|| StreamProgress {
            id: r.id.clone(),
            room: r.room.clone(),
            peak: n(r.peak),
            reactions: n(r.reactions),
            reached: r
                .reached
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default(),
            viewers: Vec::new(),
        }),
        summary,
    }
}

/// A room's state and open stream as stored, with `queued` (this node's
/// writes of the room not stored yet, in order) replayed on top.
pub async fn load(
    db: &DatabaseConnection,
    room: &str,
    queued: &[PlatformWrite],
) -> Result<PlatformSnapshot, DbErr> {
    let rows = room_state::Entity::find()
        .filter(room_state::Column::Room.eq(room))
        .all(db)
        .await?;
    let mut snap = PlatformSnapshot::default();
    for row in rows {
        snap.version = snap.version.max(row.version);
        if let Some(data) = row.data {
            snap.state.insert(row.key, data);
        }
    }
    snap.stream = stream::Entity::find()
        .filter(stream::Column::Room.eq(room))
        .filter(stream::Column::EndedAt.is_null())
        .order_by_desc(stream::Column::StartedAt)
        .one(db)
        .await?
        .map(stream_record);
    if let Some(progress) = snap.stream.as_mut().and_then(|s| s.progress.as_mut()) {
        let viewers: Vec<i64> = stream_viewer::Entity::find()
            .select_only()
            .column(stream_viewer::Column::Viewer)
            .filter(stream_viewer::Column::StreamId.eq(progress.id.as_str()))
            .into_tuple()
            .all(db)
            .await?;
        progress.viewers = viewers.into_iter().map(|v| v as u64).collect();
    }
    replay(&mut snap, queued);
    Ok(snap)
}

/// Apply queued writes (in order) to what is stored.
fn replay(snap: &mut PlatformSnapshot, queued: &[PlatformWrite]) {
    for write in queued {
        match write {
            PlatformWrite::State {
                key, data, version, ..
            } => {
                snap.version = snap.version.max(*version);
                match data {
                    Some(d) => snap.state.insert(key.clone(), d.to_string()),
                    None => snap.state.remove(key),
                };
            }
            PlatformWrite::StreamStarted(s) => snap.stream = Some((**s).clone()),
            PlatformWrite::StreamEnded(s) => {
                if snap.stream.as_ref().is_some_and(|open| open.id == s.id) {
                    snap.stream = None;
                }
            }
            PlatformWrite::StreamProgress(p) => {
                let open = snap.stream.as_mut().filter(|open| open.id == p.id);
                if let Some(open) = open {
                    let mut viewers = open.progress.take().map(|o| o.viewers).unwrap_or_default();
                    viewers.extend(&p.viewers);
                    open.progress = Some(StreamProgress {
                        viewers,
                        ..(**p).clone()
                    });
                }
            }
        }
    }
}

/// A room's streams, newest first, at most `limit`, with `queued` merged in.
pub async fn streams(
    db: &DatabaseConnection,
    room: &str,
    limit: u64,
    queued: &[PlatformWrite],
) -> Result<Vec<StreamRecord>, DbErr> {
    let mut found: Vec<StreamRecord> = stream::Entity::find()
        .filter(stream::Column::Room.eq(room))
        .order_by_desc(stream::Column::StartedAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(stream_record)
        .collect();
    for write in queued {
        if let PlatformWrite::StreamStarted(s) | PlatformWrite::StreamEnded(s) = write {
            match found.iter_mut().find(|f| f.id == s.id) {
                Some(f) if s.ended_at.is_some() => *f = (**s).clone(),
                Some(_) => {}
                None => found.push((**s).clone()),
            }
        }
    }
    found.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    found.truncate(limit as usize);
    Ok(found)
}

/// Delete the rows of state keys deleted before `cutoff` (epoch ms): by then
/// no older write of them is still on its way.
pub async fn prune_deleted_state(db: &DatabaseConnection, cutoff: i64) -> Result<u64, DbErr> {
    let res = room_state::Entity::delete_many()
        .filter(room_state::Column::Data.is_null())
        .filter(room_state::Column::UpdatedAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DatabaseSettings, Secret};

    async fn memory_db() -> DatabaseConnection {
        super::super::db::open_database(&DatabaseSettings {
            url: Secret::new("sqlite::memory:"),
            max_connections: 1,
        })
        .await
        .unwrap()
    }

    fn state(key: &str, data: Option<&str>, version: i64) -> PlatformWrite {
        PlatformWrite::State {
            room: "r".into(),
            key: key.into(),
            data: data.map(Into::into),
            version,
            at: version,
        }
    }

    fn stream(id: &str, ended: bool) -> Arc<StreamRecord> {
        Arc::new(StreamRecord {
            id: id.into(),
            room: "r".into(),
            title: "Sale".into(),
            started_at: 10,
            start_seq: 3,
            epoch: Some("e".into()),
            ended_at: ended.then_some(70_000),
            summary: ended.then_some(StreamSummary {
                duration_s: 69,
                peak: 5,
                unique_viewers: 4,
                messages: 2,
                reactions: 9,
            }),
            progress: None,
        })
    }

    #[tokio::test]
    async fn a_state_row_changes_only_for_a_newer_version_and_deletes_stay_deleted() {
        let db = memory_db().await;
        for w in [
            state("product", Some(r#"{"sku":"A"}"#), 2),
            state("product", Some(r#"{"sku":"old"}"#), 1),
            state("bid", Some("10"), 3),
            state("bid", None, 5),
            state("bid", Some("9"), 4),
        ] {
            execute(&db, &w).await.unwrap();
        }
        let snap = load(&db, "r", &[]).await.unwrap();
        assert_eq!(snap.state.len(), 1);
        assert_eq!(snap.state["product"], r#"{"sku":"A"}"#);
        assert_eq!(snap.version, 5);
        // What is queued replays over it.
        let snap = load(
            &db,
            "r",
            &[state("bid", Some("11"), 6), state("product", None, 7)],
        )
        .await
        .unwrap();
        assert_eq!(snap.state.keys().collect::<Vec<_>>(), ["bid"]);
        assert_eq!(snap.version, 7);
        assert!(load(&db, "other", &[]).await.unwrap().state.is_empty());
        // Deleted keys are pruned once old enough.
        assert_eq!(prune_deleted_state(&db, 6).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_stream_is_open_until_its_summary_is_stored() {
        let db = memory_db().await;
        execute(&db, &PlatformWrite::StreamStarted(stream("s1", false)))
            .await
            .unwrap();
        let open = load(&db, "r", &[]).await.unwrap().stream.unwrap();
        assert_eq!((open.id.as_str(), open.start_seq), ("s1", 3));
        assert!(open.summary.is_none());
        // An end still queued closes it for a reader.
        let queued = [PlatformWrite::StreamEnded(stream("s1", true))];
        assert!(load(&db, "r", &queued).await.unwrap().stream.is_none());
        let listed = streams(&db, "r", 10, &queued).await.unwrap();
        assert_eq!(listed[0].summary.unwrap().reactions, 9);
        execute(&db, &queued[0]).await.unwrap();
        assert!(load(&db, "r", &[]).await.unwrap().stream.is_none());
        let listed = streams(&db, "r", 10, &[]).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].summary.unwrap().duration_s, 69);
    }

    fn progress(viewers: &[u64], reactions: u64) -> PlatformWrite {
        PlatformWrite::StreamProgress(Arc::new(StreamProgress {
            id: "s1".into(),
            room: "r".into(),
            peak: 7,
            reactions,
            reached: vec![5],
            viewers: viewers.to_vec(),
        }))
    }

    #[tokio::test]
    async fn a_live_streams_progress_is_loaded_back_until_it_ends() {
        let db = memory_db().await;
        execute(&db, &PlatformWrite::StreamStarted(stream("s1", false)))
            .await
            .unwrap();
        // Keys above i64::MAX are stored as negative numbers and read back whole.
        for w in [progress(&[1, u64::MAX], 2), progress(&[u64::MAX, 3], 4)] {
            execute(&db, &w).await.unwrap();
        }
        let open = load(&db, "r", &[]).await.unwrap().stream.unwrap();
        let mut got = open.progress.unwrap();
        got.viewers.sort_unstable();
        assert_eq!((got.peak, got.reactions, got.reached), (7, 4, vec![5]));
        assert_eq!(got.viewers, [1, 3, u64::MAX]);
        // A queued one adds its viewers and replaces the figures.
        let queued = [progress(&[9], 6)];
        let open = load(&db, "r", &queued).await.unwrap().stream.unwrap();
        let got = open.progress.unwrap();
        assert_eq!((got.reactions, got.viewers.len()), (6, 4));
        // Once it ends, its viewers are gone and a late progress changes nothing.
        execute(&db, &PlatformWrite::StreamEnded(stream("s1", true)))
            .await
            .unwrap();
        execute(&db, &progress(&[10], 99)).await.unwrap();
        let listed = streams(&db, "r", 10, &[]).await.unwrap();
        assert_eq!(listed[0].summary.unwrap().reactions, 9);
        let left = stream_viewer::Entity::find().all(&db).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}
