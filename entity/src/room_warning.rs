//! `room_warnings`: users warned in a room who have not acknowledged it yet
//! (they cannot chat there until they do).

use sea_orm::entity::prelude::*;

/// A warning waiting for its acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_warnings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub reason: Option<String>,
    pub moderator_id: String,
    /// When (epoch ms).
    pub ts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
