//! Contract §7 across nodes: settings, held messages, the stored moderator
//! list and shadow bans are cluster-wide.

use std::time::{Duration, Instant};

use awc::http::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn msg(room: &str, text: &str, reference: &str) -> Value {
    json!({"type":"message","room":room,"text":text,"ref":reference})
}

#[actix_web::test]
async fn emote_only_set_on_one_node_refuses_a_viewer_on_another_within_a_second() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut mia = nodes[0].connect_mod("mia", &["r"]).await;
    let mut vic = nodes[1].connect("vic").await;
    mia.join("r").await;
    vic.join("r").await;
    mia.acked(json!({"type":"settings","room":"r","settings":{"emote_only":true},"ref":"s"}))
        .await;
    let set = Instant::now();
    // Bounded: try at most every 250 ms (staying under the message rate limit),
    // keeping what else comes (the `settings` frame).
    let mut tries = 0;
    let mut kept = Vec::new();
    loop {
        tries += 1;
        let (reply, seen) = vic
            .act_keep(msg("r", "plain words", &format!("v{tries}")))
            .await;
        kept.extend(seen);
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "emote_only", "{reply}");
            break;
        }
        assert_eq!(reply["type"], "ack", "{reply}");
        assert!(
            set.elapsed() < Duration::from_secs(1),
            "node-1 still accepted text {:?} after node-0 turned emote_only on",
            set.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "measured: emote_only held on the other node after {:?}",
        set.elapsed()
    );
    // The other node's members were told, and its API and joins agree.
    let f = vic
        .expect_kept(&mut kept, "settings", |f| f["type"] == "settings")
        .await;
    assert_eq!(f["settings"]["emote_only"], true, "{f}");
    let mut late = nodes[1].connect("late").await;
    assert_eq!(late.join("r").await["settings"]["emote_only"], true);
    assert_eq!(vic.say("r", "🔥", "emoji").await["type"], "ack");
}

