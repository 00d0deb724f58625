//! The server API of contract §3 under `/api`: what the platform's backend
//! (bearer `api.key`) and, on moderation routes, moderators (their JWT) may do.
//!
//! Handlers check the caller and every input, then ask the registry (rooms) or
//! the store (reads). They hold no state of their own.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, AppState, bearer, constant_time_eq};
use crate::auth::{Identity, MAX_NAME_CHARS};
use crate::protocol::{
    self, HISTORY_DEFAULT, HISTORY_MAX, ModAction, clean_text, valid_message_id, valid_room_id,
    valid_user_id, validate_mod_action,
};
use crate::registry::{ListRooms, RoomCommand};
use crate::room::{CommandKind, CommandOutcome};
use crate::store::{GetMessage, LoadHistory, LoadModerationLog, LoadSnapshots, StoreError};

/// Longest event name, and most bytes of event data (serialised).
pub const MAX_EVENT_NAME_CHARS: usize = 64;
pub const MAX_EVENT_DATA_BYTES: usize = 2048;
/// Most moderation log entries one call returns.
pub const MODERATION_LOG_MAX: u64 = 500;
/// The moderator name the platform's backend acts under.
pub const PLATFORM_MODERATOR: &str = "api";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/rooms")
            .route("", web::get().to(list_rooms))
            .route("/{room}", web::get().to(room_info))
            .route("/{room}/messages", web::get().to(list_messages))
            .route("/{room}/messages", web::post().to(post_message))
            .route("/{room}/messages/{id}", web::delete().to(delete_message))
            .route("/{room}/bans", web::post().to(ban))
            .route("/{room}/bans/{user}", web::delete().to(unban))
            .route("/{room}/timeouts", web::post().to(timeout))
            .route("/{room}/slow_mode", web::put().to(slow_mode))
            .route("/{room}/moderation", web::get().to(moderation_log))
            .route("/{room}/events", web::post().to(post_event))
            .route("/{room}/analytics", web::get().to(analytics))
            .route("/{room}/viewers/stream", web::get().to(viewers_stream)),
    );
}

/// Who is calling the server API.
#[derive(Debug)]
pub enum Caller {
    /// The platform's backend, with `api.key`.
    Platform,
    /// A moderator of the room, with their JWT (moderation routes only).
    Moderator(String),
}

impl Caller {
    /// The name moderation actions are logged under.
    fn moderator_name(&self) -> &str {
        match self {
            Caller::Platform => PLATFORM_MODERATOR,
            Caller::Moderator(id) => id,
        }
    }
}

/// The platform's backend, or a moderator of `room` with their JWT.
pub fn platform_or_moderator(
    req: &HttpRequest,
    state: &AppState,
    room: &str,
) -> Result<Caller, ApiError> {
    let refused = match platform(req, state) {
        Ok(caller) => return Ok(caller),
        Err(e) => e,
    };
    // With no API key configured the whole server API is off (contract §4).
    let Some(token) = bearer(req).filter(|_| state.api_key.is_some()) else {
        return Err(refused);
    };
    match state.auth.verify(token) {
        Ok(user) if user.moderates(room) => Ok(Caller::Moderator(user.id)),
        Ok(_) => Err(ApiError::Forbidden(
            "you do not moderate this room".to_owned(),
        )),
        Err(e) => Err(ApiError::Unauthorized(format!(
            "invalid API key or token: {e}"
        ))),
    }
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

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotReady => ApiError::Unavailable(e.to_string()),
        StoreError::Db(db) => {
            ApiError::Unexpected(anyhow::Error::new(db).context("database read failed"))
        }
    }
}

/// Send a moderator action to a room and return the id it acks with.
async fn moderate(
    state: &AppState,
    room: String,
    caller: &Caller,
    action: ModAction,
) -> Result<String, ApiError> {
    let action = validate_mod_action(action)?;
    let kind = CommandKind::Moderate {
        by: caller.moderator_name().to_owned(),
        action,
    };
    match command(state, room, kind).await? {
        CommandOutcome::Done { id } => Ok(id),
        other => {
            Err(anyhow::anyhow!("unexpected answer to a moderation command: {other:?}").into())
        }
    }
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<u64>,
}

async fn list_rooms(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    platform(&req, &state)?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-1000".to_owned()));
    }
    let rooms = state
        .registry
        .send(ListRooms {
            limit: limit as usize,
        })
        .await
        .map_err(|e| anyhow::anyhow!("registry unreachable: {e}"))?;
    let rooms: Vec<_> = rooms
        .into_iter()
        .map(|(room, viewers)| serde_json::json!({ "room": room, "viewers": viewers }))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rooms": rooms })))
}

#[derive(Deserialize)]
struct SystemMessage {
    user: String,
    name: Option<String>,
    text: String,
}

async fn post_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SystemMessage>,
) -> Result<HttpResponse, ApiError> {
    platform(&req, &state)?;
    let room = room_id(path.into_inner())?;
    let SystemMessage { user, name, text } = body.into_inner();
    if !valid_user_id(&user) {
        return Err(ApiError::BadRequest(
            "user must be 1-64 characters".to_owned(),
        ));
    }
    let name = name.unwrap_or_else(|| user.clone());
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "name must be 1-{MAX_NAME_CHARS} characters"
        )));
    }
    let text = clean_text(&text, state.sessions.text.max_text_chars)?;
    let kind = CommandKind::PostAs {
        user: Identity::system(user, name),
        text,
    };
    match command(&state, room, kind).await? {
        CommandOutcome::Done { id } => {
            Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
        }
        other => Err(anyhow::anyhow!("unexpected answer to PostAs: {other:?}").into()),
    }
}

