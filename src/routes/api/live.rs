//! Contract §8 stream lifecycle: `POST /api/rooms/{room}/live` `{"title"}`
//! goes live (200 with the live stream, also when one was live already),
//! `DELETE /api/rooms/{room}/live` ends it (200 with the `stream` frame the
//! room got, summary included; 404 when none is live).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ask_room;
use crate::protocol::platform::{StreamStatus, clean_title};
use crate::protocol::{self, ServerFrame};
use crate::room::{EndLive, GoLive};
use crate::routes::extract::{Platform, RoomPath};
use crate::routes::{ApiError, AppState};

#[derive(Deserialize, Default)]
pub struct LiveBody {
    #[serde(default)]
    title: Option<String>,
}

/// `POST …/live`: 200 `{"id","status":"live","title","started_at"}`.
pub async fn start(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
    body: Option<web::Json<LiveBody>>,
) -> Result<HttpResponse, ApiError> {
    let title = clean_title(body.map(|b| b.into_inner()).unwrap_or_default().title)?;
    let live = ask_room(&state, room, GoLive { title }).await??;
    Ok(HttpResponse::Ok().json(live))
}

/// `DELETE …/live`: 200 with the `stream` frame of the end.
pub async fn end(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ended = ask_room(&state, room.clone(), EndLive).await??;
    let Some(summary) = ended else {
        return Err(ApiError::NotFound(
            "no stream is live in this room".to_owned(),
        ));
    };
    let frame = protocol::encode(&ServerFrame::Stream {
        room: &room,
        status: StreamStatus::Ended,
        title: None,
        started_at: None,
        summary: Some(&summary),
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(frame.to_string()))
}
