//! `moderation_log`: every moderation action (ban, unban, timeout, delete, slow mode).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One moderation action as logged.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "moderation_log")]
pub struct Model {
    /// ULID of the action.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub room: String,
    /// `ban`, `unban`, `timeout`, `delete` or `slow_mode`.
    pub action: String,
    /// The user acted on (the author, for a delete, when known).
    pub user_id: Option<String>,
    /// The moderator (user id), or `api` for the platform's backend.
    pub moderator_id: String,
    pub reason: Option<String>,
    /// Timeout length, or the new slow-mode interval.
    pub seconds: Option<i64>,
    /// The deleted message, for a delete.
    pub message_id: Option<String>,
    /// Unix epoch milliseconds.
    pub ts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
