//! `streams`: a room's streams (contract §8), from `POST …/live` to `DELETE
//! …/live`; the summary columns are filled in when the stream ends, `peak`,
//! `reactions` and `reached` are kept up to date while it is live.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "streams")]
pub struct Model {
    /// ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub room: String,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    /// Epoch ms.
    pub started_at: i64,
    /// Epoch ms; NULL while the stream is live.
    pub ended_at: Option<i64>,
    /// The room's message sequence number when the stream started (§5).
    pub start_seq: i64,
    /// The epoch of that sequence.
    pub epoch: Option<String>,
    pub duration_s: Option<i64>,
    pub peak: i64,
    pub unique_viewers: i64,
    pub messages: i64,
    pub reactions: i64,
    /// Viewer milestones announced so far (JSON array; NULL: none recorded).
    #[sea_orm(column_type = "Text", nullable)]
    pub reached: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
