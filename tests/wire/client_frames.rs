//! How every client frame of contract §2 parses, and every refusal with a code
//! that parsing alone can give. Outcomes are compared as JSON built by
//! [`outcome`], the one adapter a refactor of the parser may have to touch.

use roomcast::protocol::{ModAction, Request, TextLimits, parse_client_frame};
use serde_json::{Value, json};

/// A parse result as plain JSON: `{"ok": {...}}` or `{"err": {code, ref, room}}`.
fn outcome(text: &str) -> Value {
    match parse_client_frame(text, &TextLimits::default()) {
        Ok(p) => {
            let req = match p.request {
                Request::Join {
                    room,
                    since: None,
                    token: None,
                } => json!({"join": room}),
                Request::Join {
                    room,
                    since: Some(s),
                    token: None,
                } => json!({"join": room, "since": s}),
                Request::Join {
                    room,
                    since,
                    token: Some(t),
                } => json!({"join": room, "since": since, "token": t}),
                Request::Leave { room } => json!({"leave": room}),
                Request::Message { room, text } => json!({"message": [room, text]}),
                Request::Reaction { room, emoji } => json!({"reaction": [room, emoji]}),
                Request::Ping => json!("ping"),
                Request::History {
                    room,
                    before,
                    limit,
                } => json!({"history": [room, before, limit]}),
                Request::Moderate { room, action } => {
                    let a = match action {
                        ModAction::Delete { id } => json!({"delete": id}),
                        ModAction::Timeout {
                            user,
                            seconds,
                            reason,
                        } => json!({"timeout": [user, seconds, reason]}),
                        ModAction::Ban { user, reason } => json!({"ban": [user, reason]}),
                        ModAction::Unban { user } => json!({"unban": user}),
                        ModAction::SlowMode { seconds } => json!({"slow_mode": seconds}),
                        // §7's actions: as they travel between nodes.
                        v2 => serde_json::to_value(&v2).unwrap(),
                    };
                    json!({"moderate": [room, a]})
                }
                Request::Refresh { token } => json!({"refresh": token}),
                Request::Typing { room } => json!({"typing": room}),
                Request::Acknowledge { room } => json!({"acknowledge": room}),
            };
            json!({"ok": req, "ref": p.reference})
        }
        Err(r) => json!({"err": {
            "code": serde_json::to_value(r.refusal.code).unwrap(),
            "ref": r.reference,
            "room": r.room,
        }}),
    }
}

fn err(code: &str, reference: Option<&str>, room: Option<&str>) -> Value {
    json!({"err": {"code": code, "ref": reference, "room": room}})
}

const ID: &str = "01J00000000000000000000000";

