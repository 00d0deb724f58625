//! `stream_viewers`: the distinct viewers of a live stream seen so far
//! (contract §8), so a single node that restarts keeps counting them exactly.
//! Deleted when the stream ends (its summary keeps the count).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_viewers")]
pub struct Model {
    /// The stream's ULID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub stream_id: String,
    /// A stable 64-bit key of the user id (FNV-1a), as a signed integer.
    #[sea_orm(primary_key, auto_increment = false)]
    pub viewer: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