#[actix_web::test]
async fn a_message_held_on_one_node_is_approved_from_another_and_reaches_everyone_once_with_one_seq()
 {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, body) = nodes[0]
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"spam*","action":"hold"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut ann = nodes[0].connect("ann").await;
    let mut va = nodes[0].connect("va").await;
    let mut vb = nodes[1].connect("vb").await;
    let mut mia = nodes[1].connect_mod("mia", &["r"]).await;
    for c in [&mut ann, &mut va, &mut vb, &mut mia] {
        c.join("r").await;
    }
    let held = ann.act(msg("r", "spamalot", "h")).await;
    assert_eq!(held["type"], "held", "{held}");
    let id = held["id"].clone();
    let hm = mia.expect_type("held_message").await;
    assert_eq!(
        hm["message"]["id"], id,
        "the moderator on the other node is told: {hm}"
    );
    assert_eq!(hm["term"], "spam*");
    let (ack, mia_kept) = mia
        .act_keep(json!({"type":"approve","room":"r","id":id,"ref":"ok"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["id"], id);
    let mut seqs = Vec::new();
    let mut kept = [Vec::new(), Vec::new(), Vec::new(), mia_kept];
    for (c, kept) in [&mut va, &mut vb, &mut ann, &mut mia]
        .into_iter()
        .zip(&mut kept)
    {
        let f = c
            .expect_kept(kept, "the approved message", |f| {
                f["type"] == "message" && f["id"] == id
            })
            .await;
        assert!(
            !kept.iter().any(|f| f["type"] == "message" && f["id"] == id),
            "a second copy: {kept:?}"
        );
        assert!(
            f.get("delayed").is_none() && f.get("shadow").is_none(),
            "{f}"
        );
        seqs.push(f["seq"].as_u64().unwrap_or_else(|| panic!("a seq: {f}")));
        c.assert_none_before_pong("no second copy", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    }
    assert!(
        seqs.iter().all(|s| *s == seqs[0]),
        "one seq everywhere: {seqs:?}"
    );
    // Decided once, cluster-wide: the first node refuses another decision.
    let (status, body) = nodes[0]
        .api(
            Method::POST,
            &format!("/api/rooms/r/held/{}/deny", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[actix_web::test]
async fn a_moderator_added_through_one_nodes_api_acts_on_another_node_at_once() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut bob = nodes[1].connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    let id = bob.say("r", "delete me", "b").await["id"].clone();
    ann.refused(
        json!({"type":"delete","room":"r","id":id,"ref":"before"}),
        "forbidden",
    )
    .await;
    let (status, body) = nodes[1]
        .api(Method::PUT, "/api/rooms/r/moderators/ann", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let added = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let reply = ann
            .act(json!({"type":"delete","room":"r","id":id,"ref":format!("d{tries}")}))
            .await;
        if reply["type"] == "ack" {
            break;
        }
        assert_eq!(reply["code"], "forbidden", "{reply}");
        assert!(
            added.elapsed() < Duration::from_secs(1),
            "ann is still no moderator on node-0 {:?} after node-1 added her",
            added.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "measured: the added moderator acted after {:?} ({tries} tries)",
        added.elapsed()
    );
    let d = bob.expect_type("deleted").await;
    assert_eq!(d["id"], id);
    assert_eq!(d["by"], "ann");
    // Every node's API lists her.
    for node in &nodes {
        let (_, list) = node.api(Method::GET, "/api/rooms/r/moderators", None).await;
        assert_eq!(list["moderators"][0]["user"], "ann", "{list}");
    }
}

#[actix_web::test]
async fn a_shadow_banned_users_message_reaches_moderators_on_another_node_marked_shadow_and_no_viewer()
 {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut va = nodes[0].connect("va").await;
    let mut vb = nodes[1].connect("vb").await;
    let mut mia = nodes[1].connect_mod("mia", &["r"]).await;
    for c in [&mut ann, &mut va, &mut vb, &mut mia] {
        c.join("r").await;
    }
    let (status, body) = nodes[1]
        .api(
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"ann","reason":"troll"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The ban is cluster-wide within the contract's second: retry until her
    // message no longer reaches the viewer on her own node.
    let banned = Instant::now();
    let shadow_id = loop {
        let ack = ann
            .say("r", "hello?", &format!("a{}", banned.elapsed().as_millis()))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        let id = ack["id"].clone();
        let seen = mia
            .expect("her message at the moderator", |f| {
                f["type"] == "message" && f["id"] == id
            })
            .await;
        if seen["shadow"] == true {
            break id;
        }
        assert!(
            banned.elapsed() < Duration::from_secs(1),
            "node-0 still publishes ann's messages openly {:?} after the shadow ban",
            banned.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The moderator saw it; the moderator's next message is the marker for both viewers.
    let marker = mia.say("r", "marker", "m").await["id"].clone();
    for v in [&mut va, &mut vb] {
        v.expect_without(
            "the moderator's marker",
            |f| f["type"] == "message" && f["id"] == marker,
            |f| f["id"] == shadow_id,
        )
        .await;
    }
    let own = ann
        .expect("her own echo", |f| {
            f["type"] == "message" && f["id"] == shadow_id
        })
        .await;
    assert!(own.get("shadow").is_none(), "{own}");
}

#[actix_web::test]
async fn two_moderators_on_two_nodes_approving_the_same_held_message_publish_it_once() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"spam*","action":"hold"}]})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut ma = nodes[0].connect_mod("ma", &["r"]).await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    let mut vb = nodes[1].connect("vb").await;
    for c in [&mut ann, &mut ma, &mut mb, &mut vb] {
        c.join("r").await;
    }
    let id = ann.act(msg("r", "spam", "h")).await["id"].clone();
    for m in [&mut ma, &mut mb] {
        m.expect("held_message", |f| {
            f["type"] == "held_message" && f["message"]["id"] == id
        })
        .await;
    }
    // Both at once.
    ma.send(json!({"type":"approve","room":"r","id":id,"ref":"a"}))
        .await;
    mb.send(json!({"type":"approve","room":"r","id":id,"ref":"b"}))
        .await;
    let ra = ma
        .expect("ma's reply", |f| f["ref"] == "a" && f["type"] != "pong")
        .await;
    let rb = mb
        .expect("mb's reply", |f| f["ref"] == "b" && f["type"] != "pong")
        .await;
    let acks = [&ra, &rb].iter().filter(|r| r["type"] == "ack").count();
    assert_eq!(acks, 1, "exactly one approval wins: {ra} / {rb}");
    let loser = if ra["type"] == "ack" { &rb } else { &ra };
    assert_eq!(loser["code"], "bad_request", "{loser}");
    vb.expect("the approved message", |f| {
        f["type"] == "message" && f["id"] == id
    })
    .await;
    vb.assert_none_before_pong("a second copy", |f| f["type"] == "message" && f["id"] == id)
        .await;
    // Logged once: stored within the contract's second, and never twice.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let log = nodes[1].moderation_log("r").await;
        let approvals = log.iter().filter(|a| a["action"] == "approve").count();
        assert!(approvals <= 1, "approved twice: {log:#?}");
        if Instant::now() >= deadline {
            assert_eq!(approvals, 1, "{log:#?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn chat_delay_gives_a_moderator_on_another_node_the_early_copy_and_its_viewers_the_message_later()
 {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(json!({"chat_delay_ms": 800})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    let mut vb = nodes[1].connect("vb").await;
    for c in [&mut ann, &mut mb, &mut vb] {
        c.join("r").await;
    }
    let sent = Instant::now();
    let id = ann.say("r", "later", "a").await["id"].clone();
    let early = mb
        .expect("the early copy", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    assert_eq!(early["delayed"], true, "{early}");
    assert!(early.get("seq").is_none(), "{early}");
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "{:?}",
        sent.elapsed()
    );
    vb.assert_none_before_pong("nothing before the delay", |f| f["type"] == "message")
        .await;
    let f = vb.expect_type("message").await;
    assert_eq!(f["id"], id);
    assert!(
        sent.elapsed() >= Duration::from_millis(750),
        "{:?}",
        sent.elapsed()
    );
    let again = mb
        .expect("the published copy", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    assert_eq!(again["seq"], f["seq"]);
    assert!(again.get("delayed").is_none(), "{again}");
}

#[actix_web::test]
async fn a_shadow_banned_users_own_connection_on_another_node_gets_the_echo() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann_a = nodes[0].connect("ann").await;
    let mut ann_b = nodes[1].connect("ann").await;
    let mut vb = nodes[1].connect("vb").await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    for c in [&mut ann_a, &mut ann_b, &mut vb, &mut mb] {
        c.join("r").await;
    }
    let (status, body) = nodes[0]
        .api(
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"ann"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = ann_a.say("r", "just me?", "a").await["id"].clone();
    let own = ann_b
        .expect("her echo on her other node", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    assert!(own.get("shadow").is_none(), "{own}");
    mb.expect("the shadow copy", |f| {
        f["type"] == "message" && f["id"] == id && f["shadow"] == true
    })
    .await;
    let marker = mb.say("r", "marker", "m").await["id"].clone();
    vb.expect_without(
        "the marker",
        |f| f["type"] == "message" && f["id"] == marker,
        |f| f["id"] == id,
    )
    .await;
}

#[actix_web::test]
async fn a_warning_reaches_the_users_connections_on_every_node_and_one_acknowledgement_lifts_it() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann_a = nodes[0].connect("ann").await;
    let mut ann_b = nodes[1].connect("ann").await;
    let mut ma = nodes[0].connect_mod("ma", &["r"]).await;
    for c in [&mut ann_a, &mut ann_b, &mut ma] {
        c.join("r").await;
    }
    ma.acked(json!({"type":"warn","room":"r","user":"ann","reason":"calm","ref":"w"}))
        .await;
    for c in [&mut ann_a, &mut ann_b] {
        let w = c.expect_type("warning").await;
        assert_eq!(
            w,
            json!({"type":"warning","room":"r","reason":"calm","by":"ma"})
        );
    }
    assert_eq!(ann_b.say("r", "hm", "1").await["code"], "warned");
    ann_a
        .acked(json!({"type":"acknowledge","room":"r","ref":"ok"}))
        .await;
    // Lifted cluster-wide within the contract's second.
    let lifted = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let reply = ann_b
            .say("r", &format!("ok {tries}"), &format!("t{tries}"))
            .await;
        if reply["type"] == "ack" {
            break;
        }
        assert_eq!(reply["code"], "warned", "{reply}");
        assert!(
            lifted.elapsed() < Duration::from_secs(1),
            "still warned on node-1 {:?} after acknowledging on node-0",
            lifted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[actix_web::test]
async fn clear_pin_and_private_set_on_one_node_reach_the_room_on_another() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut ma = nodes[0].connect_mod("ma", &["r"]).await;
    let mut vb = nodes[1].connect("vb").await;
    ann.join("r").await;
    ma.join("r").await;
    vb.join("r").await;
    let old = ann.say("r", "old", "1").await["id"].clone();
    vb.expect("the old message", |f| {
        f["type"] == "message" && f["id"] == old
    })
    .await;
    ma.acked(json!({"type":"clear","room":"r","ref":"c"})).await;
    assert_eq!(
        vb.expect_type("cleared").await,
        json!({"type":"cleared","room":"r","by":"ma"})
    );
    let id = ann.say("r", "pin me", "2").await["id"].clone();
    // The moderator pins what they see.
    ma.expect("the message", |f| f["type"] == "message" && f["id"] == id)
        .await;
    ma.acked(json!({"type":"pin","room":"r","id":id,"seconds":120,"ref":"p"}))
        .await;
    let pinned = vb.expect_type("pinned").await;
    assert_eq!(pinned["message"]["id"], id, "{pinned}");
    ma.acked(json!({"type":"settings","room":"r","settings":{"private":true},"ref":"s"}))
        .await;
    let f = vb.expect_type("settings").await;
    assert_eq!(f["settings"]["private"], true, "{f}");

    // A joiner on the other node has all of it.
    let mut late = nodes[1].connect("late").await;
    let token = nodes[1].room_token("late", "r", &[], None);
    let joined = late.join_with_token("r", &token).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["settings"]["private"], true, "{joined}");
    assert_eq!(
        ids_of(&joined["recent"]),
        std::slice::from_ref(&id),
        "cleared, then one: {joined}"
    );
    assert_eq!(joined["pinned"]["message"]["id"], id, "{joined}");
    let mut nobody = nodes[1].connect("nobody").await;
    let err = nobody.try_join("r", None).await;
    assert_eq!(err["code"], "forbidden", "{err}");
}

#[actix_web::test]
async fn a_room_made_private_on_one_node_is_private_on_a_node_where_it_starts_right_after() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ma = nodes[0].connect_mod("ma", &["r"]).await;
    ma.join("r").await;
    ma.acked(json!({"type":"settings","room":"r","settings":{"private":true},"ref":"s"}))
        .await;
    // No member of the room on node-1 yet: its room starts with the join.
    // Within the contract's second, a join without a room token is refused there.
    let changed = Instant::now();
    let mut admitted = Vec::new();
    loop {
        let mut vb = nodes[1].connect("vb").await;
        let reply = vb.try_join("r", None).await;
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "forbidden", "{reply}");
            break;
        }
        admitted.push(format!("{:?}: {}", changed.elapsed(), reply["settings"]));
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "node-1 still admits joins without a room token to the private room: {admitted:#?}"
        );
        vb.close().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids_of(messages: &Value) -> Vec<Value> {
    messages
        .as_array()
        .unwrap_or_else(|| panic!("{messages}"))
        .iter()
        .map(|m| m["id"].clone())
        .collect()
}

#[actix_web::test]
async fn a_joiner_on_a_node_whose_room_starts_after_a_clear_elsewhere_gets_the_later_messages() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut ma = nodes[0].connect_mod("ma", &["r"]).await;
    ann.join("r").await;
    ma.join("r").await;
    ann.say("r", "old", "1").await;
    ma.acked(json!({"type":"clear","room":"r","ref":"c"})).await;
    let id = ann.say("r", "after the clear", "2").await["id"].clone();
    // Stored and visible on node-1's API: nothing is in flight any more.
    eventually(
        "the message in node-1's API",
        Duration::from_secs(1),
        || async {
            let (_, body) = nodes[1]
                .api(Method::GET, "/api/rooms/r/messages", None)
                .await;
            body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["id"] == id))
        },
    )
    .await;
    // No member of the room on node-1 yet: its room starts with this join.
    let mut vb = nodes[1].connect("vb").await;
    let joined = vb.join("r").await;
    assert_eq!(joined["seq"], 2, "{joined}");
    assert_eq!(
        ids_of(&joined["recent"]),
        std::slice::from_ref(&id),
        "recent after the clear: {joined}"
    );
    // And a second joiner there (the room now running on node-1) agrees.
    let mut vc = nodes[1].connect("vc").await;
    assert_eq!(ids_of(&vc.join("r").await["recent"]), [id]);
}

/// Found while testing `clear` across nodes (and not §7's: HEAD before §7
/// does the same): a node whose room starts while the other node's last
/// messages are still on their way to the database must still end up with
/// them in `recent`, at the latest once they are stored.
#[actix_web::test]
async fn a_room_starting_on_a_node_during_the_store_write_still_ends_up_with_the_messages_in_recent()
 {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut stale = Vec::new();
    for room in ["r1", "r2", "r3"] {
        ann.join(room).await;
        let a = ann.say(room, "one", "1").await["id"].clone();
        let b = ann.say(room, "two", "2").await["id"].clone();
        // The room starts on node-1 now, with this member (who stays).
        let mut first = nodes[1].connect("first").await;
        first.join(room).await;
        // Once both are stored (node-1's API lists them)…
        eventually(
            "both messages in node-1's API",
            Duration::from_secs(1),
            || async {
                let (_, body) = nodes[1]
                    .api(Method::GET, &format!("/api/rooms/{room}/messages"), None)
                    .await;
                body["messages"].as_array().map(Vec::len) == Some(2)
            },
        )
        .await;
        // …a joiner there gets them in recent.
        let mut next = nodes[1].connect("next").await;
        let joined = next.join(room).await;
        if ids_of(&joined["recent"]) != [a.clone(), b.clone()] {
            stale.push(format!("{room}: {joined}"));
        }
        drop(first);
    }
    assert!(
        stale.is_empty(),
        "node-1's recent misses stored messages: {stale:#?}"
    );
}

/// [`spawn_cluster`] with `tweak` applied to every node's settings.
async fn spawn_cluster_with(
    n: usize,
    redis: &RedisServer,
    tweak: impl Fn(&mut roomcast::settings::Settings),
) -> Vec<TestApp> {
    let dir = temp_dir();
    let db_url = database_url(Backend::Postgres, &dir).await;
    let mut nodes = Vec::new();
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let mut settings = node_settings(i, &node_dir, &db_url, redis);
        tweak(&mut settings);
        let node = start(settings, node_dir, true).await;
        eventually("the node's Redis bridge to connect", WAIT, || async {
            node.get("/readyz", None).await.1["redis"] == "ok"
        })
        .await;
        nodes.push(node);
    }
    nodes
}

#[actix_web::test]
async fn terms_put_on_one_node_block_and_hold_on_another() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut bob = nodes[1].connect("bob").await;
    bob.join("r").await;
    let (status, _) = nodes[0]
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"badword","action":"block"},{"pattern":"spam*","action":"hold"}]})),
        )
        .await;
    assert_eq!(status, 200);
    let set = Instant::now();
    eventually(
        "the terms on node-1's API",
        Duration::from_secs(1),
        || async {
            let (_, terms) = nodes[1].api(Method::GET, "/api/rooms/r/terms", None).await;
            terms["terms"].as_array().map(Vec::len) == Some(2)
        },
    )
    .await;
    loop {
        let reply = bob
            .act(msg(
                "r",
                "a badword",
                &format!("b{}", set.elapsed().as_millis()),
            ))
            .await;
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "blocked_term", "{reply}");
            break;
        }
        assert!(
            set.elapsed() < Duration::from_secs(1),
            "node-1 still lets the term through {:?} after node-0 stored it: {reply}",
            set.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let held = bob.act(msg("r", "spamalot", "h")).await;
    assert_eq!(held["type"], "held", "{held}");
}

