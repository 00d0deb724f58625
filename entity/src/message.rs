//! `messages`: every acked chat message, including deleted ones (marked, not removed).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One chat message as stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// ULID (26 chars); sorts by creation time, unique across the cluster.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Room id (1–64 chars of `[A-Za-z0-9_.:-]`).
    pub room: String,
    /// Sender's user id (`sub` of the token, or the system user of the server API).
    pub user_id: String,
    /// Sender's display name at send time.
    pub name: String,
    /// Chat text after trimming and control-character removal.
    pub text: String,
    /// JSON array of badge strings, as echoed on the `message` frame.
    pub badges: String,
    /// Unix epoch milliseconds.
    pub ts: i64,
    /// When a moderator deleted it (epoch ms), if they did.
    pub deleted_at: Option<i64>,
    /// Who deleted it.
    pub deleted_by: Option<String>,
    /// Its place in the room's sequence (contract §5); none before v2.
    pub seq: Option<i64>,
    /// The epoch that sequence belongs to.
    pub epoch: Option<String>,
    /// Sent while its author was shadow-banned (contract §7): listed in the
    /// server API only, marked; never in `recent` or `history`.
    pub shadow: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
