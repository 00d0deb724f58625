//! Contract §8 (platform integration): a room's state, one row per key (a
//! deleted key keeps its row with no data, so a late write of an older value
//! cannot bring it back), and the room's streams, one row each, with their
//! summary once they end.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoomState::Table)
                    .if_not_exists()
                    .col(string_len(RoomState::Room, 64))
                    .col(string_len(RoomState::Key, 32))
                    .col(text_null(RoomState::Data))
                    .col(big_integer(RoomState::Version))
                    .col(big_integer(RoomState::UpdatedAt))
                    .primary_key(Index::create().col(RoomState::Room).col(RoomState::Key))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Streams::Table)
                    .if_not_exists()
                    .col(char_len(Streams::Id, 26).primary_key())
                    .col(string_len(Streams::Room, 64))
                    .col(text(Streams::Title))
                    .col(big_integer(Streams::StartedAt))
                    .col(big_integer_null(Streams::EndedAt))
                    .col(big_integer(Streams::StartSeq).default(0))
                    .col(string_len_null(Streams::Epoch, 64))
                    .col(big_integer_null(Streams::DurationS))
                    .col(big_integer(Streams::Peak).default(0))
                    .col(big_integer(Streams::UniqueViewers).default(0))
                    .col(big_integer(Streams::Messages).default(0))
                    .col(big_integer(Streams::Reactions).default(0))
                    .to_owned(),
            )
            .await?;
        // A room's streams, newest first; its open one.
        manager
            .create_index(
                Index::create()
                    .name("idx_streams_room_started_at")
                    .table(Streams::Table)
                    .col(Streams::Room)
                    .col(Streams::StartedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Streams::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RoomState::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RoomState {
    Table,
    Room,
    Key,
    Data,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Streams {
    Table,
    Id,
    Room,
    Title,
    StartedAt,
    EndedAt,
    StartSeq,
    Epoch,
    DurationS,
    Peak,
    UniqueViewers,
    Messages,
    Reactions,
}
