//! Traffic, counts and moderation across nodes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// Ping, and check that no further `message` frame (a duplicate) arrives
/// before the pong; counts (`viewers`) may come at any time.
async fn assert_no_message_before_pong(client: &mut Client) {
    client.send(json!({"type":"ping","ref":"end"})).await;
    loop {
        let f = client.next().await;
        assert_ne!(f["type"], "message", "no duplicate message frames: {f}");
        if f["type"] == "pong" {
            break;
        }
    }
}

#[actix_web::test]
async fn a_message_from_one_node_reaches_members_on_every_node_in_order() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(3, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut bob = nodes[1].connect("bob").await;
    let mut cat = nodes[2].connect_anon().await;
    assert_eq!(bob.welcome["node"], "node-1");
    ann.join("r").await;
    bob.join("r").await;
    cat.join("r").await;
    for i in 0..5 {
        ann.send(json!({"type":"message","room":"r","text":format!("m{i}"),"ref":format!("{i}")}))
            .await;
    }
    // Ann's own stream: an ack then her message, five times, and each message once.
    let mut ids = Vec::new();
    let mut echoed = Vec::new();
    while echoed.len() < 5 {
        let f = ann.next().await;
        match f["type"].as_str() {
            Some("ack") => ids.push(f["id"].clone()),
            Some("message") => echoed.push(f["id"].clone()),
            _ => {}
        }
    }
    assert_eq!(echoed, ids);
    assert_no_message_before_pong(&mut ann).await;
    // Other nodes get them once each, in the order sent.
    for client in [&mut bob, &mut cat] {
        for (i, id) in ids.iter().enumerate() {
            let m = client.expect_type("message").await;
            assert_eq!(&m["id"], id);
            assert_eq!(m["text"], format!("m{i}"));
        }
        assert_no_message_before_pong(client).await;
    }
    // A new joiner on another node sees them in recent (read from the shared database).
    let mut late = nodes[2].connect("late").await;
    let recent = late.join("r").await["recent"].clone();
    assert_eq!(recent.as_array().unwrap().len(), 5);
}

#[actix_web::test]
async fn viewer_counts_are_summed_across_nodes() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(3, &redis).await;
    let mut a1 = nodes[0].connect_anon().await;
    let mut a2 = nodes[0].connect_anon().await;
    let mut b1 = nodes[1].connect_anon().await;
    let mut c1 = nodes[2].connect_anon().await;
    for c in [&mut a1, &mut a2, &mut b1, &mut c1] {
        c.join("live").await;
    }
    for c in [&mut a1, &mut b1, &mut c1] {
        c.expect("viewers 4", |f| f["type"] == "viewers" && f["count"] == 4)
            .await;
    }
    // Every node's API answers with the cluster-wide count.
    for node in &nodes {
        eventually("room info 4", WAIT, || async {
            node.get("/api/rooms/live", Some(API_KEY)).await.1["viewers"] == 4
        })
        .await;
    }
    let (_, rooms) = nodes[1].get("/api/rooms", Some(API_KEY)).await;
    assert_eq!(rooms, json!({"rooms":[{"room":"live","viewers":4}]}));
    // Down again when a node's member leaves.
    a2.close().await;
    for c in [&mut a1, &mut b1, &mut c1] {
        c.expect("viewers 3", |f| f["type"] == "viewers" && f["count"] == 3)
            .await;
    }
    // And a joiner on any node starts with the cluster-wide number.
    let mut d = nodes[2].connect_anon().await;
    assert_eq!(d.join("live").await["viewers"], 4);
}

