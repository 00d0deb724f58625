//! Contract §8 across nodes: a room is occupied once and vacated once however
//! its members spread over nodes, also when the node holding the last members
//! is SIGKILLed or drains; `analytics.minute` is sent once per room and period
//! although every node closes the period; typing reaches members on other
//! nodes; a user's presence is right again within the presence TTL after a
//! node dies. Nodes share one PostgreSQL outbox and a private Redis; webhooks
//! go to a real HTTP receiver.

use std::time::Duration;

use roomcast::settings::{Secret, Settings};
use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "cluster-platform-events";

fn webhooks_to(receiver: &Receiver) -> impl Fn(&mut Settings) + use<> {
    let url = receiver.url();
    move |s: &mut Settings| {
        s.webhooks.url = Some(url.clone());
        s.webhooks.secret = Some(Secret::new(SECRET));
        s.webhooks.retry_base_ms = 50;
    }
}

/// Wait until node `node` counts `n` viewers in `room` (other nodes' included).
async fn viewers_seen(node: &TestApp, room: &str, n: u64) {
    eventually(&format!("{room} to count {n} viewers"), WAIT, || async {
        node.get(&format!("/api/rooms/{room}"), Some(API_KEY))
            .await
            .1["viewers"]
            == n
    })
    .await;
}

/// Time for a second copy of an event to arrive, if one were sent.
const SETTLE: Duration = Duration::from_millis(1_500);

#[actix_web::test]
async fn a_room_spread_over_two_nodes_is_occupied_once_and_vacated_once() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let nodes = spawn_cluster_with(2, &redis, webhooks_to(&receiver)).await;
    let mut ann = nodes[0].connect("ann").await;
    ann.join("r").await;
    let got = receiver
        .wait_until("room.occupied", WAIT, |g| {
            count_of(g, "room.occupied", "r") == 1
        })
        .await;
    let since = of_kind(&got, "room.occupied", "r")[0].json["data"]["since"].clone();
    let mut bob = nodes[1].connect("bob").await;
    bob.join("r").await;
    viewers_seen(&nodes[0], "r", 2).await;
    // The first member in left, but the room is not empty: no vacated yet.
    ann.leave("r").await;
    viewers_seen(&nodes[1], "r", 1).await;
    let last_out = now_ms();
    bob.leave("r").await;
    let got = receiver
        .wait_until("room.vacated", WAIT, |g| {
            count_of(g, "room.vacated", "r") == 1
        })
        .await;
    let vacated = of_kind(&got, "room.vacated", "r")[0];
    assert!(vacated.signed_with(SECRET));
    assert_eq!(vacated.json["data"]["since"], since);
    assert!(
        vacated.json["ts"].as_i64().unwrap_or(0) >= last_out,
        "vacated only when the last member left: {}",
        vacated.json
    );
    tokio::time::sleep(SETTLE).await;
    let got = receiver.delivered();
    assert_eq!(count_of(&got, "room.occupied", "r"), 1, "{got:#?}");
    assert_eq!(count_of(&got, "room.vacated", "r"), 1, "{got:#?}");
}

#[actix_web::test]
async fn first_members_arriving_on_two_nodes_at_once_open_one_episode() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let nodes = spawn_cluster_with(2, &redis, webhooks_to(&receiver)).await;
    for round in 0..5 {
        let room = format!("race{round}");
        let mut a = nodes[0].connect("ann").await;
        let mut b = nodes[1].connect("bob").await;
        let (ja, jb) = tokio::join!(a.join(&room), b.join(&room));
        assert_eq!(
            (ja["type"].clone(), jb["type"].clone()),
            ("joined".into(), "joined".into())
        );
        tokio::join!(a.leave(&room), b.leave(&room));
        receiver
            .wait_until(&format!("{room} vacated"), WAIT, |g| {
                count_of(g, "room.vacated", &room) >= 1
            })
            .await;
    }
    tokio::time::sleep(SETTLE).await;
    let got = receiver.delivered();
    for round in 0..5 {
        let room = format!("race{round}");
        let occupied = of_kind(&got, "room.occupied", &room);
        let vacated = of_kind(&got, "room.vacated", &room);
        // However the two steps interleaved, episodes open and close in pairs.
        assert_eq!(occupied.len(), vacated.len(), "{room}: {got:#?}");
        for (o, v) in occupied.iter().zip(&vacated) {
            assert_eq!(o.json["data"]["since"], v.json["data"]["since"], "{room}");
        }
    }
}

