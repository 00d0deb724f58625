//! The outbox table: stateless SeaORM functions, one statement each, on the
//! `webhook_outbox` rows every node of a cluster shares.
//!
//! The rules that make delivery in order, per room, by one node at a time live
//! in these statements:
//! - a room's *head* is its pending event with the lowest `seq`; only heads are
//!   [`due`], and only in rooms where no pending event is leased;
//! - a node sends an event only after [`claim`] changed its row (a conditional
//!   UPDATE on an expired lease, so exactly one claimer wins);
//! - a node records the outcome only while the row is still leased to it.
//!
//! This file must not decide when to retry or give up (the actor does), and
//! never sends anything.

use entity::webhook_outbox::{self, Column, Entity};
use sea_orm::sea_query::{Expr, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Waiting to be sent (or being sent).
pub const PENDING: &str = "pending";
/// A 2xx came back.
pub const DELIVERED: &str = "delivered";
/// Given up after `webhooks.retry_s`.
pub const FAILED: &str = "failed";

/// An event as it is stored: its body is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub room: String,
    /// The exact JSON that is POSTed, every attempt.
    pub body: String,
    pub dedupe_key: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

impl NewEvent {
    /// Roughly how much memory it holds while it waits to be stored.
    pub fn size(&self) -> usize {
        64 + self.id.len()
            + self.kind.len()
            + self.room.len()
            + self.body.len()
            + self.dedupe_key.as_ref().map_or(0, String::len)
    }
}

/// What the outbox holds that is not done yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub count: u64,
    /// `created_at` of the oldest pending event (epoch ms).
    pub oldest: Option<i64>,
}

/// Store a batch in one INSERT. An event whose `dedupe_key` (or id) is already
/// stored is skipped, so a retried batch and every node's copy of a
/// cluster-wide event land once. Answers the rows inserted.
pub async fn insert(db: &impl ConnectionTrait, events: &[NewEvent]) -> Result<u64, DbErr> {
    if events.is_empty() {
        return Ok(0);
    }
    let rows = events.iter().map(|e| webhook_outbox::ActiveModel {
        seq: NotSet,
        id: Set(e.id.clone()),
        room: Set(e.room.clone()),
        kind: Set(e.kind.clone()),
        body: Set(e.body.clone()),
        dedupe_key: Set(e.dedupe_key.clone()),
        status: Set(PENDING.to_owned()),
        created_at: Set(e.created_at),
        attempts: Set(0),
        next_attempt_at: Set(e.created_at),
        leased_by: Set(None),
        lease_until: Set(0),
        last_error: Set(None),
        done_at: Set(None),
    });
    // No conflict target: any unique clash (the key, or the id of a batch
    // whose answer was lost) skips that row.
    let res = Entity::insert_many(rows)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(res)
}

