//! Contract §8 room state: `PUT /api/rooms/{room}/state/{key}` with any JSON
//! (at most 2 KiB, not null) sets a key, `DELETE` removes it (both 204), and
//! `GET /api/rooms/{room}/state` shows every key. The room broadcasts each
//! change as a `state` frame; the checks on the value are made here.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::value::RawValue;

use super::ask_room;
use crate::protocol::StateKey;
use crate::protocol::platform::{StateValueError, check_state_value};
use crate::room::{GetState, SetState};
use crate::routes::extract::{Platform, RoomPath};
use crate::routes::{ApiError, AppState};

/// The key the path names, checked.
fn key_of(req: &HttpRequest) -> Result<StateKey, ApiError> {
    let key = req.match_info().get("key").unwrap_or_default();
    Ok(StateKey::parse(key)?)
}

/// `PUT …/state/{key}`: 204 once the room took it.
pub async fn put(
    _: Platform,
    RoomPath(room): RoomPath,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&req)?;
    let data: Box<RawValue> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body must be JSON: {e}")))?;
    check_state_value(&data).map_err(|e| match e {
        StateValueError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
        StateValueError::Null => ApiError::BadRequest(e.to_string()),
    })?;
    let data = RawValue::from_string(data.get().trim().to_owned())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    ask_room(
        &state,
        room,
        SetState {
            key,
            data: Some(data),
        },
    )
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE …/state/{key}`: 204; members get the key with `data: null`.
pub async fn delete(
    _: Platform,
    RoomPath(room): RoomPath,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&req)?;
    ask_room(&state, room, SetState { key, data: None }).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET …/state`: 200 with `{key: data}` (`{}` when the room has none).
pub async fn get(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let object = ask_room(&state, room, GetState).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(object.get().to_owned()))
}
