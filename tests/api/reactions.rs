//! Reactions: aggregated per window across clients, checked and rate limited.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn reactions_from_several_clients_are_summed_into_one_frame() {
    let app = spawn_app_with(|s| s.rooms.reaction_window_ms = 300).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect_anon().await;
    let mut watcher = app.connect_anon().await;
    ann.join("r").await;
    bob.join("r").await;
    watcher.join("r").await;
    for _ in 0..3 {
        ann.send(json!({"type":"reaction","room":"r","emoji":"heart"}))
            .await;
    }
    for _ in 0..2 {
        bob.send(json!({"type":"reaction","room":"r","emoji":"heart"}))
            .await;
    }
    bob.send(json!({"type":"reaction","room":"r","emoji":"fire"}))
        .await;
    // Frames may split at a window boundary; sum them until everything is counted.
    let (mut heart, mut fire) = (0, 0);
    while heart + fire < 6 {
        let f = watcher.expect_type("reactions").await;
        assert_eq!(f["room"], "r");
        let counts = f["counts"].as_object().unwrap();
        assert!(!counts.is_empty(), "reactions frames are never empty");
        for (k, v) in counts {
            assert!(v.as_u64().unwrap() > 0, "{f}");
            match k.as_str() {
                "heart" => heart += v.as_u64().unwrap(),
                "fire" => fire += v.as_u64().unwrap(),
                other => panic!("unexpected emoji {other}"),
            }
        }
    }
    assert_eq!((heart, fire), (5, 1));
}

#[actix_web::test]
async fn an_emoji_outside_the_set_is_a_bad_request() {
    let app = spawn_app().await;
    let mut ann = app.connect_anon().await;
    ann.join("r").await;
    ann.send(json!({"type":"reaction","room":"r","emoji":"poop","ref":"e"}))
        .await;
    let err = ann.expect_error("bad_request").await;
    assert_eq!(err["ref"], "e");
    assert!(err["message"].as_str().unwrap().contains("heart"));
}

#[actix_web::test]
async fn more_than_twenty_reactions_a_second_are_rate_limited() {
    let app = spawn_app().await;
    let mut ann = app.connect_anon().await;
    ann.join("r").await;
    for i in 0..21 {
        ann.send(json!({"type":"reaction","room":"r","emoji":"clap","ref":format!("x{i}")}))
            .await;
    }
    let err = ann.expect_error("rate_limited").await;
    assert_eq!(err["ref"], "x20", "the 21st is the first refused");
    let retry = err["retry_after_ms"].as_u64().unwrap();
    assert!(
        (1..=50).contains(&retry),
        "one token comes back every 50 ms: {retry}"
    );
}
