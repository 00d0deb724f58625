//! Joining, chatting, acks, history and persistence across a restart.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn joined_reports_viewers_slow_mode_and_empty_recent() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let joined = ann.join("r1").await;
    assert_eq!(joined["viewers"], 1);
    assert_eq!(joined["slow_mode"], 0);
    assert_eq!(joined["recent"], json!([]));
}

#[actix_web::test]
async fn a_message_is_acked_to_its_sender_and_reaches_every_member() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut cat = app.connect_anon().await;
    ann.join("r1").await;
    bob.join("r1").await;
    cat.join("r1").await;

    let ack = ann.say("r1", "  hello\u{7} room  ", "c1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let id = ack["id"].as_str().expect("ack carries the id").to_owned();
    assert_eq!(id.len(), 26);

    for client in [&mut ann, &mut bob, &mut cat] {
        let m = client.expect_type("message").await;
        assert_eq!(m["id"], id.as_str());
        assert_eq!(m["room"], "r1");
        assert_eq!(m["user"], "ann");
        assert_eq!(m["name"], "ann");
        assert_eq!(m["text"], "hello room");
        assert_eq!(m["badges"], json!([]));
        assert!(m["ts"].as_i64().unwrap() > 1_700_000_000_000);
    }
}

#[actix_web::test]
async fn one_senders_messages_arrive_in_order() {
    let app = spawn_app_with(|s| s.limits.messages_per_window = 100).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    for i in 0..30 {
        ann.send(json!({"type":"message","room":"r","text":format!("m{i}")}))
            .await;
    }
    for i in 0..30 {
        let m = bob.expect_type("message").await;
        assert_eq!(m["text"], format!("m{i}"));
    }
}

#[actix_web::test]
async fn moderators_messages_carry_the_mod_badge_and_token_badges() {
    let app = spawn_app().await;
    let token = app.token_with(roomcast::auth::Claims {
        sub: "m1".into(),
        exp: roomcast::auth::now_s() + 60,
        nbf: None,
        name: Some("Mia".into()),
        moderates: vec!["r1".into()],
        badges: vec!["seller".into()],
    });
    let mut mia = Client::connect(&format!("{}?token={token}", app.ws_url())).await;
    assert_eq!(
        mia.welcome["user"],
        json!({"id":"m1","name":"Mia","anonymous":false,"mod":["r1"]})
    );
    assert_eq!(mia.welcome["node"], "test-node");
    mia.join("r1").await;
    mia.join("r2").await;
    mia.say("r1", "in my room", "a").await;
    let m = mia.expect_type("message").await;
    assert_eq!(m["badges"], json!(["seller", "mod"]));
    assert_eq!(m["name"], "Mia");
    mia.say("r2", "elsewhere", "b").await;
    let m = mia
        .expect("message in r2", |f| {
            f["type"] == "message" && f["room"] == "r2"
        })
        .await;
    assert_eq!(m["badges"], json!(["seller"]));
}

#[actix_web::test]
async fn leave_answers_left_and_stops_delivery() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    bob.send(json!({"type":"leave","room":"r"})).await;
    let left = bob.expect_type("left").await;
    assert_eq!(left, json!({"type":"left","room":"r","reason":"leave"}));
    ann.say("r", "anyone?", "x").await;
    // Bob is no longer a member: his next answer is to his own ping, not Ann's message.
    bob.send(json!({"type":"ping","ref":"p"})).await;
    let next = bob.next().await;
    assert_eq!(next["type"], "pong", "bob got {next}");
    // And he cannot post there any more.
    bob.send(json!({"type":"message","room":"r","text":"hi","ref":"m"}))
        .await;
    let err = bob.expect_error("not_joined").await;
    assert_eq!(err["ref"], "m");
}

#[actix_web::test]
async fn requests_for_rooms_not_joined_are_refused_with_not_joined() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    for frame in [
        json!({"type":"message","room":"r","text":"hi","ref":"1"}),
        json!({"type":"leave","room":"r","ref":"2"}),
        json!({"type":"history","room":"r","ref":"3"}),
        json!({"type":"reaction","room":"r","emoji":"heart","ref":"4"}),
    ] {
        let reference = frame["ref"].clone();
        ann.send(frame).await;
        let err = ann.expect_error("not_joined").await;
        assert_eq!(err["ref"], reference);
        assert_eq!(err["room"], "r");
    }
}

