//! Identity over time (contract §6): a `refresh` with a new token for the same
//! user, and the close (4001) when a token runs out without one; and §7's room
//! tokens, checked when a join carries one.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::Session;
use super::close::Close;
use crate::protocol::{self, ErrorCode, Refusal, RoomId, ServerFrame};
use crate::room;

impl Session {
    /// Contract §7: check a room token for `room`; its roles, or why not.
    pub(super) fn room_roles(
        &self,
        token: &str,
        room: &RoomId,
    ) -> Result<crate::auth::RoomRoles, Refusal> {
        let forbidden = |why: String| Refusal::new(ErrorCode::Forbidden, why);
        let t = self
            .shared
            .auth
            .room_token(token)
            .map_err(|e| forbidden(format!("room token refused: {e}")))?;
        if t.user != self.user.id {
            return Err(forbidden("the room token is another user's".to_owned()));
        }
        if t.room != room.as_str() {
            return Err(forbidden("the room token is for another room".to_owned()));
        }
        Ok(t.roles)
    }

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
