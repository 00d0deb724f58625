//! The server API of contract §3 under `/api`: what the platform's backend
//! (bearer `api.key`) and, on moderation routes, moderators (their JWT) may do.
//! One file per resource; each handler takes its caller and room as extractors
//! (see `routes::extract`), checks its input, then asks a room (through the
//! registry, [`ask_room`]) or the store. Handlers hold no state of their own.

pub mod analytics;
pub mod automod;
pub mod events;
pub mod live;
pub mod messages;
pub mod moderation;
pub mod moderators;
pub mod rooms;
pub mod state;
pub mod tokens;
pub mod users;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_web::web;

use super::{ApiError, AppState};
use crate::protocol::RoomId;
use crate::registry::ForRoom;
use crate::room::Room;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/tokens", web::post().to(tokens::mint));
    // Contract §8: the user channel.
    cfg.route("/api/users/{user}/notify", web::post().to(users::notify));
    cfg.route("/api/users/{user}/presence", web::get().to(users::presence));
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
            // Contract §7.
            .route("/{room}/settings", web::patch().to(rooms::patch_settings))
            .route("/{room}/terms", web::put().to(automod::put_terms))
            .route("/{room}/terms", web::get().to(automod::get_terms))
            .route("/{room}/held", web::get().to(automod::held))
            .route(
                "/{room}/held/{id}/approve",
                web::post().to(automod::approve),
            )
            .route("/{room}/held/{id}/deny", web::post().to(automod::deny))
            .route(
                "/{room}/shadow_bans",
                web::post().to(moderation::shadow_ban),
            )
            .route("/{room}/warnings", web::post().to(moderation::warn))
            .route("/{room}/clear", web::post().to(moderation::clear))
            .route("/{room}/purges", web::post().to(moderation::purge))
            .route("/{room}/pin", web::put().to(moderation::pin))
            .route("/{room}/pin", web::delete().to(moderation::unpin))
            .route("/{room}/moderators", web::get().to(moderators::list))
            .route("/{room}/moderators/{user}", web::put().to(moderators::add))
            .route(
                "/{room}/moderators/{user}",
                web::delete().to(moderators::remove),
            )
            .route("/{room}/users/{user}", web::get().to(moderators::card))
            .route("/{room}/events", web::post().to(events::post))
            .route("/{room}/analytics", web::get().to(analytics::range))
            // Contract §8.
            .route("/{room}/state", web::get().to(state::get))
            .route("/{room}/live", web::post().to(live::start))
            .route("/{room}/live", web::delete().to(live::end))
            .route("/{room}/state/{key}", web::put().to(state::put))
            .route("/{room}/state/{key}", web::delete().to(state::delete))
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
