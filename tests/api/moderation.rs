//! Moderator frames and their semantics: delete, timeout, ban, unban, slow mode.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn a_moderator_deletes_a_message_and_it_leaves_recent_history_and_the_api() {
    let app = spawn_app().await;
    let mut m = app.connect_mod("mia", &["r"]).await;
    let mut ann = app.connect("ann").await;
    m.join("r").await;
    ann.join("r").await;
    let keep = ann.say("r", "keep me", "1").await["id"].clone();
    let gone = ann.say("r", "delete me", "2").await["id"].clone();
    m.send(json!({"type":"delete","room":"r","id":gone,"ref":"d"}))
        .await;
    let ack = m
        .expect("reply", |f| f["type"] == "ack" && f["ref"] == "d")
        .await;
    assert_eq!(ack["id"], gone);
    let deleted = ann.expect_type("deleted").await;
    assert_eq!(
        deleted,
        json!({"type":"deleted","room":"r","id":gone,"by":"mia"})
    );

    let mut late = app.connect("late").await;
    let recent = late.join("r").await["recent"].clone();
    let ids: Vec<_> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, std::slice::from_ref(&keep));
    late.send(json!({"type":"history","room":"r","ref":"h"}))
        .await;
    let h = late.expect_type("history").await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
    let (_, body) = app.get("/api/rooms/r/messages", Some(API_KEY)).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(body["messages"][0]["id"], keep);
}

#[actix_web::test]
async fn a_non_moderator_is_refused_every_moderator_frame_and_nothing_happens() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    // A moderator of another room is not a moderator here either.
    let mut other = app.connect_mod("otto", &["elsewhere"]).await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    other.join("r").await;
    bob.join("r").await;
    let id = bob.say("r", "hello", "b").await["id"].clone();
    for client in [&mut ann, &mut other] {
        for frame in [
            json!({"type":"delete","room":"r","id":id,"ref":"x1"}),
            json!({"type":"timeout","room":"r","user":"bob","seconds":60,"ref":"x2"}),
            json!({"type":"ban","room":"r","user":"bob","ref":"x3"}),
            json!({"type":"unban","room":"r","user":"bob","ref":"x4"}),
            json!({"type":"slow_mode","room":"r","seconds":5,"ref":"x5"}),
        ] {
            let reference = frame["ref"].clone();
            client.send(frame).await;
            let err = client.expect_error("forbidden").await;
            assert_eq!(err["ref"], reference);
        }
    }
    // Bob can still talk, his message is still there, no slow mode.
    assert_eq!(bob.say("r", "still here", "c").await["type"], "ack");
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(info["slow_mode"], 0);
    let (_, msgs) = app.get("/api/rooms/r/messages", Some(API_KEY)).await;
    assert_eq!(msgs["messages"].as_array().unwrap().len(), 2);
    let (_, log) = app.get("/api/rooms/r/moderation", Some(API_KEY)).await;
    assert_eq!(log["actions"], json!([]));
}

#[actix_web::test]
async fn a_ban_removes_every_connection_of_the_user_their_messages_and_blocks_rejoining() {
    let app = spawn_app().await;
    let mut m = app.connect_mod("mia", &["*"]).await;
    let mut troll1 = app.connect("troll").await;
    let mut troll2 = app.connect("troll").await;
    let mut ann = app.connect("ann").await;
    for c in [&mut m, &mut troll1, &mut troll2, &mut ann] {
        c.join("r").await;
    }
    // Counts are coalesced: see 4 first, so the drop to 2 is a change.
    ann.expect("viewers 4", |f| f["type"] == "viewers" && f["count"] == 4)
        .await;
    troll1.say("r", "spam", "s1").await;
    let good = ann.say("r", "nice stream", "a1").await["id"].clone();
    m.send(json!({"type":"ban","room":"r","user":"troll","reason":"spam","ref":"b"}))
        .await;
    m.expect("reply", |f| f["type"] == "ack" && f["ref"] == "b")
        .await;
    for troll in [&mut troll1, &mut troll2] {
        let left = troll.expect_type("left").await;
        assert_eq!(left, json!({"type":"left","room":"r","reason":"banned"}));
    }
    let mod_frame = ann.expect_type("moderation").await;
    assert_eq!(
        mod_frame,
        json!({"type":"moderation","room":"r","action":"ban","user":"troll","reason":"spam","by":"mia"})
    );
    ann.expect("viewers 2", |f| f["type"] == "viewers" && f["count"] == 2)
        .await;
    // Removed: posting is not_joined, rejoining is banned.
    troll1
        .send(json!({"type":"message","room":"r","text":"hi","ref":"t"}))
        .await;
    troll1.expect_error("not_joined").await;
    troll2
        .send(json!({"type":"join","room":"r","ref":"j"}))
        .await;
    let err = troll2.expect_error("banned").await;
    assert_eq!(err["ref"], "j");
    // A new joiner's recent has Ann's message only.
    let mut late = app.connect("late").await;
    let recent = late.join("r").await["recent"].clone();
    let ids: Vec<_> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [good]);
    // Unban lifts it.
    m.send(json!({"type":"unban","room":"r","user":"troll","ref":"u"}))
        .await;
    m.expect("reply", |f| f["type"] == "ack" && f["ref"] == "u")
        .await;
    let unban = ann.expect_type("moderation").await;
    assert_eq!(unban["action"], "unban");
    troll2.join("r").await;
}

