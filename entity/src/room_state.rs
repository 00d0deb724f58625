//! `room_state`: a room's state (contract §8), one row per key. A deleted key
//! keeps its row with `data` NULL, so a late write of an older version of it
//! cannot bring it back.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The value as JSON; NULL once the key is deleted.
    #[sea_orm(column_type = "Text", nullable)]
    pub data: Option<String>,
    /// The room's state version of this write (grows with every write to the room).
    pub version: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
