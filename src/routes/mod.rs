//! HTTP routes: the WebSocket upgrade ([`ws`]), the server API ([`api`], one
//! file per resource) and the operational routes ([`health`]), plus what they
//! share: application state, the contract's error body ([`error`]) and the
//! caller and path extractors ([`extract`]).
//!
//! Routes translate HTTP to actor messages and back; they must not hold room
//! state or write to the database themselves.

pub mod api;
pub mod client_ip;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod health;
pub mod ws;

use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpResponse, web};

pub use error::ApiError;

use crate::auth::Authenticator;
use crate::bridge::BridgeStatus;
use crate::registry::Registry;
use crate::session::SessionShared;
use crate::settings::Secret;
use crate::store::{Store, StoreStatus};

/// What every route can reach.
pub struct AppState {
    pub auth: Authenticator,
    pub api_key: Option<Secret>,
    pub registry: Addr<Registry>,
    pub store: Addr<Store>,
    pub store_status: Arc<StoreStatus>,
    /// Set on SIGTERM: `/readyz` answers 503 and `/ws` refuses new connections.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Turns true when the drain starts: open viewer streams end.
    pub drain_signal: tokio::sync::watch::Receiver<bool>,
    /// Present in cluster mode.
    pub bridge_status: Option<Arc<BridgeStatus>>,
    pub sessions: Arc<SessionShared>,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Vec<client_ip::Cidr>,
    /// Connection caps of the `/ws` upgrade (contract §6).
    pub caps: Arc<crate::session::caps::Caps>,
    /// Failed authentications on `/api` per client address (429 past it).
    pub auth_failures: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
}

/// Register every route, and JSON error bodies for extractor failures and unknown paths.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(16 * 1024)
            .error_handler(|err, _| {
                let e = match &err {
                    actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                    | actix_web::error::JsonPayloadError::Overflow { .. } => {
                        ApiError::TooLarge(err.to_string())
                    }
                    _ => ApiError::BadRequest(format!("invalid JSON body: {err}")),
                };
                e.into()
            }),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("invalid query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("invalid path: {err}")).into()),
    )
    .configure(health::configure)
    .configure(ws::configure)
    .configure(api::configure)
    .configure(dashboard::configure)
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::NotFound("no such route".to_owned()))
    }));
}
