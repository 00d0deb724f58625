//! Contract §8's user channel as a session sees it: a token user's
//! connection tells the node's user index (`crate::users`) when it opens,
//! which rooms it is in, and when it closes. Anonymous viewers have no
//! channel. Fire-and-forget: a session never waits on the index.

use super::Session;
use crate::users::{InRooms, Offline, Online};

impl Session {
    /// The connection opened (token users only).
    pub(super) fn user_online(&self) {
        if self.user.anonymous {
            return;
        }
        self.shared.users.do_send(Online {
            conn: self.id,
            user: self.user.id.clone(),
            route: self.route.clone(),
        });
    }

    /// The connection's rooms changed.
    pub(super) fn rooms_changed(&self) {
        if self.user.anonymous {
            return;
        }
        self.shared.users.do_send(InRooms {
            conn: self.id,
            rooms: self.rooms.keys().cloned().collect(),
        });
    }

    /// The connection closed.
    pub(super) fn user_offline(&self) {
        if !self.user.anonymous {
            self.shared.users.do_send(Offline { conn: self.id });
        }
    }
}
