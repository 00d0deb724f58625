//! The server API of contract §3 under `/api`: what the platform's backend
//! (bearer `api.key`) and, on moderation routes, moderators (their JWT) may do.
//!
//! Handlers check the caller and every input, then ask the registry (rooms) or
//! the store (reads). They hold no state of their own.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, AppState, bearer, constant_time_eq};
use crate::protocol::{self, HISTORY_DEFAULT, HISTORY_MAX, valid_message_id, valid_room_id};
use crate::registry::RoomCommand;
use crate::room::{CommandKind, CommandOutcome};
use crate::store::{LoadHistory, StoreError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/rooms")
            .route("/{room}", web::get().to(room_info))
            .route("/{room}/messages", web::get().to(list_messages)),
    );
}

/// Who is calling the server API.
#[derive(Debug)]
pub enum Caller {
    /// The platform's backend, with `api.key`.
    Platform,
}

/// Only the platform's backend (bearer `api.key`) may call this route.
pub fn platform(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let Some(key) = state.api_key.as_ref().filter(|k| !k.expose().is_empty()) else {
        return Err(ApiError::Unauthorized(
            "the server API is disabled: no api.key is configured".to_owned(),
        ));
    };
    match bearer(req) {
        Some(token) if constant_time_eq(token.as_bytes(), key.expose().as_bytes()) => {
            Ok(Caller::Platform)
        }
        Some(_) => Err(ApiError::Unauthorized("invalid API key".to_owned())),
        None => Err(ApiError::Unauthorized(
            "missing Authorization: Bearer <api key>".to_owned(),
        )),
    }
}

/// The `{room}` of a path, checked.
pub fn room_id(room: String) -> Result<String, ApiError> {
    if valid_room_id(&room) {
        Ok(room)
    } else {
        Err(ApiError::BadRequest(
            "room must be 1-64 characters of A-Z a-z 0-9 _ . : -".to_owned(),
        ))
    }
}

/// Send a command to a room (starting it if needed) and map refusals to HTTP.
pub async fn command(
    state: &AppState,
    room: String,
    kind: CommandKind,
) -> Result<CommandOutcome, ApiError> {
    let outcome = state
        .registry
        .send(RoomCommand { room, kind })
        .await
        .map_err(|e| anyhow::anyhow!("registry unreachable: {e}"))??;
    Ok(outcome)
}

async fn room_info(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    platform(&req, &state)?;
    let room = room_id(path.into_inner())?;
    match command(&state, room, CommandKind::Info).await? {
        CommandOutcome::Info(info) => Ok(HttpResponse::Ok().json(info)),
        other => Err(anyhow::anyhow!("unexpected answer to Info: {other:?}").into()),
    }
}

#[derive(Deserialize)]
struct MessagesQuery {
    before: Option<String>,
    limit: Option<u64>,
}

async fn list_messages(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    platform(&req, &state)?;
    let room = room_id(path.into_inner())?;
    let MessagesQuery { before, limit } = query.into_inner();
    let limit = limit.unwrap_or(HISTORY_DEFAULT);
    if !(1..=HISTORY_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1-{HISTORY_MAX}"
        )));
    }
    if let Some(b) = &before
        && !valid_message_id(b)
    {
        return Err(ApiError::BadRequest(
            "before must be a message id (ULID)".to_owned(),
        ));
    }
    let messages = state
        .store
        .send(LoadHistory {
            room,
            before,
            limit,
        })
        .await
        .map_err(|e| anyhow::anyhow!("store unreachable: {e}"))?
        .map_err(|e| match e {
            StoreError::NotReady => ApiError::Unavailable(e.to_string()),
            StoreError::Db(db) => {
                ApiError::Unexpected(anyhow::Error::new(db).context("history read failed"))
            }
        })?;
    let list = protocol::encode_message_list(messages.iter());
    Ok(HttpResponse::Ok().json(serde_json::json!({ "messages": list })))
}
