//! Contract §5 in a cluster: Redis numbers every room's messages; every node
//! delivers them in that order; a client resumes on any node, also after the
//! node it was on was SIGKILLed; a Redis that lost the sequence changes the epoch.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

fn seq_of(f: &Value) -> u64 {
    f["seq"].as_u64().expect("a seq")
}

#[actix_web::test]
async fn every_node_sees_one_sequence_in_order_without_gaps_or_repeats() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let mut bob = nodes[1].connect("bob").await;
    let mut watch_a = nodes[0].connect_anon().await;
    let mut watch_b = nodes[1].connect_anon().await;
    for c in [&mut ann, &mut bob, &mut watch_a, &mut watch_b] {
        c.join("r").await;
    }
    // Both nodes publish, interleaved.
    for i in 0..5 {
        ann.send(json!({"type":"message","room":"r","text":format!("a{i}")}))
            .await;
        bob.send(json!({"type":"message","room":"r","text":format!("b{i}")}))
            .await;
    }
    let mut seen = Vec::new();
    for watcher in [&mut watch_a, &mut watch_b] {
        let mut got = Vec::new();
        while got.len() < 10 {
            let f = watcher.expect_type("message").await;
            got.push((seq_of(&f), f["id"].as_str().unwrap().to_owned()));
        }
        let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            seqs,
            (1..=10).collect::<Vec<_>>(),
            "in order, no gap, no repeat"
        );
        seen.push(got);
    }
    assert_eq!(
        seen[0], seen[1],
        "the same numbers for the same messages on both nodes"
    );
    let (_, a) = nodes[0].get("/api/rooms/r", Some(API_KEY)).await;
    let (_, b) = nodes[1].get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(
        (a["seq"].as_u64(), a["epoch"].clone()),
        (Some(10), b["epoch"].clone())
    );
}

#[actix_web::test]
async fn a_client_resumes_on_another_node_after_its_node_was_killed() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let mut process = node_process(&nodes[0].settings_for_node("node-doomed")).await;
    let token = nodes[0].token("ann", &[]);
    let mut ann = Client::connect(&format!("{}?token={token}", process.ws_url())).await;
    ann.join("r").await;
    let mut bob = nodes[0].connect("bob").await;
    bob.join("r").await;
    bob.say("r", "one", "1").await;
    let last = ann.expect_type("message").await;
    let joined_epoch = {
        let (_, info) = nodes[0].get("/api/rooms/r", Some(API_KEY)).await;
        info["epoch"].as_str().unwrap().to_owned()
    };
    process.kill();
    // Messages go on while Ann's node is gone.
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(bob.say("r", &format!("missed {i}"), &format!("m{i}")).await["id"].clone());
    }
    let mut ann = nodes[0].connect("ann").await;
    ann.send(json!({"type":"join","room":"r","since":{"seq":seq_of(&last),"epoch":joined_epoch}}))
        .await;
    let joined = ann.expect_type("joined").await;
    assert_eq!(joined["recovered"], true, "{joined}");
    let got: Vec<Value> = joined["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(got, missed);
}

#[actix_web::test]
async fn a_redis_that_lost_the_sequence_changes_the_epoch() {
    let redis = RedisServer::start().await;
    let nodes = spawn_cluster(1, &redis).await;
    let mut ann = nodes[0].connect("ann").await;
    let joined = ann.join("r").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    ann.say("r", "before", "b").await;
    assert_eq!(seq_of(&ann.expect_type("message").await), 1);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    ann.say("r", "after", "a").await;
    let after = ann.expect_type("message").await;
    assert_eq!(seq_of(&after), 1, "a new sequence");
    let (_, info) = nodes[0].get("/api/rooms/r", Some(API_KEY)).await;
    let new_epoch = info["epoch"].as_str().unwrap().to_owned();
    assert_ne!(new_epoch, epoch);
    // A client at the old position starts over.
    let mut bob = nodes[0].connect("bob").await;
    bob.send(json!({"type":"join","room":"r","since":{"seq":1,"epoch":epoch}}))
        .await;
    assert_eq!(bob.expect_type("joined").await["recovered"], false);
    // At the new one, it resumes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut cat = nodes[0].connect("cat").await;
    cat.send(json!({"type":"join","room":"r","since":{"seq":0,"epoch":new_epoch}}))
        .await;
    let joined = cat.expect_type("joined").await;
    assert_eq!(joined["recovered"], true, "{joined}");
    assert_eq!(joined["recent"][0]["text"], "after");
}
