//! The contract's ids as types, parsed once where they enter (a client frame,
//! a URL path, a cluster event), so everything past the edge holds a value that
//! is known to be well-formed and never checks it again.
//!
//! Each id serialises as a plain JSON string, so the wire does not change.

use std::borrow::Borrow;
use std::fmt;

use super::refusal::Refusal;

/// Longest room id.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest user id (token `sub`, or a user named in a moderator frame).
pub const MAX_USER_CHARS: usize = 64;

/// The boilerplate every id shares: `&str` views, `Display`, and serde as a
/// plain string that is checked by `parse` on the way in.
macro_rules! string_id {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A room id: 1–64 chars of `[A-Za-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(String);
string_id!(RoomId);

impl RoomId {
    pub fn parse(s: impl Into<String>) -> Result<RoomId, Refusal> {
        let s = s.into();
        if Self::is_valid(&s) {
            Ok(RoomId(s))
        } else {
            Err(Refusal::bad_request(
                "room must be 1-64 characters of A-Z a-z 0-9 _ . : -",
            ))
        }
    }

    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_ROOM_CHARS
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    }
}

/// A user id: 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);
string_id!(UserId);

impl UserId {
    pub fn parse(s: impl Into<String>) -> Result<UserId, Refusal> {
        let s = s.into();
        if Self::is_valid(&s) {
            Ok(UserId(s))
        } else {
            Err(Refusal::bad_request(format!(
                "user must be 1-{MAX_USER_CHARS} characters"
            )))
        }
    }

    pub fn is_valid(s: &str) -> bool {
        let n = s.chars().count();
        (1..=MAX_USER_CHARS).contains(&n) && !s.chars().any(char::is_control)
    }
}

/// A message id: a 26-character ULID in Crockford base32.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);
string_id!(MessageId);

impl MessageId {
    pub fn parse(s: impl Into<String>) -> Result<MessageId, Refusal> {
        let s = s.into();
        if Self::is_valid(&s) {
            Ok(MessageId(s))
        } else {
            Err(Refusal::bad_request("id must be a message id (ULID)"))
        }
    }

    pub fn is_valid(s: &str) -> bool {
        s.len() == 26 && ulid::Ulid::from_string(s).is_ok()
    }
}

/// Longest room state key (contract §8).
pub const MAX_STATE_KEY_CHARS: usize = 32;

/// A room state key (contract §8): 1–32 characters of `[a-z0-9_]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey(String);
string_id!(StateKey);

impl StateKey {
    pub fn parse(s: impl Into<String>) -> Result<StateKey, Refusal> {
        let s = s.into();
        if Self::is_valid(&s) {
            Ok(StateKey(s))
        } else {
            Err(Refusal::bad_request(format!(
                "state key must be 1-{MAX_STATE_KEY_CHARS} characters of a-z 0-9 _"
            )))
        }
    }

    pub fn is_valid(s: &str) -> bool {
        (1..=MAX_STATE_KEY_CHARS).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_follow_the_contract() {
        for ok in ["a", "Shop_1.live:2026-11", &"x".repeat(64)] {
            assert!(RoomId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", &"x".repeat(65), "has space", "emoji🔥", "a/b"] {
            assert!(RoomId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_are_one_to_sixty_four_characters_without_controls() {
        assert!(UserId::parse("é".repeat(64)).is_ok());
        assert!(UserId::parse("é".repeat(65)).is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a\u{7}").is_err());
    }

    #[test]
    fn message_ids_are_ulids() {
        assert!(MessageId::parse(ulid::Ulid::generate().to_string()).is_ok());
        assert!(MessageId::parse("x").is_err());
        assert!(MessageId::parse("0".repeat(27)).is_err());
    }

    #[test]
    fn state_keys_are_one_to_thirty_two_lowercase_letters_digits_or_underscores() {
        for ok in ["product", "bid_2", "_", &"a".repeat(32)] {
            assert!(StateKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Product", "a-b", "a b", &"a".repeat(33), "é"] {
            assert!(StateKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_plain_strings_on_the_wire_and_checked_on_the_way_in() {
        let r: RoomId = serde_json::from_str(r#""r1""#).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), r#""r1""#);
        assert!(serde_json::from_str::<RoomId>(r#""a b""#).is_err());
    }
}
