//! A room's last messages (`joined.recent`), with their JSON kept ready: every
//! join between two changes reuses one serialised array.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::protocol::{self, ChatMessage};

pub struct Recent {
    cap: usize,
    messages: VecDeque<Arc<ChatMessage>>,
    /// `messages` as a JSON array, rebuilt only after it changes.
    json: Option<Box<RawValue>>,
}

impl Recent {
    pub fn new(cap: usize) -> Self {
        Recent {
            cap,
            messages: VecDeque::new(),
            json: None,
        }
    }

    /// Start over from what the store holds (oldest first).
    pub fn replace(&mut self, messages: Vec<ChatMessage>) {
        self.messages = messages.into_iter().map(Arc::new).collect();
        while self.messages.len() > self.cap {
            self.messages.pop_front();
        }
        self.json = None;
    }

    /// Take in what the store holds (the newest messages that are neither
    /// deleted nor by a banned user): a message of ours within the stored
    /// range but not in it was removed elsewhere, and goes. Messages newer
    /// than the stored ones (not written yet) stay.
    pub fn reconcile(&mut self, stored: &[ChatMessage]) {
        let (Some(oldest), Some(newest)) = (stored.first(), stored.last()) else {
            return;
        };
        let kept: std::collections::HashSet<&str> = stored.iter().map(|m| m.id.as_str()).collect();
        let (lo, hi) = (oldest.id.clone(), newest.id.clone());
        self.retain(|m| m.id < lo || m.id > hi || kept.contains(m.id.as_str()));
    }

    pub fn push(&mut self, msg: Arc<ChatMessage>) {
        if self.messages.len() >= self.cap {
            self.messages.pop_front();
        }
        self.messages.push_back(msg);
        self.json = None;
    }

    /// The author of message `id`, if it is here.
    pub fn author_of(&self, id: &str) -> Option<&str> {
        self.messages
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.user.as_str())
    }

    /// The highest `seq` here of a message numbered in `epoch`.
    pub fn last_seq_in(&self, epoch: &str) -> Option<u64> {
        self.messages
            .iter()
            .filter(|m| m.epoch.as_deref() == Some(epoch))
            .filter_map(|m| m.seq)
            .max()
    }

    /// Message `id`, if it is here.
    pub fn find(&self, id: &str) -> Option<Arc<ChatMessage>> {
        self.messages.iter().find(|m| m.id == id).cloned()
    }

    /// The ids of `user`'s messages here sent at or after `since` (epoch ms).
    pub fn ids_of(&self, user: &str, since: i64) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m.user == user && m.ts >= since)
            .map(|m| m.id.clone())
            .collect()
    }

    /// Remove message `id`; true if it was here.
    pub fn remove_id(&mut self, id: &str) -> bool {
        self.retain(|m| m.id != id)
    }

    /// Remove every message of `user`; true if there was one.
    pub fn remove_user(&mut self, user: &str) -> bool {
        self.retain(|m| m.user != user)
    }

    fn retain(&mut self, keep: impl Fn(&ChatMessage) -> bool) -> bool {
        let before = self.messages.len();
        self.messages.retain(|m| keep(m));
        let changed = self.messages.len() != before;
        if changed {
            self.json = None;
        }
        changed
    }

    /// The JSON array for `joined.recent`.
    pub fn json(&mut self) -> &RawValue {
        let messages = &self.messages;
        self.json
            .get_or_insert_with(|| protocol::encode_message_list(messages.iter().map(|m| &**m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, user: &str) -> Arc<ChatMessage> {
        Arc::new(ChatMessage::sample("r", id, user))
    }

    #[test]
    fn keeps_the_newest_up_to_its_cap_and_rebuilds_json_after_changes() {
        let mut r = Recent::new(2);
        r.push(m("a", "u1"));
        r.push(m("b", "u2"));
        r.push(m("c", "u1"));
        let ids = |r: &mut Recent| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(r.json().get()).unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&mut r), ["b", "c"]);
        assert_eq!(r.author_of("b"), Some("u2"));
        assert!(r.remove_user("u1"));
        assert_eq!(ids(&mut r), ["b"]);
        assert!(!r.remove_id("zz"));
        assert!(r.remove_id("b"));
        assert_eq!(ids(&mut r), Vec::<String>::new());
    }

    #[test]
    fn reconciling_drops_what_the_store_no_longer_lists_and_keeps_newer_messages() {
        let mut r = Recent::new(10);
        for id in ["a", "b", "c", "d", "e"] {
            r.push(m(id, "u"));
        }
        // The store lists b and d of b..d: c was deleted elsewhere; a is older
        // than what it listed, e newer (not written yet).
        let stored: Vec<ChatMessage> = ["b", "d"].iter().map(|id| (*m(id, "u")).clone()).collect();
        r.reconcile(&stored);
        let v: serde_json::Value = serde_json::from_str(r.json().get()).unwrap();
        let ids: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["a", "b", "d", "e"]);
    }
}
