//! §7 as rules: a room's chat settings, AutoMod terms, stored moderators,
//! shadow bans, warnings, pin and held messages, and the questions asked of
//! them: what rank does someone have here, may they join, may they chat, and
//! what becomes of their message (published, delayed, held, shadowed).
//!
//! Like [`super::moderation`] (v1's bans, timeouts, slow mode and rate limit)
//! this file holds state and rules only: no socket, store, clock of its own or
//! actor. The room carries out what it answers (`room::actions`).
//!
//! A room with no mode on pays one branch per message here: every check below
//! is behind a setting or a non-empty list.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::automod::{Action, Terms};
use super::unique::UniqueWindow;
use crate::auth::{Identity, RoomRoles};
use crate::protocol::moderation::{ChatSettings, SettingsPatch, Term};
use crate::protocol::text::is_emote_only;
use crate::protocol::{ErrorCode, Refusal};
use crate::store::moderation::{HeldRecord, Listed, ModerationSnapshot, PinRecord, Warning};

/// Where someone stands in a room (contract §7: broadcaster > mod > everyone;
/// the platform's API above all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    Viewer,
    Mod,
    Broadcaster,
    Api,
}

impl Rank {
    pub fn moderates(self) -> bool {
        self >= Rank::Mod
    }

    /// May someone of this rank act on someone of rank `target`? Everyone
    /// may act on viewers; on a moderator or the broadcaster only a higher rank.
    pub fn may_act_on(self, target: Rank) -> bool {
        target == Rank::Viewer || self > target
    }
}

/// What becomes of a message that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// To the room now.
    Publish,
    /// To the room after this many ms (chat delay); moderators see it at once.
    Delay(u64),
    /// Held for review under this pattern (AutoMod `hold`).
    Hold { term: String },
    /// Its author is shadow-banned: to their own connections and moderators only.
    Shadow,
}

/// The poster of a message, as the rules need them.
pub struct Poster<'a> {
    pub user: &'a str,
    pub rank: Rank,
    /// The roles of the poster's room token, if it joined with one.
    pub roles: Option<&'a RoomRoles>,
}

/// A room's §7 state.
pub struct Modes {
    settings: ChatSettings,
    /// `automod.terms`, the same for every room.
    config_terms: Arc<[Term]>,
    room_terms: Vec<Term>,
    /// Both lists compiled; `None` while there are no terms at all.
    terms: Option<Arc<Terms>>,
    unique: UniqueWindow,
    listed: HashMap<String, Listed>,
    shadow: HashSet<String>,
    warnings: HashMap<String, Warning>,
    pin: Option<PinRecord>,
    /// Held messages by id.
    held: HashMap<String, HeldRecord>,
    cleared_after: Option<String>,
}

impl Modes {
    /// Nothing on; `config_terms` apply to every room (checked at startup).
    pub fn new(config_terms: Arc<[Term]>) -> Self {
        let terms = compile(&config_terms, &[]);
        Modes {
            settings: ChatSettings::default(),
            config_terms,
            room_terms: Vec::new(),
            terms,
            unique: UniqueWindow::default(),
            listed: HashMap::new(),
            shadow: HashSet::new(),
            warnings: HashMap::new(),
            pin: None,
            held: HashMap::new(),
            cleared_after: None,
        }
    }

    /// Take the stored state (at start and on every reconcile).
    pub fn load(&mut self, snap: ModerationSnapshot, slow_mode: u64) {
        let ModerationSnapshot {
            mut settings,
            terms,
            moderators,
            shadow,
            warnings,
            pin,
            held,
            cleared_after,
        } = snap;
        settings.slow_mode = slow_mode;
        self.settings = settings;
        if terms != self.room_terms {
            self.set_terms(terms);
        }
        self.listed = moderators
            .into_iter()
            .map(|m| (m.user.clone(), m))
            .collect();
        self.shadow = shadow;
        self.warnings = warnings;
        self.pin = pin;
        self.held = held.into_iter().map(|h| (h.msg.id.clone(), h)).collect();
        self.cleared_after = cleared_after;
    }

    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    /// Apply a (validated) partial update; answers whether slow mode changed.
    pub fn apply_settings(&mut self, patch: &SettingsPatch) -> bool {
        let before = self.settings.slow_mode;
        self.settings.apply(patch);
        if !self.settings.unique_chat {
            self.unique = UniqueWindow::default();
        }
        self.settings.slow_mode != before
    }

