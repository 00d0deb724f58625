//! Moderation as rules: a room's bans, timeouts, slow mode and message rate
//! limit, what a user may do under them, and what a moderator action changes.
//!
//! [`ModState::apply`] changes the state and answers with the [`Effects`] of the
//! action: the frame that announces it, who leaves the room, what leaves
//! `recent`, and what the store must keep. The room carries the effects out; it
//! stores and publishes them only when the action was taken on this node. The
//! rules touch no socket, store or actor, so they are tested directly below.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::protocol::{self, ErrorCode, Frame, ModAction, Refusal, RoomId, ServerFrame};
use crate::store::{ModLogEntry, Write};

/// What a room's moderation state is made of when it is loaded from the store.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub bans: HashSet<String>,
    /// User → end of timeout (epoch ms).
    pub timeouts: HashMap<String, i64>,
    pub slow_mode: u64,
}

/// What leaves `recent` because of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlist {
    Nothing,
    Message(String),
    User(String),
}

/// What a moderator action does beyond changing the state.
#[derive(Debug)]
pub struct Effects {
    /// The id acked to the moderator: the message id of a delete, else the action's id.
    pub ack_id: String,
    /// The frame that announces the action to the room.
    pub announce: Frame,
    /// A ban: every connection of this user leaves the room.
    pub evict: Option<String>,
    pub unlist: Unlist,
    /// The new state and the log entry, in order, for the store.
    pub writes: Vec<Write>,
}

/// Who took an action, when, and under which id.
pub struct Taken<'a> {
    pub room: &'a RoomId,
    pub by: &'a str,
    pub action_id: String,
    pub now: i64,
    /// For a delete: the author of the message, if the room knows it.
    pub author: Option<&'a str>,
}

pub struct ModState {
    bans: HashSet<String>,
    timeouts: HashMap<String, i64>,
    slow_mode: u64,
    /// When each user last posted, while slow mode is on.
    last_post: HashMap<String, Instant>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl ModState {
    /// No bans, no timeouts, slow mode off; `quota` is the message rate limit per user.
    pub fn new(quota: Quota) -> Self {
        ModState {
            bans: HashSet::new(),
            timeouts: HashMap::new(),
            slow_mode: 0,
            last_post: HashMap::new(),
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Take the stored state; answers the users banned now who were not before.
    pub fn load(&mut self, loaded: Loaded) -> Vec<String> {
        let newly: Vec<String> = loaded.bans.difference(&self.bans).cloned().collect();
        self.bans = loaded.bans;
        self.timeouts = loaded.timeouts;
        self.slow_mode = loaded.slow_mode;
        newly
    }

    pub fn slow_mode(&self) -> u64 {
        self.slow_mode
    }

    pub fn is_banned(&self, user: &str) -> bool {
        self.bans.contains(user)
    }

    /// Milliseconds of timeout left for `user`, if any.
    pub fn timeout_left(&mut self, user: &str, now: i64) -> Option<u64> {
        let until = *self.timeouts.get(user)?;
        if until > now {
            Some((until - now) as u64)
        } else {
            self.timeouts.remove(user);
            None
        }
    }

    /// May `user` react now? Only a timeout stops reactions.
    pub fn check_react(&mut self, user: &str, now: i64) -> Result<(), Refusal> {
        match self.timeout_left(user, now) {
            Some(left) => Err(timed_out(left)),
            None => Ok(()),
        }
    }

    /// v2's `settings` change slow mode too.
    pub fn set_slow_mode(&mut self, seconds: u64) {
        self.slow_mode = seconds;
        if seconds == 0 {
            self.last_post.clear();
        }
    }

    /// May `user` post now? Moderators skip slow mode and the rate limit, vips
    /// slow mode (contract §7). A yes counts against the limits.
    pub fn check_post(
        &mut self,
        user: &str,
        moderator: bool,
        vip: bool,
        now: i64,
    ) -> Result<(), Refusal> {
        if self.bans.contains(user) {
            return Err(Refusal::new(
                ErrorCode::Banned,
                "you are banned from this room",
            ));
        }
        if let Some(left) = self.timeout_left(user, now) {
            return Err(timed_out(left));
        }
        if moderator {
            return Ok(());
        }
        if self.slow_mode > 0
            && !vip
            && let Some(last) = self.last_post.get(user)
        {
            let interval = Duration::from_secs(self.slow_mode);
            let since = last.elapsed();
            if since < interval {
                return Err(Refusal::retry(
                    ErrorCode::SlowMode,
                    format!("slow mode: one message every {} s", self.slow_mode),
                    (interval - since).as_millis() as u64,
                ));
            }
        }
        if let Err(not_until) = self.limiter.check_key(&user.to_owned()) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Refusal::retry(
                ErrorCode::RateLimited,
                "too many messages; slow down",
                wait.as_millis() as u64 + 1,
            ));
        }
        if self.slow_mode > 0 {
            self.last_post.insert(user.to_owned(), Instant::now());
        }
        Ok(())
    }

    /// Forget what no longer matters: full rate-limit buckets, old posts, ended timeouts.
    pub fn prune(&mut self, now: i64) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let slow = Duration::from_secs(self.slow_mode);
        self.last_post.retain(|_, t| t.elapsed() < slow);
        self.timeouts.retain(|_, until| *until > now);
    }

