//! The §6 text rules: what the server does to a piece of user text before it
//! goes anywhere (chat text, moderation reasons, badges), and the two
//! stateless questions rooms ask about text: is it only emoji (§7
//! `emote_only`), and what is its lookalike-folded form (§7 AutoMod terms,
//! reserved badges).
//!
//! Every function here is pure: no state, no clocks, no allocation beyond the
//! returned string. This file must not decide anything per room or per user
//! (that is `room::automod` and `room::unique`); it owns the character rules
//! and the Unicode tables behind them.
//!
//! The tables are data, generated from the Unicode Character Database and kept
//! in this file so that the rules need no crate beyond `unicode-normalization`:
//! `Extended_Pictographic` and `Default_Ignorable_Code_Point` (UCD 16.0, as
//! published by `ucd-generate` in `regex-syntax`), and the lookalikes of Latin
//! letters and digits (UTS #39 `confusables.txt`, Unicode 17.0; see
//! [`LOOKALIKES`] for how it was cut down).

use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::refusal::{ErrorCode, Refusal};

/// Combining marks kept after one base character; more are dropped (Zalgo).
pub const MAX_MARKS_PER_BASE: usize = 4;
/// Longest badge, in characters after cleaning.
pub const MAX_BADGE_CHARS: usize = 24;
/// Badges only the server gives (compared in their lookalike-folded form).
pub const RESERVED_BADGES: [&str; 3] = ["mod", "system", "broadcaster"];

const ZWJ: char = '\u{200D}';
const VS16: char = '\u{FE0F}';
const KEYCAP: char = '\u{20E3}';

/// Chat text (§2, §6): [`clean`]ed, then refused with `bad_request` when no
/// visible character is left and with `too_long` over `max_chars` characters
/// (counted after cleaning).
pub fn clean_chat(text: &str, max_chars: usize) -> Result<String, Refusal> {
    let cleaned = clean(text);
    if cleaned.is_empty() {
        return Err(Refusal::bad_request("text is empty"));
    }
    if !has_visible(&cleaned) {
        return Err(Refusal::bad_request("text has no visible character"));
    }
    let n = cleaned.chars().count();
    if n > max_chars {
        return Err(Refusal::new(
            ErrorCode::TooLong,
            format!("text is {n} characters; the limit is {max_chars}"),
        ));
    }
    Ok(cleaned)
}

/// A badge from a token's `badges` claim: cleaned like chat text, 1–24
/// characters with a visible one, and not a reserved badge (`mod`, `system`,
/// in any case or lookalike spelling). `None` when it must not be shown.
pub fn clean_badge(badge: &str) -> Option<String> {
    let cleaned = clean(badge);
    if !(1..=MAX_BADGE_CHARS).contains(&cleaned.chars().count()) || !has_visible(&cleaned) {
        return None;
    }
    let reserved = RESERVED_BADGES.contains(&fold_lookalikes(&cleaned).as_str());
    (!reserved).then_some(cleaned)
}

/// The §6 cleaning, without the checks: control characters removed (tabs and
/// line breaks become spaces: chat is one line), U+200B, U+2060, U+FEFF and the
/// bidi embedding, override and isolate controls removed, at most
/// [`MAX_MARKS_PER_BASE`] combining marks kept per base character, then
/// trimmed. U+200C/U+200D and U+200E/U+200F are kept.
///
/// Idempotent: cleaning a cleaned text changes nothing.
pub fn clean(text: &str) -> String {
    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return text.trim().to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut marks = 0;
    for c in text.chars() {
        match class(c) {
            Class::Dropped => {}
            Class::LineBreak => {
                out.push(' ');
                marks = 0;
            }
            Class::Mark => {
                if marks < MAX_MARKS_PER_BASE {
                    out.push(c);
                }
                marks += 1;
            }
            Class::Transparent => out.push(c),
            Class::Base => {
                out.push(c);
                marks = 0;
            }
        }
    }
    trim_in_place(&mut out);
    out
}

/// Whether a text shows anything: a character that is not white space, not a
/// combining mark, not default-ignorable (zero-width, joiners, bidi marks,
/// variation selectors, Hangul fillers, tags) and not U+2800 BRAILLE PATTERN
/// BLANK (which renders as an empty cell).
pub fn has_visible(text: &str) -> bool {
    text.chars().any(is_visible)
}

