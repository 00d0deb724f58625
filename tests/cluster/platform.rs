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
