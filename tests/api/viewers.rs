//! Viewer counts go up and down, coalesced.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn viewer_counts_follow_joins_leaves_and_disconnects() {
    let app = spawn_app().await;
    let mut host = app.connect("host").await;
    assert_eq!(host.join("live").await["viewers"], 1);
    let mut a = app.connect_anon().await;
    let mut b = app.connect_anon().await;
    assert_eq!(a.join("live").await["viewers"], 2);
    assert_eq!(b.join("live").await["viewers"], 3);
    host.expect("viewers 3", |f| f["type"] == "viewers" && f["count"] == 3)
        .await;
    b.send(json!({"type":"leave","room":"live"})).await;
    host.expect("viewers 2", |f| f["type"] == "viewers" && f["count"] == 2)
        .await;
    a.close().await;
    let f = host
        .expect("viewers 1", |f| f["type"] == "viewers" && f["count"] == 1)
        .await;
    assert_eq!(f, json!({"type":"viewers","room":"live","count":1}));
    let (_, info) = app.get("/api/rooms/live", Some(API_KEY)).await;
    assert_eq!(info["viewers"], 1);
    assert_eq!(info["peak"], 3);
}

#[actix_web::test]
async fn a_burst_of_joins_is_coalesced_into_few_viewers_frames() {
    let app = spawn_app_with(|s| s.rooms.viewers_interval_ms = 1000).await;
    let mut host = app.connect("host").await;
    host.join("live").await;
    let mut viewers = Vec::new();
    for _ in 0..20 {
        let mut c = app.connect_anon().await;
        c.join("live").await;
        viewers.push(c);
    }
    // Wait for the final count, counting the frames on the way.
    let mut frames = 0;
    loop {
        let f = host.expect_type("viewers").await;
        frames += 1;
        if f["count"] == 21 {
            break;
        }
    }
    // 20 joins within about a second or two: at most one frame a second, plus the first.
    assert!(frames <= 4, "{frames} viewers frames for 20 joins");
}
