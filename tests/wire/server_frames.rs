//! Every server frame of contract §2, byte for byte.

use roomcast::protocol::moderation::{ChatSettings, MessageFrame, PinView};
use roomcast::protocol::{
    ChatMessage, ErrorCode, LeftReason, Refusal, ServerFrame, WelcomeUser, encode,
    encode_message_list,
};
use serde_json::value::RawValue;

fn msg() -> ChatMessage {
    ChatMessage {
        room: "r".into(),
        id: "01J00000000000000000000000".into(),
        user: "u1".into(),
        name: "Ann".into(),
        text: "hi \"there\"".into(),
        ts: 1_795_446_000_000,
        badges: vec!["mod".into()],
        seq: None,
        epoch: None,
    }
}

/// Every §7 setting, off.
const SETTINGS: &str = r#"{"slow_mode":0,"followers_only":null,"subscribers_only":false,"emote_only":false,"unique_chat":false,"chat_delay_ms":0,"private":false,"typing":null}"#;
const MSG: &str = r#"{"type":"message","room":"r","id":"01J00000000000000000000000","user":"u1","name":"Ann","text":"hi \"there\"","ts":1795446000000,"badges":["mod"]}"#;

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap()
}

#[test]
fn welcome() {
    let mods = vec!["r1".to_owned()];
    let f = encode(&ServerFrame::Welcome {
        user: WelcomeUser {
            id: "u1",
            name: "Ann",
            anonymous: false,
            moderates: &mods,
        },
        node: "pod-a",
        heartbeat_ms: 30000,
        expires_at: None,
    });
    assert_eq!(
        &*f,
        r#"{"type":"welcome","user":{"id":"u1","name":"Ann","anonymous":false,"mod":["r1"]},"node":"pod-a","heartbeat_ms":30000}"#
    );
}

#[test]
fn welcome_with_a_token_expiry() {
    let f = encode(&ServerFrame::Welcome {
        user: WelcomeUser {
            id: "u1",
            name: "Ann",
            anonymous: false,
            moderates: &[],
        },
        node: "pod-a",
        heartbeat_ms: 30000,
        expires_at: Some(1_795_446_000_000),
    });
    assert_eq!(
        &*f,
        r#"{"type":"welcome","user":{"id":"u1","name":"Ann","anonymous":false,"mod":[]},"node":"pod-a","heartbeat_ms":30000,"expires_at":1795446000000}"#
    );
}

#[test]
fn joined_with_recent() {
    let recent = encode_message_list([msg()].iter());
    // v2 adds `seq` and `epoch` (§5, and `recovered` on a resume), then
    // `settings` (§7, always) and `pinned` (§7, while a pin lives) after v1's fields.
    let settings = ChatSettings::default();
    let f = encode(&ServerFrame::Joined {
        room: "r",
        viewers: 142,
        slow_mode: 0,
        recent: &recent,
        seq: 1041,
        epoch: "e1",
        recovered: None,
        state: None,
        stream: None,
        settings: &settings,
        pinned: None,
    });
    assert_eq!(
        &*f,
        format!(
            r#"{{"type":"joined","room":"r","viewers":142,"slow_mode":0,"recent":[{MSG}],"seq":1041,"epoch":"e1","settings":{SETTINGS}}}"#
        )
    );
    let empty = encode_message_list(std::iter::empty());
    let pinned = msg();
    let f = encode(&ServerFrame::Joined {
        room: "r",
        viewers: 1,
        slow_mode: 10,
        recent: &empty,
        seq: 0,
        epoch: "e1",
        recovered: Some(true),
        state: None,
        stream: None,
        settings: &settings,
        pinned: Some(PinView {
            message: MessageFrame::plain(&pinned),
            until: 5,
        }),
    });
    assert_eq!(
        &*f,
        format!(
            r#"{{"type":"joined","room":"r","viewers":1,"slow_mode":10,"recent":[],"seq":0,"epoch":"e1","recovered":true,"settings":{SETTINGS},"pinned":{{"message":{MSG},"until":5}}}}"#
        )
    );
}