#[actix_web::test]
async fn unique_chat_refuses_a_repeat_of_a_message_sent_on_another_node() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(json!({"unique_chat": true})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut bob = nodes[1].connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    // Node-1 has the setting: bob's own repeat is refused there.
    assert_eq!(bob.say("r", "mine", "m1").await["type"], "ack");
    assert_eq!(bob.say("r", "mine", "m2").await["code"], "duplicate");
    let id = ann.say("r", "First!", "a").await["id"].clone();
    // Bob has seen it: his copy is no longer news.
    bob.expect("ann's message", |f| f["type"] == "message" && f["id"] == id)
        .await;
    let reply = bob.say("r", "first!", "b").await;
    assert_eq!(reply["code"], "duplicate", "a repeat across nodes: {reply}");
}

#[actix_web::test]
async fn a_purge_from_one_node_removes_the_users_messages_on_another() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut troll = nodes[0].connect("troll").await;
    let mut va = nodes[0].connect("va").await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    for c in [&mut troll, &mut va, &mut mb] {
        c.join("r").await;
    }
    let t1 = troll.say("r", "spam 1", "1").await["id"].clone();
    let t2 = troll.say("r", "spam 2", "2").await["id"].clone();
    mb.expect("the second", |f| f["type"] == "message" && f["id"] == t2)
        .await;
    mb.acked(json!({"type":"purge","room":"r","user":"troll","ref":"p"}))
        .await;
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let f = va.expect_type("deleted").await;
        deleted.push(f["id"].clone());
    }
    deleted.sort_by_key(|v| v.to_string());
    let mut expected = vec![t1, t2];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(deleted, expected);
    let mut late = nodes[0].connect("late").await;
    assert_eq!(late.join("r").await["recent"], json!([]));
}

