//! Contract §8 across nodes: room state written on any node reaches every
//! node in the order Redis versioned it, and a joiner anywhere gets the
//! latest value.

use awc::http::Method;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn state_written_on_either_node_reaches_both_in_version_order() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut bob = nodes[1].connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    // One after another, alternating nodes: each write has a higher version.
    for i in 0..10 {
        let node = &nodes[i % 2];
        let (status, body) = node
            .api(Method::PUT, "/api/rooms/r/state/bid", Some(json!(i)))
            .await;
        assert_eq!(status, 204, "write {i}: {body}");
    }
    for client in [&mut ann, &mut bob] {
        for i in 0..10 {
            let f = client.expect_type("state").await;
            assert_eq!(f, json!({"type":"state","room":"r","key":"bid","data":i}));
        }
    }
    for node in &nodes {
        let mut late = node.connect_anon().await;
        assert_eq!(late.join("r").await["state"], json!({"bid":9}));
    }
    let (status, _) = nodes[1]
        .api(Method::DELETE, "/api/rooms/r/state/bid", None)
        .await;
    assert_eq!(status, 204);
    for client in [&mut ann, &mut bob] {
        assert_eq!(client.expect_type("state").await["data"], json!(null));
    }
}

#[actix_web::test]
async fn a_room_starting_on_another_node_has_the_latest_state_at_once() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    // The room lives only on node 0 while it is written (twice, quickly: the
    // store may not have the last one yet when node 1 starts the room).
    for sku in ["A", "B"] {
        let (status, _) = nodes[0]
            .api(
                Method::PUT,
                "/api/rooms/fresh/state/product",
                Some(json!({"sku":sku})),
            )
            .await;
        assert_eq!(status, 204);
    }
    let mut bob = nodes[1].connect("bob").await;
    assert_eq!(
        bob.join("fresh").await["state"],
        json!({"product":{"sku":"B"}})
    );
    // A later write from node 1 reaches a member on node 0.
    let mut ann = nodes[0].connect("ann").await;
    ann.join("fresh").await;
    let (status, _) = nodes[1]
        .api(
            Method::PUT,
            "/api/rooms/fresh/state/product",
            Some(json!({"sku":"C"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(ann.expect_type("state").await["data"], json!({"sku":"C"}));
}

#[actix_web::test]
async fn a_stream_is_cluster_wide_from_start_to_summary() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster_with(2, &redis, |s| {
        s.rooms.viewer_milestones = vec![2, 3];
        s.rooms.stats_interval_s = 1;
    })
    .await;
    let mut mia = nodes[0].connect_mod("mia", &["show"]).await;
    let mut bob = nodes[1].connect("bob").await;
    mia.join("show").await;
    bob.join("show").await;
    for c in [&mut mia, &mut bob] {
        c.expect("viewers 2", |f| f["type"] == "viewers" && f["count"] == 2)
            .await;
    }
    let (status, live) = nodes[1]
        .api(
            Method::POST,
            "/api/rooms/show/live",
            Some(json!({"title":"Sale"})),
        )
        .await;
    assert_eq!(status, 200, "{live}");
    for c in [&mut mia, &mut bob] {
        let f = c.expect_type("stream").await;
        assert_eq!(
            (f["status"].as_str(), f["title"].as_str()),
            (Some("live"), Some("Sale"))
        );
        let m = c.expect_type("milestone").await;
        assert_eq!(m["value"], 2, "{m}");
    }
    // Going live on the other node answers the same stream.
    let (status, again) = nodes[0]
        .api(
            Method::POST,
            "/api/rooms/show/live",
            Some(json!({"title":"x"})),
        )
        .await;
    assert_eq!((status, &again["id"]), (200, &live["id"]));
    let mut cat = nodes[0].connect("cat").await;
    assert_eq!(cat.join("show").await["stream"]["title"], "Sale");
    for c in [&mut mia, &mut bob] {
        // Once each, whichever node Redis let announce it.
        let m = c
            .expect_without(
                "milestone 3",
                |f| f["type"] == "milestone" && f["value"] == 3,
                |f| f["type"] == "milestone" && f["value"] == 2,
            )
            .await;
        assert_eq!(m["kind"], "viewers");
    }
    assert_eq!(cat.say("show", "hello", "c1").await["type"], "ack");
    cat.send(json!({"type":"reaction","room":"show","emoji":"heart"}))
        .await;
    // The moderator's stats count the distinct viewers cluster-wide.
    let stats = mia
        .expect("stats with three viewers", |f| {
            f["type"] == "stats" && f["unique_viewers"] == 3
        })
        .await;
    assert_eq!(stats["viewers"], 3, "{stats}");

    let (status, ended) = nodes[0]
        .api(Method::DELETE, "/api/rooms/show/live", None)
        .await;
    assert_eq!(status, 200, "{ended}");
    let summary = &ended["summary"];
    assert_eq!(summary["unique_viewers"], 3, "{ended}");
    assert_eq!(summary["peak"], 3, "{ended}");
    assert_eq!(summary["messages"], 1, "{ended}");
    assert_eq!(summary["reactions"], 1, "{ended}");
    for c in [&mut mia, &mut bob, &mut cat] {
        let f = c
            .expect_without(
                "the end",
                |f| f["type"] == "stream",
                |f| f["type"] == "milestone",
            )
            .await;
        assert_eq!(f, ended);
    }
    let (status, _) = nodes[1]
        .api(Method::DELETE, "/api/rooms/show/live", None)
        .await;
    assert_eq!(status, 404, "ended everywhere");
    let mut late = nodes[1].connect_anon().await;
    assert!(late.join("show").await.get("stream").is_none());
}

#[actix_web::test]
async fn a_notification_reaches_the_user_on_every_node_and_presence_is_cluster_wide() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann0 = nodes[0].connect("ann").await;
    let mut ann1 = nodes[1].connect("ann").await;
    ann0.join("a").await;
    ann1.join("b").await;
    let want = json!({"online":true,"connections":2,"rooms":["a","b"]});
    for node in &nodes {
        eventually("ann's presence everywhere", WAIT, || async {
            node.api(Method::GET, "/api/users/ann/presence", None).await == (200, want.clone())
        })
        .await;
    }
    let (status, body) = nodes[1]
        .api(
            Method::POST,
            "/api/users/ann/notify",
            Some(json!({"name":"ping","data":{"n":1}})),
        )
        .await;
    assert_eq!((status, body), (202, json!({"delivered":2})));
    for c in [&mut ann0, &mut ann1] {
        let f = c.expect_type("notify").await;
        assert_eq!(f["data"], json!({"n":1}), "{f}");
    }
    ann1.close().await;
    let want = json!({"online":true,"connections":1,"rooms":["a"]});
    eventually("ann's presence after a close", WAIT, || async {
        nodes[0]
            .api(Method::GET, "/api/users/ann/presence", None)
            .await
            == (200, want.clone())
    })
    .await;
}
