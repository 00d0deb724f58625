//! The security review's findings that need a database to lose, a Redis to
//! pause or a process to stop (issue 11: findings 3, 4, 5, 11).

use std::time::{Duration, Instant};

use roomcast::settings::Secret;
use serde_json::json;

use crate::helpers::*;

/// A node on PostgreSQL through a proxy the test can cut.
async fn node_behind_proxy(
    tweak: impl FnOnce(&mut roomcast::settings::Settings),
) -> (TestApp, Proxy) {
    let (_, proxy, through) = pg_behind_proxy().await;
    let dir = temp_dir();
    let mut settings = test_settings(&dir);
    settings.database.url = Secret::new(through);
    tweak(&mut settings);
    (start(settings, dir, true).await, proxy)
}

#[actix_web::test]
async fn a_room_whose_state_cannot_be_loaded_admits_no_one_until_it_loads() {
    let (app, proxy) = node_behind_proxy(|s| s.rooms.idle_grace_s = 1).await;
    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/rooms/vault/bans",
            Some(API_KEY),
            Some(json!({"user":"u2"})),
        )
        .await;
    assert_eq!(status, 201);
    // The room goes idle and stops; its ban is in the database only.
    eventually("the room to stop", Duration::from_secs(10), || async {
        metric(app.http("/metrics"), "roomcast_rooms").await == 0.0
    })
    .await;
    proxy.cut();
    let mut u2 = app.connect("u2").await;
    u2.send(json!({"type":"join","room":"vault","ref":"j"}))
        .await;
    let refused = u2.expect_error("internal").await;
    assert_eq!(refused["ref"], "j");
    assert!(refused["retry_after_ms"].as_u64().is_some(), "{refused}");
    let mut ann = app.connect("ann").await;
    ann.send(json!({"type":"join","room":"vault","ref":"a"}))
        .await;
    assert_eq!(
        ann.expect_error("internal").await["ref"],
        "a",
        "nobody is admitted to a room that does not know its bans"
    );
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        ann.send(json!({"type":"join","room":"vault","ref":"again"}))
            .await;
        let f = ann
            .expect("an answer", |f| {
                f["type"] == "joined" || f["type"] == "error"
            })
            .await;
        if f["type"] == "joined" {
            break;
        }
        assert!(Instant::now() < deadline, "the room never loaded: {f}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    u2.send(json!({"type":"join","room":"vault","ref":"j2"}))
        .await;
    assert_eq!(
        u2.expect_error("banned").await["ref"],
        "j2",
        "and its bans hold"
    );
}

#[actix_web::test]
async fn when_the_store_is_full_messages_are_refused_not_lost_and_moderation_is_kept() {
    let (app, proxy) = node_behind_proxy(|s| {
        s.store.max_queue_bytes = 4_000;
        s.limits.messages_per_window = 1000;
    })
    .await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    proxy.cut();
    let mut acked = Vec::new();
    let mut refusal = None;
    for i in 0..100 {
        ann.send(json!({"type":"message","room":"r","text":format!("m{i} {}", "x".repeat(200)),"ref":format!("m{i}")}))
            .await;
        let f = ann
            .expect("ack or error", |f| f["ref"] == format!("m{i}").as_str())
            .await;
        if f["type"] == "ack" {
            acked.push(f["id"].clone());
        } else {
            refusal = Some(f);
            break;
        }
    }
    let refusal = refusal.expect("the store refuses once its queue is full");
    assert_eq!(refusal["code"], "internal", "{refusal}");
    assert!(refusal["retry_after_ms"].as_u64().unwrap() > 0);
    assert!(!acked.is_empty() && acked.len() < 100);
    // A moderator's action is still taken and kept.
    mia.send(json!({"type":"ban","room":"r","user":"spammer","ref":"b"}))
        .await;
    mia.expect("ban acked", |f| f["ref"] == "b" && f["type"] == "ack")
        .await;
    proxy.restore();
    eventually("the queue to drain", Duration::from_secs(20), || async {
        app.get("/readyz", None).await.1["store_queue"] == 0
    })
    .await;
    let (_, body) = app
        .get("/api/rooms/r/messages?limit=100", Some(API_KEY))
        .await;
    let stored: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(stored, acked, "every acked message, and only those");
    let (_, log) = app.get("/api/rooms/r/moderation", Some(API_KEY)).await;
    assert_eq!(log["actions"][0]["user"], "spammer");
}

#[actix_web::test]
async fn readyz_turns_503_when_the_database_is_lost_and_200_when_it_is_back() {
    let (app, proxy) = node_behind_proxy(|_| {}).await;
    assert_eq!(app.get("/readyz", None).await.0, 200);
    proxy.cut();
    eventually("readyz to turn 503", Duration::from_secs(15), || async {
        app.get("/readyz", None).await.0 == 503
    })
    .await;
    assert_eq!(app.get("/readyz", None).await.1["database"], "unreachable");
    proxy.restore();
    eventually(
        "readyz to turn 200 again",
        Duration::from_secs(15),
        || async { app.get("/readyz", None).await.0 == 200 },
    )
    .await;
}

