//! §7 `unique_chat`: a room refuses a text equal, case- and space-folded, to
//! one of its last five minutes of messages.
//!
//! This file owns the folding and the window: each accepted text is kept as a
//! 64-bit keyed hash with the time it was seen, in bounded memory (a cap on the
//! entries, oldest evicted first, and pruning by time). It must not decide
//! whether the mode is on, who is exempt or what the refusal says (that is the
//! room's moderation), and it keeps no text: a hash cannot be shown or leaked.
//!
//! The hash is keyed per window (SipHash with a random key), so nobody can
//! craft two different texts that collide in someone else's room; two texts
//! collide by chance with probability 2⁻⁶⁴ per pair.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::time::{Duration, Instant};

/// How far back a room remembers texts (§7: five minutes).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How many texts a room remembers at most (about 33 messages a second for five
/// minutes; ~40 bytes each, so at most ~400 KiB for the busiest room).
pub const DEFAULT_CAP: usize = 10_000;

/// The characters two texts are compared by: white space removed, and every
/// other character case-folded (full case folding, approximated as lowercase
/// of uppercase, so that `ß`, `SS` and `ss` meet, as do `ς`, `σ` and `Σ`).
pub fn fold(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
}

/// The texts a room saw recently, as hashes of their folded form.
#[derive(Debug)]
pub struct UniqueWindow {
    window: Duration,
    cap: usize,
    keys: RandomState,
    /// Every live hash, in the order seen (so also in time order).
    order: VecDeque<(Instant, u64)>,
    /// The same hashes and times, for lookup; always exactly those in `order`.
    seen: HashMap<u64, Instant, BuildHasherDefault<Prehashed>>,
}

impl Default for UniqueWindow {
    fn default() -> Self {
        UniqueWindow::new(DEFAULT_WINDOW, DEFAULT_CAP)
    }
}

impl UniqueWindow {
    /// A window remembering texts for `window`, at most `cap` of them (a cap of
    /// 0 is taken as 1).
    pub fn new(window: Duration, cap: usize) -> Self {
        UniqueWindow {
            window,
            cap: cap.max(1),
            keys: RandomState::new(),
            order: VecDeque::new(),
            seen: HashMap::default(),
        }
    }

    /// Whether `text` is new: if it is, it is remembered from `now` on and the
    /// answer is `true`; a duplicate answers `false` and changes nothing (a
    /// refused message is not in the room, so it does not extend the window).
    pub fn check_and_insert(&mut self, text: &str, now: Instant) -> bool {
        self.prune(now);
        let hash = self.hash(text);
        if self.seen.contains_key(&hash) {
            return false;
        }
        if self.order.len() >= self.cap {
            self.evict_oldest();
        }
        self.order.push_back((now, hash));
        self.seen.insert(hash, now);
        true
    }

    /// Whether `text` was seen within the window before `now`, without
    /// remembering it (for a room that checks before it decides to post).
    pub fn is_duplicate(&self, text: &str, now: Instant) -> bool {
        self.seen
            .get(&self.hash(text))
            .is_some_and(|&at| self.live(at, now))
    }

    /// How many texts are remembered (expired ones may remain until the next
    /// [`check_and_insert`](Self::check_and_insert) or [`prune`](Self::prune)).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Forget every text seen `window` or longer before `now`.
    pub fn prune(&mut self, now: Instant) {
        while let Some(&(at, _)) = self.order.front() {
            if self.live(at, now) {
                break;
            }
            self.evict_oldest();
        }
    }

    fn live(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.window
    }

    fn evict_oldest(&mut self) {
        if let Some((_, hash)) = self.order.pop_front() {
            self.seen.remove(&hash);
        }
    }

    fn hash(&self, text: &str) -> u64 {
        let mut hasher = self.keys.build_hasher();
        for c in fold(text) {
            hasher.write_u32(c as u32);
        }
        hasher.finish()
    }
}

/// A hasher for keys that are already keyed hashes: it passes them through.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn texts_fold_by_case_and_white_space() {
        let folded = |t: &str| fold(t).collect::<String>();
        assert_eq!(folded("Hello  World"), "helloworld");
        assert_eq!(folded(" h e l l o\tworld\u{3000}"), "helloworld");
        assert_eq!(folded("STRASSE"), folded("straße"));
        assert_eq!(folded("ΣΟΦΟΣ"), folded("σοφος"));
        assert_ne!(folded("hello"), folded("hallo"));
    }

    #[test]
    fn a_repeat_within_the_window_is_a_duplicate() {
        let t0 = Instant::now();
        let mut w = UniqueWindow::new(5 * MIN, 100);
        assert!(w.check_and_insert("hello world", t0));
        assert!(!w.check_and_insert("HELLO   WORLD", t0 + MIN));
        assert!(!w.check_and_insert("helloworld", t0 + 4 * MIN));
        assert!(w.check_and_insert("hello there", t0 + 4 * MIN));
        assert!(w.is_duplicate("Hello World", t0 + 4 * MIN));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn a_text_is_new_again_once_the_window_has_passed() {
        let t0 = Instant::now();
        let mut w = UniqueWindow::new(5 * MIN, 100);
        assert!(w.check_and_insert("gg", t0));
        // A refused duplicate does not extend the window.
        assert!(!w.check_and_insert("gg", t0 + 4 * MIN));
        assert!(!w.is_duplicate("gg", t0 + 5 * MIN));
        assert!(w.check_and_insert("gg", t0 + 5 * MIN));
        assert_eq!(w.len(), 1, "the expired entry was pruned");
    }

    #[test]
    fn memory_is_capped_and_the_oldest_is_evicted_first() {
        let t0 = Instant::now();
        let mut w = UniqueWindow::new(5 * MIN, 3);
        for text in ["a", "b", "c", "d"] {
            assert!(w.check_and_insert(text, t0));
        }
        assert_eq!(w.len(), 3);
        assert!(w.check_and_insert("a", t0), "the oldest was forgotten");
        assert!(!w.check_and_insert("d", t0));
        assert_eq!(UniqueWindow::new(MIN, 0).cap, 1);
    }

    #[test]
    fn pruning_forgets_by_time() {
        let t0 = Instant::now();
        let mut w = UniqueWindow::new(MIN, 100);
        w.check_and_insert("one", t0);
        w.check_and_insert("two", t0 + MIN / 2);
        w.prune(t0 + MIN);
        assert_eq!(w.len(), 1);
        w.prune(t0 + 2 * MIN);
        assert!(w.is_empty());
        // A clock that steps back keeps entries rather than dropping them.
        w.check_and_insert("three", t0 + 2 * MIN);
        w.prune(t0);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn windows_hash_with_their_own_keys() {
        let (a, b) = (UniqueWindow::default(), UniqueWindow::default());
        assert_ne!(a.hash("same text"), b.hash("same text"));
        assert_eq!(a.hash("Same  Text"), a.hash("sametext"));
    }
}
