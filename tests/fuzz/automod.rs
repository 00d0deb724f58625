//! `Terms::check` never panics on any text, `Terms::compile` never panics on
//! any pattern, and a term standing as a word in a text is always found.

use std::sync::LazyLock;

use proptest::prelude::*;
use roomcast::room::automod::{Action, Term, Terms};

use crate::support::{any_text, config, tricky_char, tricky_text};

/// A thousand terms of every shape, compiled once.
static TERMS: LazyLock<Terms> = LazyLock::new(|| {
    let room: Vec<Term> = (0..1000)
        .map(|i| {
            let word = format!("w{i:03}x");
            let pattern = match i % 4 {
                0 => word,
                1 => format!("{word}*"),
                2 => format!("*{word}"),
                _ => format!("*{word}*"),
            };
            let action = if i % 3 == 0 {
                Action::Block
            } else {
                Action::Hold
            };
            Term::new(pattern, action)
        })
        .collect();
    let config = [
        Term::new("b\u{430}d", Action::Block),
        Term::new("*\u{44B}\u{301}*", Action::Hold),
    ];
    Terms::compile(&config, &room).unwrap_or_else(|e| panic!("the terms compile: {e}"))
});

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn check_never_panics(text in prop_oneof![tricky_text(600), any_text(200)]) {
        let _ = TERMS.check(&text);
    }

    #[test]
    fn compile_never_panics(patterns in proptest::collection::vec(any_text(70), 0..8)) {
        let room: Vec<Term> = patterns.into_iter().map(|p| Term::new(p, Action::Hold)).collect();
        if let Ok(terms) = Terms::compile(&[], &room) {
            let _ = terms.check("some text to look at");
        }
    }

    #[test]
    fn a_term_set_apart_by_spaces_is_found(
        word in "[a-z0-9]{1,12}",
        before in tricky_text(40),
        after in tricky_text(40),
        upper in any::<bool>(),
    ) {
        let terms = Terms::compile(&[], &[Term::new(word.clone(), Action::Block)])
            .unwrap_or_else(|e| panic!("{word:?} compiles: {e}"));
        let shown = if upper { word.to_uppercase() } else { word.clone() };
        let text = format!("{before} {shown} {after}");
        prop_assert_eq!(terms.check(&text).map(|h| h.pattern), Some(word.as_str()), "{:?}", text);
    }

    #[test]
    fn a_substring_term_is_found_anywhere(
        word in "[a-z]{1,8}",
        before in proptest::collection::vec(tricky_char(), 0..20),
    ) {
        let terms = Terms::compile(&[], &[Term::new(format!("*{word}*"), Action::Hold)])
            .unwrap_or_else(|e| panic!("{word:?} compiles: {e}"));
        let text = format!("{}{word}", String::from_iter(before));
        prop_assert!(terms.check(&text).is_some(), "{:?}", text);
    }
}
