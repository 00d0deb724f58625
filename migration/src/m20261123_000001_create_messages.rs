//! Creates `messages`, the store of every acked chat message.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(char_len(Messages::Id, 26).primary_key())
                    .col(string_len(Messages::Room, 64))
                    .col(string_len(Messages::UserId, 64))
                    .col(string_len(Messages::Name, 64))
                    .col(text(Messages::Text))
                    .col(text(Messages::Badges))
                    .col(big_integer(Messages::Ts))
                    .col(big_integer_null(Messages::DeletedAt))
                    .col(string_len_null(Messages::DeletedBy, 64))
                    .to_owned(),
            )
            .await?;
        // History and `recent` read a room's messages by id (ULIDs sort by time).
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_room_id")
                    .table(Messages::Table)
                    .col(Messages::Room)
                    .col(Messages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    Room,
    UserId,
    Name,
    Text,
    Badges,
    Ts,
    DeletedAt,
    DeletedBy,
}
