//! A room's people (contract §7): the stored moderator list (changed only by
//! the platform and the broadcaster; the room checks) and a user card.

use actix_web::{HttpResponse, web};

use super::ask_room;
use super::moderation::{act, authorized};
use crate::protocol::{ModAction, UserId};
use crate::room::{Moderators, UserStateOf};
use crate::routes::extract::RoomModerator;
use crate::routes::{ApiError, AppState};
use crate::store::moderation_reads::{LoadUserLog, LoadUserMessages};

/// How many of the user's messages and log entries a user card shows.
const CARD_ENTRIES: u64 = 50;

/// `GET /api/rooms/{room}/moderators`: `{"moderators":[{"user","added_by","ts"}]}`.
pub async fn list(
    caller: RoomModerator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let room = authorized(&state, caller).await?;
    let moderators = ask_room(&state, room, Moderators).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "moderators": moderators })))
}

/// `PUT /api/rooms/{room}/moderators/{user}`: 200 `{"user","added_by","ts"}`.
pub async fn add(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::parse(path.into_inner().1)?;
    let room = caller.room.clone();
    act(&state, caller, ModAction::ModAdd { user: user.clone() }).await?;
    let listed = ask_room(&state, room, Moderators).await?;
    let entry = listed
        .into_iter()
        .find(|m| m.user == user.as_str())
        .ok_or_else(|| {
            ApiError::Unexpected(anyhow::anyhow!("moderator not listed after adding"))
        })?;
    Ok(HttpResponse::Ok().json(entry))
}

/// `DELETE /api/rooms/{room}/moderators/{user}`: 204.
pub async fn remove(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::parse(path.into_inner().1)?;
    act(&state, caller, ModAction::ModRemove { user }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/rooms/{room}/users/{user}`: the user card: their last messages
/// in the room, the log entries about them, and their standing.
pub async fn card(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::parse(path.into_inner().1)?;
    let room = authorized(&state, caller).await?;
    let messages = state
        .store
        .send(LoadUserMessages {
            room: room.to_string(),
            user: user.to_string(),
            since: None,
            limit: CARD_ENTRIES,
        })
        .await??;
    let actions = state
        .store
        .send(LoadUserLog {
            room: room.to_string(),
            user: user.to_string(),
            limit: CARD_ENTRIES,
        })
        .await??;
    let standing = ask_room(
        &state,
        room,
        UserStateOf {
            user: user.to_string(),
        },
    )
    .await?;
    let messages = crate::protocol::moderation::encode_marked_list(
        messages.iter().map(|(m, shadow)| (m, *shadow)),
    );
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user": user,
        "messages": messages,
        "actions": actions,
        "state": standing,
    })))
}
