//! Platform events: `POST /api/rooms/{room}/events` → the room gets `event`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ask_room;
use crate::protocol;
use crate::room::PublishEvent;
use crate::routes::extract::{Platform, RoomPath};
use crate::routes::{ApiError, AppState};

/// Longest event name, and most bytes of event data (serialised).
pub const MAX_EVENT_NAME_CHARS: usize = 64;
pub const MAX_EVENT_DATA_BYTES: usize = 2048;

#[derive(Deserialize)]
pub struct EventBody {
    name: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// 202; `name` 1–64 characters, `data` a JSON object of at most 2 KiB.
pub async fn post(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
    body: web::Json<EventBody>,
) -> Result<HttpResponse, ApiError> {
    let EventBody { name, data } = body.into_inner();
    let n = name.chars().count();
    if n == 0 || n > MAX_EVENT_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "name must be 1-{MAX_EVENT_NAME_CHARS} characters"
        )));
    }
    let data = match data {
        Some(d) if d.get().trim_start().starts_with('{') => d,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "data must be a JSON object".to_owned(),
            ));
        }
        None => protocol::empty_object(),
    };
    if data.get().len() > MAX_EVENT_DATA_BYTES {
        return Err(ApiError::TooLarge(format!(
            "data is {} bytes; the limit is {MAX_EVENT_DATA_BYTES}",
            data.get().len()
        )));
    }
    ask_room(&state, room, PublishEvent { name, data }).await??;
    Ok(HttpResponse::Accepted().finish())
}
