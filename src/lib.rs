//! roomcast: a real-time chat and presence server for live-stream rooms.
//!
//! # Layout
//! - [`protocol`]: the wire format: every frame as serde types, and the pure
//!   checks on client input. Where a frame is parsed.
//! - [`auth`]: JWT identity, anonymous viewers, the moderator check.
//! - [`session`]: the `Session` actor, one per WebSocket: heartbeat, outbound
//!   queue, frame dispatch.
//! - [`room`]: the `Room` actor, one per live room: members, viewer count,
//!   recent messages, reactions, rate limits, slow mode, timeouts, bans. Where
//!   a room decides.
//! - [`registry`]: room id → `Room` address; starts and stops rooms.
//! - [`bridge`]: the `RedisBridge` actor: room traffic and presence across
//!   the nodes of a cluster; [`bridge::keys`] names every Redis key.
//! - [`store`]: the `Store` actor: batched SeaORM writes and reads. Where a row
//!   is written.
//! - [`routes`]: HTTP: the `/ws` upgrade, the server API, health.
//! - [`metrics`]: counters and gauges for `/metrics`.
//! - [`settings`]: configuration layering; [`telemetry`]: logging;
//!   [`startup`]: wiring it all into an [`startup::Application`].

pub mod auth;
pub mod bridge;
pub mod metrics;
pub mod protocol;
pub mod registry;
pub mod room;
pub mod routes;
pub mod session;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