#[actix_web::test]
async fn a_timed_out_user_watches_but_cannot_post_until_it_expires() {
    let app = spawn_app().await;
    let mut m = app.connect_mod("mia", &["r"]).await;
    let mut ann = app.connect("ann").await;
    m.join("r").await;
    ann.join("r").await;
    m.send(json!({"type":"timeout","room":"r","user":"ann","seconds":1,"reason":"calm down","ref":"t"})).await;
    m.expect("reply", |f| f["type"] == "ack" && f["ref"] == "t")
        .await;
    let f = ann.expect_type("moderation").await;
    assert_eq!(
        f,
        json!({"type":"moderation","room":"r","action":"timeout","user":"ann","seconds":1,"reason":"calm down","by":"mia"})
    );
    let err = ann.say("r", "let me talk", "x").await;
    assert_eq!(err["code"], "timed_out", "{err}");
    let left = err["retry_after_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&left), "{left}");
    ann.send(json!({"type":"reaction","room":"r","emoji":"heart","ref":"r"}))
        .await;
    ann.expect_error("timed_out").await;
    // Still a member: she sees others' messages.
    m.say("r", "mods can talk", "m").await;
    ann.expect("frame", |f| {
        f["type"] == "message" && f["text"] == "mods can talk"
    })
    .await;
    // After the time the server told her, she may post again.
    tokio::time::sleep(Duration::from_millis(left + 20)).await;
    assert_eq!(ann.say("r", "back", "y").await["type"], "ack");
}

#[actix_web::test]
async fn slow_mode_spaces_out_each_users_messages_but_not_moderators() {
    let app = spawn_app().await;
    let mut m = app.connect_mod("mia", &["r"]).await;
    let mut ann = app.connect("ann").await;
    m.join("r").await;
    ann.join("r").await;
    m.send(json!({"type":"slow_mode","room":"r","seconds":30,"ref":"s"}))
        .await;
    m.expect("reply", |f| f["type"] == "ack" && f["ref"] == "s")
        .await;
    assert_eq!(
        ann.expect_type("slow_mode").await,
        json!({"type":"slow_mode","room":"r","seconds":30})
    );
    assert_eq!(ann.say("r", "one", "1").await["type"], "ack");
    let err = ann.say("r", "two", "2").await;
    assert_eq!(err["code"], "slow_mode");
    let wait = err["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 29_000 && wait <= 30_000, "{wait}");
    for i in 0..3 {
        assert_eq!(m.say("r", "mod", &format!("m{i}")).await["type"], "ack");
    }
    // A new joiner learns the slow mode in joined.
    let mut late = app.connect("late").await;
    assert_eq!(late.join("r").await["slow_mode"], 30);
    // 0 turns it off.
    m.send(json!({"type":"slow_mode","room":"r","seconds":0,"ref":"off"}))
        .await;
    ann.expect("frame", |f| f["type"] == "slow_mode" && f["seconds"] == 0)
        .await;
    assert_eq!(ann.say("r", "free again", "3").await["type"], "ack");
}

#[actix_web::test]
async fn bans_timeouts_and_slow_mode_survive_a_restart() {
    let app = spawn_app().await;
    let mut m = app.connect_mod("mia", &["r"]).await;
    m.join("r").await;
    for (frame, reference) in [
        (
            json!({"type":"ban","room":"r","user":"troll","ref":"1"}),
            "1",
        ),
        (
            json!({"type":"timeout","room":"r","user":"ann","seconds":600,"ref":"2"}),
            "2",
        ),
        (
            json!({"type":"slow_mode","room":"r","seconds":15,"ref":"3"}),
            "3",
        ),
    ] {
        m.send(frame).await;
        m.expect("reply", |f| f["type"] == "ack" && f["ref"] == reference)
            .await;
    }
    m.close().await;

    let app = app.restart().await;
    let mut troll = app.connect("troll").await;
    troll.send(json!({"type":"join","room":"r"})).await;
    troll.expect_error("banned").await;
    let mut ann = app.connect("ann").await;
    assert_eq!(ann.join("r").await["slow_mode"], 15);
    let err = ann.say("r", "hello?", "x").await;
    assert_eq!(err["code"], "timed_out");
    assert!(err["retry_after_ms"].as_u64().unwrap() > 590_000);
}
