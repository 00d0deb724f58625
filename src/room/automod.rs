//! §7 AutoMod: a room's blocked terms, compiled once into one automaton, and
//! the question asked of every message: does it contain one, and what then?
//!
//! A pattern is a case-insensitive whole word (or phrase), with `*` allowed at
//! either end: `spam*` matches "spammer", `*bad` "verybad", `*x*` any text
//! containing "x". Whole means bounded by characters that are not letters,
//! digits or marks, or by the ends of the text. Patterns and texts are compared
//! in their lookalike-folded form ([`fold_lookalikes`]: NFKD, lowercase,
//! lookalikes of Latin letters folded, invisible characters and accents on
//! Latin letters dropped), so "ｂａｄ", "ᗷad", "bаd" (Cyrillic а) and "bäd" all
//! match `bad`.
//!
//! The automaton is Aho–Corasick (crate `aho-corasick`): one pass over the text
//! whatever the number of terms, and it reports every occurrence of every term
//! (overlapping), so the whole-word test and the choice between hits are plain
//! code here. `regex`'s `RegexSet` would answer only "which patterns matched",
//! not where, and each pattern's `\b` would be Unicode-aware in its own way;
//! one automaton over folded literals is smaller and faster.
//!
//! This file decides nothing about who is exempt, what a held message becomes
//! or what the sender is told; it owns the patterns' rules and the matching.

use std::collections::HashMap;
use std::fmt;

use aho_corasick::AhoCorasick;
use unicode_normalization::char::is_combining_mark;

use crate::protocol::text::fold_lookalikes;

/// Most terms a room may set (`PUT /api/rooms/{room}/terms`).
pub const MAX_ROOM_TERMS: usize = 1000;
/// Most terms the configuration may set for every room (`automod.terms`); the
/// contract sets no bound, this one keeps a room's automaton small.
pub const MAX_CONFIG_TERMS: usize = 1000;
/// Longest pattern, in characters, `*` included.
pub const MAX_PATTERN_CHARS: usize = 64;

/// What a matching message gets, and a term as configured: wire types (the
/// API and the cluster carry them), defined with the protocol.
pub use crate::protocol::moderation::{Term, TermAction as Action};

/// The term a message matched: its pattern as configured, and its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub pattern: &'a str,
    pub action: Action,
}

/// Which list a term came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `automod.terms`, for every room.
    Config,
    /// The room's own terms.
    Room,
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            List::Config => "configured",
            List::Room => "room",
        })
    }
}

/// What is wrong with a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not 1–64 characters.
    Length,
    /// A control character.
    Control,
    /// A `*` that is not the first or last character.
    InnerWildcard,
    /// White space at either end (inside the `*`s).
    Spacing,
    /// No letter or digit besides the `*`s.
    NoLetterOrDigit,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::Length => "must be 1-64 characters",
            Problem::Control => "has a control character",
            Problem::InnerWildcard => "may have `*` only as its first or last character",
            Problem::Spacing => "must not begin or end with white space",
            Problem::NoLetterOrDigit => "needs a letter or digit besides `*`",
        })
    }
}

/// Why a list of terms was refused; names the term that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermError {
    #[error("at most {max} {list} terms, got {count}")]
    TooMany {
        list: List,
        count: usize,
        max: usize,
    },
    #[error("{list} term {index} ({pattern:?}) {problem}")]
    Invalid {
        list: List,
        /// Position in its list, from 0.
        index: usize,
        pattern: String,
        problem: Problem,
    },
    #[error("the terms could not be compiled: {0}")]
    Build(String),
}

/// A pattern taken apart: its folded literal and which ends are open (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    core: String,
    open_start: bool,
    open_end: bool,
}

/// Check one pattern and take it apart.
fn parse_pattern(pattern: &str) -> Result<Pattern, Problem> {
    if !(1..=MAX_PATTERN_CHARS).contains(&pattern.chars().count()) {
        return Err(Problem::Length);
    }
    if pattern.chars().any(char::is_control) {
        return Err(Problem::Control);
    }
    let (open_start, rest) = match pattern.strip_prefix('*') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (open_end, literal) = match rest.strip_suffix('*') {
        Some(literal) => (true, literal),
        None => (false, rest),
    };
    if literal.contains('*') {
        return Err(Problem::InnerWildcard);
    }
    let core = fold_lookalikes(literal);
    if !core.chars().any(char::is_alphanumeric) {
        return Err(Problem::NoLetterOrDigit);
    }
    if core.starts_with(' ') || core.ends_with(' ') {
        return Err(Problem::Spacing);
    }
    Ok(Pattern {
        core,
        open_start,
        open_end,
    })
}

