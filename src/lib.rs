//! roomcast: a real-time chat and presence server for live-stream rooms.
//!
//! # Layout
//! Arrows point one way: routes → session → registry → room → {bridge, store,
//! webhooks} → hub, protocol, auth, settings, metrics (`tests/architecture.rs`
//! keeps it so).
//! A message between actors is defined by the module that handles it; one that
//! flows back up is handed in as a `Recipient`.
//!
//! - [`protocol`]: the wire format. `client` (where a frame is parsed),
//!   `server` (where a frame is serialised), `refusal`, `ids`, `rules`.
//! - [`auth`]: JWT identity, anonymous viewers, the moderator check.
//! - [`hub`]: the sockets. `wire` (the WebSocket codec), `link` (one socket
//!   and its outbound bytes), `shard` (one per worker thread: room topics,
//!   fan-out, coalesced writes). It carries bytes and decides nothing.
//! - [`session`]: the `Session` actor, one per WebSocket: heartbeat, dispatch;
//!   `inbound` (the read side), `budget` (frame budget), `caps` (connection
//!   caps), `token` (refresh), `close` (close codes and reasons).
//! - [`registry`]: room id → `Room` address; starts and stops rooms, forwards
//!   typed requests to them (`ForRoom`).
//! - [`room`]: the `Room` actor, one per live room. Where a room decides:
//!   `life` (load, stop), `resume` (join, recovery), `sequence` (seq, epoch),
//!   `members` (fan-out), `moderation` (the rules), `automod`, `unique`,
//!   `reactions`, `presence`, `recent`, `analytics`, and `msg` (every message a
//!   room handles).
//! - [`bridge`]: the `RedisBridge` actor: room traffic and presence across the
//!   nodes of a cluster; `seq` (the numbering script), `event` (the node-to-node
//!   format), `keys` (every Redis name), `presence` (cluster reads), `redis_io`
//!   (its two connections), `msg` (what rooms and the bridge tell each other).
//! - [`store`]: the `Store` actor. Where a row is written: `write`, `queue`,
//!   `read`, `rows`, `db`.
//! - [`webhooks`]: the webhook actor: the outbox table, signed delivery, retry.
//! - [`routes`]: HTTP: `ws` (the upgrade), `api/` (the server API, one file per
//!   resource), `dashboard` (the console), `client_ip`, `extract` (callers and
//!   paths), `error` (the error body), `health`.
//! - [`metrics`]: counters and gauges for `/metrics`.
//! - [`settings`]: configuration layering; [`telemetry`]: logging;
//!   [`startup`]: wiring it all into an [`startup::Application`].

pub mod auth;
pub mod bridge;
pub mod hub;
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
pub mod users;
pub mod webhooks;