#[actix_web::test]
async fn a_ban_taken_while_redis_stalls_writes_still_stops_the_user_on_every_node() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut mia = a.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    let mut viewer = a.connect("viewer").await;
    viewer.join("r").await;
    let mut u2 = b.connect("u2").await;
    u2.join("r").await;
    viewer
        .expect("viewers 3", |f| f["type"] == "viewers" && f["count"] == 3)
        .await;
    // Redis takes no writes for 3 s: the ban's publish stalls and times out.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("WRITE")
        .query_async(&mut conn)
        .await
        .unwrap();
    mia.send(json!({"type":"ban","room":"r","user":"u2","ref":"b"}))
        .await;
    mia.expect("ban acked", |f| f["ref"] == "b" && f["type"] == "ack")
        .await;
    // The ban is kept and sent again until Redis takes it: u2 leaves node B too.
    u2.expect_within("the ban to reach node B", Duration::from_secs(15), |f| {
        f["type"] == "left" && f["reason"] == "banned"
    })
    .await;
    // (Node B may learn of the ban from the database before Redis writes
    // resume; the publishes below must not wait out the pause.)
    let () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut conn)
        .await
        .unwrap();

    // Node A checks what other nodes relay against its own bans: a message of
    // u2 from node B (as a node that has not heard of the ban would send it)
    // is dropped, another user's is delivered.
    let channel = format!("{}:room:r", a.settings.redis.prefix);
    let from_b = |user: &str, text: &str| {
        json!({"node": b.settings.node.id, "event": {"message": {"msg": {
            "room": "r", "id": ulid::Ulid::generate().to_string(), "user": user,
            "name": user, "text": text, "ts": 0, "badges": []}}}})
        .to_string()
    };
    for payload in [from_b("u2", "from the banned"), from_b("bob", "marker")] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    loop {
        let f = viewer.expect_type("message").await;
        assert_ne!(f["user"], "u2", "node A relayed a banned user's message");
        if f["text"] == "marker" {
            break;
        }
    }
}

#[actix_web::test]
async fn events_of_a_node_that_is_not_a_member_or_out_of_range_are_dropped_and_counted() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let node = &nodes[0];
    let mut viewer = node.connect("viewer").await;
    viewer.join("r").await;
    let before = metric(
        node.http("/metrics"),
        "roomcast_cluster_events_dropped_total",
    )
    .await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("{}:room:r", node.settings.redis.prefix);
    let forged = json!({"node":"intruder","event":{"message":{"msg":{
        "room":"r","id":ulid::Ulid::generate().to_string(),"user":"mallory","name":"M",
        "text":"forged","ts":0,"badges":["mod"]}}}});
    let huge = json!({"node":"intruder","event":{"presence":{"count":u64::MAX}}});
    for payload in [forged.to_string(), huge.to_string(), "not json".to_owned()] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    eventually("three events dropped", WAIT, || async {
        metric(
            node.http("/metrics"),
            "roomcast_cluster_events_dropped_total",
        )
        .await
            >= before + 3.0
    })
    .await;
    // Nothing reached the room.
    viewer.send(json!({"type":"ping","ref":"end"})).await;
    let f = viewer
        .expect("pong", |f| f["type"] == "pong" || f["type"] == "message")
        .await;
    assert_eq!(f["type"], "pong", "a forged message was delivered: {f}");
}

#[actix_web::test]
async fn sigterm_exits_within_drain_plus_five_seconds_whatever_the_clients_do() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let mut settings = nodes[0].settings_for_node("node-stuck");
    settings.server.drain_s = 2;
    let mut process = node_process(&settings).await;
    // An open viewer stream, and a client that stops reading with its buffers full.
    let mut sse = awc::Client::default()
        .get(process.http("/api/rooms/r/viewers/stream"))
        .send()
        .await
        .expect("sse");
    let _ = futures_util::StreamExt::next(&mut sse).await;
    let token = nodes[0].token("stuck", &["r"]);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let port: u16 = process
        .ws_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let mut stuck = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let req = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stuck.write_all(req.as_bytes()).await.unwrap();
    }
    let started = Instant::now();
    process.terminate();
    // The viewer stream ends at the start of the drain.
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = futures_util::StreamExt::next(&mut sse).await {}
    })
    .await;
    assert!(ended.is_ok(), "the viewer stream kept the drain waiting");
    let code = process.wait_exit(Duration::from_secs(9)).await;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "a clean exit");
    assert!(took <= Duration::from_secs(2 + 5), "exit took {took:?}");
    drop(stuck);
}
