//! What the property tests share: the runner's configuration, strategies for
//! hostile text, and the invariants of an accepted frame.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use roomcast::protocol::text::{clean, has_visible, is_removed};
use roomcast::protocol::{MAX_REASON_CHARS, MAX_REF_CHARS, ModAction, Parsed, Request, RoomId};

/// The seed of every run, so that a failure on CI fails the same way here.
const SEED: u64 = 0x726f_6f6d_6361_7374;

/// `cases` deterministic cases, no regression files written into the tree.
pub fn config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        chosen => chosen,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed,
        ..base
    }
}

/// Characters the text rules care about, often; anything else, sometimes.
const TRICKY: &[char] = &[
    '\u{0}',
    '\u{7}',
    '\u{7F}',
    '\u{85}',
    '\u{9F}',
    '\u{2028}',
    '\u{2029}',
    '\u{200B}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{202A}',
    '\u{202B}',
    '\u{202C}',
    '\u{202D}',
    '\u{202E}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{200F}',
    '\u{AD}',
    '\u{34F}',
    '\u{3164}',
    '\u{115F}',
    '\u{2800}',
    '\u{FE0F}',
    '\u{FE0E}',
    '\u{20E3}',
    '\u{1F600}',
    '\u{1F3FD}',
    '\u{1F1EB}',
    '\u{1F1F7}',
    '\u{1F468}',
    '\u{2764}',
    '\u{E0067}',
    '\u{E007F}',
    '\u{430}',
    '\u{410}',
    '\u{15F7}',
    '\u{FF42}',
    '\u{1D41B}',
    '\u{24B7}',
    '\u{130}',
    '\u{DF}',
    '\u{3A3}',
    '\u{3000}',
    '\u{A0}',
    '\u{903}',
    '\u{FDFD}',
    '\u{FB01}',
    '\u{1100}',
    '\u{AC00}',
    '\u{5D0}',
    '\u{627}',
    '*',
    '#',
    '"',
    '\\',
];

/// One character, biased towards the ones [`TRICKY`] lists and combining marks.
pub fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        2 => Just(' '),
        1 => prop_oneof![Just('\t'), Just('\n'), Just('\r')],
        3 => proptest::sample::select(TRICKY),
        2 => proptest::char::range('\u{300}', '\u{36F}'),
        2 => any::<char>(),
    ]
}

/// Up to `max` characters of hostile text.
pub fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(tricky_char(), 0..=max).prop_map(String::from_iter)
}

/// Any string at all, or hostile text.
pub fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter),
        tricky_text(max),
    ]
}

/// A cleaned text: what `clean_chat` may return for `max` characters.
pub fn assert_clean_text(text: &str, max: usize) {
    assert_cleaned(text);
    assert!(has_visible(text), "no visible character: {text:?}");
    assert!(
        text.chars().count() <= max,
        "over {max} characters: {text:?}"
    );
}

/// What every cleaned text is: no control character, no removed code point,
/// nothing left to trim, and cleaning it again changes nothing.
pub fn assert_cleaned(text: &str) {
    assert!(!text.chars().any(char::is_control), "control: {text:?}");
    assert!(
        !text.chars().any(is_removed),
        "removed code point: {text:?}"
    );
    assert_eq!(text.trim(), text, "not trimmed");
    assert_eq!(clean(text), text, "cleaning is not idempotent");
}

/// The invariants of a frame the parser accepted (default limits).
pub fn assert_accepted(parsed: &Parsed) {
    if let Some(reference) = &parsed.reference {
        assert!(
            reference.chars().count() <= MAX_REF_CHARS,
            "ref {reference:?}"
        );
    }
    if let Some(room) = room_of(&parsed.request) {
        assert!(RoomId::is_valid(room), "room {room:?}");
    }
    match &parsed.request {
        Request::Message { text, .. } => assert_clean_text(text, 500),
        Request::History { limit, .. } => assert!((1..=100).contains(limit), "limit {limit}"),
        Request::Moderate { action, .. } => assert_action(action),
        _ => {}
    }
}

fn assert_action(action: &ModAction) {
    let reason = match action {
        ModAction::Timeout {
            seconds, reason, ..
        } => {
            assert!((1..=14 * 24 * 3600).contains(seconds), "seconds {seconds}");
            reason
        }
        ModAction::Ban { reason, .. } => reason,
        ModAction::SlowMode { seconds } => {
            assert!(*seconds <= 24 * 3600, "slow mode {seconds}");
            &None
        }
        _ => &None,
    };
    if let Some(reason) = reason {
        assert_clean_text(reason, MAX_REASON_CHARS);
    }
}

fn room_of(request: &Request) -> Option<&str> {
    match request {
        Request::Join { room, .. }
        | Request::Leave { room }
        | Request::Message { room, .. }
        | Request::Reaction { room, .. }
        | Request::History { room, .. }
        | Request::Moderate { room, .. } => Some(room.as_str()),
        _ => None,
    }
}