    /// Apply a moderator action (checked by `ModAction::validate`).
    pub fn apply(&mut self, taken: Taken<'_>, action: ModAction) -> Effects {
        let Taken {
            room,
            by,
            action_id,
            now,
            author,
        } = taken;
        let log = |user: Option<&str>, reason: Option<&str>, seconds, message_id: Option<&str>| {
            Write::Log(Arc::new(ModLogEntry {
                id: action_id.clone(),
                room: room.to_string(),
                action: action.name().to_owned(),
                user: user.map(str::to_owned),
                by: by.to_owned(),
                reason: reason.map(str::to_owned),
                seconds,
                message_id: message_id.map(str::to_owned),
                ts: now,
            }))
        };
        let announce_user = |user: &str, seconds, reason: Option<&str>| {
            protocol::encode(&ServerFrame::Moderation {
                room,
                action: action.name(),
                user,
                seconds,
                reason,
                by,
                id: None,
            })
        };
        let room_s = room.to_string();
        match &action {
            ModAction::Delete { id } => Effects {
                ack_id: id.to_string(),
                announce: protocol::encode(&ServerFrame::Deleted { room, id, by }),
                evict: None,
                unlist: Unlist::Message(id.to_string()),
                writes: vec![
                    Write::Delete {
                        room: room_s,
                        id: id.to_string(),
                        by: by.to_owned(),
                        at: now,
                    },
                    log(author, None, None, Some(id)),
                ],
            },
            ModAction::Timeout {
                user,
                seconds,
                reason,
            } => {
                let until = now + *seconds as i64 * 1000;
                self.timeouts.insert(user.to_string(), until);
                Effects {
                    announce: announce_user(user, Some(*seconds), reason.as_deref()),
                    evict: None,
                    unlist: Unlist::Nothing,
                    writes: vec![
                        Write::Timeout {
                            room: room_s,
                            user: user.to_string(),
                            until,
                        },
                        log(Some(user), reason.as_deref(), Some(*seconds), None),
                    ],
                    ack_id: action_id.clone(),
                }
            }
            ModAction::Ban { user, reason } => {
                self.bans.insert(user.to_string());
                self.timeouts.remove(user.as_str());
                Effects {
                    announce: announce_user(user, None, reason.as_deref()),
                    evict: Some(user.to_string()),
                    unlist: Unlist::User(user.to_string()),
                    writes: vec![
                        Write::Ban {
                            room: room_s,
                            user: user.to_string(),
                            reason: reason.clone(),
                            by: by.to_owned(),
                            ts: now,
                        },
                        log(Some(user), reason.as_deref(), None, None),
                    ],
                    ack_id: action_id.clone(),
                }
            }
            ModAction::Unban { user } => {
                self.bans.remove(user.as_str());
                self.timeouts.remove(user.as_str());
                Effects {
                    announce: announce_user(user, None, None),
                    evict: None,
                    unlist: Unlist::Nothing,
                    writes: vec![
                        Write::Unban {
                            room: room_s,
                            user: user.to_string(),
                        },
                        log(Some(user), None, None, None),
                    ],
                    ack_id: action_id.clone(),
                }
            }
            ModAction::SlowMode { seconds } => {
                self.slow_mode = *seconds;
                if *seconds == 0 {
                    self.last_post.clear();
                }
                Effects {
                    announce: protocol::encode(&ServerFrame::SlowMode {
                        room,
                        seconds: *seconds,
                    }),
                    evict: None,
                    unlist: Unlist::Nothing,
                    writes: vec![
                        Write::SlowMode {
                            room: room_s,
                            seconds: *seconds,
                        },
                        log(None, None, Some(*seconds), None),
                    ],
                    ack_id: action_id.clone(),
                }
            }
            // §7's actions are carried out by `room::actions`, never here.
            _ => Effects {
                ack_id: action_id.clone(),
                announce: Frame::default(),
                evict: None,
                unlist: Unlist::Nothing,
                writes: Vec::new(),
            },
        }
    }
}

