//! Contract §6 and the security review (issue 11): what one client may cost a
//! node, identity over time, and the smaller findings. Every test here fails
//! on the server as it was before the hardening.

use std::time::Duration;

use roomcast::auth::{Claims, now_s};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

async fn metric(app: &TestApp, sample: &str) -> f64 {
    app.metric(sample).await
}

// ---------------------------------------------------------------------------
// Finding 1 and 8: the frame budget, byte-bounded outbound, memory at close
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn frames_over_the_budget_are_refused_with_their_ref_and_cost_nothing() {
    let app = spawn_app_with(|s| {
        s.limits.frames_per_s = 5;
        s.limits.frames_burst = 10;
    })
    .await;
    let mut ann = app.connect("ann").await;
    for i in 0..10 {
        ann.send(json!({"type":"ping","ref":format!("p{i}")})).await;
    }
    ann.send(json!({"type":"ping","ref":"over"})).await;
    for _ in 0..10 {
        ann.expect_type("pong").await;
    }
    let refused = ann.expect_error("rate_limited").await;
    assert_eq!(refused["ref"], "over");
    let wait = refused["retry_after_ms"].as_u64().unwrap();
    assert!(
        (1..=250).contains(&wait),
        "one frame back in ~200 ms: {wait}"
    );
    // A refused frame cost nothing: after the wait, exactly one more goes through.
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    ann.send(json!({"type":"ping","ref":"back"})).await;
    assert_eq!(ann.expect_type("pong").await["ref"], "back");
}

#[actix_web::test]
async fn history_costs_ten_frames() {
    let app = spawn_app_with(|s| {
        s.limits.frames_per_s = 1;
        s.limits.frames_burst = 25;
    })
    .await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await; // 1 (and one comes back every second)
    for i in 0..2 {
        ann.send(json!({"type":"history","room":"r","ref":format!("h{i}")}))
            .await; // 10 each
    }
    ann.send(json!({"type":"history","room":"r","ref":"h2"}))
        .await;
    // Answers come as they are ready (a refusal at once, histories from the store).
    let (mut histories, mut refused) = (Vec::new(), Vec::new());
    while histories.len() + refused.len() < 3 {
        let f = ann.next().await;
        match f["type"].as_str() {
            Some("history") => histories.push(f["ref"].clone()),
            Some("error") => {
                assert_eq!(f["code"], "rate_limited", "{f}");
                refused.push(f["ref"].clone());
            }
            _ => {}
        }
    }
    histories.sort_by_key(|r| r.to_string());
    assert_eq!(histories, [json!("h0"), json!("h1")]);
    assert_eq!(
        refused,
        [json!("h2")],
        "about 4 left: a third history needs 10"
    );
    // A ping (cost 1) still fits.
    ann.send(json!({"type":"ping","ref":"p"})).await;
    ann.expect_type("pong").await;
}

#[actix_web::test]
async fn a_connection_refused_for_five_seconds_straight_is_closed_with_1008() {
    let app = spawn_app_with(|s| {
        s.limits.frames_per_s = 1;
        s.limits.frames_burst = 1;
    })
    .await;
    let mut raw = RawClient::connect(&app, Some(&app.token("ann", &[])), None).await;
    let started = tokio::time::Instant::now();
    let mut code = None;
    // Three frames every 200 ms: at most one a second gets through.
    while started.elapsed() < Duration::from_secs(9) && code.is_none() {
        for _ in 0..3 {
            raw.send_text(r#"{"type":"ping"}"#).await;
        }
        let slot = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Some((op, payload))) =
            raw.frame_within(slot - tokio::time::Instant::now()).await
        {
            if op == 0x8 {
                code = Some(u16::from_be_bytes([payload[0], payload[1]]));
                break;
            }
        }
    }
    assert_eq!(code, Some(1008));
    let took = started.elapsed();
    assert!(
        (Duration::from_secs(5)..Duration::from_secs(8)).contains(&took),
        "{took:?}"
    );
}

