//! §7 on the wire: a room's chat settings (the `settings` frame,
//! `joined.settings`, `PATCH /api/rooms/{room}/settings`), the partial update a
//! moderator sends, AutoMod terms as the API and the cluster carry them, and
//! the ranges of the new moderator actions.
//!
//! Plain data and stateless checks. This file must not decide what a setting
//! does to a message (that is `room::modes`) or who may change it.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::refusal::Refusal;
use super::rules::MAX_SLOW_MODE_SECONDS;
use super::server::{ChatMessage, Frame, encode_json};

/// Longest chat delay (§7: 0–6000 ms).
pub const MAX_CHAT_DELAY_MS: u64 = 6_000;
/// Longest follow age `followers_only` may ask for: 90 days, in minutes (the
/// contract sets no bound; Twitch's is three months).
pub const MAX_FOLLOWERS_ONLY_MINUTES: u64 = 90 * 24 * 60;
/// A pin lives 60–1800 s (§7).
pub const MIN_PIN_SECONDS: u64 = 60;
pub const MAX_PIN_SECONDS: u64 = 1_800;
/// Most terms one room may set (the configured ones come on top).
pub const MAX_ROOM_TERMS: usize = 1_000;
/// How far back a purge reaches (§7: the last 10 minutes).
pub const PURGE_WINDOW_MS: i64 = 10 * 60 * 1_000;

/// Every setting of a room, as `settings` frames and `joined.settings` show
/// them (all of them, always).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    /// Seconds between one user's messages; 0 = off (v1's slow mode).
    pub slow_mode: u64,
    /// Only followers of at least this many minutes (and subscribers, vips,
    /// moderators) may chat; `null` = off.
    pub followers_only: Option<u64>,
    pub subscribers_only: bool,
    pub emote_only: bool,
    pub unique_chat: bool,
    /// Non-moderators' messages reach the room this much later.
    pub chat_delay_ms: u64,
    /// Only joins with a room token, and the room's moderators.
    pub private: bool,
    /// §8 typing indicators: `null` = on while the room has at most
    /// [`TYPING_MAX_VIEWERS`] viewers (the default), `true`/`false` = always on/off.
    pub typing: Option<bool>,
}

/// Contract §8: above this many viewers, a room with `typing: null` drops
/// typing indicators.
pub const TYPING_MAX_VIEWERS: u64 = 100;

impl ChatSettings {
    /// Take the settings a patch names.
    pub fn apply(&mut self, patch: &SettingsPatch) {
        if let Some(v) = patch.slow_mode {
            self.slow_mode = v;
        }
        if let Some(v) = patch.followers_only {
            self.followers_only = v;
        }
        if let Some(v) = patch.subscribers_only {
            self.subscribers_only = v;
        }
        if let Some(v) = patch.emote_only {
            self.emote_only = v;
        }
        if let Some(v) = patch.unique_chat {
            self.unique_chat = v;
        }
        if let Some(v) = patch.chat_delay_ms {
            self.chat_delay_ms = v;
        }
        if let Some(v) = patch.private {
            self.private = v;
        }
        if let Some(v) = patch.typing {
            self.typing = v;
        }
    }

    /// Contract §8: are typing indicators relayed in a room of `viewers`?
    pub fn typing_on(&self, viewers: u64) -> bool {
        self.typing.unwrap_or(viewers <= TYPING_MAX_VIEWERS)
    }

    /// All of them as a patch (what a node tells the others: the whole state,
    /// so a node that missed an earlier change is right again).
    pub fn as_patch(&self) -> SettingsPatch {
        SettingsPatch {
            slow_mode: Some(self.slow_mode),
            followers_only: Some(self.followers_only),
            subscribers_only: Some(self.subscribers_only),
            emote_only: Some(self.emote_only),
            unique_chat: Some(self.unique_chat),
            chat_delay_ms: Some(self.chat_delay_ms),
            private: Some(self.private),
            typing: Some(self.typing),
        }
    }
}

/// A partial update of a room's settings (the `settings` frame's `settings`,
/// the body of `PATCH /api/rooms/{room}/settings`): only what it names changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_mode: Option<u64>,
    /// Absent: unchanged; `null`: off; a number: on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub followers_only: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribers_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emote_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_chat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// Absent: unchanged; `null`: by the room's size; a bool: always on/off.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub typing: Option<Option<bool>>,
}