    /// v1's `slow_mode` action changes the same setting.
    pub fn set_slow_mode(&mut self, seconds: u64) {
        self.settings.slow_mode = seconds;
    }

    pub fn room_terms(&self) -> &[Term] {
        &self.room_terms
    }

    /// Replace the room's own terms (checked by `automod::check_room_terms`).
    pub fn set_terms(&mut self, terms: Vec<Term>) {
        self.terms = compile(&self.config_terms, &terms);
        self.room_terms = terms;
    }

    /// The stored moderator list.
    pub fn listed(&self) -> impl Iterator<Item = &Listed> {
        self.listed.values()
    }

    pub fn is_listed(&self, user: &str) -> bool {
        self.listed.contains_key(user)
    }

    pub fn add_listed(&mut self, entry: Listed) {
        self.listed.insert(entry.user.clone(), entry);
    }

    pub fn remove_listed(&mut self, user: &str) -> bool {
        self.listed.remove(user).is_some()
    }

    /// The rank of a connection: its room token's roles, its connection
    /// token's `mod` claim, and the stored list.
    pub fn rank_of(&self, room: &str, user: &Identity, roles: Option<&RoomRoles>) -> Rank {
        if roles.is_some_and(|r| r.broadcaster) {
            Rank::Broadcaster
        } else if roles.is_some_and(|r| r.moderator)
            || user.moderates(room)
            || self.is_listed(&user.id)
        {
            Rank::Mod
        } else {
            Rank::Viewer
        }
    }

