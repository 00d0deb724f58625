//! The wire types and input rules of contract §8 (platform integration) that
//! the frames, the server API and the cluster share: a stream's summary and
//! live status, the limits on state values, titles and notifications, and how
//! a room's state becomes the `joined.state` object.
//!
//! Pure: no state, no clock, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::refusal::{ErrorCode, Refusal};
use super::text;

/// Most bytes of one state value, as sent.
pub const MAX_STATE_BYTES: usize = 2048;
/// Most keys a room's state holds.
pub const MAX_STATE_KEYS: usize = 32;
/// Longest stream title (the contract sets none; ours), after cleaning.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest notification name (like an event's).
pub const MAX_NOTIFY_NAME_CHARS: usize = 64;
/// Most bytes of a notification's data (like an event's).
pub const MAX_NOTIFY_DATA_BYTES: usize = 2048;
/// The `kind` of every `milestone` frame today.
pub const MILESTONE_VIEWERS: &str = "viewers";

/// What a stream that ended adds up to (`stream` frame, `DELETE …/live`, the
/// `stream.ended` webhook). Counts are cluster-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSummary {
    pub duration_s: u64,
    pub peak: u64,
    /// Distinct user ids joined while the stream was live (an estimate within
    /// 2 % in a cluster: a HyperLogLog).
    pub unique_viewers: u64,
    pub messages: u64,
    pub reactions: u64,
}

/// `live` or `ended`, as the `stream` frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Live,
    Ended,
}

/// A live stream as `joined.stream` and `GET …/live` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamLive<'a> {
    pub status: StreamStatus,
    pub title: &'a str,
    pub started_at: i64,
}

/// Why a state value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateValueError {
    #[error("a state value is at most {MAX_STATE_BYTES} bytes; this one is {0}")]
    TooLarge(usize),
    #[error("a state value cannot be null; DELETE the key instead")]
    Null,
}

/// A state value: any JSON but `null` (which means "deleted" on the wire), at
/// most [`MAX_STATE_BYTES`] as sent.
pub fn check_state_value(data: &RawValue) -> Result<(), StateValueError> {
    let json = data.get().trim();
    if json.len() > MAX_STATE_BYTES {
        return Err(StateValueError::TooLarge(json.len()));
    }
    if json == "null" {
        return Err(StateValueError::Null);
    }
    Ok(())
}

/// A stream title: cleaned like chat text (control characters removed),
/// at most [`MAX_TITLE_CHARS`]; none or an invisible one is the empty title.
pub fn clean_title(title: Option<String>) -> Result<String, Refusal> {
    let cleaned = text::clean(&title.unwrap_or_default());
    if cleaned.chars().count() > MAX_TITLE_CHARS {
        return Err(Refusal::new(
            ErrorCode::TooLong,
            format!("title is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(if text::has_visible(&cleaned) {
        cleaned
    } else {
        String::new()
    })
}

/// A notification name: 1–64 characters, no control characters.
pub fn check_notify_name(name: &str) -> Result<(), Refusal> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NOTIFY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Refusal::bad_request(format!(
            "name must be 1-{MAX_NOTIFY_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// `{key: data, …}` from a room's state, keys in the order given.
pub fn encode_state_object<'a>(
    entries: impl Iterator<Item = (&'a str, &'a RawValue)>,
) -> Box<RawValue> {
    let mut out = String::from("{");
    for (i, (key, data)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Keys are [a-z0-9_]: nothing to escape.
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        out.push_str(data.get());
    }
    out.push('}');
    RawValue::from_string(out).unwrap_or_else(|_| super::empty_object())
}

/// What a cluster node hands to Redis for the live stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tick {
    pub reactions: u64,
    pub peak: u64,
    pub milestones: Vec<u64>,
    pub users: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn state_values_are_any_json_but_null_up_to_two_kib() {
        for ok in [r#"{"sku":"A-1"}"#, "3", r#""live""#, "[1,2]", "true"] {
            assert!(check_state_value(&raw(ok)).is_ok(), "{ok}");
        }
        assert_eq!(check_state_value(&raw("null")), Err(StateValueError::Null));
        let big = format!("\"{}\"", "x".repeat(MAX_STATE_BYTES - 1));
        assert_eq!(
            check_state_value(&raw(&big)),
            Err(StateValueError::TooLarge(MAX_STATE_BYTES + 1))
        );
        let fits = format!("\"{}\"", "x".repeat(MAX_STATE_BYTES - 2));
        assert!(check_state_value(&raw(&fits)).is_ok());
    }

    #[test]
    fn titles_are_cleaned_and_bounded() {
        assert_eq!(clean_title(None).unwrap(), "");
        assert_eq!(clean_title(Some("  \u{200B} ".into())).unwrap(), "");
        assert_eq!(clean_title(Some("Big\tsale".into())).unwrap(), "Big sale");
        assert!(clean_title(Some("x".repeat(MAX_TITLE_CHARS + 1))).is_err());
    }

    #[test]
    fn the_state_object_is_the_keys_with_their_values() {
        let (a, b) = (raw(r#"{"sku":"A-1"}"#), raw("42"));
        let obj = encode_state_object([("product", &*a), ("bid", &*b)].into_iter());
        assert_eq!(obj.get(), r#"{"product":{"sku":"A-1"},"bid":42}"#);
        assert_eq!(encode_state_object(std::iter::empty()).get(), "{}");
    }

    #[test]
    fn notify_names_are_like_event_names() {
        assert!(check_notify_name("stream_live").is_ok());
        assert!(check_notify_name("").is_err());
        assert!(check_notify_name(&"n".repeat(65)).is_err());
    }
}
