//! The state a room loads of §7 (settings, terms, the moderator list, shadow
//! bans, warnings, the pin, held messages, the last clear): what is stored,
//! with this node's queued writes replayed on top. It reads; it decides nothing.

use std::collections::{HashMap, HashSet};

use entity::{
    held_message, room_moderator, room_pin, room_setting, room_shadow_ban, room_term, room_warning,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::moderation::{HeldRecord, Listed, MAX_HELD, ModWrite, PinRecord, Warning};
use crate::protocol::moderation::{ChatSettings, Term};

/// What a room's §7 state is made of when it is loaded.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ModerationSnapshot {
    /// The settings besides slow mode (slow mode is `RoomSnapshot::slow_mode`).
    pub settings: ChatSettings,
    pub terms: Vec<Term>,
    pub moderators: Vec<Listed>,
    pub shadow: HashSet<String>,
    pub warnings: HashMap<String, Warning>,
    /// The pin, while it lives.
    pub pin: Option<PinRecord>,
    /// Held messages nobody decided yet, oldest first.
    pub held: Vec<HeldRecord>,
    /// `recent` starts after this message id (the last clear).
    pub cleared_after: Option<String>,
}

/// A room's §7 state: what is stored, with `queued` (this node's writes not
/// stored yet, in order) replayed on top.
pub async fn load(
    db: &DatabaseConnection,
    room: &str,
    queued: &[ModWrite],
) -> Result<ModerationSnapshot, DbErr> {
    let now = crate::protocol::now_ms();
    let mut snap = ModerationSnapshot::default();
    if let Some(s) = room_setting::Entity::find_by_id(room.to_owned())
        .one(db)
        .await?
    {
        snap.settings = s
            .settings
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        snap.cleared_after = s.cleared_after;
    }
    if let Some(t) = room_term::Entity::find_by_id(room.to_owned())
        .one(db)
        .await?
    {
        snap.terms = serde_json::from_str(&t.terms).unwrap_or_default();
    }
    snap.moderators = room_moderator::Entity::find()
        .filter(room_moderator::Column::Room.eq(room))
        .order_by_asc(room_moderator::Column::Ts)
        .all(db)
        .await?
        .into_iter()
        .map(|m| Listed {
            user: m.user_id,
            added_by: m.added_by,
            ts: m.ts,
        })
        .collect();
    snap.shadow = room_shadow_ban::Entity::find()
        .filter(room_shadow_ban::Column::Room.eq(room))
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.user_id)
        .collect();
    snap.warnings = room_warning::Entity::find()
        .filter(room_warning::Column::Room.eq(room))
        .all(db)
        .await?
        .into_iter()
        .map(|w| {
            let warning = Warning {
                reason: w.reason,
                by: w.moderator_id,
            };
            (w.user_id, warning)
        })
        .collect();
    snap.pin = room_pin::Entity::find_by_id(room.to_owned())
        .one(db)
        .await?
        .filter(|p| p.until_ts > now)
        .and_then(|p| {
            Some(PinRecord {
                message: serde_json::from_str(&p.message).ok()?,
                until: p.until_ts,
                by: p.moderator_id,
            })
        });
    let held = held_message::Entity::find()
        .filter(held_message::Column::Room.eq(room))
        .filter(held_message::Column::Decision.is_null())
        .order_by_desc(held_message::Column::Id)
        .limit(MAX_HELD as u64)
        .all(db)
        .await?;
    snap.held = held
        .into_iter()
        .rev()
        .filter_map(|h| {
            Some(HeldRecord {
                msg: serde_json::from_str(&h.message).ok()?,
                term: h.term,
                expires_at: h.expires_at,
            })
        })
        .collect();
    for write in queued {
        replay(&mut snap, write);
    }
    Ok(snap)
}

/// A queued write, as if it were stored.
fn replay(snap: &mut ModerationSnapshot, write: &ModWrite) {
    match write {
        ModWrite::Settings { settings, .. } => snap.settings = *settings,
        ModWrite::Clear { after, .. } => snap.cleared_after = Some(after.clone()),
        ModWrite::Terms { terms, .. } => snap.terms = terms.clone(),
        ModWrite::ModeratorAdd { user, by, ts, .. } => {
            if !snap.moderators.iter().any(|m| &m.user == user) {
                snap.moderators.push(Listed {
                    user: user.clone(),
                    added_by: by.clone(),
                    ts: *ts,
                });
            }
        }
        ModWrite::ModeratorRemove { user, .. } => snap.moderators.retain(|m| &m.user != user),
        ModWrite::ShadowBan { user, .. } => {
            snap.shadow.insert(user.clone());
        }
        ModWrite::ShadowLift { user, .. } => {
            snap.shadow.remove(user);
        }
        ModWrite::Warn {
            user, reason, by, ..
        } => {
            let warning = Warning {
                reason: reason.clone(),
                by: by.clone(),
            };
            snap.warnings.insert(user.clone(), warning);
        }
        ModWrite::Acknowledged { user, .. } => {
            snap.warnings.remove(user);
        }
        ModWrite::Pin { pin, .. } => snap.pin = Some((**pin).clone()),
        ModWrite::Unpin { .. } => snap.pin = None,
        ModWrite::Held(h) => {
            if !snap.held.iter().any(|x| x.msg.id == h.msg.id) {
                snap.held.push((**h).clone());
            }
        }
        ModWrite::ShadowMessage(_) => {}
    }
}
