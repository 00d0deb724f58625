//! Limits and bad input: frame size, malformed frames, binary frames, idle
//! timeout, message rate limits and slow consumers.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[actix_web::test]
async fn malformed_frames_get_bad_request_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    for bad in [
        "{not json",
        "[]",
        r#"{"room":"r"}"#,
        r#"{"type":"shout","ref":"s"}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"join","room":7}"#,
        r#"{"type":"join","room":"no spaces allowed"}"#,
    ] {
        ann.send_text(bad).await;
        let err = ann.expect_error("bad_request").await;
        assert!(!err["message"].as_str().unwrap().is_empty(), "{bad}: {err}");
    }
    ann.send(json!({"type":"ping","ref":"still-open"})).await;
    assert_eq!(ann.expect_type("pong").await["ref"], "still-open");
}

#[actix_web::test]
async fn binary_frames_are_refused() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    let err = ann.expect_error("bad_request").await;
    assert!(err["message"].as_str().unwrap().contains("binary"));
}

#[actix_web::test]
async fn twenty_bad_frames_in_a_row_close_with_1008() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    // 19 bad, then a good one resets the count...
    for _ in 0..19 {
        ann.send_text("nope").await;
        ann.expect_error("bad_request").await;
    }
    ann.send(json!({"type":"ping"})).await;
    ann.expect_type("pong").await;
    // ...so it takes 20 more.
    for _ in 0..19 {
        ann.send_text("nope").await;
        ann.expect_error("bad_request").await;
    }
    ann.send_text("nope").await;
    ann.expect_error("bad_request").await;
    let close = ann.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
}

#[actix_web::test]
async fn a_frame_over_4096_bytes_closes_with_1009() {
    let app = spawn_app().await;
    let mut raw = RawClient::connect(&app, Some(&app.token("ann", &[])), None).await;
    // Exactly 4096 bytes is allowed (it is answered: the text is too long for chat).
    let prefix = r#"{"type":"message","room":"r","text":""#;
    let fill = 4096 - prefix.len() - 2;
    assert_eq!(raw.next_json().await["type"], "welcome");
    raw.send_text(&format!("{prefix}{}\"}}", "x".repeat(fill)))
        .await;
    assert_eq!(raw.next_json().await["code"], "too_long");
    // One byte more closes the connection.
    raw.send_text(&format!("{prefix}{}\"}}", "x".repeat(fill + 1)))
        .await;
    let (code, _) = raw.read_until_close(WAIT).await;
    assert_eq!(code, Some(1009));
}

#[actix_web::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|s| s.limits.idle_timeout_s = 1).await;
    let started = std::time::Instant::now();
    // This client never answers the server's pings.
    let mut raw = RawClient::connect(&app, None, None).await;
    let (code, texts) = raw.read_until_close(Duration::from_secs(5)).await;
    assert_eq!(code, Some(1000));
    assert!(texts[0].contains("\"heartbeat_ms\":500"), "{texts:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[actix_web::test]
async fn a_client_that_answers_pings_is_not_idle() {
    let app = spawn_app_with(|s| s.limits.idle_timeout_s = 1).await;
    let mut ann = app.connect_anon().await;
    // Reading answers the server's pings; after three idle timeouts it is still open.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        ann.send(json!({"type":"ping"})).await;
        ann.expect_type("pong").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    ann.send(json!({"type":"ping","ref":"alive"})).await;
    assert_eq!(ann.expect_type("pong").await["ref"], "alive");
}

#[actix_web::test]
async fn the_sixth_message_in_ten_seconds_is_rate_limited_with_an_honest_wait() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    for i in 0..5 {
        assert_eq!(ann.say("r", "hi", &format!("ok{i}")).await["type"], "ack");
    }
    let err = ann.say("r", "hi", "sixth").await;
    assert_eq!(err["code"], "rate_limited", "{err}");
    let retry = err["retry_after_ms"].as_u64().unwrap();
    assert!(
        retry > 1000 && retry <= 2001,
        "one message comes back every 2 s: {retry}"
    );
    // The limit is per room: the same user may talk elsewhere.
    ann.join("other").await;
    assert_eq!(ann.say("other", "hi", "elsewhere").await["type"], "ack");
}

#[actix_web::test]
async fn moderators_are_exempt_from_message_rate_limits() {
    let app = spawn_app().await;
    let mut m = app.connect_mod("mia", &["r"]).await;
    m.join("r").await;
    for i in 0..12 {
        assert_eq!(m.say("r", "hi", &format!("m{i}")).await["type"], "ack");
    }
}

#[actix_web::test]
async fn a_slow_consumer_is_closed_with_1008_and_the_room_keeps_going() {
    let app = spawn_app_with(|s| {
        s.limits.outbound_queue = 128;
        // The flood is the point here, not the frame budget.
        s.limits.frames_per_s = 100_000;
        s.limits.frames_burst = 100_000;
    })
    .await;
    let mut slow = RawClient::connect(&app, Some(&app.token("slow", &[])), Some(4096)).await;
    slow.send_text(r#"{"type":"join","room":"r"}"#).await;
    let mut good = app.connect("good").await;
    good.join("r").await;
    let mut flood = app.connect_mod("flood", &["r"]).await;
    flood.join("r").await;
    good.expect("viewers 3", |f| f["type"] == "viewers" && f["count"] == 3)
        .await;

    // The moderator (no rate limit) floods; the slow client never reads.
    let text = "x".repeat(480);
    let mut sent = 0u32;
    let mut received = 0u32;
    let mut dropped = false;
    for _batch in 0..500 {
        for _ in 0..40 {
            flood
                .send(json!({"type":"message","room":"r","text":text}))
                .await;
            sent += 1;
        }
        // The flooder and the good client read everything sent so far.
        while received < sent {
            let f = good.next().await;
            match f["type"].as_str() {
                Some("message") => received += 1,
                Some("viewers") if f["count"] == 2 => dropped = true,
                _ => {}
            }
        }
        let mut flood_msgs = 0;
        while flood_msgs < 40 {
            if flood.next().await["type"] == "message" {
                flood_msgs += 1;
            }
        }
        if dropped {
            break;
        }
    }
    if !dropped {
        good.expect("viewers 2", |f| f["type"] == "viewers" && f["count"] == 2)
            .await;
    }
    assert_eq!(received, sent, "the good client got every message");
    // The slow client finds its backlog and then a 1008 close.
    let (code, _) = slow.read_until_close(Duration::from_secs(20)).await;
    assert_eq!(code, Some(1008));
    // The room still works for everyone else.
    flood.say("r", "after", "after").await;
    good.expect("message after", |f| {
        f["type"] == "message" && f["text"] == "after"
    })
    .await;
}