    /// May a connection of this rank, with or without a room token, join?
    pub fn check_join(&self, rank: Rank, has_room_token: bool) -> Result<(), Refusal> {
        if self.settings.private && !has_room_token && !rank.moderates() {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "this room is private: join with a room token",
            ));
        }
        Ok(())
    }

    pub fn is_shadow_banned(&self, user: &str) -> bool {
        self.shadow.contains(user)
    }

    pub fn shadow_ban(&mut self, user: &str) {
        self.shadow.insert(user.to_owned());
    }

    /// Lift a shadow ban (an `unban` does); answers whether there was one.
    pub fn lift_shadow(&mut self, user: &str) -> bool {
        self.shadow.remove(user)
    }

    pub fn is_warned(&self, user: &str) -> bool {
        self.warnings.contains_key(user)
    }

    pub fn warn(&mut self, user: &str, warning: Warning) {
        self.warnings.insert(user.to_owned(), warning);
    }

    /// The user read their warning; answers whether there was one.
    pub fn acknowledge(&mut self, user: &str) -> bool {
        self.warnings.remove(user).is_some()
    }

    /// The live pin (one that ended is forgotten).
    pub fn pin(&mut self, now: i64) -> Option<&PinRecord> {
        if self.pin.as_ref().is_some_and(|p| p.until <= now) {
            self.pin = None;
        }
        self.pin.as_ref()
    }

    pub fn set_pin(&mut self, pin: Option<PinRecord>) {
        self.pin = pin;
    }

    /// A message held for review.
    pub fn hold(&mut self, held: HeldRecord) {
        self.held.insert(held.msg.id.clone(), held);
    }

    pub fn held(&self, id: &str) -> Option<&HeldRecord> {
        self.held.get(id)
    }

    /// Held messages, oldest first.
    pub fn held_list(&self) -> Vec<&HeldRecord> {
        let mut list: Vec<&HeldRecord> = self.held.values().collect();
        list.sort_by(|a, b| a.msg.id.cmp(&b.msg.id));
        list
    }

    /// A decision was made on a held message (here or on another node).
    pub fn take_held(&mut self, id: &str) -> Option<HeldRecord> {
        self.held.remove(id)
    }

    pub fn cleared_after(&self) -> Option<&str> {
        self.cleared_after.as_deref()
    }

    pub fn set_cleared_after(&mut self, id: String) {
        self.cleared_after = Some(id);
    }

    /// May this poster chat now under the room's modes, and what becomes of
    /// the message? (v1's bans, timeouts, slow mode and rate limit are checked
    /// before, by `ModState::check_post`.) Moderators and the broadcaster are
    /// exempt from every mode and from AutoMod; nobody is exempt from a warning.
    pub fn check_chat(
        &mut self,
        poster: Poster<'_>,
        text: &str,
        now_ms: i64,
        now: Instant,
    ) -> Result<Verdict, Refusal> {
        if self.warnings.contains_key(poster.user) {
            return Err(Refusal::new(
                ErrorCode::Warned,
                "a moderator warned you: acknowledge the warning to chat again",
            ));
        }
        let shadow = self.shadow.contains(poster.user);
        if poster.rank.moderates() {
            return Ok(if shadow {
                Verdict::Shadow
            } else {
                Verdict::Publish
            });
        }
        let s = &self.settings;
        let roles = poster.roles.copied().unwrap_or_default();
        let privileged = roles.subscriber || roles.vip;
        if let Some(minutes) = s.followers_only
            && !privileged
        {
            let since_ok = roles.follower
                && roles
                    .follower_since
                    .is_some_and(|t| now_ms - t >= minutes as i64 * 60_000);
            if !since_ok {
                let message = if minutes == 0 {
                    "followers-only chat: follow to chat".to_owned()
                } else {
                    format!("followers-only chat: follow for {minutes} minutes to chat")
                };
                return Err(Refusal::new(ErrorCode::FollowersOnly, message));
            }
        }
        if s.subscribers_only && !privileged {
            return Err(Refusal::new(
                ErrorCode::SubscribersOnly,
                "subscribers-only chat",
            ));
        }
        if s.emote_only && !is_emote_only(text) {
            return Err(Refusal::new(
                ErrorCode::EmoteOnly,
                "emote-only chat: emoji only",
            ));
        }
        if s.unique_chat && self.unique.is_duplicate(text, now) {
            return Err(Refusal::new(
                ErrorCode::Duplicate,
                "unique chat: this was said in the last 5 minutes",
            ));
        }
        if let Some(terms) = &self.terms
            && let Some(hit) = terms.check(text)
        {
            match hit.action {
                Action::Block => {
                    return Err(Refusal::new(
                        ErrorCode::BlockedTerm,
                        "your message contains a blocked term",
                    ));
                }
                Action::Hold => {
                    return Ok(Verdict::Hold {
                        term: hit.pattern.to_owned(),
                    });
                }
            }
        }
        if self.settings.unique_chat {
            self.unique.check_and_insert(text, now);
        }
        if shadow {
            return Ok(Verdict::Shadow);
        }
        Ok(match self.settings.chat_delay_ms {
            0 => Verdict::Publish,
            ms => Verdict::Delay(ms),
        })
    }

    /// A message reached the room (from any node): unique chat remembers it.
    /// With the mode off this is one branch (no clock read, no hash).
    pub fn remember(&mut self, text: &str) {
        if self.settings.unique_chat {
            self.unique.check_and_insert(text, Instant::now());
        }
    }

    /// Forget what no longer matters (old unique-chat entries).
    pub fn prune(&mut self, now: Instant) {
        self.unique.prune(now);
    }
}