/// What [`clean`] does with one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Removed: a control character, or one of the §6 removed code points.
    Dropped,
    /// Becomes a space: tab, CR, LF, and the Unicode line and paragraph separators.
    LineBreak,
    /// A combining mark: counted against the base it follows.
    Mark,
    /// Kept but invisible (joiners, bidi marks): neither a base nor a mark, so
    /// it does not reset the count of marks.
    Transparent,
    /// Anything else: starts a new count of marks.
    Base,
}

fn class(c: char) -> Class {
    match c {
        '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}' => Class::LineBreak,
        c if c.is_ascii() => {
            if c.is_ascii_control() {
                Class::Dropped
            } else {
                Class::Base
            }
        }
        c if c.is_control() || is_removed(c) => Class::Dropped,
        c if is_combining_mark(c) => Class::Mark,
        c if is_default_ignorable(c) => Class::Transparent,
        _ => Class::Base,
    }
}

/// The §6 removed code points: U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER,
/// U+FEFF ZERO WIDTH NO-BREAK SPACE, and the bidi embeddings and overrides
/// (U+202A–U+202E) and isolates (U+2066–U+2069).
pub fn is_removed(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_visible(c: char) -> bool {
    !(c.is_whitespace() || is_combining_mark(c) || is_default_ignorable(c) || c == '\u{2800}')
}

/// Trim white space at both ends without a second allocation.
fn trim_in_place(s: &mut String) {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    s.drain(..start);
}

/// Unicode `Default_Ignorable_Code_Point`.
pub fn is_default_ignorable(c: char) -> bool {
    !c.is_ascii() && in_ranges(c, DEFAULT_IGNORABLE_CODE_POINT)
}

/// Unicode `Extended_Pictographic`.
pub fn is_extended_pictographic(c: char) -> bool {
    !c.is_ascii() && in_ranges(c, EXTENDED_PICTOGRAPHIC)
}

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// §7 `emote_only`: the text is made only of emoji and white space, with at
/// least one emoji. An emoji is an `Extended_Pictographic` character followed
/// by any of U+FE0F, skin-tone modifiers (U+1F3FB–U+1F3FF) and tag characters
/// (subdivision flags), possibly joined by U+200D to further such emoji; or a
/// pair of regional indicators (a flag); or a keycap (`0`–`9`, `#`, `*`, then
/// an optional U+FE0F, then U+20E3). Digits, letters, a lone regional
/// indicator or a dangling joiner are not emotes.
pub fn is_emote_only(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    let mut emoji = 0usize;
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if !emoji_sequence(c, &mut chars) {
            return false;
        }
        emoji += 1;
    }
    emoji > 0
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Consume the rest of the emoji that starts with `first`; false if it is none.
fn emoji_sequence(first: char, rest: &mut Chars<'_>) -> bool {
    if is_regional_indicator(first) {
        return rest.next_if(|&c| is_regional_indicator(c)).is_some();
    }
    if matches!(first, '0'..='9' | '#' | '*') {
        rest.next_if_eq(&VS16);
        return rest.next_if_eq(&KEYCAP).is_some();
    }
    if !is_extended_pictographic(first) {
        return false;
    }
    loop {
        while rest.next_if(|&c| is_emoji_extender(c)).is_some() {}
        if rest.next_if_eq(&ZWJ).is_none() {
            return true;
        }
        if rest.next_if(|&c| is_extended_pictographic(c)).is_none() {
            return false;
        }
    }
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c, '\u{1F1E6}'..='\u{1F1FF}')
}

/// What may follow an emoji inside its sequence: VS16, a skin tone, a tag.
fn is_emoji_extender(c: char) -> bool {
    matches!(c, VS16 | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}')
}

/// The form in which AutoMod terms and reserved badges are compared, so that
/// lookalike spellings meet: compatibility-decomposed (NFKD: fullwidth,
/// mathematical, circled and other compatibility forms become their plain
/// letters), lowercased, lookalikes of Latin letters and digits replaced by
/// them ([`LOOKALIKES`]: Cyrillic `а` → `a`, `ᗷ` → `b`), combining marks on a
/// Latin letter or digit dropped (`bäd` → `bad`), default-ignorable characters
/// dropped (`b\u{AD}ad` → `bad`) and runs of white space made one space.
///
/// A letter or digit stays a letter or digit (lookalikes are only letters and
/// digits), so the word boundaries AutoMod looks for are the ones a reader sees.
pub fn fold_lookalikes(text: &str) -> String {
    let mut folded = Folded(String::with_capacity(text.len()));
    if text.is_ascii() {
        text.chars().for_each(|c| folded.push(c));
    } else {
        // Invisible characters go before NFKD, so that the marks they
        // separated are put in canonical order (and folding is idempotent).
        text.chars()
            .filter(|&c| !is_default_ignorable(c))
            .nfkd()
            .for_each(|c| folded.push(c));
    }
    folded.0
}