fn timed_out(left_ms: u64) -> Refusal {
    Refusal::retry(
        ErrorCode::TimedOut,
        "you are timed out in this room",
        left_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageId, UserId};

    fn state() -> ModState {
        ModState::new(Quota::per_second(std::num::NonZeroU32::new(100).unwrap()))
    }

    fn taken<'a>(room: &'a RoomId, author: Option<&'a str>) -> Taken<'a> {
        Taken {
            room,
            by: "mod1",
            action_id: "A1".into(),
            now: 1_000,
            author,
        }
    }

    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    fn logged(e: &Effects) -> &ModLogEntry {
        match e.writes.last() {
            Some(Write::Log(entry)) => entry,
            other => panic!("the last write is the log entry, got {other:?}"),
        }
    }

    #[test]
    fn a_ban_evicts_the_user_unlists_their_messages_and_stops_their_posts() {
        let room = RoomId::parse("r").unwrap();
        let mut s = state();
        let fx = s.apply(
            taken(&room, None),
            ModAction::Ban {
                user: user("u2"),
                reason: Some("spam".into()),
            },
        );
        assert_eq!(fx.evict.as_deref(), Some("u2"));
        assert_eq!(fx.unlist, Unlist::User("u2".into()));
        assert_eq!(fx.ack_id, "A1");
        assert!(matches!(fx.writes[0], Write::Ban { ref user, .. } if user == "u2"));
        assert_eq!(logged(&fx).action, "ban");
        assert_eq!(
            &*fx.announce,
            r#"{"type":"moderation","room":"r","action":"ban","user":"u2","reason":"spam","by":"mod1"}"#
        );
        let refused = s.check_post("u2", false, false, 2_000).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Banned);
        assert!(s.check_post("u3", false, false, 2_000).is_ok());
        // Unban lifts it.
        s.apply(taken(&room, None), ModAction::Unban { user: user("u2") });
        assert!(!s.is_banned("u2"));
        assert!(s.check_post("u2", false, false, 2_000).is_ok());
    }

    #[test]
    fn a_timeout_refuses_posts_and_reactions_with_the_time_left() {
        let room = RoomId::parse("r").unwrap();
        let mut s = state();
        s.apply(
            taken(&room, None),
            ModAction::Timeout {
                user: user("u2"),
                seconds: 10,
                reason: None,
            },
        );
        let r = s.check_post("u2", false, false, 4_000).unwrap_err();
        assert_eq!(
            (r.code, r.retry_after_ms),
            (ErrorCode::TimedOut, Some(7_000))
        );
        // Moderators are not above a timeout either.
        assert_eq!(
            s.check_react("u2", 4_000).unwrap_err().code,
            ErrorCode::TimedOut
        );
        // After it ends, both work again.
        assert!(s.check_react("u2", 11_001).is_ok());
        assert!(s.check_post("u2", false, false, 11_001).is_ok());
    }

    #[test]
    fn slow_mode_spaces_posts_but_not_a_moderators() {
        let room = RoomId::parse("r").unwrap();
        let mut s = state();
        let fx = s.apply(taken(&room, None), ModAction::SlowMode { seconds: 30 });
        assert_eq!(
            &*fx.announce,
            r#"{"type":"slow_mode","room":"r","seconds":30}"#
        );
        assert_eq!(s.slow_mode(), 30);
        assert!(s.check_post("u1", false, false, 0).is_ok());
        let r = s.check_post("u1", false, false, 0).unwrap_err();
        assert_eq!(r.code, ErrorCode::SlowMode);
        assert!(r.retry_after_ms.unwrap() > 29_000);
        assert!(s.check_post("m", true, false, 0).is_ok());
        assert!(s.check_post("m", true, false, 0).is_ok());
        // Vips skip slow mode (contract §7), not the rate limit.
        assert!(s.check_post("v", false, true, 0).is_ok());
        assert!(s.check_post("v", false, true, 0).is_ok());
        // Off again: no wait.
        s.apply(taken(&room, None), ModAction::SlowMode { seconds: 0 });
        assert!(s.check_post("u1", false, false, 0).is_ok());
    }

    #[test]
    fn a_delete_acks_the_message_id_and_logs_its_author() {
        let room = RoomId::parse("r").unwrap();
        let id = ulid::Ulid::generate().to_string();
        let mut s = state();
        let fx = s.apply(
            taken(&room, Some("u9")),
            ModAction::Delete {
                id: MessageId::parse(id.clone()).unwrap(),
            },
        );
        assert_eq!(fx.ack_id, id);
        assert_eq!(fx.unlist, Unlist::Message(id.clone()));
        let entry = logged(&fx);
        assert_eq!(
            (entry.user.as_deref(), entry.message_id.as_deref()),
            (Some("u9"), Some(id.as_str()))
        );
        assert!(matches!(fx.writes[0], Write::Delete { .. }));
    }

    #[test]
    fn loading_reports_the_users_banned_elsewhere_meanwhile() {
        let mut s = state();
        s.load(Loaded {
            bans: ["a".to_owned()].into(),
            ..Loaded::default()
        });
        let newly = s.load(Loaded {
            bans: ["a".to_owned(), "b".to_owned()].into(),
            slow_mode: 5,
            ..Loaded::default()
        });
        assert_eq!(newly, ["b"]);
        assert_eq!(s.slow_mode(), 5);
    }
}