#[test]
fn every_v2_client_frame_of_section_7_and_8_parses() {
    let cases = [
        (
            r#"{"type":"join","room":"r","token":"t.k.n"}"#,
            json!({"ok": {"join": "r", "since": null, "token": "t.k.n"}, "ref": null}),
        ),
        (
            r#"{"type":"settings","room":"r","settings":{"emote_only":true},"ref":"1"}"#,
            json!({"ok": {"moderate": ["r", {"settings": {"changes": {"emote_only": true}}}]}, "ref": "1"}),
        ),
        (
            r#"{"type":"shadow_ban","room":"r","user":"u2"}"#,
            json!({"ok": {"moderate": ["r", {"shadow_ban": {"user": "u2", "reason": null}}]}, "ref": null}),
        ),
        (
            r#"{"type":"warn","room":"r","user":"u2","reason":"be nice"}"#,
            json!({"ok": {"moderate": ["r", {"warn": {"user": "u2", "reason": "be nice"}}]}, "ref": null}),
        ),
        (
            r#"{"type":"clear","room":"r"}"#,
            json!({"ok": {"moderate": ["r", "clear"]}, "ref": null}),
        ),
        (
            &format!(r#"{{"type":"pin","room":"r","id":"{ID}","seconds":60}}"#),
            json!({"ok": {"moderate": ["r", {"pin": {"id": ID, "seconds": 60}}]}, "ref": null}),
        ),
        (
            &format!(r#"{{"type":"approve","room":"r","id":"{ID}","ref":"a"}}"#),
            json!({"ok": {"moderate": ["r", {"approve": {"id": ID}}]}, "ref": "a"}),
        ),
        (
            r#"{"type":"acknowledge","room":"r","ref":"k"}"#,
            json!({"ok": {"acknowledge": "r"}, "ref": "k"}),
        ),
        (
            r#"{"type":"typing","room":"r"}"#,
            json!({"ok": {"typing": "r"}, "ref": null}),
        ),
        // Out of range: a pin under a minute, a chat delay over 6 s, an unknown setting.
        (
            &format!(r#"{{"type":"pin","room":"r","id":"{ID}","seconds":59,"ref":"p"}}"#),
            err("bad_request", Some("p"), Some("r")),
        ),
        (
            r#"{"type":"settings","room":"r","settings":{"chat_delay_ms":6001}}"#,
            err("bad_request", None, Some("r")),
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(outcome(frame), want, "{frame}");
    }
}

#[test]
fn every_client_frame_parses() {
    let cases = [
        (
            r#"{"type":"join","room":"r"}"#,
            json!({"ok": {"join": "r"}, "ref": null}),
        ),
        (
            r#"{"type":"join","room":"r","ref":"j1"}"#,
            json!({"ok": {"join": "r"}, "ref": "j1"}),
        ),
        (
            r#"{"type":"leave","room":"r"}"#,
            json!({"ok": {"leave": "r"}, "ref": null}),
        ),
        (
            r#"{"type":"message","room":"r","text":"  hi\u0007 there\nyou  ","ref":"c1"}"#,
            json!({"ok": {"message": ["r", "hi there you"]}, "ref": "c1"}),
        ),
        (
            r#"{"type":"reaction","room":"r","emoji":"heart"}"#,
            json!({"ok": {"reaction": ["r", "heart"]}, "ref": null}),
        ),
        (
            r#"{"type":"ping","ref":"p1"}"#,
            json!({"ok": "ping", "ref": "p1"}),
        ),
        (r#"{"type":"ping"}"#, json!({"ok": "ping", "ref": null})),
        (
            r#"{"type":"history","room":"r","ref":"h1"}"#,
            json!({"ok": {"history": ["r", null, 50]}, "ref": "h1"}),
        ),
        (
            &format!(r#"{{"type":"history","room":"r","before":"{ID}","limit":100}}"#),
            json!({"ok": {"history": ["r", ID, 100]}, "ref": null}),
        ),
        (
            &format!(r#"{{"type":"delete","room":"r","id":"{ID}","ref":"d"}}"#),
            json!({"ok": {"moderate": ["r", {"delete": ID}]}, "ref": "d"}),
        ),
        (
            r#"{"type":"timeout","room":"r","user":"u2","seconds":300,"reason":" spam ","ref":"t"}"#,
            json!({"ok": {"moderate": ["r", {"timeout": ["u2", 300, "spam"]}]}, "ref": "t"}),
        ),
        (
            r#"{"type":"timeout","room":"r","user":"u2","seconds":1209600}"#,
            json!({"ok": {"moderate": ["r", {"timeout": ["u2", 1209600, null]}]}, "ref": null}),
        ),
        (
            r#"{"type":"ban","room":"r","user":"u2","reason":"x"}"#,
            json!({"ok": {"moderate": ["r", {"ban": ["u2", "x"]}]}, "ref": null}),
        ),
        (
            r#"{"type":"ban","room":"r","user":"u2","reason":"   "}"#,
            json!({"ok": {"moderate": ["r", {"ban": ["u2", null]}]}, "ref": null}),
        ),
        (
            r#"{"type":"unban","room":"r","user":"u2"}"#,
            json!({"ok": {"moderate": ["r", {"unban": "u2"}]}, "ref": null}),
        ),
        (
            r#"{"type":"slow_mode","room":"r","seconds":0}"#,
            json!({"ok": {"moderate": ["r", {"slow_mode": 0}]}, "ref": null}),
        ),
        (
            r#"{"type":"slow_mode","room":"r","seconds":86400}"#,
            json!({"ok": {"moderate": ["r", {"slow_mode": 86400}]}, "ref": null}),
        ),
        (
            r#"{"type":"refresh","token":"t.o.k","ref":"r1"}"#,
            json!({"ok": {"refresh": "t.o.k"}, "ref": "r1"}),
        ),
        // Unknown fields are ignored (forward compatibility).
        (
            r#"{"type":"join","room":"r","extra":{"a":1}}"#,
            json!({"ok": {"join": "r"}, "ref": null}),
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(outcome(frame), want, "{frame}");
    }
}

#[test]
fn malformed_frames_are_bad_requests_with_what_can_be_echoed() {
    let cases = [
        ("not json", err("bad_request", None, None)),
        ("[1,2]", err("bad_request", None, None)),
        (
            r#"{"room":"r","ref":"x"}"#,
            err("bad_request", Some("x"), Some("r")),
        ),
        (
            r#"{"type":"dance","room":"r","ref":"x"}"#,
            err("bad_request", Some("x"), Some("r")),
        ),
        (
            r#"{"type":"join","ref":"j"}"#,
            err("bad_request", Some("j"), None),
        ),
        (
            r#"{"type":"join","room":5}"#,
            err("bad_request", None, None),
        ),
        (
            r#"{"type":"join","room":"a/b","ref":"j"}"#,
            err("bad_request", Some("j"), None),
        ),
        (
            &format!(r#"{{"type":"join","room":"{}"}}"#, "x".repeat(65)),
            err("bad_request", None, None),
        ),
        (
            r#"{"type":"join","room":""}"#,
            err("bad_request", None, None),
        ),
        (
            r#"{"type":"history","room":"r","limit":"ten"}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"history","room":"r","limit":0}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"history","room":"r","limit":101}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"history","room":"r","before":"nope"}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"message","room":"r","text":" \u0000\t ","ref":"m"}"#,
            err("bad_request", Some("m"), Some("r")),
        ),
        (
            r#"{"type":"timeout","room":"r","user":"u2","seconds":0}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"timeout","room":"r","user":"u2","seconds":1209601}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"ban","room":"r","user":""}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            &format!(r#"{{"type":"ban","room":"r","user":"{}"}}"#, "u".repeat(65)),
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"slow_mode","room":"r","seconds":-1}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"slow_mode","room":"r","seconds":86401}"#,
            err("bad_request", None, Some("r")),
        ),
        (
            r#"{"type":"delete","room":"r","id":"x"}"#,
            err("bad_request", None, Some("r")),
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(outcome(frame), want, "{frame}");
    }
}

#[test]
fn a_ref_longer_than_64_characters_is_refused_and_not_echoed() {
    let frame = format!(r#"{{"type":"ping","ref":"{}"}}"#, "r".repeat(65));
    assert_eq!(outcome(&frame), err("bad_request", None, None));
    let frame = format!(r#"{{"type":"join","room":"r","ref":"{}"}}"#, "r".repeat(65));
    assert_eq!(outcome(&frame), err("bad_request", None, Some("r")));
    let frame = format!(r#"{{"type":"ping","ref":"{}"}}"#, "r".repeat(64));
    assert_eq!(outcome(&frame)["ok"], "ping");
}

#[test]
fn text_and_reason_over_their_limits_are_too_long() {
    let frame = format!(
        r#"{{"type":"message","room":"r","text":"{}","ref":"m"}}"#,
        "é".repeat(501)
    );
    assert_eq!(outcome(&frame), err("too_long", Some("m"), Some("r")));
    let frame = format!(
        r#"{{"type":"message","room":"r","text":"{}"}}"#,
        "é".repeat(500)
    );
    assert!(outcome(&frame)["ok"].is_object(), "500 characters fit");
    let frame = format!(
        r#"{{"type":"ban","room":"r","user":"u","reason":"{}"}}"#,
        "x".repeat(201)
    );
    assert_eq!(outcome(&frame), err("too_long", None, Some("r")));
}