fn compile(config: &[Term], room: &[Term]) -> Option<Arc<Terms>> {
    if config.is_empty() && room.is_empty() {
        return None;
    }
    match Terms::compile(config, room) {
        Ok(t) => Some(Arc::new(t)),
        Err(err) => {
            // Both lists are checked before they get here (config at startup,
            // a room's on the way in), so this is a stored list of an older version.
            tracing::error!(error = %err, "AutoMod terms do not compile; ignoring the room's own");
            Terms::compile(config, &[]).ok().map(Arc::new)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::moderation::TermAction;

    fn viewer(user: &str) -> Poster<'_> {
        Poster {
            user,
            rank: Rank::Viewer,
            roles: None,
        }
    }

    fn patch(json: &str) -> SettingsPatch {
        serde_json::from_str::<SettingsPatch>(json)
            .unwrap()
            .validate()
            .unwrap()
    }

    #[test]
    fn hierarchy_broadcaster_over_mod_over_everyone_and_the_api_over_all() {
        assert!(Rank::Mod.may_act_on(Rank::Viewer));
        assert!(!Rank::Mod.may_act_on(Rank::Mod));
        assert!(!Rank::Mod.may_act_on(Rank::Broadcaster));
        assert!(Rank::Broadcaster.may_act_on(Rank::Mod));
        assert!(!Rank::Broadcaster.may_act_on(Rank::Broadcaster));
        assert!(Rank::Api.may_act_on(Rank::Broadcaster));
        assert!(!Rank::Viewer.moderates());
    }

    #[test]
    fn no_mode_on_publishes_and_chat_delay_delays() {
        let mut m = Modes::new(Arc::from(Vec::new()));
        let now = Instant::now();
        assert_eq!(
            m.check_chat(viewer("u"), "hi", 0, now),
            Ok(Verdict::Publish)
        );
        m.apply_settings(&patch(r#"{"chat_delay_ms":800}"#));
        assert_eq!(
            m.check_chat(viewer("u"), "hi", 0, now),
            Ok(Verdict::Delay(800))
        );
    }

    #[test]
    fn modes_refuse_with_their_codes_and_exempt_moderators() {
        let mut m = Modes::new(Arc::from(Vec::new()));
        let now = Instant::now();
        let code = |r: Result<Verdict, Refusal>| r.map_err(|e| e.code);
        m.apply_settings(&patch(r#"{"emote_only":true}"#));
        assert_eq!(
            code(m.check_chat(viewer("u"), "fire 🔥", 0, now)),
            Err(ErrorCode::EmoteOnly)
        );
        assert_eq!(
            code(m.check_chat(viewer("u"), "🔥 👍🏽", 0, now)),
            Ok(Verdict::Publish)
        );
        let vip = RoomRoles {
            vip: true,
            ..RoomRoles::default()
        };
        let as_vip = Poster {
            user: "v",
            rank: Rank::Viewer,
            roles: Some(&vip),
        };
        assert_eq!(
            code(m.check_chat(as_vip, "text", 0, now)),
            Err(ErrorCode::EmoteOnly)
        );
        let mod_ = Poster {
            user: "m",
            rank: Rank::Mod,
            roles: None,
        };
        assert_eq!(
            code(m.check_chat(mod_, "text", 0, now)),
            Ok(Verdict::Publish)
        );

        let mut m = Modes::new(Arc::from(Vec::new()));
        m.apply_settings(&patch(r#"{"subscribers_only":true}"#));
        assert_eq!(
            code(m.check_chat(viewer("u"), "x", 0, now)),
            Err(ErrorCode::SubscribersOnly)
        );
        let sub = RoomRoles {
            subscriber: true,
            ..RoomRoles::default()
        };
        let as_sub = Poster {
            user: "s",
            rank: Rank::Viewer,
            roles: Some(&sub),
        };
        assert_eq!(
            code(m.check_chat(as_sub, "x", 0, now)),
            Ok(Verdict::Publish)
        );
    }

    #[test]
    fn followers_only_counts_how_long_the_follower_has_followed() {
        let mut m = Modes::new(Arc::from(Vec::new()));
        let now = Instant::now();
        m.apply_settings(&patch(r#"{"followers_only":10}"#));
        let t = 100 * 60_000;
        let follower = |since: i64| RoomRoles {
            follower: true,
            follower_since: Some(since),
            ..RoomRoles::default()
        };
        let new = follower(t - 9 * 60_000);
        let old = follower(t - 10 * 60_000);
        let p = |r| Poster {
            user: "f",
            rank: Rank::Viewer,
            roles: Some(r),
        };
        assert_eq!(
            m.check_chat(p(&new), "x", t, now).map_err(|e| e.code),
            Err(ErrorCode::FollowersOnly)
        );
        assert_eq!(m.check_chat(p(&old), "x", t, now), Ok(Verdict::Publish));
        assert_eq!(
            m.check_chat(viewer("u"), "x", t, now).map_err(|e| e.code),
            Err(ErrorCode::FollowersOnly)
        );
    }

    #[test]
    fn unique_chat_refuses_a_folded_repeat_only_while_on() {
        let mut m = Modes::new(Arc::from(Vec::new()));
        let now = Instant::now();
        assert_eq!(
            m.check_chat(viewer("a"), "Hello World", 0, now),
            Ok(Verdict::Publish)
        );
        m.apply_settings(&patch(r#"{"unique_chat":true}"#));
        assert_eq!(
            m.check_chat(viewer("a"), "Hello World", 0, now),
            Ok(Verdict::Publish)
        );
        assert_eq!(
            m.check_chat(viewer("b"), "hello   world", 0, now)
                .map_err(|e| e.code),
            Err(ErrorCode::Duplicate)
        );
    }

    #[test]
    fn automod_blocks_or_holds_and_warnings_and_shadow_bans_apply() {
        let config: Arc<[Term]> = Arc::from(vec![Term::new("badword", TermAction::Block)]);
        let mut m = Modes::new(config);
        let now = Instant::now();
        m.set_terms(vec![Term::new("spam*", TermAction::Hold)]);
        assert_eq!(
            m.check_chat(viewer("u"), "ＢＡＤＷＯＲＤ", 0, now)
                .map_err(|e| e.code),
            Err(ErrorCode::BlockedTerm)
        );
        assert_eq!(
            m.check_chat(viewer("u"), "badwords", 0, now),
            Ok(Verdict::Publish)
        );
        assert_eq!(
            m.check_chat(viewer("u"), "buy spammy stuff", 0, now),
            Ok(Verdict::Hold {
                term: "spam*".into()
            })
        );
        m.shadow_ban("s");
        assert_eq!(m.check_chat(viewer("s"), "hi", 0, now), Ok(Verdict::Shadow));
        m.warn(
            "w",
            Warning {
                reason: None,
                by: "m".into(),
            },
        );
        assert_eq!(
            m.check_chat(viewer("w"), "hi", 0, now).map_err(|e| e.code),
            Err(ErrorCode::Warned)
        );
        assert!(m.acknowledge("w"));
        assert_eq!(
            m.check_chat(viewer("w"), "hi", 0, now),
            Ok(Verdict::Publish)
        );
    }

    #[test]
    fn a_private_room_admits_room_tokens_and_moderators_only() {
        let mut m = Modes::new(Arc::from(Vec::new()));
        assert!(m.check_join(Rank::Viewer, false).is_ok());
        m.apply_settings(&patch(r#"{"private":true}"#));
        assert_eq!(
            m.check_join(Rank::Viewer, false).map_err(|e| e.code),
            Err(ErrorCode::Forbidden)
        );
        assert!(m.check_join(Rank::Viewer, true).is_ok());
        assert!(m.check_join(Rank::Mod, false).is_ok());
    }
}
