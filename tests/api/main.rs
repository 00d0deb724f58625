//! Integration tests: the real server on a random port with its own SQLite
//! file, driven over real WebSockets (tokio-tungstenite) and HTTP (awc).

/// The shared test kit, plus what depends on this target: its database.
mod helpers {
    pub use testkit::*;

    /// `api` runs on SQLite, `api_postgres` on PostgreSQL.
    pub const BACKEND: Backend = if matches!(env!("CARGO_CRATE_NAME").as_bytes(), b"api") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };

    pub async fn spawn_app() -> TestApp {
        spawn_app_on(BACKEND, |_| {}).await
    }

    pub async fn spawn_app_with(tweak: impl FnOnce(&mut roomcast::settings::Settings)) -> TestApp {
        spawn_app_on(BACKEND, tweak).await
    }
}

mod analytics;
mod auth;
mod browser_surfaces;
mod chat;
mod hardening;
mod health;
mod limits;
mod moderation;
mod moderation_v2;
mod platform;
mod platform_events;
mod reactions;
mod recovery;
mod server_api;
mod viewers;
mod webhooks;
