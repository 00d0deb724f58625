//! The user channel of contract §8 on one node: an index of this node's
//! connections by user (token users; anonymous viewers have no channel), the
//! `notify` frames sent to them, and the user's presence.
//!
//! Sessions tell the index when they open, close or change rooms. A
//! notification goes to the user's connections here, and, in a cluster, to
//! the inboxes of the other nodes that hold the user, found in Redis (see
//! `bridge::users`): a node receives only notifications for users it holds.
//! Presence is this node's connections, exactly, plus what the other live
//! nodes wrote to Redis the moment theirs changed.
//!
//! The index decides nothing about rooms; it routes frames to connections.

use std::collections::{BTreeSet, HashMap};

use actix::prelude::*;
use serde_json::value::RawValue;

use crate::bridge::RedisBridge;
use crate::bridge::users::{Inbox, LocateUser, NotifyNodes, UserEntry, UserHere, UserInbox};
use crate::hub::{ConnId, Route, wire};
use crate::metrics::{self, METRICS};
use crate::protocol::{self, RoomId, ServerFrame};

/// One connection of a user on this node.
struct Held {
    conn: ConnId,
    route: Route,
    rooms: Vec<RoomId>,
}

/// This node's connections by user.
pub struct Users {
    by_user: HashMap<String, Vec<Held>>,
    user_of: HashMap<ConnId, String>,
    bridge: Option<Addr<RedisBridge>>,
}

impl Users {
    pub fn new(bridge: Option<Addr<RedisBridge>>) -> Self {
        Users {
            by_user: HashMap::new(),
            user_of: HashMap::new(),
            bridge,
        }
    }

    /// This node's part of `user`'s presence: connections and rooms.
    fn here(&self, user: &str) -> Option<UserHere> {
        let held = self.by_user.get(user)?;
        let rooms: BTreeSet<&str> = held
            .iter()
            .flat_map(|h| h.rooms.iter().map(RoomId::as_str))
            .collect();
        Some(UserHere {
            n: held.len() as u64,
            rooms: rooms.into_iter().map(str::to_owned).collect(),
        })
    }

    /// Tell the cluster this node's part of `user` changed.
    fn changed(&self, user: &str) {
        if let Some(bridge) = &self.bridge {
            bridge.do_send(UserEntry {
                user: user.to_owned(),
                here: self.here(user),
            });
        }
    }

    /// Send `notify` to `user`'s connections here; answers how many.
    fn deliver(&self, user: &str, name: &str, data: &RawValue, ts: i64) -> u64 {
        let Some(held) = self.by_user.get(user) else {
            return 0;
        };
        let frame = wire::text(&protocol::encode(&ServerFrame::Notify { name, data, ts }));
        for h in held {
            h.route.send_wire(frame.clone());
        }
        metrics::add(&METRICS.deliveries, held.len() as u64);
        held.len() as u64
    }
}

impl Actor for Users {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions and the API must never wait on us.
        ctx.set_mailbox_capacity(0); // 0 = unbounded in actix
        if let Some(bridge) = &self.bridge {
            bridge.do_send(UserInbox {
                inbox: ctx.address().recipient(),
            });
        }
    }
}

/// A connection of a token user opened.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Online {
    pub conn: ConnId,
    pub user: String,
    pub route: Route,
}

impl Handler<Online> for Users {
    type Result = ();
    fn handle(&mut self, msg: Online, _: &mut Context<Self>) {
        self.user_of.insert(msg.conn, msg.user.clone());
        self.by_user
            .entry(msg.user.clone())
            .or_default()
            .push(Held {
                conn: msg.conn,
                route: msg.route,
                rooms: Vec::new(),
            });
        self.changed(&msg.user);
    }
}

/// A connection closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Offline {
    pub conn: ConnId,
}

impl Handler<Offline> for Users {
    type Result = ();
    fn handle(&mut self, msg: Offline, _: &mut Context<Self>) {
        let Some(user) = self.user_of.remove(&msg.conn) else {
            return;
        };
        if let Some(held) = self.by_user.get_mut(&user) {
            held.retain(|h| h.conn != msg.conn);
            if held.is_empty() {
                self.by_user.remove(&user);
            }
        }
        self.changed(&user);
    }
}

