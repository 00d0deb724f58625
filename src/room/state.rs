//! Contract §8 room state: a room's keys and their last values, delivered on
//! join (`joined.state`) and as `state` frames when they change.
//!
//! Every write has a version, growing with each write to the room (in a
//! cluster Redis gives it, atomically with the publish, so every node sees a
//! room's writes in version order). A room applies a write only if its
//! version is above the last one applied, so a copy read at start (Redis or
//! the database) and the writes that arrive after it never go backwards: a
//! joiner never gets an older value than one the room already had.
//!
//! Pure bookkeeping; the room decides where writes come from and go.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::protocol::platform::{MAX_STATE_KEYS, encode_state_object};

/// A room's state.
#[derive(Debug, Default)]
pub struct RoomState {
    entries: BTreeMap<String, Box<RawValue>>,
    /// The version of the last write applied (deletes included).
    version: i64,
    /// `joined.state`, serialised once per change (None: to be rebuilt).
    json: Option<Box<RawValue>>,
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A new key in a room that holds [`MAX_STATE_KEYS`] already.
    TooManyKeys,
}

impl RoomState {
    /// The state as stored: key → JSON, and the last version used.
    pub fn from_stored(entries: BTreeMap<String, String>, version: i64) -> Self {
        let entries = entries
            .into_iter()
            .filter_map(|(k, v)| RawValue::from_string(v).ok().map(|v| (k, v)))
            .collect();
        RoomState {
            entries,
            version,
            json: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The version of the last write applied.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Has this room ever had state (a key now, or a write in the past)?
    pub fn in_use(&self) -> bool {
        self.version > 0
    }

    /// The keys and values, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// May `key` be set? (A room holds at most [`MAX_STATE_KEYS`].)
    pub fn check_set(&self, key: &str) -> Result<(), Refused> {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_STATE_KEYS {
            return Err(Refused::TooManyKeys);
        }
        Ok(())
    }

    /// The version for a write made here at `now_ms`: above every one used so
    /// far, and growing with time (so it also stays above versions a lost copy
    /// of the state had, see `bridge::platform`).
    pub fn next_version(&self, now_ms: i64) -> i64 {
        (self.version + 1).max(now_ms.saturating_mul(1000))
    }

    /// Apply a write (`None` deletes `key`) if its version is newer than the
    /// last one applied; true if it was.
    pub fn apply(&mut self, key: &str, data: Option<Box<RawValue>>, version: i64) -> bool {
        if version <= self.version {
            return false;
        }
        self.version = version;
        match data {
            Some(d) => {
                self.entries.insert(key.to_owned(), d);
            }
            None => {
                self.entries.remove(key);
            }
        }
        self.json = None;
        true
    }

    /// Take a whole copy (read from Redis) if it is newer than what is applied;
    /// true if it was taken.
    pub fn replace(&mut self, fresh: RoomState) -> bool {
        if fresh.version < self.version || (fresh.version == self.version && self.version > 0) {
            return false;
        }
        *self = fresh;
        true
    }

    /// `joined.state`: None while the room has no keys.
    pub fn joined(&mut self) -> Option<&RawValue> {
        if self.entries.is_empty() {
            return None;
        }
        if self.json.is_none() {
            self.json = Some(encode_state_object(
                self.entries.iter().map(|(k, v)| (k.as_str(), &**v)),
            ));
        }
        self.json.as_deref()
    }

    /// The state as an object, `{}` when empty (for the server API).
    pub fn object(&mut self) -> Box<RawValue> {
        match self.joined() {
            Some(obj) => obj.to_owned(),
            None => crate::protocol::empty_object(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Option<Box<RawValue>> {
        Some(RawValue::from_string(s.to_owned()).unwrap())
    }

    #[test]
    fn writes_apply_in_version_order_and_older_ones_are_ignored() {
        let mut s = RoomState::default();
        assert!(!s.in_use());
        assert!(s.joined().is_none(), "no state, no joined.state");
        assert!(s.apply("product", raw(r#"{"sku":"A"}"#), 5));
        assert!(s.apply("bid", raw("10"), 6));
        assert!(!s.apply("bid", raw("9"), 6), "the same version twice");
        assert!(!s.apply("product", raw(r#"{"sku":"old"}"#), 4), "older");
        assert_eq!(
            s.joined().unwrap().get(),
            r#"{"bid":10,"product":{"sku":"A"}}"#
        );
        assert!(s.apply("bid", None, 7));
        assert_eq!(s.joined().unwrap().get(), r#"{"product":{"sku":"A"}}"#);
        assert!(!s.apply("bid", raw("11"), 7), "a delete is a version too");
        assert!(s.apply("product", None, 8));
        assert!(s.joined().is_none());
        assert_eq!(s.object().get(), "{}");
        assert!(s.in_use());
    }

    #[test]
    fn versions_grow_with_time_and_past_every_one_used() {
        let mut s = RoomState::default();
        assert_eq!(s.next_version(1_000), 1_000_000);
        s.apply("k", raw("1"), 5_000_000);
        assert_eq!(s.next_version(1_000), 5_000_001);
        assert_eq!(s.next_version(6_000), 6_000_000);
    }

    #[test]
    fn a_room_holds_at_most_thirty_two_keys_but_may_change_them() {
        let mut s = RoomState::default();
        for i in 0..MAX_STATE_KEYS {
            assert_eq!(s.check_set(&format!("k{i}")), Ok(()));
            s.apply(&format!("k{i}"), raw("1"), i as i64 + 1);
        }
        assert_eq!(s.check_set("one_more"), Err(Refused::TooManyKeys));
        assert_eq!(s.check_set("k0"), Ok(()));
        assert_eq!(s.len(), MAX_STATE_KEYS);
    }

    #[test]
    fn a_copy_replaces_the_state_only_when_newer() {
        let mut s = RoomState::default();
        s.apply("a", raw("1"), 10);
        let older = RoomState::from_stored([("a".into(), "0".into())].into(), 9);
        assert!(!s.replace(older));
        let same = RoomState::from_stored([("a".into(), "0".into())].into(), 10);
        assert!(!s.replace(same));
        let newer = RoomState::from_stored([("b".into(), "2".into())].into(), 12);
        assert!(s.replace(newer));
        assert_eq!(s.joined().unwrap().get(), r#"{"b":2}"#);
        // A room with no state yet takes any copy, even an empty one.
        let mut fresh = RoomState::default();
        assert!(fresh.replace(RoomState::from_stored(BTreeMap::new(), 0)));
    }
}