#[actix_web::test]
async fn a_client_that_never_reads_cannot_make_the_node_hold_more_than_its_outbound_bound() {
    // Finding 1's repro: 100 messages of 500 characters, a socket with a tiny
    // receive buffer that never reads, and a flood of 100-message histories.
    let app = spawn_app_with(|s| {
        s.limits.write_timeout_s = 2;
        s.api.posts_per_room_per_second = 1000;
        s.limits.frames_burst = 600;
        s.limits.frames_per_s = 600;
        s.limits.outbound_queue = 100_000;
    })
    .await;
    let text = "x".repeat(490);
    for i in 0..100 {
        let (status, _) = app
            .request(
                awc::http::Method::POST,
                "/api/rooms/big/messages",
                Some(API_KEY),
                Some(json!({"user":"bot","text":format!("{i} {text}")})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let mut raw = RawClient::connect(&app, None, Some(4096)).await;
    raw.send_text(r#"{"type":"join","room":"big"}"#).await;
    // Each answer is ~60 KiB. Once the kernel's buffers are full, the link
    // holds at most its 256 KiB and then drops the connection.
    let bound = 256.0 * 1024.0 + 64.0 * 1024.0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while metric(&app, "roomcast_slow_consumers_total").await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow consumer was never dropped"
        );
        assert!(metric(&app, "roomcast_outbound_bytes").await <= bound);
        for _ in 0..20 {
            raw.send_text(r#"{"type":"history","room":"big","limit":100}"#)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metric(&app, "roomcast_outbound_bytes").await <= bound,
        "queued bytes stay within the bound"
    );
    // The peer still reads nothing; within the write timeout its memory is given back.
    eventually(
        "the closed connection's frames are released",
        Duration::from_secs(6),
        || async { metric(&app, "roomcast_outbound_bytes").await < 1024.0 },
    )
    .await;
    drop(raw);
}

// ---------------------------------------------------------------------------
// Finding 2: rooms
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn a_join_that_would_make_one_room_too_many_is_refused_with_room_limit() {
    let app = spawn_app_with(|s| s.limits.rooms_per_node = 2).await;
    let mut ann = app.connect("ann").await;
    ann.join("r1").await;
    ann.join("r2").await;
    ann.send(json!({"type":"join","room":"r3","ref":"j3"}))
        .await;
    let refused = ann.expect_error("room_limit").await;
    assert_eq!(
        (refused["ref"].as_str(), refused["room"].as_str()),
        (Some("j3"), Some("r3"))
    );
    // A live room still takes joins.
    let mut bob = app.connect("bob").await;
    assert_eq!(bob.join("r1").await["viewers"], 2);
}

#[actix_web::test]
async fn viewer_streams_never_start_a_room() {
    let app = spawn_app().await;
    let rooms_before = metric(&app, "roomcast_rooms").await;
    let client = awc::Client::default();
    let mut streams = Vec::new();
    for i in 0..20 {
        let resp = client
            .get(app.http(&format!("/api/rooms/junk{i}/viewers/stream")))
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), 200);
        streams.push(resp);
    }
    let mut first = streams.remove(0);
    let chunk = futures_util::StreamExt::next(&mut first)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains(r#"data: {"count":0}"#));
    assert_eq!(
        metric(&app, "roomcast_rooms").await,
        rooms_before,
        "no room started"
    );
    // When someone joins, the waiting stream follows the room.
    let mut ann = app.connect("ann").await;
    ann.join("junk0").await;
    let chunk = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut first))
        .await
        .expect("a count after the join")
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&chunk).contains(r#"data: {"count":1}"#),
        "{chunk:?}"
    );
}

// ---------------------------------------------------------------------------
// Finding 3: a room with many bans starts, and enforces them
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn a_room_with_forty_thousand_bans_starts_and_enforces_them() {
    let app = spawn_app().await;
    // Put the bans straight into the database before the room first starts.
    let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000) \
               INSERT INTO room_bans (room, user_id, reason, moderator_id, ts) \
               SELECT 'crowd', 'u' || i, NULL, 'mod', 0 FROM n";
    roomcast::store::sea_orm_exec(app.settings.database.url.expose(), sql)
        .await
        .expect("insert bans");
    let mut banned = app.connect("u39999").await;
    banned
        .send(json!({"type":"join","room":"crowd","ref":"j"}))
        .await;
    assert_eq!(banned.expect_error("banned").await["ref"], "j");
    let mut ann = app.connect("ann").await;
    let joined = ann.join("crowd").await;
    assert_eq!(joined["type"], "joined");
    assert_eq!(ann.say("crowd", "hello", "m").await["type"], "ack");
}

// ---------------------------------------------------------------------------
// Finding 6: sessions do not outlive their token
// ---------------------------------------------------------------------------

fn claims(sub: &str, ttl_s: u64, mods: &[&str]) -> Claims {
    Claims {
        sub: sub.into(),
        exp: now_s() + ttl_s,
        nbf: None,
        name: None,
        moderates: mods.iter().map(|m| m.to_string()).collect(),
        badges: vec![],
    }
}