/// A field that is present, possibly `null` (absent fields stay `None` by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl SettingsPatch {
    /// Check the ranges; a patch that changes nothing is refused.
    pub fn validate(self) -> Result<SettingsPatch, Refusal> {
        if self == SettingsPatch::default() {
            return Err(Refusal::bad_request(
                "settings must name at least one setting",
            ));
        }
        if self.slow_mode.is_some_and(|s| s > MAX_SLOW_MODE_SECONDS) {
            return Err(Refusal::bad_request(format!(
                "slow_mode must be 0-{MAX_SLOW_MODE_SECONDS}"
            )));
        }
        if self
            .followers_only
            .flatten()
            .is_some_and(|m| m > MAX_FOLLOWERS_ONLY_MINUTES)
        {
            return Err(Refusal::bad_request(format!(
                "followers_only must be null or 0-{MAX_FOLLOWERS_ONLY_MINUTES} minutes"
            )));
        }
        if self.chat_delay_ms.is_some_and(|d| d > MAX_CHAT_DELAY_MS) {
            return Err(Refusal::bad_request(format!(
                "chat_delay_ms must be 0-{MAX_CHAT_DELAY_MS}"
            )));
        }
        Ok(self)
    }

    /// The patch as compact JSON (the moderation log's `reason` of a change).
    pub fn describe(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a message matching an AutoMod term gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermAction {
    /// Refused: the sender gets `error` `blocked_term`.
    Block,
    /// Held for the room's moderators to approve or deny.
    Hold,
}

/// A term as configured: `{"pattern":"spam*","action":"hold"}`. Its rules
/// (whole words, `*` at either end) are `room::automod`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub pattern: String,
    pub action: TermAction,
}

impl Term {
    pub fn new(pattern: impl Into<String>, action: TermAction) -> Self {
        Term {
            pattern: pattern.into(),
            action,
        }
    }
}

/// A chat message as a `message` frame, optionally marked: `"delayed":true`
/// (§7 chat delay: the early copy moderators get), `"shadow":true` (a
/// shadow-banned user's message, as moderators and the API see it). Unmarked,
/// it is byte for byte the `message` frame.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    pub msg: &'a ChatMessage,
    #[serde(skip_serializing_if = "is_false")]
    pub delayed: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub shadow: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<'a> MessageFrame<'a> {
    pub fn plain(msg: &'a ChatMessage) -> Self {
        MessageFrame {
            kind: "message",
            msg,
            delayed: false,
            shadow: false,
        }
    }

    pub fn delayed(msg: &'a ChatMessage) -> Self {
        MessageFrame {
            delayed: true,
            ..MessageFrame::plain(msg)
        }
    }

    pub fn shadow(msg: &'a ChatMessage, shadow: bool) -> Self {
        MessageFrame {
            shadow,
            ..MessageFrame::plain(msg)
        }
    }

    /// Serialised on its own (a frame for the socket).
    pub fn encode(&self) -> Frame {
        encode_json(self)
    }
}

/// `joined.pinned`: the pinned message and when the pin ends.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PinView<'a> {
    pub message: MessageFrame<'a>,
    pub until: i64,
}

/// Messages as one JSON array of `message` frames, those of shadow-banned
/// users marked (the server API's listings).
pub fn encode_marked_list<'a>(
    messages: impl Iterator<Item = (&'a ChatMessage, bool)>,
) -> Box<RawValue> {
    let frames: Vec<MessageFrame<'_>> = messages
        .map(|(m, shadow)| MessageFrame::shadow(m, shadow))
        .collect();
    serde_json::to_string(&frames)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_else(super::server::empty_list)
}

