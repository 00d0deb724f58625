//! The server API of this issue: room info and messages, behind the API key.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn the_server_api_needs_the_api_key() {
    let app = spawn_app().await;
    for (bearer, what) in [(None, "missing"), (Some("wrong"), "invalid")] {
        for path in ["/api/rooms/r", "/api/rooms/r/messages"] {
            let (status, body) = app.get(path, bearer).await;
            assert_eq!(status, 401, "{path} {what}");
            assert_eq!(body["error"]["code"], "unauthorized");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(what),
                "{body}"
            );
        }
    }
    // A user's JWT is not an API key.
    let (status, _) = app.get("/api/rooms/r", Some(&app.token("ann", &[]))).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn without_a_configured_key_every_call_is_refused() {
    let app = spawn_app_with(|s| s.api.key = None).await;
    let (status, body) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api.key")
    );
}

#[actix_web::test]
async fn room_info_reports_viewers_peak_and_slow_mode() {
    let app = spawn_app().await;
    let (status, mut body) = app.get("/api/rooms/quiet", Some(API_KEY)).await;
    assert_eq!(status, 200);
    // v2 (§5): the room's sequence and its epoch.
    assert_eq!(body["seq"], 0);
    assert!(
        body["epoch"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body.as_object_mut().unwrap().remove("epoch");
    assert_eq!(
        body,
        json!({"room":"quiet","viewers":0,"peak":0,"slow_mode":0,"seq":0,
            // v2 (§7): every setting.
            "settings":{"slow_mode":0,"followers_only":null,"subscribers_only":false,
                "emote_only":false,"unique_chat":false,"chat_delay_ms":0,"private":false,
                "typing":null}})
    );
    let mut a = app.connect_anon().await;
    let mut b = app.connect_anon().await;
    a.join("busy").await;
    b.join("busy").await;
    let (_, body) = app.get("/api/rooms/busy", Some(API_KEY)).await;
    for (field, want) in [
        ("room", json!("busy")),
        ("viewers", json!(2)),
        ("peak", json!(2)),
        ("slow_mode", json!(0)),
    ] {
        assert_eq!(body[field], want, "{body}");
    }
    let (status, body) = app.get("/api/rooms/bad%20room", Some(API_KEY)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
}

#[actix_web::test]
async fn messages_are_listed_oldest_first_with_before_and_limit() {
    let app = spawn_app_with(|s| s.limits.messages_per_window = 100).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(ann.say("r", &format!("m{i}"), &format!("{i}")).await["id"].clone());
    }
    let (status, body) = app
        .get("/api/rooms/r/messages?limit=3", Some(API_KEY))
        .await;
    assert_eq!(status, 200);
    let got: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(got, ids[3..]);
    let path = format!(
        "/api/rooms/r/messages?before={}&limit=2",
        ids[3].as_str().unwrap()
    );
    let (_, body) = app.get(&path, Some(API_KEY)).await;
    let texts: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["m1", "m2"]);
    for bad in ["?limit=0", "?limit=101", "?before=xyz", "?limit=abc"] {
        let (status, body) = app
            .get(&format!("/api/rooms/r/messages{bad}"), Some(API_KEY))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
}

#[actix_web::test]
async fn live_rooms_are_listed_by_viewers() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for (room, n) in [("small", 1), ("big", 3), ("mid", 2)] {
        for _ in 0..n {
            let mut c = app.connect_anon().await;
            c.join(room).await;
            clients.push(c);
        }
    }
    // Counts reach the registry coalesced like viewers frames: poll (bounded) until they are all in.
    let expected = json!({"rooms":[{"room":"big","viewers":3},{"room":"mid","viewers":2},{"room":"small","viewers":1}]});
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = app.get("/api/rooms?limit=20", Some(API_KEY)).await;
        assert_eq!(status, 200);
        if body == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rooms never listed right: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, top) = app.get("/api/rooms?limit=1", Some(API_KEY)).await;
    assert_eq!(top, json!({"rooms":[{"room":"big","viewers":3}]}));
}

#[actix_web::test]
async fn the_platform_posts_system_messages_and_events_to_every_member() {
    let app = spawn_app().await;
    let mut a = app.connect("ann").await;
    let mut b = app.connect_anon().await;
    a.join("shop").await;
    b.join("shop").await;
    let body = json!({"user":"bot","name":"Shop","text":"Flash sale!"});
    let (status, created) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/shop/messages",
            Some(API_KEY),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    for c in [&mut a, &mut b] {
        let m = c.expect_type("message").await;
        assert_eq!(m["id"], created["id"]);
        assert_eq!(m["user"], "bot");
        assert_eq!(m["name"], "Shop");
        assert_eq!(m["badges"], json!(["system"]));
    }
    let event = json!({"name":"product_highlighted","data":{"sku":"A-1","price":19.99}});
    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/shop/events",
            Some(API_KEY),
            Some(event),
        )
        .await;
    assert_eq!(status, 202);
    for c in [&mut a, &mut b] {
        let e = c.expect_type("event").await;
        assert_eq!(
            e,
            json!({"type":"event","room":"shop","name":"product_highlighted","data":{"sku":"A-1","price":19.99}})
        );
    }
}