/// The output of [`fold_lookalikes`], fed one decomposed character at a time.
struct Folded(String);

impl Folded {
    fn push(&mut self, c: char) {
        match c {
            c if c.is_whitespace() => {
                if !self.0.ends_with(' ') {
                    self.0.push(' ');
                }
            }
            c if c.is_ascii() => self.0.push(c.to_ascii_lowercase()),
            c if is_default_ignorable(c) => {}
            c if is_combining_mark(c) => {
                if !self.0.ends_with(|p: char| p.is_ascii_alphanumeric()) {
                    self.0.push(c);
                }
            }
            c => {
                for lower in c.to_lowercase() {
                    self.0.push(lookalike(lower).unwrap_or(lower));
                }
            }
        }
    }
}

/// The Latin letter or digit a lowercase character looks like, if any.
pub fn lookalike(c: char) -> Option<char> {
    if c.is_ascii() {
        return None;
    }
    let table = &*LOOKALIKE_TABLE;
    let i = table.binary_search_by_key(&c, |&(from, _)| from).ok()?;
    Some(table[i].1)
}

/// [`LOOKALIKES`] as one table sorted by character, for binary search.
static LOOKALIKE_TABLE: LazyLock<Vec<(char, char)>> = LazyLock::new(|| {
    let mut table: Vec<(char, char)> = LOOKALIKES
        .iter()
        .flat_map(|&(to, from)| from.chars().map(move |c| (c, to)))
        .collect();
    table.sort_unstable();
    table
});

