//! Redis going away and coming back.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn nodes_keep_serving_without_redis_and_recover_when_it_returns() {
    let mut redis = RedisServer::start().await;
    let nodes = spawn_cluster(2, &redis).await;
    let mut a1 = nodes[0].connect("ann").await;
    let mut a2 = nodes[0].connect("amy").await;
    let mut b1 = nodes[1].connect("bob").await;
    for c in [&mut a1, &mut a2, &mut b1] {
        c.join("r").await;
    }
    b1.expect("viewers 3", |f| f["type"] == "viewers" && f["count"] == 3)
        .await;
    let (_, ready) = nodes[0].get("/readyz", None).await;
    assert_eq!(ready["redis"], "ok");

    redis.kill();
    for node in &nodes {
        eventually("readyz to show redis down", WAIT, || async {
            let (status, body) = node.get("/readyz", None).await;
            status == 200 && body["redis"] == "down"
        })
        .await;
    }
    // Degraded, not down: members on the same node still talk.
    let id = a1.say("r", "local only", "l").await["id"].clone();
    a2.expect("local message", |f| f["type"] == "message" && f["id"] == id)
        .await;

    redis.restart().await;
    let restarted = std::time::Instant::now();
    for node in &nodes {
        eventually(
            "readyz to show redis ok",
            Duration::from_secs(10),
            || async { node.get("/readyz", None).await.1["redis"] == "ok" },
        )
        .await;
    }
    // Cross-node traffic resumes: probe (bounded) until Bob gets one of Ann's messages.
    let mut got = false;
    for i in 0..25 {
        a1.send(json!({"type":"message","room":"r","text":format!("probe {i}")}))
            .await;
        let f = tokio::time::timeout(Duration::from_millis(400), async {
            loop {
                let f = b1.next().await;
                if f["type"] == "message" && f["user"] == "ann" {
                    return f;
                }
            }
        })
        .await;
        if f.is_ok() {
            got = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2000)).await; // stay under the rate limit
    }
    assert!(
        got,
        "cross-node messages never resumed after Redis came back"
    );
    eprintln!(
        "measured: cross-node messages resumed {:?} after Redis restarted",
        restarted.elapsed()
    );
    // And counts are right again everywhere.
    for node in &nodes {
        eventually("room info 3", Duration::from_secs(10), || async {
            node.get("/api/rooms/r", Some(API_KEY)).await.1["viewers"] == 3
        })
        .await;
    }
}
