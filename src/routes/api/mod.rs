//! The server API of contract §3 under `/api`: what the platform's backend
//! (bearer `api.key`) and, on moderation routes, moderators (their JWT) may do.
//! One file per resource; each handler takes its caller and room as extractors
//! (see `routes::extract`), checks its input, then asks a room (through the
//! registry, [`ask_room`]) or the store. Handlers hold no state of their own.

pub mod analytics;
pub mod events;
pub mod messages;
pub mod moderation;
pub mod rooms;
pub mod tokens;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_web::web;

use super::{ApiError, AppState};
use crate::protocol::RoomId;
use crate::registry::ForRoom;
use crate::room::Room;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/tokens", web::post().to(tokens::mint));
    cfg.service(
        web::scope("/api/rooms")
            .route("", web::get().to(rooms::list))
            .route("/{room}", web::get().to(rooms::info))
            .route("/{room}/messages", web::get().to(messages::list))
            .route("/{room}/messages", web::post().to(messages::post))
            .route("/{room}/messages/{id}", web::delete().to(messages::delete))
            .route("/{room}/bans", web::post().to(moderation::ban))
            .route("/{room}/bans/{user}", web::delete().to(moderation::unban))
            .route("/{room}/timeouts", web::post().to(moderation::timeout))
            .route("/{room}/slow_mode", web::put().to(moderation::slow_mode))
            .route("/{room}/moderation", web::get().to(moderation::log))
            .route("/{room}/events", web::post().to(events::post))
            .route("/{room}/analytics", web::get().to(analytics::range))
            .route(
                "/{room}/viewers/stream",
                web::get().to(rooms::viewers_stream),
            ),
    );
}

/// Send a request to a room (starting it if needed) and wait for its answer.
pub async fn ask_room<M>(state: &AppState, room: RoomId, msg: M) -> Result<M::Result, ApiError>
where
    M: Message + Send + 'static,
    M::Result: Send,
    Room: Handler<M>,
    <Room as Actor>::Context: ToEnvelope<Room, M>,
{
    Ok(state.registry.send(ForRoom { room, msg }).await??)
}

#[derive(serde::Deserialize)]
pub struct LimitQuery {
    limit: Option<u64>,
}