#[actix_web::test]
async fn anonymous_viewers_watch_but_cannot_chat() {
    let app = spawn_app().await;
    let mut anon = app.connect_anon().await;
    let user = &anon.welcome["user"];
    assert_eq!(user["anonymous"], true);
    assert!(user["id"].as_str().unwrap().starts_with("anon-"));
    anon.join("r").await;
    anon.send(json!({"type":"message","room":"r","text":"hi","ref":"a"}))
        .await;
    let err = anon.expect_error("forbidden").await;
    assert_eq!(err["ref"], "a");
}

#[actix_web::test]
async fn text_limits_are_enforced() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let err = ann.say("r", &"x".repeat(501), "long").await;
    assert_eq!(err["code"], "too_long", "{err}");
    let err = ann.say("r", " \u{1}\u{2} ", "empty").await;
    assert_eq!(err["code"], "bad_request", "{err}");
    let ok = ann.say("r", &"é".repeat(500), "max").await;
    assert_eq!(ok["type"], "ack", "{ok}");
}

#[actix_web::test]
async fn a_connection_may_join_at_most_ten_rooms() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    for i in 0..10 {
        ann.join(&format!("room{i}")).await;
    }
    ann.send(json!({"type":"join","room":"room10","ref":"j"}))
        .await;
    let err = ann.expect_error("too_many_rooms").await;
    assert_eq!(err["ref"], "j");
    // Rejoining one it is in is fine, and leaving makes room for another.
    ann.join("room3").await;
    ann.send(json!({"type":"leave","room":"room0"})).await;
    ann.expect_type("left").await;
    ann.join("room10").await;
}

#[actix_web::test]
async fn ping_gets_pong_with_ref_and_time() {
    let app = spawn_app().await;
    let mut ann = app.connect_anon().await;
    ann.send(json!({"type":"ping","ref":"p1"})).await;
    let pong = ann.expect_type("pong").await;
    assert_eq!(pong["ref"], "p1");
    assert!(pong["ts"].as_i64().unwrap() > 1_700_000_000_000);
}

#[actix_web::test]
async fn history_pages_backwards_oldest_first() {
    let app = spawn_app_with(|s| s.limits.messages_per_window = 100).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let ack = ann.say("r", &format!("m{i}"), &format!("c{i}")).await;
        ids.push(ack["id"].as_str().unwrap().to_owned());
    }
    ann.send(json!({"type":"history","room":"r","limit":5,"ref":"h1"}))
        .await;
    let h = ann.expect_type("history").await;
    assert_eq!(h["ref"], "h1");
    assert_eq!(h["room"], "r");
    let texts: Vec<_> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["m7", "m8", "m9", "m10", "m11"]);
    ann.send(json!({"type":"history","room":"r","before":ids[7],"limit":5,"ref":"h2"}))
        .await;
    let h = ann.expect_type("history").await;
    let texts: Vec<_> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["m2", "m3", "m4", "m5", "m6"]);
    assert_eq!(h["messages"][0]["type"], "message");
    ann.send(json!({"type":"history","room":"r","limit":101,"ref":"h3"}))
        .await;
    ann.expect_error("bad_request").await;
}

#[actix_web::test]
async fn recent_holds_the_last_fifty_messages() {
    let app = spawn_app_with(|s| s.limits.messages_per_window = 100).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    for i in 0..55 {
        ann.say("r", &format!("m{i}"), &format!("c{i}")).await;
    }
    let mut bob = app.connect("bob").await;
    let joined = bob.join("r").await;
    let recent = joined["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 50);
    assert_eq!(recent[0]["text"], "m5");
    assert_eq!(recent[49]["text"], "m54");
    assert_eq!(recent[49]["type"], "message");
}

#[actix_web::test]
async fn messages_survive_a_restart_in_recent_and_history() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let a = ann.say("r", "before the restart", "1").await;
    let b = ann.say("r", "still here", "2").await;
    ann.close().await;

    let app = app.restart().await;
    let mut bob = app.connect("bob").await;
    let joined = bob.join("r").await;
    let recent = joined["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2, "{joined}");
    assert_eq!(recent[0]["id"], a["id"]);
    assert_eq!(recent[1]["id"], b["id"]);
    assert_eq!(recent[1]["text"], "still here");
    bob.send(json!({"type":"history","room":"r","ref":"h"}))
        .await;
    let h = bob.expect_type("history").await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 2);
}
