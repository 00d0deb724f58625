//! `room_pins`: the pinned message of a room, while the pin lives.

use sea_orm::entity::prelude::*;

/// A room's pin.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_pins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    /// The pinned message as stored messages are (JSON of the chat message).
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// When the pin ends (epoch ms).
    pub until_ts: i64,
    pub moderator_id: String,
    /// When it was pinned (epoch ms).
    pub ts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