#[actix_web::test]
async fn a_moderator_removed_through_one_node_loses_the_rights_on_another() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(Method::PUT, "/api/rooms/r/moderators/ann", None)
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut bob = nodes[1].connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    let one = bob.say("r", "one", "1").await["id"].clone();
    ann.acked(json!({"type":"delete","room":"r","id":one,"ref":"d1"}))
        .await;
    let (status, _) = nodes[1]
        .api(Method::DELETE, "/api/rooms/r/moderators/ann", None)
        .await;
    assert_eq!(status, 204);
    let removed = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let id = bob
            .say("r", &format!("n{tries}"), &format!("n{tries}"))
            .await["id"]
            .clone();
        let reply = ann
            .act(json!({"type":"delete","room":"r","id":id,"ref":format!("d{tries}x")}))
            .await;
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "forbidden", "{reply}");
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(1),
            "ann still moderates on node-0 {:?} after node-1 removed her",
            removed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[actix_web::test]
async fn a_message_held_on_one_node_is_approved_over_another_nodes_api() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"spam*","action":"hold"}]})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut vb = nodes[1].connect("vb").await;
    ann.join("r").await;
    vb.join("r").await;
    let id = ann.act(msg("r", "spam", "h")).await["id"].clone();
    let (_, queue) = nodes[1].api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(
        queue["held"][0]["message"]["id"], id,
        "node-1 lists it: {queue}"
    );
    let (status, body) = nodes[1]
        .api(
            Method::POST,
            &format!("/api/rooms/r/held/{}/approve", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"id": id}));
    for c in [&mut vb, &mut ann] {
        c.expect("the approved message", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    }
}