/// Lookalikes of Latin letters and digits: `(letter or digit, the characters
/// that fold to it)`. Cut from UTS #39 `confusables.txt` (Unicode 17.0): the
/// entries whose source is a non-ASCII letter or digit that NFKD leaves alone
/// and whose prototype is one ASCII letter or digit (or a character that itself
/// folds to one), keyed by the source's lowercase form so that folding is blind
/// to case (an uppercase-only lookalike such as Cyrillic `К` also gives its
/// lowercase `к`, unless that has a lookalike of its own). Symbols are left out,
/// so that word boundaries do not move, and ASCII is never remapped
/// (`confusables.txt` folds `m` to `rn` and `1` to `l`, which would make terms
/// match words they are not). Escaped, because half of these scripts are
/// right-to-left or look like the letters they stand for.
#[rustfmt::skip]
const LOOKALIKES: &[(char, &str)] = &[
    ('2', "\u{1a8}\u{3e9}\u{14bf}\u{1d24}\u{a645}\u{a6ef}\u{a75b}"),
    ('3', "\u{21d}\u{25c}\u{292}\u{437}\u{4e1}\u{969}\u{ae9}\u{10f3}"),
    ('3', "\u{1d08}\u{2c9d}\u{2cc5}\u{2ccd}\u{a76b}\u{118ca}\u{16f3b}"),
    ('4', "\u{ab9e}\u{118cf}"),
    ('5', "\u{118db}"),
    ('6', "\u{431}\u{2cd3}\u{2cdd}\u{abbe}\u{118d5}"),
    ('7', "\u{104fa}\u{118c6}"),
    ('8', "\u{223}\u{9ea}\u{a6a}\u{1031a}\u{1e8cb}"),
    ('9', "\u{9ed}\u{a67}\u{b68}\u{d6d}\u{2ccb}\u{a76f}\u{118cc}\u{118d6}"),
    ('a', "\u{251}\u{3b1}\u{430}\u{15c5}\u{a4ee}\u{ab7a}\u{102a0}\u{16f40}"),
    ('b', "\u{185}\u{3b2}\u{432}\u{44c}\u{13fc}\u{1472}\u{15af}\u{15f7}"),
    ('b', "\u{2c83}\u{a4d0}\u{a7b5}\u{ab9f}\u{10282}\u{102a1}\u{10301}"),
    ('c', "\u{441}\u{1004}\u{105a}\u{1d04}\u{2ca5}\u{a4da}\u{abaf}\u{102a2}"),
    ('c', "\u{10302}\u{1043d}\u{1051c}\u{118e9}\u{118f2}"),
    ('d', "\u{501}\u{146f}\u{15de}\u{15ea}\u{a4d2}\u{a4d3}\u{ab70}\u{abb7}"),
    ('e', "\u{3b5}\u{435}\u{4bd}\u{2d39}\u{a4f0}\u{ab32}\u{ab7c}\u{10286}"),
    ('e', "\u{118ce}"),
    ('f', "\u{192}\u{3dd}\u{584}\u{15b4}\u{1e9d}\u{2cc1}\u{a4dd}\u{a799}"),
    ('f', "\u{ab35}\u{10287}\u{102a5}\u{10525}\u{118c2}"),
    ('g', "\u{18d}\u{261}\u{50d}\u{581}\u{13fb}\u{1d83}\u{a4d6}\u{ab90}"),
    ('h', "\u{3b7}\u{43d}\u{4bb}\u{570}\u{157c}\u{2c8f}\u{a4e7}\u{ab8b}"),
    ('h', "\u{ab92}\u{102cf}"),
    ('i', "\u{131}\u{269}\u{26a}\u{3b9}\u{456}\u{582}\u{2c93}\u{a647}"),
    ('i', "\u{ab75}\u{118c3}"),
    ('j', "\u{29d}\u{3f3}\u{458}\u{148d}\u{a4d9}\u{ab7b}"),
    ('k', "\u{3ba}\u{43a}\u{16d5}\u{2c95}\u{a4d7}\u{abb6}\u{10518}"),
    ('l', "\u{1c0}\u{4cf}\u{5d5}\u{5df}\u{627}\u{661}\u{6f1}\u{7ca}"),
    ('l', "\u{14aa}\u{16c1}\u{2cd1}\u{2d4f}\u{a4e1}\u{a4f2}\u{abae}\u{1028a}"),
    ('l', "\u{10309}\u{10320}\u{10443}\u{10526}\u{118d2}\u{16f16}\u{16f28}\u{1e8c7}"),
    ('m', "\u{3bc}\u{3fb}\u{43c}\u{15f0}\u{16d6}\u{2c99}\u{a4df}\u{ab87}"),
    ('m', "\u{102b0}\u{10311}"),
    ('n', "\u{578}\u{57c}\u{1260}\u{144e}\u{2c9b}\u{a4e0}\u{a4f5}\u{10513}"),
    ('o', "\u{3bf}\u{3c3}\u{3ed}\u{43e}\u{585}\u{5e1}\u{647}\u{665}"),
    ('o', "\u{6be}\u{6c1}\u{6d5}\u{6f5}\u{7c0}\u{966}\u{9e6}\u{a66}"),
    ('o', "\u{ae6}\u{b20}\u{b66}\u{be6}\u{c66}\u{ce6}\u{d20}\u{d66}"),
    ('o', "\u{e50}\u{ed0}\u{101d}\u{1040}\u{10ff}\u{12d0}\u{17e0}\u{1d0f}"),
    ('o', "\u{1d11}\u{2c9f}\u{2d54}\u{3007}\u{a4f3}\u{ab3d}\u{10292}\u{102ab}"),
    ('o', "\u{1042c}\u{104ea}\u{10516}\u{114d0}\u{118c8}\u{118d7}\u{118e0}"),
    ('p', "\u{fe}\u{1bf}\u{3c1}\u{3f8}\u{440}\u{146d}\u{2ca3}\u{2ccf}"),
    ('p', "\u{a4d1}\u{abb2}\u{10295}\u{104ec}"),
    ('q', "\u{51b}\u{563}\u{566}\u{2d55}"),
    ('r', "\u{280}\u{433}\u{1587}\u{1d26}\u{2c85}\u{a4e3}\u{ab47}\u{ab48}"),
    ('r', "\u{ab71}\u{ab81}\u{aba2}\u{104dc}\u{16f35}"),
    ('s', "\u{1bd}\u{455}\u{57f}\u{d1f}\u{a4e2}\u{a731}\u{aba5}\u{abaa}"),
    ('s', "\u{10296}\u{10448}\u{118c1}\u{16f3a}"),
    ('t', "\u{3c4}\u{442}\u{2ca7}\u{a4d4}\u{ab72}\u{10297}\u{102b1}\u{10315}"),
    ('t', "\u{16f0a}"),
    ('u', "\u{28b}\u{3c5}\u{57d}\u{1200}\u{144c}\u{1d1c}\u{a4f4}\u{a79f}"),
    ('u', "\u{ab4e}\u{ab52}\u{104f6}\u{118d8}\u{16f42}"),
    ('v', "\u{3bd}\u{475}\u{5d8}\u{667}\u{6f7}\u{142f}\u{1d20}\u{2d38}"),
    ('v', "\u{a4e6}\u{a6df}\u{aba9}\u{1051d}\u{11706}\u{118c0}\u{16f08}"),
    ('w', "\u{26f}\u{448}\u{461}\u{51d}\u{561}\u{15ef}\u{1d21}\u{2cbd}"),
    ('w', "\u{a4ea}\u{ab83}\u{ab97}\u{aba4}\u{1170a}\u{1170e}\u{1170f}\u{118e6}"),
    ('w', "\u{118ef}"),
    ('x', "\u{3c7}\u{445}\u{1541}\u{157d}\u{16b7}\u{2cad}\u{2d5d}\u{a4eb}"),
    ('x', "\u{ab53}\u{ab55}\u{10290}\u{102b4}\u{10317}\u{10322}\u{10527}\u{118ec}"),
    ('y', "\u{263}\u{28f}\u{3b3}\u{443}\u{4af}\u{10e7}\u{14a5}\u{1d8c}"),
    ('y', "\u{1eff}\u{2ca9}\u{a4ec}\u{ab5a}\u{ab79}\u{ab8d}\u{102b2}\u{118dc}"),
    ('y', "\u{16f07}\u{16f43}"),
    ('z', "\u{3b6}\u{1d22}\u{a4dc}\u{ab93}\u{102f5}\u{118c4}\u{118c9}\u{118e5}"),
];