#[test]
fn a_message_carries_its_seq() {
    let mut m = msg();
    m.seq = Some(7);
    m.epoch = Some("not on the wire".into());
    let f = encode(&ServerFrame::Message(&m));
    assert_eq!(
        &*f,
        MSG.replace(r#""badges":["mod"]}"#, r#""badges":["mod"],"seq":7}"#)
    );
}

#[test]
fn left_for_each_reason() {
    for (reason, name) in [
        (LeftReason::Leave, "leave"),
        (LeftReason::Banned, "banned"),
        (LeftReason::Shutdown, "shutdown"),
    ] {
        let f = encode(&ServerFrame::Left { room: "r", reason });
        assert_eq!(
            &*f,
            format!(r#"{{"type":"left","room":"r","reason":"{name}"}}"#)
        );
    }
}

#[test]
fn message() {
    assert_eq!(&*encode(&ServerFrame::Message(&msg())), MSG);
}

#[test]
fn ack_with_and_without_ref() {
    let f = encode(&ServerFrame::Ack {
        reference: Some("c1"),
        id: "01J00000000000000000000000",
    });
    assert_eq!(
        &*f,
        r#"{"type":"ack","ref":"c1","id":"01J00000000000000000000000"}"#
    );
    let f = encode(&ServerFrame::Ack {
        reference: None,
        id: "01J00000000000000000000000",
    });
    assert_eq!(&*f, r#"{"type":"ack","id":"01J00000000000000000000000"}"#);
}

#[test]
fn reactions() {
    let mut counts = serde_json::Map::new();
    counts.insert("heart".into(), 45.into());
    counts.insert("fire".into(), 12.into());
    let f = encode(&ServerFrame::Reactions {
        room: "r",
        counts: &counts,
    });
    // serde_json's map keeps keys sorted.
    assert_eq!(
        &*f,
        r#"{"type":"reactions","room":"r","counts":{"fire":12,"heart":45}}"#
    );
}

#[test]
fn viewers() {
    let f = encode(&ServerFrame::Viewers {
        room: "r",
        count: 156,
    });
    assert_eq!(&*f, r#"{"type":"viewers","room":"r","count":156}"#);
}

#[test]
fn deleted() {
    let f = encode(&ServerFrame::Deleted {
        room: "r",
        id: "01J00000000000000000000000",
        by: "mod1",
    });
    assert_eq!(
        &*f,
        r#"{"type":"deleted","room":"r","id":"01J00000000000000000000000","by":"mod1"}"#
    );
}

#[test]
fn moderation_with_and_without_optional_fields() {
    let f = encode(&ServerFrame::Moderation {
        room: "r",
        action: "timeout",
        user: "u2",
        seconds: Some(300),
        reason: Some("spam"),
        by: "mod1",
        id: None,
    });
    assert_eq!(
        &*f,
        r#"{"type":"moderation","room":"r","action":"timeout","user":"u2","seconds":300,"reason":"spam","by":"mod1"}"#
    );
    let f = encode(&ServerFrame::Moderation {
        room: "r",
        action: "unban",
        user: "u2",
        seconds: None,
        reason: None,
        by: "mod1",
        id: None,
    });
    assert_eq!(
        &*f,
        r#"{"type":"moderation","room":"r","action":"unban","user":"u2","by":"mod1"}"#
    );
}

#[test]
fn slow_mode() {
    let f = encode(&ServerFrame::SlowMode {
        room: "r",
        seconds: 10,
    });
    assert_eq!(&*f, r#"{"type":"slow_mode","room":"r","seconds":10}"#);
}

#[test]
fn event() {
    let data = raw(r#"{"sku":"A-1","stock":3}"#);
    let f = encode(&ServerFrame::Event {
        room: "r",
        name: "product_highlighted",
        data: &data,
    });
    assert_eq!(
        &*f,
        r#"{"type":"event","room":"r","name":"product_highlighted","data":{"sku":"A-1","stock":3}}"#
    );
}

#[test]
fn history() {
    let list = encode_message_list([msg()].iter());
    let f = encode(&ServerFrame::History {
        reference: Some("h1"),
        room: "r",
        messages: &list,
    });
    assert_eq!(
        &*f,
        format!(r#"{{"type":"history","ref":"h1","room":"r","messages":[{MSG}]}}"#)
    );
}

#[test]
fn pong() {
    let f = encode(&ServerFrame::Pong {
        reference: Some("p1"),
        ts: 5,
    });
    assert_eq!(&*f, r#"{"type":"pong","ref":"p1","ts":5}"#);
    let f = encode(&ServerFrame::Pong {
        reference: None,
        ts: 5,
    });
    assert_eq!(&*f, r#"{"type":"pong","ts":5}"#);
}

#[test]
fn error_with_every_field_and_with_none() {
    let f = Refusal::retry(ErrorCode::RateLimited, "slow down", 800).frame(Some("r"), Some("c1"));
    assert_eq!(
        &*f,
        r#"{"type":"error","ref":"c1","room":"r","code":"rate_limited","message":"slow down","retry_after_ms":800}"#
    );
    let f = Refusal::new(ErrorCode::BadRequest, "nope").frame(None, None);
    assert_eq!(
        &*f,
        r#"{"type":"error","code":"bad_request","message":"nope"}"#
    );
    // A retry is never "0 ms" (a client would spin).
    let f = Refusal::retry(ErrorCode::SlowMode, "wait", 0).frame(None, None);
    assert_eq!(
        &*f,
        r#"{"type":"error","code":"slow_mode","message":"wait","retry_after_ms":1}"#
    );
}

#[test]
fn every_v1_error_code_has_its_contract_name() {
    let codes = [
        (ErrorCode::BadRequest, "bad_request"),
        (ErrorCode::Unauthorized, "unauthorized"),
        (ErrorCode::Forbidden, "forbidden"),
        (ErrorCode::NotJoined, "not_joined"),
        (ErrorCode::Banned, "banned"),
        (ErrorCode::TimedOut, "timed_out"),
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::SlowMode, "slow_mode"),
        (ErrorCode::TooLong, "too_long"),
        (ErrorCode::TooManyRooms, "too_many_rooms"),
        (ErrorCode::Internal, "internal"),
    ];
    for (code, name) in codes {
        let f = Refusal::new(code, "m").frame(None, None);
        assert_eq!(
            &*f,
            format!(r#"{{"type":"error","code":"{name}","message":"m"}}"#)
        );
    }
}

#[test]
fn reconnect() {
    let f = encode(&ServerFrame::Reconnect { after_ms: 500 });
    assert_eq!(&*f, r#"{"type":"reconnect","after_ms":500}"#);
}