/// A connection's rooms are now `rooms`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InRooms {
    pub conn: ConnId,
    pub rooms: Vec<RoomId>,
}

impl Handler<InRooms> for Users {
    type Result = ();
    fn handle(&mut self, msg: InRooms, _: &mut Context<Self>) {
        let Some(user) = self.user_of.get(&msg.conn).cloned() else {
            return;
        };
        let before = self.here(&user);
        if let Some(h) = self
            .by_user
            .get_mut(&user)
            .and_then(|held| held.iter_mut().find(|h| h.conn == msg.conn))
        {
            h.rooms = msg.rooms;
        }
        if self.here(&user) != before {
            self.changed(&user);
        }
    }
}

/// Send `notify` to every connection of `user` on every node. Answers the
/// connections it was sent to.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Notify {
    pub user: String,
    pub name: String,
    pub data: Box<RawValue>,
}

impl Handler<Notify> for Users {
    type Result = ResponseFuture<u64>;
    fn handle(&mut self, msg: Notify, _: &mut Context<Self>) -> Self::Result {
        let ts = protocol::now_ms();
        let here = self.deliver(&msg.user, &msg.name, &msg.data, ts);
        let Some(bridge) = self.bridge.clone() else {
            return Box::pin(async move { here });
        };
        Box::pin(async move {
            let Ok(Some(elsewhere)) = bridge
                .send(LocateUser {
                    user: msg.user.clone(),
                })
                .await
            else {
                return here;
            };
            if elsewhere.is_empty() {
                return here;
            }
            let there: u64 = elsewhere.iter().map(|(_, h)| h.n).sum();
            bridge.do_send(NotifyNodes {
                nodes: elsewhere.into_iter().map(|(node, _)| node).collect(),
                user: msg.user,
                name: msg.name,
                data: msg.data,
                ts,
            });
            here + there
        })
    }
}

impl Handler<Inbox> for Users {
    type Result = ();
    fn handle(&mut self, msg: Inbox, _: &mut Context<Self>) {
        metrics::inc(&METRICS.user_notifications_received);
        self.deliver(&msg.user, &msg.name, &msg.data, msg.ts);
    }
}

/// A user's presence: `{online, connections, rooms}`, cluster-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Presence {
    pub online: bool,
    pub connections: u64,
    pub rooms: Vec<String>,
}

impl Presence {
    /// Add up the parts of several nodes.
    pub fn of(parts: impl IntoIterator<Item = UserHere>) -> Presence {
        let mut connections = 0;
        let mut rooms = BTreeSet::new();
        for part in parts {
            connections += part.n;
            rooms.extend(part.rooms);
        }
        Presence {
            online: connections > 0,
            connections,
            rooms: rooms.into_iter().collect(),
        }
    }
}

/// Where `user` is connected, on every node.
#[derive(Message)]
#[rtype(result = "Presence")]
pub struct GetPresence {
    pub user: String,
}

impl Handler<GetPresence> for Users {
    type Result = ResponseFuture<Presence>;
    fn handle(&mut self, msg: GetPresence, _: &mut Context<Self>) -> Self::Result {
        let here = self.here(&msg.user);
        let bridge = self.bridge.clone();
        Box::pin(async move {
            let elsewhere = match bridge {
                Some(b) => b
                    .send(LocateUser { user: msg.user })
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            Presence::of(
                here.into_iter()
                    .chain(elsewhere.into_iter().map(|(_, h)| h)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_adds_up_the_nodes_parts() {
        let p = Presence::of([
            UserHere {
                n: 2,
                rooms: vec!["a".into(), "b".into()],
            },
            UserHere {
                n: 1,
                rooms: vec!["b".into(), "c".into()],
            },
        ]);
        assert_eq!(
            p,
            Presence {
                online: true,
                connections: 3,
                rooms: vec!["a".into(), "b".into(), "c".into()]
            }
        );
        assert_eq!(Presence::of([]), Presence::default());
    }
}