#[actix_web::test]
async fn an_unanswered_held_message_expires_once_in_a_cluster() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster_with(2, &redis, |s| s.automod.hold_s = 1).await;
    let (status, _) = nodes[0]
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"spam*","action":"hold"}]})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut ann_b = nodes[1].connect("ann").await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    for c in [&mut ann, &mut ann_b, &mut mb] {
        c.join("r").await;
    }
    let id = ann.act(msg("r", "spam", "h")).await["id"].clone();
    for c in [&mut ann, &mut ann_b] {
        let denied = c
            .expect_within("denied", Duration::from_secs(3), |f| f["type"] == "denied")
            .await;
        assert_eq!(denied, json!({"type":"denied","room":"r","id":id}));
        c.assert_none_before_pong("a second denied", |f| f["type"] == "denied")
            .await;
    }
    let reply = mb
        .act(json!({"type":"approve","room":"r","id":id,"ref":"late"}))
        .await;
    assert_eq!(reply["code"], "bad_request", "expired everywhere: {reply}");
    for node in &nodes {
        let (_, queue) = node.api(Method::GET, "/api/rooms/r/held", None).await;
        assert_eq!(queue["held"], json!([]), "{queue}");
    }
}

#[actix_web::test]
async fn a_message_deleted_from_another_node_during_the_chat_delay_goes_out_nowhere() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(json!({"chat_delay_ms": 1000})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ann = nodes[0].connect("ann").await;
    let mut va = nodes[0].connect("va").await;
    let mut vb = nodes[1].connect("vb").await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    for c in [&mut ann, &mut va, &mut vb, &mut mb] {
        c.join("r").await;
    }
    let gone = ann.say("r", "leak", "1").await["id"].clone();
    mb.expect("the early copy", |f| {
        f["id"] == gone && f["delayed"] == true
    })
    .await;
    mb.acked(json!({"type":"delete","room":"r","id":gone,"ref":"d"}))
        .await;
    let next = ann.say("r", "fine", "2").await["id"].clone();
    for v in [&mut va, &mut vb] {
        v.expect_without(
            "ann's next message",
            |f| f["type"] == "message" && f["id"] == next,
            |f| f["type"] == "message" && f["id"] == gone,
        )
        .await;
    }
    let mut late = nodes[1].connect("late").await;
    assert_eq!(ids_of(&late.join("r").await["recent"]), [next]);
}