#[actix_web::test]
async fn a_killed_nodes_rooms_are_vacated_by_another_node_unless_still_occupied() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let hooks = webhooks_to(&receiver);
    let nodes = spawn_cluster_with(1, &redis, &hooks).await;
    let mut s = nodes[0].settings_for_node("doomed");
    hooks(&mut s);
    let mut doomed = node_process(&s).await;
    // "alone" has members only on the doomed node; "shared" on both.
    let mut ann = Client::connect(&format!(
        "{}?token={}",
        doomed.ws_url(),
        nodes[0].token("ann", &[])
    ))
    .await;
    ann.join("alone").await;
    ann.join("shared").await;
    let mut bob = nodes[0].connect("bob").await;
    bob.join("shared").await;
    receiver
        .wait_until("both rooms occupied", WAIT, |g| {
            count_of(g, "room.occupied", "alone") == 1
                && count_of(g, "room.occupied", "shared") == 1
        })
        .await;
    doomed.kill();
    // Swept once the heartbeat lapses (presence.ttl_s = 2): within a few
    // seconds. If the doomed node died before it noted the delivery of a
    // room's `room.occupied`, that event goes again first (same id), once its
    // lease runs out: the room's later events wait for it.
    let after_lease = roomcast::webhooks::sender::LEASE + Duration::from_secs(15);
    let got = receiver
        .wait_until("alone vacated after the kill", after_lease, |g| {
            count_of(g, "room.vacated", "alone") == 1
        })
        .await;
    assert_eq!(
        count_of(&got, "room.vacated", "shared"),
        0,
        "Bob is still there"
    );
    viewers_seen(&nodes[0], "shared", 1).await;
    // The dead node no longer holds the shared room open: Bob is the last out.
    bob.leave("shared").await;
    receiver
        .wait_until("shared vacated", after_lease, |g| {
            count_of(g, "room.vacated", "shared") == 1
        })
        .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(count_of(&receiver.delivered(), "room.vacated", "alone"), 1);
}

#[actix_web::test]
async fn a_draining_node_vacates_the_rooms_only_it_held() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let hooks = webhooks_to(&receiver);
    let nodes = spawn_cluster_with(1, &redis, &hooks).await;
    let mut s = nodes[0].settings_for_node("leaving");
    hooks(&mut s);
    s.server.drain_s = 1;
    let mut leaving = node_process(&s).await;
    let mut ann = Client::connect(&format!(
        "{}?token={}",
        leaving.ws_url(),
        nodes[0].token("ann", &[])
    ))
    .await;
    ann.join("solo").await;
    receiver
        .wait_until("solo occupied", WAIT, |g| {
            count_of(g, "room.occupied", "solo") == 1
        })
        .await;
    leaving.terminate();
    assert_eq!(leaving.wait_exit(Duration::from_secs(15)).await, Some(0));
    // Vacated by the drain itself, not by a sweep after the TTL: the event is
    // in the outbox before the node exits.
    let db = sea_orm::Database::connect(nodes[0].settings.database.url.expose())
        .await
        .expect("open the cluster database");
    let rows = roomcast::webhooks::outbox::of_room(&db, "solo")
        .await
        .expect("read the outbox");
    assert!(
        rows.iter().any(|r| r.kind == "room.vacated"),
        "{:?}",
        rows.iter().map(|r| &r.kind).collect::<Vec<_>>()
    );
    // Node 0 sends it: at once, or, if the leaving node exited holding the
    // lease of one of the room's events (claimed, or sent and not yet noted),
    // once that lease runs out (a room's events go in order).
    let within = roomcast::webhooks::sender::LEASE + Duration::from_secs(10);
    receiver
        .wait_until("solo vacated", within, |g| {
            count_of(g, "room.vacated", "solo") == 1
        })
        .await;
}

