//! AutoMod (contract §7): a room's own blocked terms, and the messages held
//! for review with their decisions. Callers are the platform or a moderator
//! of the room; the room decides, the store keeps the decision cluster-wide.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ask_room;
use super::moderation::{act, authorized};
use crate::protocol::moderation::{MessageFrame, Term};
use crate::protocol::{MessageId, ModAction};
use crate::room::automod::check_room_terms;
use crate::room::{HeldList, RoomTerms};
use crate::routes::extract::RoomModerator;
use crate::routes::{ApiError, AppState};

#[derive(Deserialize)]
pub struct TermsBody {
    terms: Vec<Term>,
}

/// `PUT /api/rooms/{room}/terms` `{"terms":[{"pattern","action"}]}`: 200 with
/// the terms; replaces the room's own list (`automod.terms` apply besides).
pub async fn put_terms(
    caller: RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<TermsBody>,
) -> Result<HttpResponse, ApiError> {
    let terms = body.into_inner().terms;
    check_room_terms(&terms).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    act(
        &state,
        caller,
        ModAction::Terms {
            terms: terms.clone(),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "terms": terms })))
}

/// `GET /api/rooms/{room}/terms`: the room's own terms.
pub async fn get_terms(
    caller: RoomModerator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let room = authorized(&state, caller).await?;
    let terms = ask_room(&state, room, RoomTerms).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "terms": terms })))
}

/// `GET /api/rooms/{room}/held`: `{"held":[{"message","term","expires_at"}]}`, oldest first.
pub async fn held(
    caller: RoomModerator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let room = authorized(&state, caller).await?;
    let held = ask_room(&state, room, HeldList).await?;
    let list: Vec<_> = held
        .iter()
        .map(|h| {
            serde_json::json!({
                "message": MessageFrame::plain(&h.msg),
                "term": h.term,
                "expires_at": h.expires_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "held": list })))
}

/// `POST /api/rooms/{room}/held/{id}/approve`: 200 `{"id"}`; 404 if it is not held.
pub async fn approve(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    decide(caller, state, path, true).await
}

/// `POST /api/rooms/{room}/held/{id}/deny`: 200 `{"id"}`; 404 if it is not held.
pub async fn deny(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    decide(caller, state, path, false).await
}

async fn decide(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    approve: bool,
) -> Result<HttpResponse, ApiError> {
    let id = MessageId::parse(path.into_inner().1)?;
    let action = if approve {
        ModAction::Approve { id }
    } else {
        ModAction::Deny { id }
    };
    match act(&state, caller, action).await {
        Ok(id) => Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id }))),
        // Not held (any more): decided already, expired, or never held.
        Err(ApiError::BadRequest(why)) => Err(ApiError::NotFound(why)),
        Err(other) => Err(other),
    }
}