#[actix_web::test]
async fn at_expiry_without_a_refresh_the_connection_gets_token_expired_and_4001() {
    let app = spawn_app().await;
    let token = app.token_with(claims("ann", 2, &[]));
    let mut ann = Client::connect(&format!("{}?token={token}", app.ws_url())).await;
    let expires_at = ann.welcome["expires_at"].as_i64().expect("expires_at");
    let now = roomcast::protocol::now_ms();
    assert!(
        (now..=now + 2_100).contains(&expires_at),
        "{expires_at} vs {now}"
    );
    ann.expect_error("token_expired").await;
    let close = ann.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4001);
    // Anonymous viewers have no expiry.
    let anon = app.connect_anon().await;
    assert!(anon.welcome.get("expires_at").is_none());
}

#[actix_web::test]
async fn a_refresh_extends_the_session_and_its_rights_take_effect_at_once() {
    let app = spawn_app().await;
    let mut ann = Client::connect(&format!(
        "{}?token={}",
        app.ws_url(),
        app.token_with(claims("ann", 3, &[]))
    ))
    .await;
    ann.join("r").await;
    ann.send(json!({"type":"ban","room":"r","user":"x","ref":"b1"}))
        .await;
    assert_eq!(ann.expect_error("forbidden").await["ref"], "b1");
    // Another user's token, a bad token: refused, and the old expiry stands.
    let other = app.token_with(claims("bob", 3600, &["r"]));
    ann.send(json!({"type":"refresh","token":other,"ref":"x1"}))
        .await;
    assert_eq!(ann.expect_error("forbidden").await["ref"], "x1");
    ann.send(json!({"type":"refresh","token":"nope","ref":"x2"}))
        .await;
    assert_eq!(ann.expect_error("unauthorized").await["ref"], "x2");
    // The same user, now a moderator of r, for an hour.
    let fresh = app.token_with(claims("ann", 3600, &["r"]));
    ann.send(json!({"type":"refresh","token":fresh,"ref":"ok"}))
        .await;
    assert_eq!(ann.expect_type("ack").await["ref"], "ok");
    ann.send(json!({"type":"ban","room":"r","user":"x","ref":"b2"}))
        .await;
    assert_eq!(ann.expect_type("ack").await["ref"], "b2");
    // Moderators' messages carry the badge: the room sees the new rights too.
    let msg = ann.say("r", "hi", "m").await;
    assert_eq!(msg["type"], "ack");
    let echoed = ann.expect_type("message").await;
    assert_eq!(echoed["badges"], json!(["mod"]));
    // Past the first token's expiry the connection is still open.
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    ann.send(json!({"type":"ping","ref":"alive"})).await;
    assert_eq!(ann.expect_type("pong").await["ref"], "alive");
}

// ---------------------------------------------------------------------------
// Finding 7: caps, and anonymous ids that can be moderated
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn connections_over_a_cap_are_refused_with_429_too_many_connections() {
    let app = spawn_app_with(|s| {
        s.limits.connections_per_ip = 3;
        s.limits.connections_per_user = 2;
    })
    .await;
    let _a = app.connect("ann").await;
    let _b = app.connect("ann").await;
    let url = format!("{}?token={}", app.ws_url(), app.token("ann", &[]));
    let (status, body) = refused_upgrade(url.into_client_request().unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "too_many_connections");
    let c = app.connect_anon().await;
    let (status, body) = refused_upgrade(app.ws_url().into_client_request().unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("too_many_connections"))
    );
    // A place comes back when a connection closes.
    c.close().await;
    eventually("a place is given back", WAIT, || async {
        tokio_tungstenite::connect_async(app.ws_url()).await.is_ok()
    })
    .await;
}

