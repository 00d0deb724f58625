//! `room_moderators`: the stored moderator list of each room (contract §7),
//! besides the token's `mod` claim and room-token roles.

use sea_orm::entity::prelude::*;

/// A user the broadcaster or the platform made a moderator of a room.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_moderators")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// Who added them (a user id, or `api`).
    pub added_by: String,
    /// When (epoch ms).
    pub ts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