/// A pin's length: 60–1800 s.
pub fn check_pin_seconds(seconds: u64) -> Result<u64, Refusal> {
    if (MIN_PIN_SECONDS..=MAX_PIN_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(Refusal::bad_request(format!(
            "seconds must be {MIN_PIN_SECONDS}-{MAX_PIN_SECONDS}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_serialise_all_of_them_with_followers_only_null_when_off() {
        let s = ChatSettings::default();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"slow_mode":0,"followers_only":null,"subscribers_only":false,"emote_only":false,"unique_chat":false,"chat_delay_ms":0,"private":false,"typing":null}"#
        );
    }

    #[test]
    fn typing_follows_the_rooms_size_unless_set() {
        let mut s = ChatSettings::default();
        assert!(s.typing_on(TYPING_MAX_VIEWERS) && !s.typing_on(TYPING_MAX_VIEWERS + 1));
        let on: SettingsPatch = serde_json::from_str(r#"{"typing":true}"#).unwrap();
        s.apply(&on.validate().unwrap());
        assert!(s.typing_on(1_000_000));
        let off: SettingsPatch = serde_json::from_str(r#"{"typing":false}"#).unwrap();
        s.apply(&off);
        assert!(!s.typing_on(1));
        let auto: SettingsPatch = serde_json::from_str(r#"{"typing":null}"#).unwrap();
        assert_eq!(auto.typing, Some(None));
        s.apply(&auto);
        assert_eq!(s, ChatSettings::default());
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_null_turns_followers_only_off() {
        let mut s = ChatSettings::default();
        let on: SettingsPatch =
            serde_json::from_str(r#"{"followers_only":10,"emote_only":true}"#).unwrap();
        s.apply(&on.validate().unwrap());
        assert_eq!((s.followers_only, s.emote_only), (Some(10), true));
        let off: SettingsPatch = serde_json::from_str(r#"{"followers_only":null}"#).unwrap();
        assert_eq!(off.followers_only, Some(None));
        s.apply(&off);
        assert_eq!((s.followers_only, s.emote_only), (None, true));
        // The full state round-trips as a patch.
        let mut t = ChatSettings::default();
        t.apply(&s.as_patch());
        assert_eq!(t, s);
        assert_eq!(
            s.as_patch().describe(),
            r#"{"slow_mode":0,"followers_only":null,"subscribers_only":false,"emote_only":true,"unique_chat":false,"chat_delay_ms":0,"private":false,"typing":null}"#
        );
    }

    #[test]
    fn patches_out_of_range_empty_or_unknown_are_refused() {
        let parse = |s: &str| serde_json::from_str::<SettingsPatch>(s);
        assert!(
            parse(r#"{"chat_delay_ms":6000}"#)
                .unwrap()
                .validate()
                .is_ok()
        );
        assert!(
            parse(r#"{"chat_delay_ms":6001}"#)
                .unwrap()
                .validate()
                .is_err()
        );
        assert!(parse(r#"{"slow_mode":86401}"#).unwrap().validate().is_err());
        assert!(
            parse(r#"{"followers_only":129601}"#)
                .unwrap()
                .validate()
                .is_err()
        );
        assert!(parse("{}").unwrap().validate().is_err());
        assert!(parse(r#"{"loud_mode":true}"#).is_err());
        assert!(parse(r#"{"emote_only":"yes"}"#).is_err());
    }

    #[test]
    fn a_marked_message_is_the_message_frame_plus_its_mark() {
        let msg = ChatMessage {
            room: "r".into(),
            id: "01J00000000000000000000000".into(),
            user: "u1".into(),
            name: "Ann".into(),
            text: "hi".into(),
            ts: 5,
            badges: vec![],
            seq: Some(3),
            epoch: None,
        };
        let plain = super::super::server::encode(&super::super::server::ServerFrame::Message(&msg));
        assert_eq!(MessageFrame::plain(&msg).encode(), plain);
        assert_eq!(
            &*MessageFrame::delayed(&msg).encode(),
            r#"{"type":"message","room":"r","id":"01J00000000000000000000000","user":"u1","name":"Ann","text":"hi","ts":5,"badges":[],"seq":3,"delayed":true}"#
        );
        let list = encode_marked_list([(&msg, true), (&msg, false)].into_iter());
        assert!(
            list.get().contains(r#""seq":3,"shadow":true},{"type""#),
            "{list}"
        );
    }

    #[test]
    fn pins_last_one_to_thirty_minutes() {
        assert!(check_pin_seconds(59).is_err());
        assert_eq!(check_pin_seconds(60), Ok(60));
        assert_eq!(check_pin_seconds(1800), Ok(1800));
        assert!(check_pin_seconds(1801).is_err());
    }
}