#[actix_web::test]
async fn a_moderator_cannot_act_on_a_moderator_or_the_broadcaster_connected_to_another_node() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[1]
        .api(Method::PUT, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 200);
    let mut mia = nodes[0].connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    // On node-1 only: a moderator by claim, by room token, by the stored
    // list, and the broadcaster.
    let mut max = nodes[1].connect_mod("max", &["r"]).await;
    max.join("r").await;
    let mut sam = nodes[1].connect("sam").await;
    sam.join("r").await;
    let mut rod = nodes[1].connect("rod").await;
    let token = nodes[1].room_token("rod", "r", &["mod"], None);
    assert_eq!(rod.join_with_token("r", &token).await["type"], "joined");
    let mut bea = nodes[1].connect("bea").await;
    let token = nodes[1].room_token("bea", "r", &["broadcaster"], None);
    assert_eq!(bea.join_with_token("r", &token).await["type"], "joined");
    let mut wrongly_allowed = Vec::new();
    for (target, c) in [
        ("max (mod claim)", &mut max),
        ("sam (stored moderator)", &mut sam),
        ("rod (room-token mod)", &mut rod),
        ("bea (broadcaster)", &mut bea),
    ] {
        let user = target.split(' ').next().unwrap();
        let id = c.say("r", "here", "x").await["id"].clone();
        mia.expect("their message", |f| f["type"] == "message" && f["id"] == id)
            .await;
        for frame in [
            json!({"type":"delete","room":"r","id":id,"ref":format!("d-{user}")}),
            json!({"type":"warn","room":"r","user":user,"reason":"x","ref":format!("w-{user}")}),
            json!({"type":"timeout","room":"r","user":user,"seconds":60,"ref":format!("t-{user}")}),
        ] {
            let what = format!("{} of {target}", frame["type"]);
            let reply = mia.act(frame).await;
            if reply["code"] != "forbidden" {
                wrongly_allowed.push(format!("{what}: {reply}"));
            }
        }
    }
    assert!(
        wrongly_allowed.is_empty(),
        "a moderator on node-0 acted on node-1's moderators: {wrongly_allowed:#?}"
    );
}

