//! Stream analytics: one row per room per minute (min, max and average viewers,
//! messages, reactions). The primary key makes the first node's write win.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ViewerSnapshots::Table)
                    .if_not_exists()
                    .col(string_len(ViewerSnapshots::Room, 64))
                    .col(big_integer(ViewerSnapshots::Minute))
                    .col(big_integer(ViewerSnapshots::Min))
                    .col(big_integer(ViewerSnapshots::Max))
                    .col(double(ViewerSnapshots::Avg))
                    .col(big_integer(ViewerSnapshots::Messages))
                    .col(big_integer(ViewerSnapshots::Reactions))
                    .primary_key(
                        Index::create()
                            .col(ViewerSnapshots::Room)
                            .col(ViewerSnapshots::Minute),
                    )
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by time across rooms.
        manager
            .create_index(
                Index::create()
                    .name("idx_viewer_snapshots_minute")
                    .table(ViewerSnapshots::Table)
                    .col(ViewerSnapshots::Minute)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ViewerSnapshots::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ViewerSnapshots {
    Table,
    Room,
    Minute,
    Min,
    Max,
    Avg,
    Messages,
    Reactions,
}
