//! `viewer_snapshots`: per-room, per-minute viewer statistics.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "viewer_snapshots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    /// Start of the minute (epoch ms).
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: i64,
    pub min: i64,
    pub max: i64,
    /// Time-weighted average of the cluster-wide count over the minute.
    pub avg: f64,
    pub messages: i64,
    pub reactions: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
