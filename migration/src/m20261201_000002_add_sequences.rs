//! Contract §5: every chat message carries its room's sequence number and
//! the epoch that names the sequence; a room keeps its epoch (and, for §7,
//! its v2 settings as JSON) with its settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let add = |table: TableRef, col: ColumnDef| {
            Table::alter().table(table).add_column(col).to_owned()
        };
        manager
            .alter_table(add(
                Messages::Table.into_table_ref(),
                big_integer_null(Messages::Seq),
            ))
            .await?;
        manager
            .alter_table(add(
                Messages::Table.into_table_ref(),
                string_len_null(Messages::Epoch, 64),
            ))
            .await?;
        manager
            .alter_table(add(
                RoomSettings::Table.into_table_ref(),
                string_len_null(RoomSettings::Epoch, 64),
            ))
            .await?;
        manager
            .alter_table(add(
                RoomSettings::Table.into_table_ref(),
                text_null(RoomSettings::Settings),
            ))
            .await?;
        // Recovery reads a room's messages after a sequence number.
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_room_epoch_seq")
                    .table(Messages::Table)
                    .col(Messages::Room)
                    .col(Messages::Epoch)
                    .col(Messages::Seq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_room_epoch_seq")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        for (table, col) in [
            (Messages::Table.into_table_ref(), Messages::Seq.into_iden()),
            (
                Messages::Table.into_table_ref(),
                Messages::Epoch.into_iden(),
            ),
            (
                RoomSettings::Table.into_table_ref(),
                RoomSettings::Epoch.into_iden(),
            ),
            (
                RoomSettings::Table.into_table_ref(),
                RoomSettings::Settings.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Room,
    Seq,
    Epoch,
}

#[derive(DeriveIden)]
enum RoomSettings {
    Table,
    Epoch,
    Settings,
}
