//! `room_settings`: per-room settings moderators change (slow mode).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    /// Slow-mode interval in seconds; 0 = off.
    pub slow_mode: i64,
    /// The epoch of the room's message sequence (contract §5).
    pub epoch: Option<String>,
    /// The v2 settings (contract §7) as a JSON object.
    #[sea_orm(column_type = "Text", nullable)]
    pub settings: Option<String>,
    /// The last clear (contract §7): messages with ids up to this one are
    /// not in `recent` (history keeps them).
    pub cleared_after: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