/// Unicode 16.0 `Extended_Pictographic`, sorted ranges.
#[rustfmt::skip]
const EXTENDED_PICTOGRAPHIC: &[(char, char)] = &[
    ('\u{a9}', '\u{a9}'), ('\u{ae}', '\u{ae}'), ('\u{203c}', '\u{203c}'), ('\u{2049}', '\u{2049}'),
    ('\u{2122}', '\u{2122}'), ('\u{2139}', '\u{2139}'), ('\u{2194}', '\u{2199}'),
    ('\u{21a9}', '\u{21aa}'), ('\u{231a}', '\u{231b}'), ('\u{2328}', '\u{2328}'),
    ('\u{2388}', '\u{2388}'), ('\u{23cf}', '\u{23cf}'), ('\u{23e9}', '\u{23f3}'),
    ('\u{23f8}', '\u{23fa}'), ('\u{24c2}', '\u{24c2}'), ('\u{25aa}', '\u{25ab}'),
    ('\u{25b6}', '\u{25b6}'), ('\u{25c0}', '\u{25c0}'), ('\u{25fb}', '\u{25fe}'),
    ('\u{2600}', '\u{2605}'), ('\u{2607}', '\u{2612}'), ('\u{2614}', '\u{2685}'),
    ('\u{2690}', '\u{2705}'), ('\u{2708}', '\u{2712}'), ('\u{2714}', '\u{2714}'),
    ('\u{2716}', '\u{2716}'), ('\u{271d}', '\u{271d}'), ('\u{2721}', '\u{2721}'),
    ('\u{2728}', '\u{2728}'), ('\u{2733}', '\u{2734}'), ('\u{2744}', '\u{2744}'),
    ('\u{2747}', '\u{2747}'), ('\u{274c}', '\u{274c}'), ('\u{274e}', '\u{274e}'),
    ('\u{2753}', '\u{2755}'), ('\u{2757}', '\u{2757}'), ('\u{2763}', '\u{2767}'),
    ('\u{2795}', '\u{2797}'), ('\u{27a1}', '\u{27a1}'), ('\u{27b0}', '\u{27b0}'),
    ('\u{27bf}', '\u{27bf}'), ('\u{2934}', '\u{2935}'), ('\u{2b05}', '\u{2b07}'),
    ('\u{2b1b}', '\u{2b1c}'), ('\u{2b50}', '\u{2b50}'), ('\u{2b55}', '\u{2b55}'),
    ('\u{3030}', '\u{3030}'), ('\u{303d}', '\u{303d}'), ('\u{3297}', '\u{3297}'),
    ('\u{3299}', '\u{3299}'), ('\u{1f000}', '\u{1f0ff}'), ('\u{1f10d}', '\u{1f10f}'),
    ('\u{1f12f}', '\u{1f12f}'), ('\u{1f16c}', '\u{1f171}'), ('\u{1f17e}', '\u{1f17f}'),
    ('\u{1f18e}', '\u{1f18e}'), ('\u{1f191}', '\u{1f19a}'), ('\u{1f1ad}', '\u{1f1e5}'),
    ('\u{1f201}', '\u{1f20f}'), ('\u{1f21a}', '\u{1f21a}'), ('\u{1f22f}', '\u{1f22f}'),
    ('\u{1f232}', '\u{1f23a}'), ('\u{1f23c}', '\u{1f23f}'), ('\u{1f249}', '\u{1f3fa}'),
    ('\u{1f400}', '\u{1f53d}'), ('\u{1f546}', '\u{1f64f}'), ('\u{1f680}', '\u{1f6ff}'),
    ('\u{1f774}', '\u{1f77f}'), ('\u{1f7d5}', '\u{1f7ff}'), ('\u{1f80c}', '\u{1f80f}'),
    ('\u{1f848}', '\u{1f84f}'), ('\u{1f85a}', '\u{1f85f}'), ('\u{1f888}', '\u{1f88f}'),
    ('\u{1f8ae}', '\u{1f8ff}'), ('\u{1f90c}', '\u{1f93a}'), ('\u{1f93c}', '\u{1f945}'),
    ('\u{1f947}', '\u{1faff}'), ('\u{1fc00}', '\u{1fffd}'),
];

