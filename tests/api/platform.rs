//! Contract §8 on one node: room state (set, deleted, delivered on join,
//! checked, kept across a restart) and a stream's life (live, milestones,
//! moderators' stats, its summary).

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

#[actix_web::test]
async fn a_stream_goes_live_counts_its_viewers_and_ends_with_its_summary() {
    let app = spawn_app_with(|s| {
        s.rooms.viewer_milestones = vec![2, 3, 1000];
        s.rooms.stats_interval_s = 1;
    })
    .await;
    let mut mia = app.connect_mod("mia", &["show"]).await;
    let mut bob = app.connect("bob").await;
    mia.join("show").await;
    bob.join("show").await;
    let (status, live) = app
        .api(
            Method::POST,
            "/api/rooms/show/live",
            Some(json!({"title":"Big\tsale"})),
        )
        .await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(
        (live["status"].as_str(), live["title"].as_str()),
        (Some("live"), Some("Big sale"))
    );
    for c in [&mut mia, &mut bob] {
        let f = c.expect_type("stream").await;
        assert_eq!(
            f,
            json!({"type":"stream","room":"show","status":"live","title":"Big sale","started_at":live["started_at"]})
        );
        // Two viewers at the start: the milestone of 2 at once.
        let m = c.expect_type("milestone").await;
        assert_eq!(
            m,
            json!({"type":"milestone","room":"show","kind":"viewers","value":2})
        );
    }
    // Going live again answers the live stream and announces nothing.
    let (status, again) = app
        .api(
            Method::POST,
            "/api/rooms/show/live",
            Some(json!({"title":"other"})),
        )
        .await;
    assert_eq!((status, &again["id"]), (200, &live["id"]));

    let mut cat = app.connect("cat").await;
    let joined = cat.join("show").await;
    assert_eq!(
        joined["stream"],
        json!({"status":"live","title":"Big sale","started_at":live["started_at"]})
    );
    let m = bob.expect_type("milestone").await;
    assert_eq!(m["value"], 3);
    assert_eq!(cat.say("show", "hello", "c1").await["type"], "ack");
    bob.send(json!({"type":"reaction","room":"show","emoji":"heart"}))
        .await;
    // cat leaves and comes back: still one viewer.
    cat.send(json!({"type":"leave","room":"show"})).await;
    cat.expect_type("left").await;
    cat.join("show").await;

    // Moderators get stats; viewers do not.
    let stats = mia
        .expect("stats with the reaction", |f| {
            f["type"] == "stats" && f["reactions_per_min"] == 1
        })
        .await;
    assert_eq!(stats["unique_viewers"], 3, "{stats}");
    assert_eq!(stats["messages_per_min"], 1, "{stats}");
    assert_eq!(stats["viewers"], 3, "{stats}");

    let (status, ended) = app.api(Method::DELETE, "/api/rooms/show/live", None).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["status"], "ended");
    let summary = &ended["summary"];
    assert_eq!(summary["unique_viewers"], 3, "{ended}");
    assert_eq!(summary["peak"], 3, "{ended}");
    assert_eq!(summary["messages"], 1, "{ended}");
    assert_eq!(summary["reactions"], 1, "{ended}");
    assert!(summary["duration_s"].is_u64(), "{ended}");
    // Stats went out at least once (mia had them): never to a viewer.
    let f = bob
        .expect_without(
            "the end",
            |f| f["type"] == "stream",
            |f| f["type"] == "stats",
        )
        .await;
    assert_eq!(f, ended);
    let (status, _) = app.api(Method::DELETE, "/api/rooms/show/live", None).await;
    assert_eq!(status, 404, "nothing live");
    let mut dan = app.connect_anon().await;
    assert!(dan.join("show").await.get("stream").is_none());
}

