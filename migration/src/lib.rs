//! Schema migrations of roomcast, run at server startup (`Migrator::up`) and by
//! hand with this crate's binary (`cargo run -p migration -- up|down|status|fresh`).
//!
//! One migration per file; a migration that has landed is never edited, only
//! followed by a new one.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_messages;
mod m20261123_000002_create_moderation;
mod m20261123_000003_create_viewer_snapshots;
mod m20261201_000001_create_webhook_outbox;
mod m20261201_000002_add_sequences;
mod m20261201_000003_moderation_v2;
mod m20261201_000004_platform;
mod m20261201_000005_stream_progress;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_messages::Migration),
            Box::new(m20261123_000002_create_moderation::Migration),
            Box::new(m20261123_000003_create_viewer_snapshots::Migration),
            Box::new(m20261201_000001_create_webhook_outbox::Migration),
            Box::new(m20261201_000002_add_sequences::Migration),
            Box::new(m20261201_000003_moderation_v2::Migration),
            Box::new(m20261201_000004_platform::Migration),
            Box::new(m20261201_000005_stream_progress::Migration),
        ]
    }
}