/// Unicode 16.0 `Default_Ignorable_Code_Point`, sorted ranges.
#[rustfmt::skip]
const DEFAULT_IGNORABLE_CODE_POINT: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'), ('\u{34f}', '\u{34f}'), ('\u{61c}', '\u{61c}'), ('\u{115f}', '\u{1160}'),
    ('\u{17b4}', '\u{17b5}'), ('\u{180b}', '\u{180f}'), ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'), ('\u{2060}', '\u{206f}'), ('\u{3164}', '\u{3164}'),
    ('\u{fe00}', '\u{fe0f}'), ('\u{feff}', '\u{feff}'), ('\u{ffa0}', '\u{ffa0}'),
    ('\u{fff0}', '\u{fff8}'), ('\u{1bca0}', '\u{1bca3}'), ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0000}', '\u{e0fff}'),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<String, Refusal>) -> ErrorCode {
        r.expect_err("refused").code
    }

    #[test]
    fn control_characters_are_removed_and_line_breaks_become_spaces() {
        assert_eq!(clean("a\u{0}b\u{7}c\u{7F}d\u{85}e\u{9F}f"), "abcdef");
        assert_eq!(clean("a\tb\nc\r\nd"), "a b c  d");
        assert_eq!(clean("a\u{2028}b\u{2029}c"), "a b c");
    }

    #[test]
    fn zero_width_and_bidi_controls_are_removed() {
        let removed = ['\u{200B}', '\u{2060}', '\u{FEFF}']
            .into_iter()
            .chain('\u{202A}'..='\u{202E}')
            .chain('\u{2066}'..='\u{2069}');
        for c in removed {
            assert!(is_removed(c), "U+{:04X}", c as u32);
            assert_eq!(clean(&format!("a{c}b")), "ab", "U+{:04X}", c as u32);
        }
        // The neighbours stay: U+2065 is unassigned, U+2061 an invisible operator.
        assert!(!is_removed('\u{2065}') && !is_removed('\u{2061}') && !is_removed('\u{202F}'));
    }

    #[test]
    fn joiners_and_directional_marks_are_kept() {
        for c in ['\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}'] {
            assert_eq!(
                clean(&format!("a{c}b")),
                format!("a{c}b"),
                "U+{:04X}",
                c as u32
            );
        }
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(clean_chat(family, 500).as_deref(), Ok(family));
    }

    #[test]
    fn at_most_four_combining_marks_follow_a_base() {
        let acute = '\u{301}';
        let six = format!("e{}", acute.to_string().repeat(6));
        assert_eq!(clean(&six), format!("e{}", acute.to_string().repeat(4)));
        // 400 marks (Zalgo) on one letter: the letter and four marks remain.
        let zalgo = format!("a{}", "\u{336}".repeat(400));
        assert_eq!(clean_chat(&zalgo, 500).map(|t| t.chars().count()), Ok(5));
        // Each base has its own count.
        let two = format!("a{m}b{m}", m = "\u{308}".repeat(4));
        assert_eq!(clean(&two), two);
        // Removed characters and joiners between marks do not start a new count.
        let split = format!("a{m}\u{200B}{m}", m = "\u{308}".repeat(3));
        assert_eq!(clean(&split), format!("a{}", "\u{308}".repeat(4)));
        let joined = format!("a{m}\u{200D}{m}", m = "\u{308}".repeat(3));
        assert_eq!(
            clean(&joined),
            format!("a{m}\u{200D}\u{308}", m = "\u{308}".repeat(3))
        );
        // Spacing marks (Mc) and enclosing marks (Me) count as marks too.
        assert_eq!(
            clean(&format!("a{}", "\u{903}".repeat(5))).chars().count(),
            5
        );
        assert_eq!(
            clean(&format!("1{}", "\u{20E3}".repeat(5))).chars().count(),
            5
        );
    }

    #[test]
    fn text_is_trimmed_of_any_white_space() {
        assert_eq!(clean("  hi  "), "hi");
        assert_eq!(clean("\u{3000}hi\u{A0}\u{2003}"), "hi");
        assert_eq!(clean("\u{200B} hi \u{FEFF}"), "hi");
        assert_eq!(clean("a  b"), "a  b", "inner space is kept");
    }

    #[test]
    fn a_text_with_no_visible_character_is_a_bad_request() {
        for text in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{200D}\u{200C}\u{200E}\u{200F}",
            "\u{301}\u{301}\u{301}",
            " \u{FE0F} ",
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{2800}\u{2800}",
            "\u{AD}",
            "\u{E0041}",
            "\u{202E}\u{2066}",
        ] {
            assert_eq!(
                code(clean_chat(text, 500)),
                ErrorCode::BadRequest,
                "{text:?}"
            );
        }
        assert!(clean_chat("\u{2764}\u{FE0F}", 500).is_ok());
        assert!(clean_chat("\u{200B}.", 500).is_ok());
    }

    #[test]
    fn length_is_counted_in_characters_after_cleaning() {
        assert_eq!(
            clean_chat(&"é".repeat(500), 500).map(|t| t.chars().count()),
            Ok(500)
        );
        assert_eq!(code(clean_chat(&"é".repeat(501), 500)), ErrorCode::TooLong);
        let padded = format!("{}{}", "a".repeat(500), "\u{200B}".repeat(50));
        assert!(
            clean_chat(&padded, 500).is_ok(),
            "removed characters do not count"
        );
        let marked = format!("e{}", "\u{301}".repeat(400));
        assert!(clean_chat(&marked, 5).is_ok(), "dropped marks do not count");
        assert_eq!(code(clean_chat("abcdef", 5)), ErrorCode::TooLong);
        // Kept invisible characters do count: they are in the text.
        assert_eq!(code(clean_chat("abcd\u{200D}e", 5)), ErrorCode::TooLong);
    }

    #[test]
    fn cleaning_is_idempotent() {
        for text in [
            " a\u{301}\u{301}\u{301}\u{301}\u{301}\u{200B}\u{301} ",
            "\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}x",
            " \u{301}\u{301}\u{301}\u{301}\u{301} x",
            "\t\u{202E}abc\u{202C}\n",
            "x\u{200D}\u{301}\u{301}\u{301}\u{301}\u{301}",
        ] {
            let once = clean(text);
            assert_eq!(clean(&once), once, "{text:?}");
        }
    }

    #[test]
    fn badges_are_cleaned_short_and_not_reserved() {
        assert_eq!(clean_badge("vip").as_deref(), Some("vip"));
        assert_eq!(clean_badge(" seller\u{200B} ").as_deref(), Some("seller"));
        assert_eq!(clean_badge(&"b".repeat(24)).map(|b| b.len()), Some(24));
        assert_eq!(clean_badge(&"b".repeat(25)), None);
        for bad in ["", " ", "\u{200B}", "\u{301}"] {
            assert_eq!(clean_badge(bad), None, "{bad:?}");
        }
        for reserved in [
            "mod",
            "MOD",
            "Mod",
            "\u{FF4D}\u{FF4F}\u{FF44}",
            "m\u{43E}d",
            "m\u{200D}od",
            "m\u{F6}d",
            "system",
            "SYSTEM",
            "\u{455}ystem",
        ] {
            assert_eq!(clean_badge(reserved), None, "{reserved:?}");
        }
        assert_eq!(clean_badge("moderator").as_deref(), Some("moderator"));
        assert_eq!(clean_badge("mod team").as_deref(), Some("mod team"));
    }

    #[test]
    fn emote_only_is_emoji_and_spaces() {
        for yes in [
            "\u{1F600}",
            " \u{1F600}  \u{1F602} ",
            "\u{2764}\u{FE0F}",
            "\u{1F44D}\u{1F3FD}",
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
            "\u{1F1EB}\u{1F1F7}",
            "\u{1F1EB}\u{1F1F7}\u{1F1E9}\u{1F1EA}",
            "1\u{FE0F}\u{20E3}",
            "#\u{20E3}",
            "*\u{FE0F}\u{20E3}",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "\u{A9}\u{FE0F}",
            "\u{1F9D1}\u{1F3FF}\u{200D}\u{1F4BB}",
        ] {
            assert!(is_emote_only(yes), "{yes:?}");
        }
        for no in [
            "",
            "   ",
            "1",
            "123",
            "#",
            "a",
            "\u{1F600}a",
            "lol \u{1F600}",
            "\u{1F1EB}",
            "\u{1F1EB}\u{1F1F7}\u{1F1E9}",
            "\u{1F600}\u{200D}",
            "\u{200D}\u{1F600}",
            "\u{1F3FD}",
            "\u{FE0F}",
            "\u{20E3}",
            "\u{1F600}\u{200E}",
            "\u{1F600}\u{301}",
            ":)",
        ] {
            assert!(!is_emote_only(no), "{no:?}");
        }
    }

    #[test]
    fn folding_makes_lookalikes_meet() {
        for (text, folded) in [
            ("BAD", "bad"),
            ("\u{FF42}\u{FF41}\u{FF44}", "bad"),
            ("\u{15F7}ad", "bad"),
            ("b\u{430}d", "bad"),
            ("B\u{410}D", "bad"),
            ("\u{1D41B}\u{1D41A}\u{1D41D}", "bad"),
            ("\u{24B7}\u{24D0}\u{24D3}", "bad"),
            ("b\u{E4}d", "bad"),
            ("b\u{AD}a\u{200D}d", "bad"),
            ("\u{41A}ILL", "kill"),
            ("\u{397}\u{399}", "hi"),
            ("a \t\u{A0}\u{3000} b", "a b"),
        ] {
            assert_eq!(fold_lookalikes(text), folded, "{text:?}");
        }
        // ASCII is only lowercased, never remapped.
        assert_eq!(fold_lookalikes("Rn1|0m"), "rn1|0m");
        // Marks on letters that are not Latin stay: й is not и.
        assert_eq!(fold_lookalikes("\u{439}"), "\u{438}\u{306}");
    }

    #[test]
    fn the_lookalike_table_keeps_its_promises() {
        let table = &*LOOKALIKE_TABLE;
        assert!(
            table.windows(2).all(|w| w[0].0 < w[1].0),
            "each character once"
        );
        for &(from, to) in table {
            let hex = from as u32;
            assert!(!from.is_ascii() && from.is_alphanumeric(), "U+{hex:04X}");
            assert!(from.to_lowercase().eq([from]), "U+{hex:04X} is lowercase");
            assert!(from.to_string().nfkd().eq([from]), "U+{hex:04X} is NFKD");
            assert!(
                to.is_ascii_lowercase() || to.is_ascii_digit(),
                "U+{hex:04X}"
            );
        }
    }

    #[test]
    fn the_range_tables_are_sorted_and_disjoint() {
        for ranges in [EXTENDED_PICTOGRAPHIC, DEFAULT_IGNORABLE_CODE_POINT] {
            assert!(ranges.iter().all(|(lo, hi)| lo <= hi));
            assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0));
        }
        assert!(is_extended_pictographic('\u{1F600}') && is_extended_pictographic('\u{A9}'));
        assert!(!is_extended_pictographic('1') && !is_extended_pictographic('\u{1F1E6}'));
        assert!(is_default_ignorable('\u{200D}') && !is_default_ignorable(' '));
    }
}
