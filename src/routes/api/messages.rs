//! Messages: history, publishing as a system user, and deleting.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ask_room;
use crate::auth::Identity;
use crate::protocol::moderation::encode_marked_list;
use crate::protocol::{MessageId, ModAction, UserId, check_name, clean_text, history_limit};
use crate::room::{IsDelayed, Moderate, PostAs};
use crate::routes::extract::{Platform, RoomModerator, RoomPath};
use crate::routes::{ApiError, AppState};
use crate::store::GetMessage;
use crate::store::moderation_reads::LoadListing;

#[derive(Deserialize)]
pub struct MessagesQuery {
    before: Option<String>,
    limit: Option<u64>,
}

/// `GET /api/rooms/{room}/messages?before=<id>&limit=50`, oldest first.
pub async fn list(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let MessagesQuery { before, limit } = query.into_inner();
    let limit = history_limit(limit)?;
    let before = before.map(MessageId::parse).transpose()?;
    // §7: shadow-banned users' messages are listed here, marked.
    let messages = state
        .store
        .send(LoadListing {
            room: room.into_string(),
            before: before.map(MessageId::into_string),
            limit,
        })
        .await??;
    let list = encode_marked_list(messages.iter().map(|(m, shadow)| (m, *shadow)));
    Ok(HttpResponse::Ok().json(serde_json::json!({ "messages": list })))
}

#[derive(Deserialize)]
pub struct SystemMessage {
    user: String,
    name: Option<String>,
    text: String,
}

/// `POST /api/rooms/{room}/messages`: publish as a system user; 201 `{"id"}`.
pub async fn post(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
    body: web::Json<SystemMessage>,
) -> Result<HttpResponse, ApiError> {
    let SystemMessage { user, name, text } = body.into_inner();
    let user = UserId::parse(user)?;
    let name = name.unwrap_or_else(|| user.to_string());
    check_name(&name)?;
    let text = clean_text(&text, state.sessions.text.max_text_chars)?;
    let msg = PostAs {
        user: Identity::system(user.into_string(), name),
        text,
    };
    let id = ask_room(&state, room, msg).await??;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
}

/// `DELETE /api/rooms/{room}/messages/{id}`: 204, or 404 for no such message.
pub async fn delete(
    caller: RoomModerator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let id = MessageId::parse(id)?;
    let found = state
        .store
        .send(GetMessage {
            room: caller.room.to_string(),
            id: id.to_string(),
        })
        .await??;
    // §7: a message in its chat delay is not stored yet; its room knows it.
    let delayed = found.is_none()
        && ask_room(
            &state,
            caller.room.clone(),
            IsDelayed { id: id.to_string() },
        )
        .await?;
    if found.is_none() && !delayed {
        return Err(ApiError::NotFound(format!(
            "no message {id} in room {}",
            caller.room
        )));
    }
    let msg = Moderate {
        by: caller.by,
        action: ModAction::Delete { id },
    };
    ask_room(&state, caller.room, msg).await??;
    Ok(HttpResponse::NoContent().finish())
}
