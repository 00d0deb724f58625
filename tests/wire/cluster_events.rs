//! The node-to-node envelope on a room's Redis channel. Nodes of two versions
//! run side by side during a rolling restart, so each event's JSON is pinned
//! both ways: what this version writes, and that it reads exactly that.

use roomcast::bridge::{ClusterEvent, Envelope};
use roomcast::protocol::{ChatMessage, MessageId, ModAction, UserId};
use serde_json::value::RawValue;

fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

fn round_trip(event: ClusterEvent, json: &str) {
    let env = Envelope {
        node: "pod-a".into(),
        seq: None,
        epoch: None,
        event,
    };
    let written = serde_json::to_string(&env).unwrap();
    assert_eq!(written, json);
    let read: Envelope = serde_json::from_str(json).unwrap();
    assert_eq!(read.node, "pod-a");
    assert_eq!(serde_json::to_string(&read).unwrap(), json);
}

#[test]
fn a_chat_message() {
    let msg = ChatMessage {
        room: "r".into(),
        id: "01J00000000000000000000000".into(),
        user: "u1".into(),
        name: "Ann".into(),
        text: "hi".into(),
        ts: 5,
        badges: vec!["vip".into()],
        seq: None,
        epoch: None,
    };
    round_trip(
        ClusterEvent::Message { msg },
        r#"{"node":"pod-a","event":{"message":{"msg":{"room":"r","id":"01J00000000000000000000000","user":"u1","name":"Ann","text":"hi","ts":5,"badges":["vip"]}}}}"#,
    );
}

#[test]
fn every_moderator_action() {
    let cases = [
        (
            ModAction::Delete {
                id: MessageId::parse("01J00000000000000000000000").unwrap(),
            },
            r#"{"delete":{"id":"01J00000000000000000000000"}}"#,
        ),
        (
            ModAction::Timeout {
                user: user("u2"),
                seconds: 300,
                reason: Some("spam".into()),
            },
            r#"{"timeout":{"user":"u2","seconds":300,"reason":"spam"}}"#,
        ),
        (
            ModAction::Ban {
                user: user("u2"),
                reason: None,
            },
            r#"{"ban":{"user":"u2","reason":null}}"#,
        ),
        (
            ModAction::Unban { user: user("u2") },
            r#"{"unban":{"user":"u2"}}"#,
        ),
        (
            ModAction::SlowMode { seconds: 10 },
            r#"{"slow_mode":{"seconds":10}}"#,
        ),
    ];
    for (action, json) in cases {
        round_trip(
            ClusterEvent::Moderation {
                by: "mod1".into(),
                action,
            },
            &format!(
                r#"{{"node":"pod-a","event":{{"moderation":{{"by":"mod1","action":{json}}}}}}}"#
            ),
        );
    }
}

#[test]
fn a_platform_event() {
    round_trip(
        ClusterEvent::Event {
            name: "sale".into(),
            data: RawValue::from_string(r#"{"sku":"A-1"}"#.into()).unwrap(),
        },
        r#"{"node":"pod-a","event":{"event":{"name":"sale","data":{"sku":"A-1"}}}}"#,
    );
}

#[test]
fn a_reaction_window() {
    round_trip(
        ClusterEvent::Reactions {
            counts: vec![("heart".into(), 3), ("fire".into(), 1)],
        },
        r#"{"node":"pod-a","event":{"reactions":{"counts":[["heart",3],["fire",1]]}}}"#,
    );
}

#[test]
fn a_presence_count() {
    round_trip(
        ClusterEvent::Presence {
            count: 7,
            ranks: Vec::new(),
        },
        r#"{"node":"pod-a","event":{"presence":{"count":7}}}"#,
    );
}

#[test]
fn an_older_or_newer_node_may_add_fields_we_ignore() {
    let json = r#"{"node":"pod-b","v":2,"event":{"presence":{"count":7,"extra":true}}}"#;
    let read: Envelope = serde_json::from_str(json).unwrap();
    assert!(matches!(
        read.event,
        ClusterEvent::Presence { count: 7, .. }
    ));
}