async fn delete_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (room, id) = path.into_inner();
    let room = room_id(room)?;
    let caller = platform_or_moderator(&req, &state, &room)?;
    if !valid_message_id(&id) {
        return Err(ApiError::BadRequest(
            "id must be a message id (ULID)".to_owned(),
        ));
    }
    let found = state
        .store
        .send(GetMessage {
            room: room.clone(),
            id: id.clone(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("store unreachable: {e}"))?
        .map_err(store_error)?;
    if found.is_none() {
        return Err(ApiError::NotFound(format!(
            "no message {id} in room {room}"
        )));
    }
    moderate(&state, room, &caller, ModAction::Delete { id }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct BanBody {
    user: String,
    reason: Option<String>,
}

async fn ban(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<BanBody>,
) -> Result<HttpResponse, ApiError> {
    let room = room_id(path.into_inner())?;
    let caller = platform_or_moderator(&req, &state, &room)?;
    let BanBody { user, reason } = body.into_inner();
    let id = moderate(&state, room, &caller, ModAction::Ban { user, reason }).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
}

async fn unban(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (room, user) = path.into_inner();
    let room = room_id(room)?;
    let caller = platform_or_moderator(&req, &state, &room)?;
    moderate(&state, room, &caller, ModAction::Unban { user }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct TimeoutBody {
    user: String,
    seconds: u64,
    reason: Option<String>,
}

async fn timeout(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<TimeoutBody>,
) -> Result<HttpResponse, ApiError> {
    let room = room_id(path.into_inner())?;
    let caller = platform_or_moderator(&req, &state, &room)?;
    let TimeoutBody {
        user,
        seconds,
        reason,
    } = body.into_inner();
    let action = ModAction::Timeout {
        user,
        seconds,
        reason,
    };
    let id = moderate(&state, room, &caller, action).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
}

#[derive(Deserialize)]
struct SlowModeBody {
    seconds: u64,
}

async fn slow_mode(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SlowModeBody>,
) -> Result<HttpResponse, ApiError> {
    let room = room_id(path.into_inner())?;
    let caller = platform_or_moderator(&req, &state, &room)?;
    let seconds = body.seconds;
    moderate(
        &state,
        room.clone(),
        &caller,
        ModAction::SlowMode { seconds },
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "room": room, "slow_mode": seconds })))
}

async fn moderation_log(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let room = room_id(path.into_inner())?;
    platform_or_moderator(&req, &state, &room)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MODERATION_LOG_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1-{MODERATION_LOG_MAX}"
        )));
    }
    let actions = state
        .store
        .send(LoadModerationLog { room, limit })
        .await
        .map_err(|e| anyhow::anyhow!("store unreachable: {e}"))?
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "actions": actions })))
}

#[derive(Deserialize)]
struct EventBody {
    name: String,
    #[serde(default)]
    data: Option<Box<serde_json::value::RawValue>>,
}

async fn post_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EventBody>,
) -> Result<HttpResponse, ApiError> {
    platform(&req, &state)?;
    let room = room_id(path.into_inner())?;
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
    command(&state, room, CommandKind::Event { name, data }).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Longest analytics range one call may ask for.
const MAX_ANALYTICS_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;
/// SSE keep-alive comment interval (proxies close silent streams).
const SSE_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<i64>,
    to: Option<i64>,
}

async fn analytics(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    platform(&req, &state)?;
    let room = room_id(path.into_inner())?;
    let to = query.to.unwrap_or_else(protocol::now_ms);
    let from = query.from.unwrap_or(to - 24 * 3600 * 1000);
    if from >= to || to - from > MAX_ANALYTICS_RANGE_MS {
        return Err(ApiError::BadRequest(
            "need from < to (epoch ms), at most 31 days apart".to_owned(),
        ));
    }
    let snapshots = state
        .store
        .send(LoadSnapshots {
            room: room.clone(),
            from,
            to,
        })
        .await
        .map_err(|e| anyhow::anyhow!("store unreachable: {e}"))?
        .map_err(store_error)?;
    let n = snapshots.len().max(1) as f64;
    let summary = serde_json::json!({
        "peak": snapshots.iter().map(|s| s.max).max().unwrap_or(0),
        "avg": (snapshots.iter().map(|s| s.avg).sum::<f64>() / n * 100.0).round() / 100.0,
        "messages": snapshots.iter().map(|s| s.messages).sum::<u64>(),
        "reactions": snapshots.iter().map(|s| s.reactions).sum::<u64>(),
    });
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "room": room,
        "from": from,
        "to": to,
        "snapshots": snapshots,
        "summary": summary,
    })))
}

/// Public (no auth, CORS open): `event: viewers` with the count at once and on
/// every change (coalesced like `viewers` frames), keep-alive comments between.
async fn viewers_stream(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let room = room_id(path.into_inner())?;
    let (tx, rx) = tokio::sync::mpsc::channel::<u64>(4);
    let first = match command(&state, room, CommandKind::WatchViewers { tx }).await? {
        CommandOutcome::Info(info) => info.viewers,
        other => {
            return Err(anyhow::anyhow!("unexpected answer to WatchViewers: {other:?}").into());
        }
    };
    let event =
        |count: u64| web::Bytes::from(format!("event: viewers\ndata: {{\"count\":{count}}}\n\n"));
    let stream =
        futures_util::stream::unfold((Some(first), rx), move |(first, mut rx)| async move {
            if let Some(count) = first {
                return Some((Ok::<_, actix_web::Error>(event(count)), (None, rx)));
            }
            match tokio::time::timeout(SSE_KEEPALIVE, rx.recv()).await {
                Ok(Some(count)) => Some((Ok(event(count)), (None, rx))),
                Ok(None) => None, // the room went away
                Err(_) => Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), (None, rx))),
            }
        });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}
