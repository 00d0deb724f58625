//! SIGTERM: a node drains (reconnect, 1012), stores everything and leaves the
//! cluster's counts at once, then exits by itself.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

#[actix_web::test]
async fn sigterm_drains_clients_flushes_and_leaves_the_counts_at_once() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let mut settings = nodes[0].settings_for_node("node-draining");
    settings.server.drain_s = 2;
    settings.presence.ttl_s = 15; // so the count can only drop because the node said so
    let mut process = node_process(&settings).await;

    let mut watcher = nodes[0].connect_anon().await;
    watcher.join("live").await;
    let mut leaving = Vec::new();
    for i in 0..4 {
        let token = nodes[0].token(&format!("user{i}"), &[]);
        let mut c = Client::connect(&format!("{}?token={token}", process.ws_url())).await;
        c.join("live").await;
        leaving.push(c);
    }
    let acked = leaving[0].say("live", "sent before the restart", "x").await["id"].clone();
    watcher
        .expect("viewers 5", |f| f["type"] == "viewers" && f["count"] == 5)
        .await;

    let started = Instant::now();
    process.terminate();
    // Unready at once, and new connections are refused.
    eventually("readyz to turn 503", Duration::from_secs(2), || async {
        awc::Client::default()
            .get(process.http("/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16() == 503)
            .unwrap_or(true)
    })
    .await;
    if let Ok(req) = process.ws_url().into_client_request() {
        match tokio_tungstenite::connect_async(req).await {
            Err(_) => {}
            Ok(_) => panic!("a draining node accepted a new connection"),
        }
    }
    // Every client: left (shutdown), reconnect, close 1012, within the drain window.
    for c in &mut leaving {
        let left = c.expect_type("left").await;
        assert_eq!(
            left,
            json!({"type":"left","room":"live","reason":"shutdown"})
        );
        let rc = c.expect_type("reconnect").await;
        let after = rc["after_ms"].as_u64().unwrap();
        assert!((250..1250).contains(&after), "{rc}");
        let close = c.expect_close().await.expect("a close frame");
        assert_eq!(u16::from(close.code), 1012);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2 + 2),
        "drain took {:?}",
        started.elapsed()
    );
    // The other node stops counting them long before the 15 s TTL.
    watcher
        .expect("viewers 1", |f| f["type"] == "viewers" && f["count"] == 1)
        .await;
    assert!(started.elapsed() < Duration::from_secs(8));
    let code = process.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "a drained node exits cleanly");
    // What it acked is stored.
    let (_, body) = nodes[0]
        .get("/api/rooms/live/messages", Some(API_KEY))
        .await;
    assert!(
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == acked),
        "{body}"
    );
}
