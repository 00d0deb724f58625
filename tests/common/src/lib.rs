//! What roomcast's integration suites (`tests/api`, `tests/cluster`) share:
//!
//! - [`app`]: `spawn_app_on`, the real server on a random port with its own
//!   database, and HTTP helpers on it.
//! - [`client`]: a WebSocket client that waits for frames with timeouts, and a
//!   raw one that misbehaves on purpose.
//! - [`cluster`]: a private `redis-server`, several nodes, node processes.
//! - [`receiver`]: a real HTTP receiver for webhooks that records requests
//!   and answers as told (a status, or a stall).
//! - [`v2`]: room tokens, API calls with the key, replies matched by `ref`
//!   and markers that prove a frame did not come (contract §7).
//! - [`wait`]: bounded polling.
//!
//! Databases: SQLite files in a temp dir, or a fresh PostgreSQL database per
//! server (`ROOMCAST_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/postgres`).

pub mod app;
pub mod client;
pub mod cluster;
pub mod receiver;
pub mod v2;
pub mod wait;

use std::path::PathBuf;
use std::time::Duration;

pub use app::*;
pub use client::*;
pub use cluster::*;
pub use receiver::{Received, Receiver, Reply, count_of, of_kind};
pub use v2::{mint_jwt, now_ms};
pub use wait::*;

pub const API_KEY: &str = "test-api-key";
pub const JWT_SECRET: &str = "test-jwt-secret";
/// How long a test waits for a frame it expects before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Which database a suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The project's `config/` directory.
pub fn config_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config"))
}
