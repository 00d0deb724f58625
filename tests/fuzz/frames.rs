//! `parse_client_frame` never panics, on any string and on JSON objects built
//! from the frame fields with values of every type, and what it accepts keeps
//! the invariants of [`support::assert_accepted`].

use proptest::prelude::*;
use roomcast::protocol::{TextLimits, parse_client_frame};
use serde_json::{Map, Value};

use crate::support::{any_text, assert_accepted, config, tricky_text};

const TYPES: &[&str] = &[
    "join",
    "leave",
    "message",
    "reaction",
    "ping",
    "history",
    "delete",
    "timeout",
    "ban",
    "unban",
    "slow_mode",
];
const FIELDS: &[&str] = &[
    "room", "text", "ref", "emoji", "before", "limit", "id", "user", "seconds", "reason",
];

fn parse(frame: &str) {
    if let Ok(parsed) = parse_client_frame(frame, &TextLimits::default()) {
        assert_accepted(&parsed);
    }
}

/// A JSON value of any type, often one a field could hold.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => "[A-Za-z0-9_.:-]{1,64}".prop_map(Value::from),
        1 => "[A-Za-z0-9_.:-]{65,70}".prop_map(Value::from),
        1 => "01[0-9A-HJKMNP-TV-Z]{24}".prop_map(Value::from),
        3 => tricky_text(520).prop_map(Value::from),
        1 => any_text(80).prop_map(Value::from),
        2 => any::<u64>().prop_map(Value::from),
        1 => (0u64..=200).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A frame: a `type` (usually a known one), some of the fields, maybe a stranger.
fn frame() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        8 => proptest::sample::select(TYPES).prop_map(Value::from),
        1 => any_text(12).prop_map(Value::from),
        1 => value(),
    ];
    let fields = proptest::collection::btree_map(proptest::sample::select(FIELDS), value(), 0..6);
    let stranger = proptest::option::of(("[a-z_]{1,8}", value()));
    (proptest::option::weighted(0.95, kind), fields, stranger).prop_map(
        |(kind, fields, stranger)| {
            let mut frame = Map::new();
            if let Some(kind) = kind {
                frame.insert("type".into(), kind);
            }
            for (name, value) in fields {
                frame.insert(name.into(), value);
            }
            if let Some((name, value)) = stranger {
                frame.insert(name, value);
            }
            Value::Object(frame).to_string()
        },
    )
}

/// A frame of a known type with every field it needs, of the right JSON type,
/// holding hostile values: the frames that get past serde, so that the rules
/// after it are exercised.
fn typed_frame() -> impl Strategy<Value = String> {
    let room = prop_oneof![
        4 => "[A-Za-z0-9_.:-]{1,64}",
        1 => "[A-Za-z0-9_.:-]{0,70}",
        1 => any_text(10),
    ];
    let user = prop_oneof![4 => "[a-z0-9-]{1,64}", 1 => any_text(70)];
    let id = prop_oneof![4 => "01[0-9A-HJKMNP-TV-Z]{24}", 1 => any_text(30)];
    let seconds = prop_oneof![
        3 => 0u64..=100_000,
        1 => 1_209_590u64..=1_209_610,
        1 => any::<u64>(),
    ];
    let text = prop_oneof![3 => tricky_text(520), 1 => any_text(80)];
    let reference = proptest::option::of(prop_oneof![
        3 => tricky_text(64),
        1 => "[a-z]{60,70}",
    ]);
    (
        proptest::sample::select(TYPES),
        (room, user, id),
        (seconds, 0u64..=120, text.clone(), text),
        (reference, any::<bool>()),
    )
        .prop_map(
            |(
                kind,
                (room, user, id),
                (seconds, limit, text, reason),
                (reference, with_optional),
            )| {
                let mut frame = Map::new();
                frame.insert("type".into(), kind.into());
                let needs: &[&str] = match kind {
                    "ping" => &[],
                    "join" | "leave" => &["room"],
                    "message" => &["room", "text"],
                    "reaction" => &["room", "emoji"],
                    "history" => &["room"],
                    "delete" => &["room", "id"],
                    "timeout" => &["room", "user", "seconds"],
                    "ban" | "unban" => &["room", "user"],
                    _ => &["room", "seconds"],
                };
                let optional: &[&str] = match kind {
                    "history" => &["before", "limit"],
                    "timeout" | "ban" => &["reason"],
                    _ => &[],
                };
                let chosen = needs
                    .iter()
                    .chain(optional.iter().filter(|_| with_optional));
                for &field in chosen {
                    let value = match field {
                        "room" => Value::from(room.clone()),
                        "user" => Value::from(user.clone()),
                        "id" | "before" => Value::from(id.clone()),
                        "seconds" => Value::from(seconds),
                        "limit" => Value::from(limit),
                        "text" | "emoji" => Value::from(text.clone()),
                        _ => Value::from(reason.clone()),
                    };
                    frame.insert(field.into(), value);
                }
                if let Some(reference) = &reference {
                    frame.insert("ref".into(), reference.clone().into());
                }
                Value::Object(frame).to_string()
            },
        )
}

/// Strings made of JSON's own pieces, to get past the first byte.
fn json_ish() -> impl Strategy<Value = String> {
    let token = proptest::sample::select(
        &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"type\"",
            "\"message\"",
            "\"room\"",
            "\"r\"",
            "\"text\"",
            "\"ref\"",
            "\"limit\"",
            "\"seconds\"",
            "\"\\ud800\"",
            "\"\\udc00\\ud800\"",
            "\"\\u0000\"",
            "1e999",
            "-0",
            "18446744073709551616",
            "-1",
            "0.5",
            "null",
            "true",
            "\"\\\"",
            " ",
            "\"",
            "\\",
            "\"\u{202E}\"",
            "\"\u{200B}\"",
        ][..],
    );
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_string_is_answered(frame in any_text(300)) {
        parse(&frame);
    }

    #[test]
    fn any_pile_of_json_tokens_is_answered(frame in json_ish()) {
        parse(&frame);
    }

    #[test]
    fn any_frame_shaped_object_is_answered_and_what_passes_is_valid(
        frame in prop_oneof![frame(), typed_frame()],
    ) {
        parse(&frame);
    }
}