#[actix_web::test]
async fn a_ban_on_one_node_removes_the_user_on_the_others_within_a_second() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(3, &redis).await;
    let mut m = nodes[0].connect_mod("mia", &["r"]).await;
    let mut troll_b = nodes[1].connect("troll").await;
    let mut troll_c = nodes[2].connect("troll").await;
    let mut watcher = nodes[2].connect("ann").await;
    m.join("r").await;
    troll_b.join("r").await;
    troll_c.join("r").await;
    watcher.join("r").await;
    let spam = troll_b.say("r", "spam", "s").await["id"].clone();
    watcher
        .expect("spam", |f| f["type"] == "message" && f["id"] == spam)
        .await;

    let sent = Instant::now();
    m.send(json!({"type":"ban","room":"r","user":"troll","reason":"spam","ref":"b"}))
        .await;
    for troll in [&mut troll_b, &mut troll_c] {
        let left = troll.expect_type("left").await;
        assert_eq!(left["reason"], "banned");
    }
    let took = sent.elapsed();
    eprintln!("measured: a ban reached both other nodes' connections in {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "ban took {took:?} to reach the other nodes"
    );
    let f = watcher.expect_type("moderation").await;
    assert_eq!(f["action"], "ban");
    assert_eq!(f["by"], "mia");
    // Rejoining on any node is refused, and the spam left recent everywhere.
    troll_c.send(json!({"type":"join","room":"r"})).await;
    troll_c.expect_error("banned").await;
    let mut late = nodes[1].connect("late").await;
    let recent = late.join("r").await["recent"].clone();
    assert!(
        recent
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["user"] != "troll"),
        "{recent}"
    );
    // The action is logged once, by the node that took it.
    // The action is logged once, by the node that took it, and every node's API
    // shows it within the contract's second.
    for node in &nodes {
        eventually(
            "the ban in the moderation log",
            Duration::from_secs(1),
            || async {
                let (_, log) = node.get("/api/rooms/r/moderation", Some(API_KEY)).await;
                log["actions"].as_array().map(Vec::len) == Some(1)
            },
        )
        .await;
    }
}

#[actix_web::test]
async fn reactions_events_and_deletes_cross_nodes() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut a = nodes[0].connect_anon().await;
    let mut b = nodes[1].connect_anon().await;
    let mut m = nodes[1].connect_mod("mia", &["r"]).await;
    a.join("r").await;
    b.join("r").await;
    m.join("r").await;
    for _ in 0..3 {
        a.send(json!({"type":"reaction","room":"r","emoji":"fire"}))
            .await;
    }
    for _ in 0..2 {
        b.send(json!({"type":"reaction","room":"r","emoji":"fire"}))
            .await;
    }
    // Node windows are merged: the sum seen on each node is everything sent.
    for c in [&mut a, &mut b] {
        let mut fire = 0;
        while fire < 5 {
            let f = c.expect_type("reactions").await;
            fire += f["counts"]["fire"].as_u64().unwrap_or(0);
        }
        assert_eq!(fire, 5);
    }
    let (status, _) = nodes[0]
        .request(
            awc::http::Method::POST,
            "/api/rooms/r/events",
            Some(API_KEY),
            Some(json!({"name":"purchase","data":{"sku":"X"}})),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(b.expect_type("event").await["data"], json!({"sku":"X"}));
    let (_, created) = nodes[0]
        .request(
            awc::http::Method::POST,
            "/api/rooms/r/messages",
            Some(API_KEY),
            Some(json!({"user":"bot","text":"oops"})),
        )
        .await;
    let id = created["id"].clone();
    b.expect("the bot message", |f| {
        f["type"] == "message" && f["id"] == id
    })
    .await;
    m.send(json!({"type":"delete","room":"r","id":id,"ref":"d"}))
        .await;
    let d = a.expect_type("deleted").await;
    assert_eq!(d["id"], id);
}

#[actix_web::test]
async fn a_killed_node_drops_out_of_the_count_within_the_ttl() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let mut process = node_process(&nodes[0].settings_for_node("node-killed")).await;
    let mut watcher = nodes[0].connect_anon().await;
    watcher.join("live").await;
    let mut doomed = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(&process.ws_url()).await;
        c.join("live").await;
        doomed.push(c);
    }
    watcher
        .expect("viewers 4", |f| f["type"] == "viewers" && f["count"] == 4)
        .await;
    let killed = Instant::now();
    process.kill();
    let report = |what: &str| {
        eprintln!(
            "measured: {what} {:?} after SIGKILL (TTL 2 s)",
            killed.elapsed()
        )
    };
    // The TTL is 2 s here: the count must fall back to 1 within it (plus coalescing).
    let deadline = Duration::from_secs(2 + 3);
    loop {
        let f = tokio::time::timeout(deadline.saturating_sub(killed.elapsed()), watcher.next())
            .await
            .expect("the killed node's viewers never left the count");
        if f["type"] == "viewers" && f["count"] == 1 {
            report("the killed node's viewers left the count");
            break;
        }
    }
    eventually("room info 1", WAIT, || async {
        nodes[0].get("/api/rooms/live", Some(API_KEY)).await.1["viewers"] == 1
    })
    .await;
    drop(doomed);
}
