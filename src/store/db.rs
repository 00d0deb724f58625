//! Opening the database: connect, create the SQLite directory if needed, and
//! run every pending migration. Also a one-statement helper for tools and tests.

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::settings::DatabaseSettings;

/// Open the database named by `settings.url` and run every pending migration.
pub async fn open_database(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    use migration::MigratorTrait;
    let url = settings.url.expose();
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("failed to create the database directory {}", dir.display())
        })?;
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(settings.max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    // SQLite: a write-ahead log with `synchronous = NORMAL` commits with one
    // append (no journal file per transaction, no fsync per commit); a commit
    // survives a crash of the process, and only a power loss can take the last
    // ones. Writers wait for each other instead of failing.
    opts.map_sqlx_sqlite_opts(|o| {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
    });
    let db = Database::connect(opts)
        .await
        .context("failed to connect to the database")?;
    migration::Migrator::up(&db, None)
        .await
        .context("failed to run migrations")?;
    Ok(db)
}

/// Run one SQL statement on the database at `url` (administration: tests and
/// tools create databases with it).
pub async fn sea_orm_exec(url: &str, sql: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let db = Database::connect(url).await.context("failed to connect")?;
    db.execute_unprepared(sql)
        .await
        .context("statement failed")?;
    db.close().await.context("failed to close")?;
    Ok(())
}

/// The file path of a `sqlite://path?...` URL (None for memory or other databases).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/roomcast.db?mode=rwc"),
            Some("data/roomcast.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/x"), None);
    }
}