/// Up to `limit` events that may be sent now: each the head of its room, due
/// (`next_attempt_at <= now`), in a room where no pending event holds a live
/// lease. Oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<Vec<webhook_outbox::Model>, DbErr> {
    let heads = Query::select()
        .expr(Func::min(Expr::col(Column::Seq)))
        .from(Entity)
        .and_where(Column::Status.eq(PENDING))
        .group_by_col(Column::Room)
        .to_owned();
    let leased = Query::select()
        .column(Column::Room)
        .from(Entity)
        .and_where(Column::Status.eq(PENDING))
        .and_where(Column::LeaseUntil.gte(now))
        .to_owned();
    Entity::find()
        .filter(Column::Status.eq(PENDING))
        .filter(Column::NextAttemptAt.lte(now))
        .filter(Column::LeaseUntil.lt(now))
        .filter(Column::Seq.in_subquery(heads))
        .filter(Column::Room.not_in_subquery(leased))
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Lease event `seq` to `node` until `until`, if it is still pending and
/// nobody's lease on it is live at `now`; counts the attempt. True if this
/// node won it: only then may it send.
pub async fn claim(
    db: &impl ConnectionTrait,
    seq: i64,
    node: &str,
    now: i64,
    until: i64,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::ExprTrait as _;
    let res = Entity::update_many()
        .col_expr(Column::LeasedBy, Expr::value(node))
        .col_expr(Column::LeaseUntil, Expr::value(until))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Seq.eq(seq))
        .filter(Column::Status.eq(PENDING))
        .filter(Column::LeaseUntil.lt(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The receiver took it. False if the row was no longer leased to `node`.
pub async fn mark_delivered(
    db: &impl ConnectionTrait,
    seq: i64,
    node: &str,
    now: i64,
) -> Result<bool, DbErr> {
    finish(db, seq, node, DELIVERED, now, None).await
}

/// Given up on (its room's next event goes). False if no longer leased to `node`.
pub async fn mark_failed(
    db: &impl ConnectionTrait,
    seq: i64,
    node: &str,
    now: i64,
    error: &str,
) -> Result<bool, DbErr> {
    finish(db, seq, node, FAILED, now, Some(error)).await
}

async fn finish(
    db: &impl ConnectionTrait,
    seq: i64,
    node: &str,
    status: &str,
    now: i64,
    error: Option<&str>,
) -> Result<bool, DbErr> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::DoneAt, Expr::value(now))
        .col_expr(Column::LeasedBy, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(0i64));
    if let Some(error) = error {
        update = update.col_expr(Column::LastError, Expr::value(error));
    }
    let res = update
        .filter(Column::Seq.eq(seq))
        .filter(Column::Status.eq(PENDING))
        .filter(Column::LeasedBy.eq(node))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// This attempt failed: release the lease and make it due again at `at`.
/// False if the row was no longer leased to `node`.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    seq: i64,
    node: &str,
    at: i64,
    error: &str,
) -> Result<bool, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(at))
        .col_expr(Column::LastError, Expr::value(error))
        .col_expr(Column::LeasedBy, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(0i64))
        .filter(Column::Seq.eq(seq))
        .filter(Column::Status.eq(PENDING))
        .filter(Column::LeasedBy.eq(node))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Drop every lease `node` holds (it is stopping, or starting again after a
/// crash), so its events can be taken at once. Answers how many.
pub async fn release(db: &impl ConnectionTrait, node: &str) -> Result<u64, DbErr> {
    let res = Entity::update_many()
        .col_expr(Column::LeasedBy, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(0i64))
        .filter(Column::Status.eq(PENDING))
        .filter(Column::LeasedBy.eq(node))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// How many events are pending, and since when.
pub async fn pending(db: &impl ConnectionTrait) -> Result<Pending, DbErr> {
    let row: Option<(i64, Option<i64>)> = Entity::find()
        .select_only()
        .column_as(Column::Seq.count(), "count")
        .column_as(Column::CreatedAt.min(), "oldest")
        .filter(Column::Status.eq(PENDING))
        .into_tuple()
        .one(db)
        .await?;
    Ok(
        row.map_or_else(Pending::default, |(count, oldest)| Pending {
            count: count.max(0) as u64,
            oldest,
        }),
    )
}

/// Delete events delivered or given up on before `before` (epoch ms).
pub async fn prune(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    let res = Entity::delete_many()
        .filter(Column::Status.ne(PENDING))
        .filter(Column::DoneAt.lt(before))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Every stored event of `room`, oldest first (tests and tools).
pub async fn of_room(
    db: &impl ConnectionTrait,
    room: &str,
) -> Result<Vec<webhook_outbox::Model>, DbErr> {
    Entity::find()
        .filter(Column::Room.eq(room))
        .order_by_asc(Column::Seq)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{Database, DatabaseConnection};

    async fn memory_db() -> DatabaseConnection {
        use migration::MigratorTrait;
        let db = Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        db
    }

    fn ev(id: &str, room: &str, key: Option<&str>) -> NewEvent {
        NewEvent {
            id: id.into(),
            kind: "moderation.action".into(),
            room: room.into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            dedupe_key: key.map(str::to_owned),
            created_at: 1_000,
        }
    }

    fn seqs(rows: &[webhook_outbox::Model]) -> Vec<&str> {
        rows.iter().map(|r| r.id.as_str()).collect()
    }

    #[tokio::test]
    async fn a_key_is_stored_once_and_a_retried_batch_lands_once() {
        let db = memory_db().await;
        let batch = [ev("a", "r", Some("k")), ev("b", "r", None)];
        assert_eq!(insert(&db, &batch).await.unwrap(), 2);
        // The same batch again (its answer was lost), and another node's copy of "k".
        assert_eq!(insert(&db, &batch).await.unwrap(), 0);
        assert_eq!(insert(&db, &[ev("c", "r", Some("k"))]).await.unwrap(), 0);
        assert_eq!(seqs(&of_room(&db, "r").await.unwrap()), ["a", "b"]);
    }

    #[tokio::test]
    async fn only_the_head_of_each_room_is_due_and_one_claimer_wins() {
        let db = memory_db().await;
        let events = [
            ev("a1", "a", None),
            ev("a2", "a", None),
            ev("b1", "b", None),
        ];
        insert(&db, &events).await.unwrap();
        let now = 2_000;
        let due_now = due(&db, now, 10).await.unwrap();
        assert_eq!(seqs(&due_now), ["a1", "b1"]);
        let a1 = due_now[0].seq;
        assert!(claim(&db, a1, "n1", now, now + 30_000).await.unwrap());
        assert!(!claim(&db, a1, "n2", now, now + 30_000).await.unwrap());
        // Leased: room a has nothing due (a2 waits behind a1), b still does.
        assert_eq!(seqs(&due(&db, now, 10).await.unwrap()), ["b1"]);
        // Only the lease holder records the outcome.
        assert!(!mark_delivered(&db, a1, "n2", now).await.unwrap());
        assert!(mark_delivered(&db, a1, "n1", now).await.unwrap());
        assert_eq!(seqs(&due(&db, now, 10).await.unwrap()), ["a2", "b1"]);
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_a_retry_waits_its_turn() {
        let db = memory_db().await;
        insert(&db, &[ev("a1", "a", None), ev("a2", "a", None)])
            .await
            .unwrap();
        let seq = due(&db, 2_000, 1).await.unwrap()[0].seq;
        assert!(claim(&db, seq, "dead", 2_000, 3_000).await.unwrap());
        assert!(due(&db, 2_500, 10).await.unwrap().is_empty());
        // The lease ran out: another node takes the event; the dead one cannot record.
        assert_eq!(seqs(&due(&db, 3_001, 10).await.unwrap()), ["a1"]);
        assert!(claim(&db, seq, "alive", 3_001, 4_000).await.unwrap());
        assert!(!retry_at(&db, seq, "dead", 9_000, "x").await.unwrap());
        assert!(
            retry_at(&db, seq, "alive", 5_000, "HTTP 500")
                .await
                .unwrap()
        );
        // Not due before 5 s, and a2 still waits behind it.
        assert!(due(&db, 4_500, 10).await.unwrap().is_empty());
        let row = &due(&db, 5_000, 10).await.unwrap()[0];
        assert_eq!((row.id.as_str(), row.attempts), ("a1", 2));
        assert_eq!(row.last_error.as_deref(), Some("HTTP 500"));
        assert!(claim(&db, seq, "alive", 5_000, 6_000).await.unwrap());
        assert!(
            mark_failed(&db, seq, "alive", 5_100, "gave up")
                .await
                .unwrap()
        );
        assert_eq!(seqs(&due(&db, 5_100, 10).await.unwrap()), ["a2"]);
        assert_eq!(
            pending(&db).await.unwrap(),
            Pending {
                count: 1,
                oldest: Some(1_000)
            }
        );
    }

    #[tokio::test]
    async fn release_frees_a_nodes_leases_and_prune_keeps_pending_events() {
        let db = memory_db().await;
        insert(&db, &[ev("a1", "a", None), ev("b1", "b", None)])
            .await
            .unwrap();
        for row in due(&db, 2_000, 10).await.unwrap() {
            assert!(claim(&db, row.seq, "n1", 2_000, 60_000).await.unwrap());
        }
        assert_eq!(release(&db, "n1").await.unwrap(), 2);
        let rows = due(&db, 2_001, 10).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(claim(&db, rows[0].seq, "n2", 2_001, 3_000).await.unwrap());
        assert!(mark_delivered(&db, rows[0].seq, "n2", 2_100).await.unwrap());
        assert_eq!(prune(&db, 2_000).await.unwrap(), 0, "too recent");
        assert_eq!(prune(&db, 2_200).await.unwrap(), 1);
        assert_eq!(pending(&db).await.unwrap().count, 1);
    }
}
