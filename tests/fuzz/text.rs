//! `clean_chat` never panics, never returns more than its limit, and what it
//! returns is clean: cleaning it again changes nothing.

use proptest::prelude::*;
use roomcast::protocol::text::{clean, clean_badge, clean_chat, fold_lookalikes, is_emote_only};
use roomcast::protocol::{ErrorCode, clean_reason};

use crate::support::{any_text, assert_clean_text, assert_cleaned, config, tricky_text};

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn clean_chat_is_idempotent_and_within_its_limit(
        text in prop_oneof![tricky_text(700), any_text(200)],
        max in 1usize..600,
    ) {
        let cleaned = clean(&text);
        assert_cleaned(&cleaned);
        match clean_chat(&text, max) {
            Ok(once) => {
                assert_eq!(once, cleaned);
                assert_clean_text(&once, max);
                assert_eq!(clean_chat(&once, max).as_deref(), Ok(once.as_str()));
            }
            Err(refusal) => assert!(
                matches!(refusal.code, ErrorCode::BadRequest | ErrorCode::TooLong),
                "{refusal:?}"
            ),
        }
    }

    #[test]
    fn reasons_and_badges_come_out_clean(text in tricky_text(260)) {
        if let Ok(Some(reason)) = clean_reason(Some(text.clone())) {
            assert_clean_text(&reason, 200);
        }
        if let Some(badge) = clean_badge(&text) {
            assert_clean_text(&badge, 24);
            assert!(!["mod", "system"].contains(&fold_lookalikes(&badge).as_str()));
        }
    }

    #[test]
    fn folding_and_emote_checks_never_panic(text in any_text(300)) {
        let folded = fold_lookalikes(&text);
        assert_eq!(fold_lookalikes(&folded), folded, "folding is idempotent");
        let _ = is_emote_only(&text);
    }
}
