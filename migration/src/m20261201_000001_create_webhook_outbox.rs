//! Webhooks (contract §8): the outbox every node of a cluster shares. One row
//! per event, its body fixed when stored; a lease (`leased_by`, `lease_until`)
//! says which node is sending it, so each event has one sender at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookOutbox::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookOutbox::Seq))
                    .col(char_len_uniq(WebhookOutbox::Id, 26))
                    .col(string_len(WebhookOutbox::Room, 64))
                    .col(string_len(WebhookOutbox::Kind, 64))
                    .col(text(WebhookOutbox::Body))
                    .col(string_len_null(WebhookOutbox::DedupeKey, 255))
                    .col(string_len(WebhookOutbox::Status, 16))
                    .col(big_integer(WebhookOutbox::CreatedAt))
                    .col(integer(WebhookOutbox::Attempts).default(0))
                    .col(big_integer(WebhookOutbox::NextAttemptAt))
                    .col(string_len_null(WebhookOutbox::LeasedBy, 255))
                    .col(big_integer(WebhookOutbox::LeaseUntil).default(0))
                    .col(text_null(WebhookOutbox::LastError))
                    .col(big_integer_null(WebhookOutbox::DoneAt))
                    .to_owned(),
            )
            .await?;
        // A key is stored once (NULLs are distinct: events without a key never clash).
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_outbox_dedupe_key")
                    .table(WebhookOutbox::Table)
                    .col(WebhookOutbox::DedupeKey)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Each poll finds every room's oldest pending event.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_outbox_status_room_seq")
                    .table(WebhookOutbox::Table)
                    .col(WebhookOutbox::Status)
                    .col(WebhookOutbox::Room)
                    .col(WebhookOutbox::Seq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookOutbox {
    Table,
    Seq,
    Id,
    Room,
    Kind,
    Body,
    DedupeKey,
    Status,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    LeasedBy,
    LeaseUntil,
    LastError,
    DoneAt,
}