#[actix_web::test]
async fn analytics_minute_is_sent_once_per_room_and_period_by_one_of_the_nodes() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let hooks = webhooks_to(&receiver);
    let nodes = spawn_cluster_with(2, &redis, |s| {
        hooks(s);
        s.analytics.period_ms = 1_000;
    })
    .await;
    let mut ann = nodes[0].connect("ann").await;
    ann.join("lot").await;
    let mut bob = nodes[1].connect("bob").await;
    bob.join("lot").await;
    for i in 0..3 {
        assert_eq!(
            ann.say("lot", &format!("bid {i}"), &format!("a{i}")).await["type"],
            "ack"
        );
        assert_eq!(
            bob.say("lot", &format!("bid {i}"), &format!("b{i}")).await["type"],
            "ack"
        );
    }
    let minutes = |got: &[Received]| -> Vec<Value> {
        of_kind(got, "analytics.minute", "lot")
            .into_iter()
            .map(|r| r.json["data"].clone())
            .collect()
    };
    // Both nodes saw all six messages; the periods carrying them are sent once.
    receiver
        .wait_until(
            "the periods of the six messages",
            Duration::from_secs(15),
            |g| {
                let sent: u64 = minutes(g)
                    .iter()
                    .map(|d| d["messages"].as_u64().unwrap_or(0))
                    .sum();
                sent >= 6
            },
        )
        .await;
    tokio::time::sleep(SETTLE).await;
    let got = minutes(&receiver.delivered());
    let mut periods: Vec<i64> = got
        .iter()
        .map(|d| d["minute"].as_i64().unwrap_or(-1))
        .collect();
    let total = periods.len();
    periods.sort_unstable();
    periods.dedup();
    assert_eq!(periods.len(), total, "one event per period: {got:#?}");
    let messages: u64 = got
        .iter()
        .map(|d| d["messages"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(messages, 6, "{got:#?}");
    assert!(
        got.iter().any(|d| d["max"] == 2),
        "two viewers, cluster-wide: {got:#?}"
    );
}

#[actix_web::test]
async fn typing_reaches_members_on_other_nodes() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    ann.join("dm").await;
    let mut bob = nodes[1].connect("bob").await;
    bob.join("dm").await;
    viewers_seen(&nodes[0], "dm", 2).await;
    ann.send(json!({"type":"typing","room":"dm"})).await;
    let typing = bob.expect_type("typing").await;
    assert_eq!(
        typing,
        json!({"type":"typing","room":"dm","user":"ann","name":"ann"})
    );
}

async fn presence(node: &TestApp, user: &str) -> Value {
    let (status, body) = node
        .get(&format!("/api/users/{user}/presence"), Some(API_KEY))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn a_users_presence_is_right_again_within_the_ttl_after_a_node_dies() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let s = nodes[0].settings_for_node("doomed");
    let mut doomed = node_process(&s).await;
    let on_doomed = |user: &str| format!("{}?token={}", doomed.ws_url(), nodes[0].token(user, &[]));
    // Uma is on both nodes, Vic only on the one that dies.
    let mut uma_there = Client::connect(&on_doomed("uma")).await;
    uma_there.join("a").await;
    let mut vic = Client::connect(&on_doomed("vic")).await;
    vic.join("b").await;
    let mut uma_here = nodes[0].connect("uma").await;
    uma_here.join("c").await;
    eventually("uma on two nodes", WAIT, || async {
        let p = presence(&nodes[0], "uma").await;
        p["connections"] == 2 && p["rooms"] == json!(["a", "c"])
    })
    .await;
    assert_eq!(presence(&nodes[0], "vic").await["online"], true);
    let killed_at = std::time::Instant::now();
    doomed.kill();
    // presence.ttl_s = 2: the dead node's entries go within it (plus a sweep).
    eventually(
        "the dead node's users gone",
        Duration::from_secs(10),
        || async {
            let (uma, vic) = (
                presence(&nodes[0], "uma").await,
                presence(&nodes[0], "vic").await,
            );
            uma == json!({"online":true,"connections":1,"rooms":["c"]})
                && vic == json!({"online":false,"connections":0,"rooms":[]})
        },
    )
    .await;
    assert!(killed_at.elapsed() < Duration::from_secs(10));
    // The living node's connection was never lost on the way.
    uma_here.say("c", "still here", "m").await;
}

#[actix_web::test]
async fn after_redis_restarts_empty_every_nodes_users_are_reachable_again() {
    let mut redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut phone = nodes[0].connect("ann").await;
    phone.join("a").await;
    let mut laptop = nodes[1].connect("ann").await;
    laptop.join("b").await;
    eventually("ann on two nodes", WAIT, || async {
        presence(&nodes[0], "ann").await["connections"] == 2
    })
    .await;
    // Redis comes back without its data: each node writes its users again.
    redis.kill();
    redis.restart().await;
    eventually(
        "ann's presence rewritten by both nodes",
        Duration::from_secs(15),
        || async {
            presence(&nodes[0], "ann").await
                == json!({"online":true,"connections":2,"rooms":["a","b"]})
        },
    )
    .await;
    // A notify reaches node 0 once its subscription is back too (it may come
    // back after its writer did): until then `delivered` says 1, truthfully.
    eventually(
        "a notify delivered on both nodes",
        Duration::from_secs(15),
        || async {
            let (status, body) = nodes[1]
                .api(
                    awc::http::Method::POST,
                    "/api/users/ann/notify",
                    Some(json!({"name":"ping"})),
                )
                .await;
            assert_eq!(status, 202, "{body}");
            body["delivered"] == 2
        },
    )
    .await;
    for device in [&mut phone, &mut laptop] {
        assert_eq!(device.expect_type("notify").await["name"], "ping");
    }
}
