//! Integration tests: the real server on a random port with its own SQLite
//! file, driven over real WebSockets (tokio-tungstenite) and HTTP (awc).

mod helpers;

mod analytics;
mod auth;
mod chat;
mod health;
mod limits;
mod moderation;
mod reactions;
mod server_api;
mod viewers;