#[actix_web::test]
async fn the_connect_rate_is_capped_per_address_and_proxies_name_the_client() {
    let app = spawn_app_with(|s| {
        s.limits.connects_per_ip_per_s = 1;
        s.limits.connects_per_ip_burst = 2;
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let through = |client: &str| {
        let mut req = app.ws_url().into_client_request().unwrap();
        req.headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        req
    };
    for _ in 0..2 {
        tokio_tungstenite::connect_async(through("203.0.113.7"))
            .await
            .expect("within the burst");
    }
    let (status, _) = refused_upgrade(through("203.0.113.7")).await;
    assert_eq!(status, 429, "a third connect in a second from one client");
    // Another client behind the same proxy is counted apart.
    tokio_tungstenite::connect_async(through("203.0.113.8"))
        .await
        .expect("another client");
}

#[actix_web::test]
async fn an_anonymous_viewer_keeps_its_signed_id_so_a_ban_survives_a_reconnect() {
    let app = spawn_app().await;
    let mut anon = app.connect_anon().await;
    let id = anon.welcome["user"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("anon-") && id.contains('.'), "{id}");
    anon.join("r").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    mia.send(json!({"type":"ban","room":"r","user":id,"ref":"b"}))
        .await;
    mia.expect_type("ack").await;
    anon.expect("left banned", |f| {
        f["type"] == "left" && f["reason"] == "banned"
    })
    .await;
    drop(anon);
    let mut again = Client::connect(&format!("{}?anon={id}", app.ws_url())).await;
    assert_eq!(again.welcome["user"]["id"], id.as_str());
    again
        .send(json!({"type":"join","room":"r","ref":"j"}))
        .await;
    assert_eq!(again.expect_error("banned").await["ref"], "j");
    // A forged id is not reused.
    let (head, _) = id.split_once('.').unwrap();
    let forged = Client::connect(&format!("{}?anon={head}.forgedforgedfo", app.ws_url())).await;
    assert_ne!(forged.welcome["user"]["id"], id.as_str());
}

// ---------------------------------------------------------------------------
// Finding 11: the smaller ones
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn with_no_api_key_a_moderators_token_gets_401_on_the_api_too() {
    let app = spawn_app_with(|s| s.api.key = Some(roomcast::settings::Secret::new(""))).await;
    let token = app.token("mia", &["r"]);
    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/r/bans",
            Some(&token),
            Some(json!({"user":"u2"})),
        )
        .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn analytics_with_extreme_bounds_is_a_bad_request() {
    let app = spawn_app().await;
    let path = format!("/api/rooms/r/analytics?from={}&to={}", i64::MIN, i64::MAX);
    let (status, body) = app.get(&path, Some(API_KEY)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let path = format!("/api/rooms/r/analytics?to={}", i64::MIN);
    assert_eq!(app.get(&path, Some(API_KEY)).await.0, 400);
}

#[actix_web::test]
async fn a_token_not_valid_yet_is_refused_and_the_server_keeps_its_badges_to_itself() {
    let app = spawn_app().await;
    let mut early = claims("ann", 3600, &[]);
    early.nbf = Some(now_s() + 600);
    let url = format!("{}?token={}", app.ws_url(), app.token_with(early));
    assert_eq!(
        refused_upgrade(url.into_client_request().unwrap()).await.0,
        401
    );
    let mut sneaky = claims("bob", 3600, &[]);
    sneaky.badges = vec!["mod".into(), "system".into(), "vip".into()];
    let token = app.token_with(sneaky);
    let mut bob = Client::connect(&format!("{}?token={token}", app.ws_url())).await;
    bob.join("r").await;
    bob.say("r", "hi", "m").await;
    let msg = bob.expect_type("message").await;
    assert_eq!(msg["badges"], json!(["vip"]));
}

#[actix_web::test]
async fn guessing_api_keys_gets_429_after_repeated_failures() {
    let app = spawn_app().await;
    let mut last = 0;
    for i in 0..25 {
        let (status, _) = app.get("/api/rooms/r", Some(&format!("guess-{i}"))).await;
        last = status;
        if status == 429 {
            break;
        }
        assert_eq!(status, 401);
    }
    assert_eq!(last, 429);
}

#[actix_web::test]
async fn answers_carry_security_headers() {
    let app = spawn_app().await;
    let resp = awc::Client::default()
        .get(app.http("/api/rooms/r"))
        .insert_header(("Authorization", format!("Bearer {API_KEY}")))
        .send()
        .await
        .unwrap();
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("x-frame-options"), "DENY");
    assert_eq!(h("referrer-policy"), "no-referrer");
    assert!(h("content-security-policy").contains("default-src 'none'"));
}

#[actix_web::test]
async fn text_rules_of_section_6_apply_to_chat() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    ann.send(json!({"type":"message","room":"r","text":"\u{200b}\u{2060}\u{feff}","ref":"zw"}))
        .await;
    assert_eq!(ann.expect_error("bad_request").await["ref"], "zw");
    ann.send(json!({"type":"message","room":"r","text":"a\u{202e}b\u{2066}c","ref":"bidi"}))
        .await;
    ann.expect_type("ack").await;
    assert_eq!(ann.expect_type("message").await["text"], "abc");
}
