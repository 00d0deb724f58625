//! Rooms: the live-rooms list, one room's info, and the public viewer-count
//! stream (Server-Sent Events).

use actix_web::{HttpResponse, web};

use super::{LimitQuery, ask_room};
use crate::registry::{ListRooms, WatchRoom};
use crate::room::Info;
use crate::routes::extract::{Platform, RoomPath};
use crate::routes::{ApiError, AppState};

/// SSE keep-alive comment interval (proxies close silent streams).
const SSE_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// `GET /api/rooms?limit=20`: live rooms by viewers, cluster-wide.
pub async fn list(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-1000".to_owned()));
    }
    let rooms = state
        .registry
        .send(ListRooms {
            limit: limit as usize,
        })
        .await?;
    let rooms: Vec<_> = rooms
        .into_iter()
        .map(|(room, viewers)| serde_json::json!({ "room": room, "viewers": viewers }))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rooms": rooms })))
}

/// `GET /api/rooms/{room}`: viewers, peak, slow mode.
pub async fn info(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let info = ask_room(&state, room, Info).await?;
    Ok(HttpResponse::Ok().json(info))
}

/// `PATCH /api/rooms/{room}/settings` with some of §7's settings: 200 with all of them.
pub async fn patch_settings(
    caller: crate::routes::extract::RoomModerator,
    state: web::Data<AppState>,
    body: web::Json<crate::protocol::moderation::SettingsPatch>,
) -> Result<HttpResponse, ApiError> {
    let room = caller.room.clone();
    let changes = body.into_inner();
    super::moderation::act(
        &state,
        caller,
        crate::protocol::ModAction::Settings { changes },
    )
    .await?;
    let info = ask_room(&state, room, Info).await?;
    Ok(HttpResponse::Ok().json(info.settings))
}

/// `GET /api/rooms/{room}/viewers/stream`, public (no auth, CORS open):
/// `event: viewers` with the count at once and on every change (coalesced like
/// `viewers` frames), keep-alive comments between.
pub async fn viewers_stream(
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<u64>(4);
    // A stream never starts a room: the registry answers for rooms not live here.
    let first = state.registry.send(WatchRoom { room, tx }).await?;
    let event =
        |count: u64| web::Bytes::from(format!("event: viewers\ndata: {{\"count\":{count}}}\n\n"));
    let drain = state.drain_signal.clone();
    let stream = futures_util::stream::unfold(
        (Some(first), rx, drain),
        move |(first, mut rx, mut drain)| async move {
            if let Some(count) = first {
                return Some((Ok::<_, actix_web::Error>(event(count)), (None, rx, drain)));
            }
            let got = tokio::select! {
                // The node drains: end the stream now (contract §6).
                _ = drain.wait_for(|d| *d) => return None,
                got = tokio::time::timeout(SSE_KEEPALIVE, rx.recv()) => got,
            };
            match got {
                Ok(Some(count)) => Some((Ok(event(count)), (None, rx, drain))),
                Ok(None) => None, // the room went away
                Err(_) => Some((
                    Ok(web::Bytes::from_static(b": keep-alive\n\n")),
                    (None, rx, drain),
                )),
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}