#[actix_web::test]
async fn a_notification_reaches_every_connection_of_its_user_and_presence_counts_them() {
    let app = spawn_app().await;
    let mut ann1 = app.connect("ann").await;
    let mut ann2 = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann1.join("a").await;
    ann2.join("b").await;
    let want = json!({"online":true,"connections":2,"rooms":["a","b"]});
    eventually("ann's presence", WAIT, || async {
        app.api(Method::GET, "/api/users/ann/presence", None).await == (200, want.clone())
    })
    .await;

    let note = json!({"name":"order_shipped","data":{"order":7}});
    let (status, body) = app
        .api(Method::POST, "/api/users/ann/notify", Some(note))
        .await;
    assert_eq!((status, body), (202, json!({"delivered":2})));
    for c in [&mut ann1, &mut ann2] {
        let f = c.expect_type("notify").await;
        assert_eq!(
            (&f["name"], &f["data"]),
            (&json!("order_shipped"), &json!({"order":7}))
        );
        assert!(f["ts"].is_i64(), "{f}");
    }
    bob.assert_none_before_pong("ann's notification", |f| f["type"] == "notify")
        .await;

    let (status, body) = app
        .api(
            Method::POST,
            "/api/users/nobody/notify",
            Some(json!({"name":"x"})),
        )
        .await;
    assert_eq!((status, body), (202, json!({"delivered":0})));
    let (status, body) = app
        .api(Method::GET, "/api/users/nobody/presence", None)
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"online":false,"connections":0,"rooms":[]}))
    );
    for bad in [json!({"name":""}), json!({"name":"x","data":[1]})] {
        let (status, _) = app
            .api(Method::POST, "/api/users/ann/notify", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}");
    }

    ann2.close().await;
    let want = json!({"online":true,"connections":1,"rooms":["a"]});
    eventually("ann's presence after a close", WAIT, || async {
        app.api(Method::GET, "/api/users/ann/presence", None).await == (200, want.clone())
    })
    .await;
}

#[actix_web::test]
async fn a_live_streams_figures_survive_a_restart_of_the_node() {
    let app = spawn_app_with(|s| s.rooms.viewer_milestones = vec![2, 1000]).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("show").await;
    bob.join("show").await;
    let (status, live) = app
        .api(
            Method::POST,
            "/api/rooms/show/live",
            Some(json!({"title":"t"})),
        )
        .await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(bob.expect_type("milestone").await["value"], 2);
    bob.send(json!({"type":"reaction","room":"show","emoji":"heart"}))
        .await;
    assert_eq!(ann.say("show", "before", "m1").await["type"], "ack");
    // Dan watches a moment before the restart and does not come back.
    let mut dan = app.connect("dan").await;
    dan.join("show").await;
    dan.close().await;
    // The node stores a live stream's figures every second.
    let db = sea_orm::Database::connect(app.settings.database.url.expose())
        .await
        .expect("open the test database");
    eventually("the reaction stored with the stream", WAIT, || async {
        use sea_orm::EntityTrait as _;
        entity::stream::Entity::find_by_id(live["id"].as_str().unwrap_or(""))
            .one(&db)
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s.reactions == 1 && s.peak == 3)
    })
    .await;
    db.close().await.expect("close");

    let app = app.restart().await;
    // Ann and Bob come back, Cat is new: four distinct viewers with Dan (the
    // returning ones count once), and the milestone of 2 is not announced again.
    let mut ann = app.connect("ann").await;
    let joined = ann.join("show").await;
    assert_eq!(
        joined["stream"]["started_at"], live["started_at"],
        "{joined}"
    );
    let mut bob = app.connect("bob").await;
    bob.join("show").await;
    let mut cat = app.connect("cat").await;
    cat.join("show").await;
    let (status, ended) = app.api(Method::DELETE, "/api/rooms/show/live", None).await;
    assert_eq!(status, 200, "{ended}");
    let summary = &ended["summary"];
    assert_eq!(summary["unique_viewers"], 4, "{ended}");
    assert_eq!(summary["peak"], 3, "{ended}");
    assert_eq!(summary["reactions"], 1, "{ended}");
    assert_eq!(summary["messages"], 1, "{ended}");
    let end = bob
        .expect_without(
            "the end",
            |f| f["type"] == "stream",
            |f| f["type"] == "milestone",
        )
        .await;
    assert_eq!(end, ended);
}
