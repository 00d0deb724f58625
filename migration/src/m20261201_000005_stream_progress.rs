//! Contract §8: a live stream's figures survive a restart of a single node.
//! `stream_viewers` holds the distinct viewers seen so far (a stable 64-bit
//! key of each user id, one row each, deleted when the stream ends), and
//! `streams.reached` the viewer milestones already announced (JSON array);
//! `streams.peak` and `streams.reactions` are kept up to date while live.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StreamViewers::Table)
                    .if_not_exists()
                    .col(char_len(StreamViewers::StreamId, 26))
                    .col(big_integer(StreamViewers::Viewer))
                    .primary_key(
                        Index::create()
                            .col(StreamViewers::StreamId)
                            .col(StreamViewers::Viewer),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Streams::Table)
                    .add_column(text_null(Streams::Reached))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Streams::Table)
                    .drop_column(Streams::Reached)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(StreamViewers::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum StreamViewers {
    Table,
    StreamId,
    Viewer,
}

#[derive(DeriveIden)]
enum Streams {
    Table,
    Reached,
}