/// Check a room's terms as the API receives them, before they are stored.
pub fn check_room_terms(terms: &[Term]) -> Result<(), TermError> {
    parse_list(List::Room, terms).map(drop)
}

fn parse_list(list: List, terms: &[Term]) -> Result<Vec<Pattern>, TermError> {
    let max = match list {
        List::Config => MAX_CONFIG_TERMS,
        List::Room => MAX_ROOM_TERMS,
    };
    if terms.len() > max {
        return Err(TermError::TooMany {
            list,
            count: terms.len(),
            max,
        });
    }
    terms
        .iter()
        .enumerate()
        .map(|(index, term)| {
            parse_pattern(&term.pattern).map_err(|problem| TermError::Invalid {
                list,
                index,
                pattern: term.pattern.clone(),
                problem,
            })
        })
        .collect()
}

/// A compiled term: what a hit reports, and the ends that must be whole.
#[derive(Debug, Clone)]
struct Compiled {
    term: Term,
    open_start: bool,
    open_end: bool,
}

impl Compiled {
    /// Whether the occurrence `start..end` of this term's literal in the folded
    /// `text` is a hit: each closed end must be a word boundary.
    fn bounded(&self, text: &str, start: usize, end: usize) -> bool {
        let before = text.get(..start).and_then(|s| s.chars().next_back());
        let after = text.get(end..).and_then(|s| s.chars().next());
        (self.open_start || !before.is_some_and(is_word_char))
            && (self.open_end || !after.is_some_and(is_word_char))
    }
}

/// A letter, digit or combining mark: what a whole word must not touch.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// A room's terms, compiled: the configured ones first, then the room's own.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    terms: Vec<Compiled>,
    /// For each literal in the automaton, the terms that have it (in order).
    by_literal: Vec<Vec<usize>>,
    automaton: Option<AhoCorasick>,
    /// The first `Block` term: a hit on it cannot be beaten, the search stops.
    first_block: Option<usize>,
}

impl Terms {
    /// Check and compile the configured terms and a room's own ones.
    pub fn compile(config: &[Term], room: &[Term]) -> Result<Terms, TermError> {
        let patterns = parse_list(List::Config, config)?
            .into_iter()
            .zip(config)
            .chain(parse_list(List::Room, room)?.into_iter().zip(room));
        let mut literals: Vec<String> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let mut by_literal: Vec<Vec<usize>> = Vec::new();
        let mut terms = Vec::with_capacity(config.len() + room.len());
        for (pattern, term) in patterns {
            let literal = *index_of.entry(pattern.core.clone()).or_insert_with(|| {
                literals.push(pattern.core);
                by_literal.push(Vec::new());
                literals.len() - 1
            });
            by_literal[literal].push(terms.len());
            terms.push(Compiled {
                term: term.clone(),
                open_start: pattern.open_start,
                open_end: pattern.open_end,
            });
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            Some(AhoCorasick::new(&literals).map_err(|e| TermError::Build(e.to_string()))?)
        };
        let first_block = terms.iter().position(|t| t.term.action == Action::Block);
        Ok(Terms {
            terms,
            by_literal,
            automaton,
            first_block,
        })
    }