#[actix_web::test]
async fn server_api_inputs_are_checked() {
    let app = spawn_app().await;
    let post = awc::http::Method::POST;
    let cases = [
        (
            "/api/rooms/r/messages",
            json!({"user":"","text":"x"}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/messages",
            json!({"user":"bot","name":"n".repeat(33),"text":"x"}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/messages",
            json!({"user":"bot","text":"x".repeat(501)}),
            400,
            "too_long",
        ),
        (
            "/api/rooms/r/messages",
            json!({"user":"bot"}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/bans",
            json!({"user":"u","reason":"r".repeat(201)}),
            400,
            "too_long",
        ),
        (
            "/api/rooms/r/timeouts",
            json!({"user":"u","seconds":0}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/timeouts",
            json!({"user":"u","seconds":1_209_601}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/timeouts",
            json!({"user":"u","seconds":"ten"}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/events",
            json!({"name":"","data":{}}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/events",
            json!({"name":"x".repeat(65)}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/events",
            json!({"name":"e","data":[1,2]}),
            400,
            "bad_request",
        ),
        (
            "/api/rooms/r/events",
            json!({"name":"e","data":{"blob":"x".repeat(2100)}}),
            413,
            "too_large",
        ),
        (
            "/api/rooms/bad%20room/bans",
            json!({"user":"u"}),
            400,
            "bad_request",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, resp) = app
            .request(post.clone(), path, Some(API_KEY), Some(body.clone()))
            .await;
        assert_eq!(got, status, "{path} {body}: {resp}");
        assert_eq!(resp["error"]["code"], code, "{path} {body}: {resp}");
    }
    let (status, body) = app
        .request(
            awc::http::Method::PUT,
            "/api/rooms/r/slow_mode",
            Some(API_KEY),
            Some(json!({"seconds":-3})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .request(
            awc::http::Method::DELETE,
            "/api/rooms/r/messages/01KAQZZZZZZZZZZZZZZZZZZZZZ",
            Some(API_KEY),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

#[actix_web::test]
async fn too_many_posts_to_one_room_get_429() {
    let app = spawn_app_with(|s| s.api.posts_per_room_per_second = 3).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let body = json!({"name":"tick","data":{"i":i}});
        let (status, resp) = app
            .request(
                awc::http::Method::POST,
                "/api/rooms/r/events",
                Some(API_KEY),
                Some(body),
            )
            .await;
        if status == 429 {
            assert_eq!(resp["error"]["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 202, 202, 429, 429]);
}

#[actix_web::test]
async fn moderation_routes_act_and_are_logged_newest_first() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut troll = app.connect("troll").await;
    ann.join("r").await;
    troll.join("r").await;
    let id = troll.say("r", "spam", "s").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = Some(API_KEY);
    let mod_token = app.token("mia", &["r"]);

    let (status, _) = app
        .request(
            awc::http::Method::DELETE,
            &format!("/api/rooms/r/messages/{id}"),
            key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let d = ann.expect_type("deleted").await;
    assert_eq!(d, json!({"type":"deleted","room":"r","id":id,"by":"api"}));

    // A moderator's own JWT works on the moderation routes of their room.
    let (status, body) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/r/timeouts",
            Some(&mod_token),
            Some(json!({"user":"troll","seconds":300,"reason":"spam"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"].as_str().unwrap().len(), 26);
    assert_eq!(ann.expect_type("moderation").await["by"], "mia");

    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/r/bans",
            key,
            Some(json!({"user":"troll","reason":"again"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(troll.expect_type("left").await["reason"], "banned");

    let (status, body) = app
        .request(
            awc::http::Method::PUT,
            "/api/rooms/r/slow_mode",
            key,
            Some(json!({"seconds":10})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"room":"r","slow_mode":10}));
    assert_eq!(ann.expect_type("slow_mode").await["seconds"], 10);
    let (_, info) = app.get("/api/rooms/r", key).await;
    assert_eq!(info["slow_mode"], 10);

    let (status, _) = app
        .request(
            awc::http::Method::DELETE,
            "/api/rooms/r/bans/troll",
            Some(&mod_token),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let (status, log) = app
        .get("/api/rooms/r/moderation?limit=50", Some(&mod_token))
        .await;
    assert_eq!(status, 200);
    let actions = log["actions"].as_array().unwrap();
    let names: Vec<_> = actions
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["unban", "slow_mode", "ban", "timeout", "delete"]);
    let timeout = &actions[3];
    assert_eq!(timeout["user"], "troll");
    assert_eq!(timeout["by"], "mia");
    assert_eq!(timeout["seconds"], 300);
    assert_eq!(timeout["reason"], "spam");
    assert_eq!(actions[4]["message_id"], id.as_str());
    assert_eq!(actions[4]["user"], "troll");
    assert_eq!(actions[1]["seconds"], 10);
    let (_, two) = app.get("/api/rooms/r/moderation?limit=2", key).await;
    assert_eq!(two["actions"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn moderator_tokens_only_open_the_moderation_routes_of_their_rooms() {
    let app = spawn_app().await;
    let viewer = app.token("ann", &[]);
    let other_mod = app.token("otto", &["elsewhere"]);
    let mia = app.token("mia", &["r"]);
    for token in [&viewer, &other_mod] {
        let (status, body) = app
            .request(
                awc::http::Method::POST,
                "/api/rooms/r/bans",
                Some(token),
                Some(json!({"user":"x"})),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, _) = app.get("/api/rooms/r/moderation", Some(token)).await;
        assert_eq!(status, 403);
    }
    // A moderator's JWT is not an API key for the platform's own routes.
    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/r/events",
            Some(&mia),
            Some(json!({"name":"e"})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app.get("/api/rooms/r", Some(&mia)).await;
    assert_eq!(status, 401);
}
