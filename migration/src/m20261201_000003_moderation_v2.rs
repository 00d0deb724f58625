//! Contract §7, moderation v2: what a room's moderation keeps besides bans and
//! timeouts — the stored moderator list, shadow bans, warnings awaiting an
//! acknowledgement, the live pin, the room's AutoMod terms and its held
//! messages (with the decision on each); shadow-banned users' messages are
//! marked in `messages`, and a clear is remembered in `room_settings` (the
//! chat settings themselves live in its JSON column `settings`, added by
//! `m20261201_000002`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoomModerators::Table)
                    .if_not_exists()
                    .col(string_len(RoomModerators::Room, 64))
                    .col(string_len(RoomModerators::UserId, 64))
                    .col(string_len(RoomModerators::AddedBy, 64))
                    .col(big_integer(RoomModerators::Ts))
                    .primary_key(
                        Index::create()
                            .col(RoomModerators::Room)
                            .col(RoomModerators::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomShadowBans::Table)
                    .if_not_exists()
                    .col(string_len(RoomShadowBans::Room, 64))
                    .col(string_len(RoomShadowBans::UserId, 64))
                    .col(text_null(RoomShadowBans::Reason))
                    .col(string_len(RoomShadowBans::ModeratorId, 64))
                    .col(big_integer(RoomShadowBans::Ts))
                    .primary_key(
                        Index::create()
                            .col(RoomShadowBans::Room)
                            .col(RoomShadowBans::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomWarnings::Table)
                    .if_not_exists()
                    .col(string_len(RoomWarnings::Room, 64))
                    .col(string_len(RoomWarnings::UserId, 64))
                    .col(text_null(RoomWarnings::Reason))
                    .col(string_len(RoomWarnings::ModeratorId, 64))
                    .col(big_integer(RoomWarnings::Ts))
                    .primary_key(
                        Index::create()
                            .col(RoomWarnings::Room)
                            .col(RoomWarnings::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomPins::Table)
                    .if_not_exists()
                    .col(string_len(RoomPins::Room, 64).primary_key())
                    .col(text(RoomPins::Message))
                    .col(big_integer(RoomPins::UntilTs))
                    .col(string_len(RoomPins::ModeratorId, 64))
                    .col(big_integer(RoomPins::Ts))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomTerms::Table)
                    .if_not_exists()
                    .col(string_len(RoomTerms::Room, 64).primary_key())
                    .col(text(RoomTerms::Terms))
                    .col(string_len(RoomTerms::UpdatedBy, 64))
                    .col(big_integer(RoomTerms::Ts))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HeldMessages::Table)
                    .if_not_exists()
                    .col(char_len(HeldMessages::Id, 26).primary_key())
                    .col(string_len(HeldMessages::Room, 64))
                    .col(string_len(HeldMessages::UserId, 64))
                    .col(text(HeldMessages::Message))
                    .col(string_len(HeldMessages::Term, 64))
                    .col(big_integer(HeldMessages::ExpiresAt))
                    .col(string_len_null(HeldMessages::Decision, 8))
                    .col(string_len_null(HeldMessages::DecidedBy, 64))
                    .col(big_integer_null(HeldMessages::DecidedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_held_messages_room_id")
                    .table(HeldMessages::Table)
                    .col(HeldMessages::Room)
                    .col(HeldMessages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(boolean(Messages::Shadow).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RoomSettings::Table)
                    .add_column(char_len_null(RoomSettings::ClearedAfter, 26))
                    .to_owned(),
            )
            .await?;
        // Purges and user cards read one user's messages in a room.
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_room_user_id")
                    .table(Messages::Table)
                    .col(Messages::Room)
                    .col(Messages::UserId)
                    .col(Messages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_room_user_id")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RoomSettings::Table)
                    .drop_column(RoomSettings::ClearedAfter)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Shadow)
                    .to_owned(),
            )
            .await?;
        for table in [
            HeldMessages::Table.into_table_ref(),
            RoomTerms::Table.into_table_ref(),
            RoomPins::Table.into_table_ref(),
            RoomWarnings::Table.into_table_ref(),
            RoomShadowBans::Table.into_table_ref(),
            RoomModerators::Table.into_table_ref(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum RoomModerators {
    Table,
    Room,
    UserId,
    AddedBy,
    Ts,
}

#[derive(DeriveIden)]
enum RoomShadowBans {
    Table,
    Room,
    UserId,
    Reason,
    ModeratorId,
    Ts,
}

#[derive(DeriveIden)]
enum RoomWarnings {
    Table,
    Room,
    UserId,
    Reason,
    ModeratorId,
    Ts,
}

#[derive(DeriveIden)]
enum RoomPins {
    Table,
    Room,
    /// The pinned message, as the JSON of its `message` frame.
    Message,
    UntilTs,
    ModeratorId,
    Ts,
}

#[derive(DeriveIden)]
enum RoomTerms {
    Table,
    Room,
    /// `[{"pattern","action"}]`, as set.
    Terms,
    UpdatedBy,
    Ts,
}

#[derive(DeriveIden)]
enum HeldMessages {
    Table,
    Id,
    Room,
    UserId,
    Message,
    Term,
    ExpiresAt,
    /// `approve` or `deny`; null while it waits.
    Decision,
    DecidedBy,
    DecidedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Room,
    UserId,
    Id,
    Shadow,
}

#[derive(DeriveIden)]
enum RoomSettings {
    Table,
    ClearedAfter,
}
