//! `migration` binary: run roomcast's migrations by hand.
//! `DATABASE_URL=sqlite://data/roomcast.db?mode=rwc cargo run -p migration -- up`

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
