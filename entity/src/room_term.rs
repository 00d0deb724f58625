//! `room_terms`: a room's own AutoMod terms (the configured ones come on top).

use sea_orm::entity::prelude::*;

/// A room's terms, replaced as a whole.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_terms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room: String,
    /// `[{"pattern","action"}]`, in the order set.
    #[sea_orm(column_type = "Text")]
    pub terms: String,
    pub updated_by: String,
    /// When (epoch ms).
    pub ts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
