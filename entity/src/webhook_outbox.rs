//! `webhook_outbox`: webhook events waiting to be sent, and those sent or given
//! up on (kept a while, so a late duplicate of a keyed event is still refused).

use sea_orm::entity::prelude::*;

/// One webhook event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_outbox")]
pub struct Model {
    /// Insertion order: a room's events are sent in this order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// ULID of the event (the body's `id`).
    #[sea_orm(unique)]
    pub id: String,
    pub room: String,
    /// The event type (`moderation.action`, `room.occupied`, …).
    pub kind: String,
    /// The exact JSON body that is POSTed (and signed), every time.
    pub body: String,
    /// Set for events every node sees; unique, so such an event is stored once.
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    /// Deliveries started so far.
    pub attempts: i32,
    /// Not sent again before this (epoch ms).
    pub next_attempt_at: i64,
    /// The node sending it, while `lease_until` is in the future.
    pub leased_by: Option<String>,
    /// End of the current lease (epoch ms; 0 = not leased).
    pub lease_until: i64,
    pub last_error: Option<String>,
    /// When it was delivered or given up on (epoch ms).
    pub done_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
