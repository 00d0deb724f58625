//! Webhooks across nodes (contract §8): nodes sharing one PostgreSQL outbox
//! send each event exactly once between them; a node killed while sending has
//! its events taken over by another once its lease runs out; a cluster-wide
//! event (a dedupe key) is stored once and sent once.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use roomcast::settings::{Secret, Settings};
use roomcast::webhooks::outbox::{self, NewEvent};
use serde_json::json;

use crate::helpers::*;

const SECRET: &str = "cluster-webhook-secret";

fn with_webhooks(s: &mut Settings, receiver: &Receiver) {
    s.webhooks.url = Some(receiver.url());
    s.webhooks.secret = Some(Secret::new(SECRET));
    s.webhooks.retry_base_ms = 50;
    s.webhooks.retry_s = 60;
}

/// Node `i` in-process, on `db_url` and `redis`, sending webhooks to `receiver`.
async fn node(
    i: usize,
    dir: &Path,
    db_url: &str,
    redis: &RedisServer,
    receiver: &Receiver,
) -> TestApp {
    let node_dir = dir.join(format!("node-{i}"));
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let mut s = node_settings(i, &node_dir, db_url, redis);
    with_webhooks(&mut s, receiver);
    let node = start(s, node_dir, true).await;
    eventually("the node's Redis bridge to connect", WAIT, || async {
        node.get("/readyz", None).await.1["redis"] == "ok"
    })
    .await;
    node
}

async fn ban_on(base: &str, room: &str, user: &str) {
    let mut resp = awc::Client::default()
        .post(format!("{base}/api/rooms/{room}/bans"))
        .insert_header(("Authorization", format!("Bearer {API_KEY}")))
        .timeout(WAIT)
        .send_json(&json!({"user": user}))
        .await
        .expect("ban request");
    let body = resp.body().await.unwrap_or_default();
    assert_eq!(resp.status().as_u16(), 201, "{body:?}");
}

fn user_of(r: &Received) -> String {
    r.json["data"]["user"].as_str().unwrap_or("").to_owned()
}

#[actix_web::test]
async fn each_event_is_sent_by_exactly_one_of_two_nodes() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let dir = temp_dir();
    let db_url = database_url(Backend::Postgres, &dir).await;
    let nodes = [
        node(0, &dir, &db_url, &redis, &receiver).await,
        node(1, &dir, &db_url, &redis, &receiver).await,
    ];
    // Each room's events are taken on one node (so their order is known);
    // either node may send them.
    let rooms = ["r0", "r1", "r2", "r3"];
    for k in 0..5 {
        for (i, room) in rooms.iter().enumerate() {
            ban_on(&nodes[i % 2].http(""), room, &format!("u{k}")).await;
        }
    }
    let delivered = receiver.wait_delivered(20, Duration::from_secs(15)).await;
    // A moment longer: a second sender would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.received();
    let ids: HashSet<&str> = all.iter().map(Received::id).collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(all.len(), 20, "each event sent once: {all:#?}");
    for room in rooms {
        let users: Vec<String> = delivered
            .iter()
            .filter(|r| r.room() == room)
            .map(user_of)
            .collect();
        assert_eq!(users, ["u0", "u1", "u2", "u3", "u4"], "order in {room}");
    }
    assert!(all.iter().all(|r| r.signed_with(SECRET)));
    let mut by_node: HashMap<String, usize> = HashMap::new();
    for r in &all {
        *by_node
            .entry(r.user_agent.clone().unwrap_or_default())
            .or_default() += 1;
    }
    eprintln!("events sent per node: {by_node:?}");
}

#[actix_web::test]
async fn a_killed_nodes_events_are_delivered_by_another_once_its_lease_runs_out() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(Reply::Stall);
    let dir = temp_dir();
    let db_url = database_url(Backend::Postgres, &dir).await;
    let mut s = node_settings(0, &dir, &db_url, &redis);
    with_webhooks(&mut s, &receiver);
    let mut a = node_process(&s).await;
    ban_on(&a.http(""), "k", "u1").await;
    ban_on(&a.http(""), "k", "u2").await;
    let seen = receiver
        .wait_until("node-0 sending the first event", WAIT, |got| {
            got.iter().any(|r| user_of(r) == "u1")
        })
        .await;
    let claimed = Instant::now();
    let first_try = seen[0].body.clone();
    let db = sea_orm::Database::connect(db_url.as_str())
        .await
        .expect("open the cluster database");
    eventually("both events stored", WAIT, || async {
        outbox::of_room(&db, "k")
            .await
            .is_ok_and(|rows| rows.len() == 2)
    })
    .await;
    a.kill();
    receiver.answer(Reply::Status(200));

    let b = node(1, &dir, &db_url, &redis, &receiver).await;
    let lease = roomcast::webhooks::sender::LEASE;
    let delivered = receiver
        .wait_delivered(2, lease + Duration::from_secs(15))
        .await;
    let users: Vec<String> = delivered.iter().map(user_of).collect();
    assert_eq!(users, ["u1", "u2"], "in order");
    assert_eq!(delivered[0].body, first_try, "the same event, id and body");
    assert!(
        delivered
            .iter()
            .all(|r| r.user_agent.as_deref().unwrap_or("").contains("node-1")),
        "sent by the surviving node"
    );
    assert!(
        claimed.elapsed() >= lease - Duration::from_secs(2),
        "not taken over before the dead node's lease ran out ({:?})",
        claimed.elapsed()
    );
    let rows = outbox::of_room(&db, "k").await.expect("outbox");
    assert!(rows.iter().all(|r| r.status == "delivered"));
    assert_eq!(
        rows[0].attempts, 2,
        "one try by the dead node, one by node-1"
    );
    drop(b);
}

#[actix_web::test]
async fn a_cluster_wide_event_is_stored_once_and_sent_once() {
    let redis = RedisServer::start().await;
    let receiver = Receiver::start().await;
    let dir = temp_dir();
    let db_url = database_url(Backend::Postgres, &dir).await;
    let _nodes = [
        node(0, &dir, &db_url, &redis, &receiver).await,
        node(1, &dir, &db_url, &redis, &receiver).await,
    ];
    // Every node's copy of "room r became occupied": same key, its own id.
    let copy = |id: String, key: Option<&str>| {
        let body = json!({"id": id, "type": "room.occupied", "room": "r", "ts": 1, "data": {}});
        NewEvent {
            id,
            kind: "room.occupied".into(),
            room: "r".into(),
            body: body.to_string(),
            dedupe_key: key.map(str::to_owned),
            created_at: roomcast::protocol::now_ms(),
        }
    };
    let key = roomcast::webhooks::dedupe_key("room.occupied", "r", 42);
    let (one, two) = (
        sea_orm::Database::connect(db_url.as_str())
            .await
            .expect("db"),
        sea_orm::Database::connect(db_url.as_str())
            .await
            .expect("db"),
    );
    let first = [copy(ulid::Ulid::generate().to_string(), Some(&key))];
    let second = [copy(ulid::Ulid::generate().to_string(), Some(&key))];
    let (x, y) = tokio::join!(outbox::insert(&one, &first), outbox::insert(&two, &second));
    assert_eq!(x.expect("insert") + y.expect("insert"), 1, "stored once");
    let plain = ulid::Ulid::generate().to_string();
    outbox::insert(&one, &[copy(plain.clone(), None)])
        .await
        .expect("insert");
    receiver.wait_delivered(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = receiver.received();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[1].id(), plain);
}
