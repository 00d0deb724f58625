//! Moderation: bans, timeouts, slow mode, §7's shadow bans, warnings, clear,
//! purge and pin, and the moderation log. Callers are the platform or a
//! moderator of the room (see `RoomModerator`); the room checks rank and
//! hierarchy, so these handlers only check their input.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{LimitQuery, ask_room};
use crate::protocol::{MessageId, ModAction, RoomId, UserId};
use crate::room::{Authorize, Moderate};
use crate::routes::extract::RoomModerator;
use crate::routes::{ApiError, AppState};
use crate::store::LoadModerationLog;

/// Most moderation log entries one call returns.
pub const MODERATION_LOG_MAX: u64 = 500;

/// Check an action and have the room apply it; answers the id it acks with.
pub async fn act(
    state: &AppState,
    caller: RoomModerator,
    action: ModAction,
) -> Result<String, ApiError> {
    let action = action.validate()?;
    let msg = Moderate {
        by: caller.by,
        action,
    };
    Ok(ask_room(state, caller.room, msg).await??)
}

/// For reads: is the caller a moderator of the room (the room decides)?
pub async fn authorized(state: &AppState, caller: RoomModerator) -> Result<RoomId, ApiError> {
    let room = caller.room.clone();
    ask_room(state, caller.room, Authorize { by: caller.by }).await??;
    Ok(room)
}

/// `{"id"}` with 201: an action taken.
fn created(id: String) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({ "id": id }))
}

#[derive(Deserialize)]
pub struct UserBody {
    user: String,
    reason: Option<String>,
}

/// An action on one user with an optional reason: 201 `{"id"}`.
async fn on_user(
    caller: RoomModerator,
    state: &AppState,
    body: UserBody,
    action: fn(UserId, Option<String>) -> ModAction,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::parse(body.user)?;
    Ok(created(
        act(state, caller, action(user, body.reason)).await?,
    ))
}

/// `POST /api/rooms/{room}/shadow_bans` `{"user","reason"}`: 201 `{"id"}`.
pub async fn shadow_ban(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let make = |user, reason| ModAction::ShadowBan { user, reason };
    on_user(caller, &state, body.into_inner(), make).await
}

/// `POST /api/rooms/{room}/warnings` `{"user","reason"}`: 201 `{"id"}`.
pub async fn warn(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let make = |user, reason| ModAction::Warn { user, reason };
    on_user(caller, &state, body.into_inner(), make).await
}

/// `POST /api/rooms/{room}/purges` `{"user","reason"}`: 201 `{"id"}`.
pub async fn purge(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let make = |user, reason| ModAction::Purge { user, reason };
    on_user(caller, &state, body.into_inner(), make).await
}

/// `POST /api/rooms/{room}/clear`: 201 `{"id"}`.
pub async fn clear(
    caller: RoomModerator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(created(act(&state, caller, ModAction::Clear).await?))
}

#[derive(Deserialize)]
pub struct PinBody {
    id: String,
    seconds: u64,
}

/// `PUT /api/rooms/{room}/pin` `{"id","seconds"}`: 200 `{"id"}`.
pub async fn pin(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<PinBody>,
) -> Result<HttpResponse, ApiError> {
    let PinBody { id, seconds } = body.into_inner();
    let id = MessageId::parse(id)?;
    let id = act(&state, caller, ModAction::Pin { id, seconds }).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id })))
}

/// `DELETE /api/rooms/{room}/pin`: 204.
pub async fn unpin(
    caller: RoomModerator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    act(&state, caller, ModAction::Unpin).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct BanBody {
    user: String,
    reason: Option<String>,
}

/// `POST /api/rooms/{room}/bans`: 201 `{"id"}`.
pub async fn ban(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<BanBody>,
) -> Result<HttpResponse, ApiError> {
    let BanBody { user, reason } = body.into_inner();
    let user = UserId::parse(user)?;
    let id = act(&state, caller, ModAction::Ban { user, reason }).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
}

/// `DELETE /api/rooms/{room}/bans/{user}`: 204 (lifts a timeout too).
pub async fn unban(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::parse(path.into_inner().1)?;
    act(&state, caller, ModAction::Unban { user }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct TimeoutBody {
    user: String,
    seconds: u64,
    reason: Option<String>,
}

/// `POST /api/rooms/{room}/timeouts`: 201 `{"id"}`.
pub async fn timeout(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<TimeoutBody>,
) -> Result<HttpResponse, ApiError> {
    let TimeoutBody {
        user,
        seconds,
        reason,
    } = body.into_inner();
    let action = ModAction::Timeout {
        user: UserId::parse(user)?,
        seconds,
        reason,
    };
    let id = act(&state, caller, action).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
}

#[derive(Deserialize)]
pub struct SlowModeBody {
    seconds: u64,
}

/// `PUT /api/rooms/{room}/slow_mode`: 200 `{"room","slow_mode"}`.
pub async fn slow_mode(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<SlowModeBody>,
) -> Result<HttpResponse, ApiError> {
    let seconds = body.seconds;
    let room = caller.room.clone();
    act(&state, caller, ModAction::SlowMode { seconds }).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "room": room, "slow_mode": seconds })))
}

/// `GET /api/rooms/{room}/moderation?limit=50`: the log, newest first.
pub async fn log(
    caller: RoomModerator,
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MODERATION_LOG_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1-{MODERATION_LOG_MAX}"
        )));
    }
    let room = authorized(&state, caller).await?;
    let actions = state
        .store
        .send(LoadModerationLog {
            room: room.into_string(),
            limit,
        })
        .await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "actions": actions })))
}