    /// The term `text` matches, if any. When several match, `Block` wins over
    /// `Hold`, and between terms of the same action the one listed first wins
    /// (configured terms before the room's).
    pub fn check(&self, text: &str) -> Option<Hit<'_>> {
        let automaton = self.automaton.as_ref()?;
        let folded = fold_lookalikes(text);
        // The best hit so far, ordered by (is not a block, position in the list).
        let mut best: Option<(bool, usize)> = None;
        for found in automaton.find_overlapping_iter(&folded) {
            for &index in &self.by_literal[found.pattern().as_usize()] {
                if !self.terms[index].bounded(&folded, found.start(), found.end()) {
                    continue;
                }
                let key = (self.terms[index].term.action != Action::Block, index);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
                if self.first_block == Some(index) {
                    return Some(self.hit(index));
                }
            }
        }
        best.map(|(_, index)| self.hit(index))
    }

    fn hit(&self, index: usize) -> Hit<'_> {
        let term = &self.terms[index].term;
        Hit {
            pattern: &term.pattern,
            action: term.action,
        }
    }

    /// How many terms (configured and the room's).
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Heap bytes held by the automaton (for a room's memory accounting).
    pub fn memory_usage(&self) -> usize {
        self.automaton.as_ref().map_or(0, AhoCorasick::memory_usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[(&str, Action)]) -> Terms {
        let room: Vec<Term> = list.iter().map(|&(p, a)| Term::new(p, a)).collect();
        Terms::compile(&[], &room).expect("valid terms")
    }

    fn hit<'a>(terms: &'a Terms, text: &str) -> Option<&'a str> {
        terms.check(text).map(|h| h.pattern)
    }

    use Action::{Block, Hold};

    #[test]
    fn a_pattern_is_a_case_insensitive_whole_word() {
        let t = terms(&[("bad", Block)]);
        // Underscore is not a letter or digit, so it bounds a word.
        for yes in [
            "bad", "BAD", "so bad!", "Bad, bad", "(bad)", "bad-ish", "x bad", "_bad_",
        ] {
            assert_eq!(hit(&t, yes), Some("bad"), "{yes:?}");
        }
        for no in ["badge", "verybad", "b ad", "bads", "bad2", "2bad", ""] {
            assert_eq!(hit(&t, no), None, "{no:?}");
        }
        // A combining mark continues a word: "bad" + U+0308 on a non-Latin
        // letter is not whole, but accents on Latin letters are folded away.
        assert_eq!(hit(&t, "b\u{E4}d"), Some("bad"));
        assert_eq!(hit(&terms(&[("\u{438}", Block)]), "\u{439}"), None);
    }

    #[test]
    fn a_star_opens_either_end() {
        let t = terms(&[("spam*", Block)]);
        assert_eq!(hit(&t, "spammer here"), Some("spam*"));
        assert_eq!(hit(&t, "spam"), Some("spam*"));
        assert_eq!(hit(&t, "despam"), None);
        let t = terms(&[("*bad", Block)]);
        assert_eq!(hit(&t, "verybad"), Some("*bad"));
        assert_eq!(hit(&t, "badly"), None);
        let t = terms(&[("*x*", Hold)]);
        assert_eq!(hit(&t, "abxcd"), Some("*x*"));
        assert_eq!(hit(&t, "abcd"), None);
    }

    #[test]
    fn phrases_match_across_any_white_space() {
        let t = terms(&[("bad word", Block)]);
        assert_eq!(hit(&t, "a BAD \t  WORD here"), Some("bad word"));
        assert_eq!(hit(&t, "badword"), None);
    }

    #[test]
    fn lookalikes_match() {
        let t = terms(&[("bad", Block)]);
        for text in [
            "\u{FF42}\u{FF41}\u{FF44}",
            "\u{15F7}ad",
            "b\u{430}d",
            "B\u{410}D",
            "\u{1D41B}\u{1D41A}\u{1D41D}",
            "b\u{200D}a\u{AD}d",
            "so \u{24B7}\u{24D0}\u{24D3}!",
        ] {
            assert_eq!(hit(&t, text), Some("bad"), "{text:?}");
        }
        // Patterns are folded the same way.
        let t = terms(&[("b\u{430}d", Block)]);
        assert_eq!(hit(&t, "bad"), Some("b\u{430}d"));
        let t = terms(&[("\u{FF53}\u{FF50}\u{FF41}\u{FF4D}*", Hold)]);
        assert_eq!(
            hit(&t, "SPAMMER"),
            Some("\u{FF53}\u{FF50}\u{FF41}\u{FF4D}*")
        );
    }

    #[test]
    fn block_wins_over_hold_else_the_first_listed() {
        let t = terms(&[("spam*", Hold), ("*scam", Block), ("spammy", Hold)]);
        let h = t.check("spammy scam").expect("a hit");
        assert_eq!((h.pattern, h.action), ("*scam", Block));
        let h = t.check("spammy").expect("a hit");
        assert_eq!((h.pattern, h.action), ("spam*", Hold));
        // Overlapping terms are all seen: "*ad" hides inside "bad".
        let t = terms(&[("bad", Hold), ("*ad", Block)]);
        assert_eq!(t.check("bad").map(|h| h.action), Some(Block));
        // The same literal twice, with different ends.
        let t = terms(&[("bad", Hold), ("bad*", Block)]);
        assert_eq!(hit(&t, "bad"), Some("bad*"));
        assert_eq!(hit(&t, "badly"), Some("bad*"));
    }

    #[test]
    fn configured_terms_come_before_the_rooms() {
        let config = [Term::new("foo", Hold)];
        let room = [Term::new("foo*", Hold)];
        let t = Terms::compile(&config, &room).expect("valid");
        assert_eq!(hit(&t, "foo"), Some("foo"));
        assert_eq!(hit(&t, "food"), Some("foo*"));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn patterns_are_checked_and_the_wrong_one_named() {
        let problem = |p: &str| parse_pattern(p).err();
        assert_eq!(problem(""), Some(Problem::Length));
        assert_eq!(problem(&"a".repeat(65)), Some(Problem::Length));
        assert_eq!(problem(&format!("*{}*", "a".repeat(62))), None);
        assert_eq!(problem("a\u{7}b"), Some(Problem::Control));
        assert_eq!(problem("b*d"), Some(Problem::InnerWildcard));
        assert_eq!(problem("**bad"), Some(Problem::InnerWildcard));
        assert_eq!(problem("*"), Some(Problem::NoLetterOrDigit));
        assert_eq!(problem("**"), Some(Problem::NoLetterOrDigit));
        assert_eq!(problem("*!?*"), Some(Problem::NoLetterOrDigit));
        assert_eq!(problem("\u{3164}"), Some(Problem::NoLetterOrDigit));
        assert_eq!(problem(" bad"), Some(Problem::Spacing));
        assert_eq!(problem("bad *"), Some(Problem::Spacing));
        assert_eq!(problem("bad\u{A0}"), Some(Problem::Spacing));
        assert_eq!(problem("c++"), None);
        assert_eq!(problem("4"), None);

        let room = [Term::new("ok", Block), Term::new("b*d", Hold)];
        let err = Terms::compile(&[], &room).expect_err("refused");
        assert_eq!(
            err,
            TermError::Invalid {
                list: List::Room,
                index: 1,
                pattern: "b*d".into(),
                problem: Problem::InnerWildcard
            }
        );
        assert_eq!(
            err.to_string(),
            "room term 1 (\"b*d\") may have `*` only as its first or last character"
        );
    }

    #[test]
    fn a_room_has_at_most_a_thousand_terms_besides_the_configured_ones() {
        let many =
            |n: usize| -> Vec<Term> { (0..n).map(|i| Term::new(format!("w{i}"), Block)).collect() };
        assert!(check_room_terms(&many(MAX_ROOM_TERMS)).is_ok());
        assert_eq!(
            check_room_terms(&many(MAX_ROOM_TERMS + 1)),
            Err(TermError::TooMany {
                list: List::Room,
                count: 1001,
                max: 1000
            })
        );
        let t = Terms::compile(&many(MAX_CONFIG_TERMS), &many(MAX_ROOM_TERMS)).expect("ok");
        assert_eq!(t.len(), 2000);
        assert_eq!(hit(&t, "say w999 now"), Some("w999"));
        assert!(Terms::compile(&many(MAX_CONFIG_TERMS + 1), &[]).is_err());
    }

    #[test]
    fn no_terms_match_nothing() {
        let t = Terms::default();
        assert!(t.is_empty() && t.check("anything").is_none());
        assert_eq!(t.memory_usage(), 0);
    }

    #[test]
    fn terms_read_and_write_as_the_api_has_them() {
        let term: Term =
            serde_json::from_str(r#"{"pattern":"spam*","action":"hold"}"#).expect("a term");
        assert_eq!(term, Term::new("spam*", Hold));
        assert_eq!(
            serde_json::to_string(&Term::new("x", Block)).expect("json"),
            r#"{"pattern":"x","action":"block"}"#
        );
    }
}
