//! The public SSE viewer counter and the per-minute analytics.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::*;

/// Read SSE events until one with `count`; fails after the usual wait.
async fn next_count(
    stream: &mut awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
    buf: &mut String,
) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.starts_with("event: viewers\n"), "{event}");
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                return v["count"].as_u64().unwrap();
            }
            continue; // a keep-alive comment
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let chunk = tokio::time::timeout(left, stream.next())
            .await
            .expect("timed out waiting for an SSE event")
            .expect("stream ended")
            .expect("stream error");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[actix_web::test]
async fn the_viewer_counter_streams_over_sse_without_auth() {
    let app = spawn_app().await;
    let mut resp = awc::Client::default()
        .get(app.http("/api/rooms/show/viewers/stream"))
        .send()
        .await
        .expect("SSE request");
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
    let mut buf = String::new();
    assert_eq!(
        next_count(&mut resp, &mut buf).await,
        0,
        "the count comes at once"
    );
    let mut a = app.connect_anon().await;
    let mut b = app.connect_anon().await;
    a.join("show").await;
    b.join("show").await;
    let mut seen = next_count(&mut resp, &mut buf).await;
    while seen < 2 {
        seen = next_count(&mut resp, &mut buf).await;
    }
    assert_eq!(seen, 2);
    b.close().await;
    assert_eq!(next_count(&mut resp, &mut buf).await, 1);
}

#[actix_web::test]
async fn each_room_records_a_snapshot_per_period_with_a_summary() {
    let app = spawn_app_with(|s| {
        s.analytics.period_ms = 1000;
        s.limits.messages_per_window = 100;
    })
    .await;
    let started = roomcast::protocol::now_ms();
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect_anon().await;
    ann.join("live").await;
    bob.join("live").await;
    for i in 0..3 {
        ann.say("live", &format!("m{i}"), &format!("{i}")).await;
    }
    for _ in 0..4 {
        bob.send(json!({"type":"reaction","room":"live","emoji":"heart"}))
            .await;
    }
    // Wait (bounded) for the periods to close and their snapshots to be readable.
    let path = format!(
        "/api/rooms/live/analytics?from={}&to={}",
        started - 1000,
        started + 60_000
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, b) = app.get(&path, Some(API_KEY)).await;
        assert_eq!(status, 200, "{b}");
        if b["summary"]["messages"] == 3 && b["summary"]["reactions"] == 4 {
            break b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "snapshots never counted everything: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let snaps = body["snapshots"].as_array().unwrap();
    assert!(!snaps.is_empty());
    for s in snaps {
        assert_eq!(
            s["minute"].as_i64().unwrap() % 1000,
            0,
            "periods start on boundaries: {s}"
        );
        assert!(
            s["max"].as_u64().unwrap() <= 2
                && s["min"].as_u64().unwrap() <= s["max"].as_u64().unwrap()
        );
        assert!(s["avg"].as_f64().unwrap() <= 2.0);
    }
    assert_eq!(body["summary"]["peak"], 2);
    assert_eq!(body["room"], "live");
    // The API key is required, and ranges are checked.
    let (status, _) = app.get(&path, None).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .get("/api/rooms/live/analytics?from=10&to=5", Some(API_KEY))
        .await;
    assert_eq!(status, 400);
}
