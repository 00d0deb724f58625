//! SeaORM entities of roomcast: one module per table, matching `migration/`.
//!
//! These are plain data types. They hold no logic and open no connections; the
//! server's `store` module is the only place that reads or writes them.

pub mod held_message;
pub mod message;
pub mod moderation_log;
pub mod room_ban;
pub mod room_moderator;
pub mod room_pin;
pub mod room_setting;
pub mod room_shadow_ban;
pub mod room_state;
pub mod room_term;
pub mod room_timeout;
pub mod room_warning;
pub mod stream;
pub mod stream_viewer;
pub mod viewer_snapshot;
pub mod webhook_outbox;