#[actix_web::test]
async fn a_ban_from_another_node_during_the_chat_delay_keeps_the_message_from_going_out() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let (status, _) = nodes[0]
        .api(
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(json!({"chat_delay_ms": 1000})),
        )
        .await;
    assert_eq!(status, 200);
    let mut troll = nodes[0].connect("troll").await;
    let mut cat = nodes[0].connect("cat").await;
    let mut va = nodes[0].connect("va").await;
    let mut vb = nodes[1].connect("vb").await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    for c in [&mut troll, &mut cat, &mut va, &mut vb, &mut mb] {
        c.join("r").await;
    }
    let gone = troll.say("r", "troll text", "t").await["id"].clone();
    mb.expect("the early copy", |f| {
        f["id"] == gone && f["delayed"] == true
    })
    .await;
    mb.acked(json!({"type":"ban","room":"r","user":"troll","ref":"b"}))
        .await;
    troll.expect_type("left").await;
    let later = cat.say("r", "after", "c").await["id"].clone();
    for v in [&mut va, &mut vb] {
        v.expect_without(
            "cat's later message",
            |f| f["type"] == "message" && f["id"] == later,
            |f| f["type"] == "message" && f["id"] == gone,
        )
        .await;
    }
    for node in &nodes {
        let mut late = node.connect("late").await;
        assert_eq!(
            ids_of(&late.join("r").await["recent"]),
            std::slice::from_ref(&later)
        );
    }
}

#[actix_web::test]
async fn a_pin_set_on_one_node_is_lifted_from_another() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut ma = nodes[0].connect_mod("ma", &["r"]).await;
    let mut mb = nodes[1].connect_mod("mb", &["r"]).await;
    for c in [&mut ann, &mut ma, &mut mb] {
        c.join("r").await;
    }
    let id = ann.say("r", "pin me", "1").await["id"].clone();
    ma.expect("the message", |f| f["type"] == "message" && f["id"] == id)
        .await;
    ma.acked(json!({"type":"pin","room":"r","id":id,"seconds":300,"ref":"p"}))
        .await;
    assert_eq!(mb.expect_type("pinned").await["message"]["id"], id);
    mb.acked(json!({"type":"unpin","room":"r","ref":"u"})).await;
    let f = ann
        .expect("the unpin", |f| {
            f["type"] == "pinned" && f["message"].is_null()
        })
        .await;
    assert_eq!(f["room"], "r");
    let mut late = nodes[0].connect("late").await;
    let joined = late.join("r").await;
    assert!(joined.get("pinned").is_none(), "{joined}");
}
