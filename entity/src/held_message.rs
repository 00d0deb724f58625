//! `held_messages`: messages AutoMod held for review, and the decision on
//! each (the row whose decision is null is still waiting).

use sea_orm::entity::prelude::*;

/// A held message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "held_messages")]
pub struct Model {
    /// The id the sender got in `held` (and the message keeps if approved).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub room: String,
    pub user_id: String,
    /// The chat message as JSON (no sequence number: held messages have none).
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// The pattern that held it, as configured.
    pub term: String,
    /// When it is dropped unanswered (epoch ms).
    pub expires_at: i64,
    /// `approve` or `deny`; null while it waits.
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
