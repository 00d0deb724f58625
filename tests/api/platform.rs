//! Contract §8 on one node: room state (set, deleted, delivered on join,
//! checked, kept across a restart).

use awc::http::Method;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn room_state_is_broadcast_delivered_on_join_and_deleted_with_null() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let joined = ann.join("shop").await;
    assert!(joined.get("state").is_none(), "no state yet: {joined}");

    let product = json!({"sku":"A-1","price":19.99});
    let (status, body) = app
        .api(
            Method::PUT,
            "/api/rooms/shop/state/product",
            Some(product.clone()),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let f = ann.expect_type("state").await;
    assert_eq!(
        f,
        json!({"type":"state","room":"shop","key":"product","data":product})
    );
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/shop/state/bid", Some(json!(42)))
        .await;
    assert_eq!(status, 204);
    assert_eq!(ann.expect_type("state").await["data"], 42);

    let mut bob = app.connect_anon().await;
    let joined = bob.join("shop").await;
    assert_eq!(joined["state"], json!({"product":product,"bid":42}));
    let (status, all) = app.api(Method::GET, "/api/rooms/shop/state", None).await;
    assert_eq!((status, all), (200, json!({"product":product,"bid":42})));

    let (status, _) = app
        .api(Method::DELETE, "/api/rooms/shop/state/bid", None)
        .await;
    assert_eq!(status, 204);
    for c in [&mut ann, &mut bob] {
        let f = c.expect_type("state").await;
        assert_eq!(
            f,
            json!({"type":"state","room":"shop","key":"bid","data":null})
        );
    }
    let (status, _) = app
        .api(Method::DELETE, "/api/rooms/shop/state/product", None)
        .await;
    assert_eq!(status, 204);
    ann.expect_type("state").await;
    let mut cat = app.connect_anon().await;
    let joined = cat.join("shop").await;
    assert!(joined.get("state").is_none(), "every key deleted: {joined}");
}

#[actix_web::test]
async fn room_state_inputs_are_checked() {
    // State writes count against the room's server API rate; this test makes 40.
    let app = spawn_app_with(|s| s.api.posts_per_room_per_second = 1000).await;
    let put = |key: &str| format!("/api/rooms/r/state/{key}");
    for bad in ["Product", "a-b", &"k".repeat(33)] {
        let (status, body) = app.api(Method::PUT, &put(bad), Some(json!(1))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    let (status, _) = app.api(Method::PUT, &put("k"), Some(json!(null))).await;
    assert_eq!(status, 400, "null is a DELETE");
    let big = json!("x".repeat(2100));
    let (status, body) = app.api(Method::PUT, &put("k"), Some(big)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    let (status, _) = app
        .request(Method::PUT, &put("k"), None, Some(json!(1)))
        .await;
    assert_eq!(status, 401, "the API key is required");

    // 32 keys a room; an existing one may still change, a 33rd may not.
    for i in 0..32 {
        let (status, _) = app
            .api(Method::PUT, &put(&format!("k{i}")), Some(json!(i)))
            .await;
        assert_eq!(status, 204, "key {i}");
    }
    let (status, body) = app.api(Method::PUT, &put("one_more"), Some(json!(1))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app.api(Method::PUT, &put("k0"), Some(json!("new"))).await;
    assert_eq!(status, 204);
    let (_, all) = app.api(Method::GET, "/api/rooms/r/state", None).await;
    assert_eq!(all.as_object().map(|o| o.len()), Some(32));
    assert_eq!(all["k0"], "new");
}

#[actix_web::test]
async fn room_state_survives_a_restart() {
    let app = spawn_app().await;
    let (status, _) = app
        .api(
            Method::PUT,
            "/api/rooms/shop/state/product",
            Some(json!({"sku":"B"})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/shop/state/gone", Some(json!(1)))
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .api(Method::DELETE, "/api/rooms/shop/state/gone", None)
        .await;
    assert_eq!(status, 204);
    let app = app.restart().await;
    let mut ann = app.connect("ann").await;
    let joined = ann.join("shop").await;
    assert_eq!(joined["state"], json!({"product":{"sku":"B"}}));
    // Writes after the restart still win over what was stored.
    let (status, _) = app
        .api(
            Method::PUT,
            "/api/rooms/shop/state/product",
            Some(json!({"sku":"C"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(ann.expect_type("state").await["data"], json!({"sku":"C"}));
}
