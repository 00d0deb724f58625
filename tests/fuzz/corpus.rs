//! The committed corpus (`corpus.txt`) and a few frames too big to commit: each
//! is answered, Ok or a refusal, without a panic, and what passes is valid.

use std::panic::{AssertUnwindSafe, catch_unwind};

use roomcast::protocol::text::{clean_chat, is_emote_only};
use roomcast::protocol::{TextLimits, parse_client_frame};
use roomcast::room::automod::{Action, Term, Terms};

use crate::support::assert_accepted;

const CORPUS: &str = include_str!("corpus.txt");

/// The frames of `corpus.txt`: comments and blank lines skipped, a line that
/// starts with `"` decoded as the JSON string it is.
fn corpus() -> Vec<String> {
    CORPUS
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            if line.starts_with('"') {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("corpus line {line:?} is no JSON string: {e}"))
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// Frames built here because they are too large for a file worth reading.
fn generated() -> Vec<String> {
    vec![
        String::new(),
        "[".repeat(100_000),
        format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
        format!(
            r#"{{"type":"message","room":"r","text":"{}"}}"#,
            "\u{301}".repeat(100_000)
        ),
        format!(
            r#"{{"type":"message","room":"r","text":"{}"}}"#,
            "a".repeat(1 << 20)
        ),
        format!(r#"{{"type":"ping","ref":"{}"}}"#, "\\ud800".repeat(10_000)),
        format!(r#"{{"type":"ping"{}}}"#, r#","ref":"x""#.repeat(10_000)),
    ]
}

fn answer(frame: &str, terms: &Terms) {
    if let Ok(parsed) = parse_client_frame(frame, &TextLimits::default()) {
        assert_accepted(&parsed);
    }
    let _ = clean_chat(frame, 500);
    let _ = is_emote_only(frame);
    let _ = terms.check(frame);
}

#[test]
fn every_corpus_frame_is_answered_without_a_panic() {
    let terms = Terms::compile(
        &[Term::new("b\u{430}d", Action::Block)],
        &[
            Term::new("*type*", Action::Hold),
            Term::new("ping", Action::Block),
        ],
    )
    .unwrap_or_else(|e| panic!("the terms compile: {e}"));
    let frames = corpus();
    assert!(
        frames.len() >= 100,
        "the corpus has {} frames",
        frames.len()
    );
    let mut failed = Vec::new();
    for (i, frame) in frames.iter().chain(&generated()).enumerate() {
        if catch_unwind(AssertUnwindSafe(|| answer(frame, &terms))).is_err() {
            failed.push(format!(
                "#{i}: {}",
                frame.chars().take(120).collect::<String>()
            ));
        }
    }
    assert!(failed.is_empty(), "panicked on:\n{}", failed.join("\n"));
}

#[test]
fn the_corpus_is_read_as_written() {
    let frames = corpus();
    assert_eq!(frames[0], r#"{"type":"ping","ref":"p1"}"#);
    assert!(parse_client_frame(&frames[0], &TextLimits::default()).is_ok());
    assert!(
        frames.iter().any(|f| f.contains('\u{202E}')),
        "raw bidi overrides decoded"
    );
    assert!(
        frames.iter().any(|f| f.starts_with('\u{FEFF}')),
        "a raw BOM decoded"
    );
}
