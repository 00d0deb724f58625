//! Contract §5 on one node: sequence numbers, epochs, and resuming exactly.

use serde_json::{Value, json};

use crate::helpers::*;

/// Post `n` messages through the API; answers their ids.
async fn post(app: &TestApp, room: &str, n: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (status, body) = app
            .request(
                awc::http::Method::POST,
                &format!("/api/rooms/{room}/messages"),
                Some(API_KEY),
                Some(json!({"user":"bot","text":format!("{tag} {i}")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn seqs(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().expect("every message carries its seq"))
        .collect()
}

#[actix_web::test]
async fn every_message_carries_a_seq_that_grows_by_one_and_joined_says_where_it_stands() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let joined = ann.join("r").await;
    assert_eq!(joined["seq"], 0);
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    assert!(!epoch.is_empty());
    assert!(joined.get("recovered").is_none(), "no since, no recovered");
    let mut got = Vec::new();
    for i in 0..3 {
        ann.say("r", &format!("m{i}"), &format!("c{i}")).await;
        got.push(ann.expect_type("message").await["seq"].as_u64().unwrap());
    }
    post(&app, "r", 2, "api").await;
    for _ in 0..2 {
        got.push(ann.expect_type("message").await["seq"].as_u64().unwrap());
    }
    assert_eq!(got, [1, 2, 3, 4, 5]);
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(
        (info["seq"].as_u64(), info["epoch"].as_str()),
        (Some(5), Some(epoch.as_str()))
    );
    // Stored with their seq: history and the REST API show it.
    let (_, body) = app.get("/api/rooms/r/messages", Some(API_KEY)).await;
    assert_eq!(seqs(&body["messages"]), [1, 2, 3, 4, 5]);
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert_eq!(seqs(&joined["recent"]), [1, 2, 3, 4, 5]);
    assert_eq!(joined["seq"], 5);
}

#[actix_web::test]
async fn a_resume_gets_exactly_the_missed_messages_deleted_ones_left_out() {
    let app = spawn_app_with(|s| s.api.posts_per_room_per_second = 10_000).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    post(&app, "r", 60, "before").await;
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    let (seq, epoch) = (
        info["seq"].as_u64().unwrap(),
        info["epoch"].as_str().unwrap().to_owned(),
    );
    assert_eq!(seq, 60);
    ann.close().await;
    // 70 more while Ann is away (more than the 50 of a plain join), one deleted.
    let missed = post(&app, "r", 70, "missed").await;
    let (status, _) = app
        .request(
            awc::http::Method::DELETE,
            &format!("/api/rooms/r/messages/{}", missed[10]),
            Some(API_KEY),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut ann = app.connect("ann").await;
    ann.send(json!({"type":"join","room":"r","since":{"seq":seq,"epoch":epoch}}))
        .await;
    let joined = ann.expect_type("joined").await;
    assert_eq!(joined["recovered"], true, "{joined}");
    let want: Vec<u64> = (61..=130).filter(|s| *s != 71).collect();
    assert_eq!(seqs(&joined["recent"]), want);
    assert_eq!(joined["seq"], 130);
    // And live from there, with no gap.
    post(&app, "r", 1, "after").await;
    assert_eq!(ann.expect_type("message").await["seq"], 131);
}

#[actix_web::test]
async fn another_epoch_or_too_much_missed_is_not_recovered_and_gets_the_usual_recent() {
    let app = spawn_app_with(|s| s.recovery.max_messages = 5).await;
    let mut ann = app.connect("ann").await;
    let joined = ann.join("r").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    post(&app, "r", 8, "m").await;
    for since in [
        json!({"seq":0,"epoch":"another"}),
        json!({"seq":1,"epoch":epoch}),
    ] {
        let mut bob = app.connect("bob").await;
        bob.send(json!({"type":"join","room":"r","since":since}))
            .await;
        let joined = bob.expect_type("joined").await;
        assert_eq!(joined["recovered"], false, "{since}");
        assert_eq!(seqs(&joined["recent"]), (1..=8).collect::<Vec<_>>());
    }
    // Within the window: recovered.
    let mut cat = app.connect("cat").await;
    cat.send(json!({"type":"join","room":"r","since":{"seq":4,"epoch":epoch}}))
        .await;
    let joined = cat.expect_type("joined").await;
    assert_eq!(joined["recovered"], true);
    assert_eq!(seqs(&joined["recent"]), [5, 6, 7, 8]);
    // Nothing missed: recovered, nothing to send.
    let mut dan = app.connect("dan").await;
    dan.send(json!({"type":"join","room":"r","since":{"seq":8,"epoch":epoch}}))
        .await;
    let joined = dan.expect_type("joined").await;
    assert_eq!(
        (
            joined["recovered"].as_bool(),
            joined["recent"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );
}

#[actix_web::test]
async fn a_restart_continues_the_sequence_and_a_resume_across_it_works() {
    let app = spawn_app().await;
    post(&app, "r", 3, "before").await;
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    let epoch = info["epoch"].as_str().unwrap().to_owned();
    let app = app.restart().await;
    post(&app, "r", 2, "after").await;
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(
        (info["seq"].as_u64(), info["epoch"].as_str()),
        (Some(5), Some(epoch.as_str()))
    );
    let mut ann = app.connect("ann").await;
    ann.send(json!({"type":"join","room":"r","since":{"seq":2,"epoch":epoch}}))
        .await;
    let joined = ann.expect_type("joined").await;
    assert_eq!(joined["recovered"], true);
    assert_eq!(seqs(&joined["recent"]), [3, 4, 5]);
}
