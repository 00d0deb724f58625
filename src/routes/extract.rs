//! Request extractors for the server API: who is calling ([`Platform`],
//! [`RoomModerator`]) and which room the path names ([`RoomPath`]). A handler
//! that takes one of these starts with the check done.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::{ApiError, AppState};
use crate::protocol::RoomId;

/// The moderator name the platform's backend acts under.
pub const PLATFORM_MODERATOR: &str = "api";

/// The bearer token of a request: `Authorization: Bearer …`.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    bearer_in(req.headers())
}

/// The bearer token in these headers.
pub fn bearer_in(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let value = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub use crate::auth::constant_time_eq;

fn state(req: &HttpRequest) -> Result<&AppState, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("application state missing")))
}

/// The `{room}` of the path, parsed.
pub struct RoomPath(pub RoomId);

impl RoomPath {
    fn of(req: &HttpRequest) -> Result<RoomId, ApiError> {
        let room = req.match_info().get("room").unwrap_or_default();
        RoomId::parse(room).map_err(ApiError::from)
    }
}

impl FromRequest for RoomPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(RoomPath::of(req).map(RoomPath))
    }
}

/// The platform's backend: bearer `api.key`.
pub struct Platform;

impl Platform {
    fn check(req: &HttpRequest, state: &AppState) -> Result<Platform, ApiError> {
        let Some(key) = state.api_key.as_ref().filter(|k| !k.expose().is_empty()) else {
            return Err(ApiError::Unauthorized(
                "the server API is disabled: no api.key is configured".to_owned(),
            ));
        };
        match bearer(req) {
            Some(token) if constant_time_eq(token.as_bytes(), key.expose().as_bytes()) => {
                Ok(Platform)
            }
            Some(_) => Err(ApiError::Unauthorized("invalid API key".to_owned())),
            None => Err(ApiError::Unauthorized(
                "missing Authorization: Bearer <api key>".to_owned(),
            )),
        }
    }
}

impl FromRequest for Platform {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            state(req).and_then(|s| Platform::check(req, s).map_err(|e| limit_failures(req, s, e))),
        )
    }
}

/// A failed authentication counts against the caller's address; past the
/// limit, guessing keys gets 429 instead of another try.
fn limit_failures(req: &HttpRequest, state: &AppState, e: ApiError) -> ApiError {
    if !matches!(e, ApiError::Unauthorized(_)) {
        return e;
    }
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = super::client_ip::client_ip(peer, forwarded, &state.trusted_proxies);
    match state.auth_failures.check_key(&ip) {
        Ok(()) => e,
        Err(_) => ApiError::RateLimited(
            "too many failed authentications from this address; retry later".to_owned(),
        ),
    }
}

/// The path's room, and who acts on it: the platform's backend, or a user
/// with their JWT or a room token (contract §7) whom the room then checks
/// (token claims, room-token roles, the stored moderator list).
pub struct RoomModerator {
    pub room: RoomId,
    /// Who acts (logged as `api` for the platform).
    pub by: crate::room::Caller,
}

impl RoomModerator {
    fn check(req: &HttpRequest, state: &AppState) -> Result<RoomModerator, ApiError> {
        let room = RoomPath::of(req)?;
        let refused = match Platform::check(req, state) {
            Ok(Platform) => {
                return Ok(RoomModerator {
                    room,
                    by: crate::room::Caller::Api(PLATFORM_MODERATOR.to_owned()),
                });
            }
            Err(e) => e,
        };
        // With no API key configured the whole server API is off (contract §4):
        // moderators' tokens too.
        let api_on = state
            .api_key
            .as_ref()
            .is_some_and(|k| !k.expose().is_empty());
        let Some(token) = bearer(req).filter(|_| api_on) else {
            return Err(refused);
        };
        let by = |user: crate::auth::Identity, roles| crate::room::Caller::User {
            user: std::sync::Arc::new(user),
            conn: None,
            roles,
        };
        // A room token (it names a room) first: a connection token has no `room`.
        match state.auth.room_token(token) {
            Ok(t) if t.room == room.as_str() => {
                let user = crate::auth::Identity::system(t.user.clone(), t.user);
                return Ok(RoomModerator {
                    room,
                    by: by(user, Some(t.roles)),
                });
            }
            Ok(_) => {
                return Err(ApiError::Forbidden(
                    "the room token is for another room".to_owned(),
                ));
            }
            Err(_) => {}
        }
        match state.auth.verify(token) {
            Ok(user) => Ok(RoomModerator {
                room,
                by: by(user, None),
            }),
            Err(e) => Err(ApiError::Unauthorized(format!(
                "invalid API key or token: {e}"
            ))),
        }
    }
}

impl FromRequest for RoomModerator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            state(req)
                .and_then(|s| RoomModerator::check(req, s).map_err(|e| limit_failures(req, s, e))),
        )
    }
}
