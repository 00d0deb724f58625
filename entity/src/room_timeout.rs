//! `room_timeouts`: who may not post in which room until when.

use sea_orm::entity::prelude::*;

/// A timeout; past `until_ts` it no longer applies (and is pruned lazily).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_timeouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// End of the timeout (epoch ms).
    pub until_ts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
