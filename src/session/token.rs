//! Identity over time (contract §6): a `refresh` with a new token for the same
//! user, and the close (4001) when a token runs out without one.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::Session;
use super::close::Close;
use crate::protocol::{self, ErrorCode, Refusal, ServerFrame};
use crate::room;

impl Session {
    /// Contract §6: a new token for the same user; its `mod`, `name` and
    /// `badges` take effect at once, here and in every joined room.
    pub(super) fn refresh(
        &mut self,
        token: &str,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let refusal = match self.shared.auth.verify(token) {
            Err(e) => Refusal::new(ErrorCode::Unauthorized, format!("token refused: {e}")),
            Ok(user) if user.id != self.user.id || self.user.anonymous => Refusal::new(
                ErrorCode::Forbidden,
                "a refresh must carry a token for the same user",
            ),
            Ok(user) => {
                let user = Arc::new(user);
                self.user = user.clone();
                for addr in self.rooms.values() {
                    addr.do_send(room::Refresh {
                        conn_id: self.id,
                        user: user.clone(),
                    });
                }
                self.arm_expiry(ctx);
                let id = ulid::Ulid::generate().to_string();
                let ack = protocol::encode(&ServerFrame::Ack {
                    reference: reference.as_deref(),
                    id: &id,
                });
                return self.send(ack);
            }
        };
        self.refuse(&refusal, None, reference.as_deref());
    }

    /// At the token's expiry without a refresh: `token_expired`, close 4001.
    pub(super) fn arm_expiry(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.expiry.take() {
            ctx.cancel_future(h);
        }
        let Some(at) = self.user.expires_at else {
            return;
        };
        let left = Duration::from_millis((at - protocol::now_ms()).max(0) as u64);
        self.expiry = Some(ctx.run_later(left, |act, ctx| {
            let refusal = Refusal::new(
                ErrorCode::TokenExpired,
                "your token expired; reconnect with a fresh one",
            );
            act.refuse(&refusal, None, None);
            act.close(Close::TokenExpired, ctx);
        }));
    }
}
