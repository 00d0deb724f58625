//! Moderation: the moderation log, and the bans, timeouts and slow mode in
//! force per room (so a room started after a restart enforces them).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ModerationLog::Table)
                    .if_not_exists()
                    .col(char_len(ModerationLog::Id, 26).primary_key())
                    .col(string_len(ModerationLog::Room, 64))
                    .col(string_len(ModerationLog::Action, 16))
                    .col(string_len_null(ModerationLog::UserId, 64))
                    .col(string_len(ModerationLog::ModeratorId, 64))
                    .col(text_null(ModerationLog::Reason))
                    .col(big_integer_null(ModerationLog::Seconds))
                    .col(char_len_null(ModerationLog::MessageId, 26))
                    .col(big_integer(ModerationLog::Ts))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_moderation_log_room_id")
                    .table(ModerationLog::Table)
                    .col(ModerationLog::Room)
                    .col(ModerationLog::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomBans::Table)
                    .if_not_exists()
                    .col(string_len(RoomBans::Room, 64))
                    .col(string_len(RoomBans::UserId, 64))
                    .col(text_null(RoomBans::Reason))
                    .col(string_len(RoomBans::ModeratorId, 64))
                    .col(big_integer(RoomBans::Ts))
                    .primary_key(Index::create().col(RoomBans::Room).col(RoomBans::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomTimeouts::Table)
                    .if_not_exists()
                    .col(string_len(RoomTimeouts::Room, 64))
                    .col(string_len(RoomTimeouts::UserId, 64))
                    .col(big_integer(RoomTimeouts::UntilTs))
                    .primary_key(
                        Index::create()
                            .col(RoomTimeouts::Room)
                            .col(RoomTimeouts::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomSettings::Table)
                    .if_not_exists()
                    .col(string_len(RoomSettings::Room, 64).primary_key())
                    .col(big_integer(RoomSettings::SlowMode))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ModerationLog::Table.into_iden(),
            RoomBans::Table.into_iden(),
            RoomTimeouts::Table.into_iden(),
            RoomSettings::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ModerationLog {
    Table,
    Id,
    Room,
    Action,
    UserId,
    ModeratorId,
    Reason,
    Seconds,
    MessageId,
    Ts,
}

#[derive(DeriveIden)]
enum RoomBans {
    Table,
    Room,
    UserId,
    Reason,
    ModeratorId,
    Ts,
}

#[derive(DeriveIden)]
enum RoomTimeouts {
    Table,
    Room,
    UserId,
    UntilTs,
}

#[derive(DeriveIden)]
enum RoomSettings {
    Table,
    Room,
    SlowMode,
}
