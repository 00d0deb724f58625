//! The pure rules on client input that need no state: text cleaning, the
//! ranges of numbers, and the limits behind them. Shared by the WebSocket
//! frames, the server API and the cluster (which checks events like input).

use super::refusal::{ErrorCode, Refusal};
use super::text;

/// Longest `ref` a client may attach to a frame.
pub const MAX_REF_CHARS: usize = 64;
/// Longest moderation reason.
pub const MAX_REASON_CHARS: usize = 200;
/// Longest timeout: 14 days.
pub const MAX_TIMEOUT_SECONDS: u64 = 14 * 24 * 3600;
/// Longest slow-mode interval (the contract sets no upper bound; one day is ours).
pub const MAX_SLOW_MODE_SECONDS: u64 = 24 * 3600;
/// `history` limit bounds and default (also the REST API's `messages?limit=`).
pub const HISTORY_MAX: u64 = 100;
pub const HISTORY_DEFAULT: u64 = 50;
/// Longest display name.
pub const MAX_NAME_CHARS: usize = 32;

/// Limits on chat text that come from configuration.
#[derive(Debug, Clone)]
pub struct TextLimits {
    /// Maximum characters of chat text after cleaning.
    pub max_text_chars: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_text_chars: 500,
        }
    }
}

/// A `history` or `messages` limit: 1–100, 50 when absent.
pub fn history_limit(limit: Option<u64>) -> Result<u64, Refusal> {
    let limit = limit.unwrap_or(HISTORY_DEFAULT);
    if (1..=HISTORY_MAX).contains(&limit) {
        Ok(limit)
    } else {
        Err(Refusal::bad_request(format!(
            "limit must be 1-{HISTORY_MAX}"
        )))
    }
}

/// A display name: 1–32 characters, no control characters.
pub fn check_name(name: &str) -> Result<(), Refusal> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Refusal::bad_request(format!(
            "name must be 1-{MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// Chat text: cleaned under §6 (see [`text::clean_chat`]), then 1..=max characters.
pub fn clean_text(text: &str, max_chars: usize) -> Result<String, Refusal> {
    text::clean_chat(text, max_chars)
}

/// A reason is optional, cleaned like chat text, and at most 200 characters;
/// one with no visible character left is no reason (`None`).
pub fn clean_reason(reason: Option<String>) -> Result<Option<String>, Refusal> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    let cleaned = text::clean(&reason);
    if cleaned.chars().count() > MAX_REASON_CHARS {
        return Err(Refusal::new(
            ErrorCode::TooLong,
            format!("reason is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(text::has_visible(&cleaned).then_some(cleaned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_length_is_counted_in_characters_after_cleaning() {
        assert_eq!(
            clean_text(&"é".repeat(500), 500).unwrap().chars().count(),
            500
        );
        assert_eq!(
            clean_text(&"é".repeat(501), 500).unwrap_err().code,
            ErrorCode::TooLong
        );
        // Controls do not count, surrounding space does not count.
        let padded = format!("  {}\u{0}\u{1}  ", "a".repeat(500));
        assert_eq!(clean_text(&padded, 500).unwrap().len(), 500);
        assert_eq!(
            clean_text(" \u{0}\t ", 500).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn history_limits_default_to_fifty_and_stay_within_one_to_a_hundred() {
        assert_eq!(history_limit(None), Ok(50));
        assert_eq!(history_limit(Some(100)), Ok(100));
        assert!(history_limit(Some(0)).is_err());
        assert!(history_limit(Some(101)).is_err());
    }

    #[test]
    fn names_are_one_to_thirty_two_characters() {
        assert!(check_name("Ann").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"n".repeat(33)).is_err());
        assert!(check_name("a\nb").is_err());
    }
}
