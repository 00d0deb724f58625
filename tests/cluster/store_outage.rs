//! PostgreSQL unreachable for a while: nothing acked is lost.

use std::time::Duration;

use roomcast::settings::Secret;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn acked_messages_wait_out_a_database_outage_and_are_all_stored() {
    let (direct, proxy, through_proxy) = pg_behind_proxy().await;

    let dir = temp_dir();
    let mut settings = test_settings(&dir);
    settings.database.url = Secret::new(through_proxy);
    settings.limits.messages_per_window = 100;
    let app = start(settings.clone(), dir.clone(), true).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(ann.say("r", &format!("before {i}"), &format!("b{i}")).await["id"].clone());
    }
    proxy.cut();
    for i in 0..5 {
        let ack = ann.say("r", &format!("during {i}"), &format!("d{i}")).await;
        assert_eq!(
            ack["type"], "ack",
            "messages are still acked while the database is away"
        );
        ids.push(ack["id"].clone());
    }
    // They wait in the store's queue, visible to readers, counted in /readyz.
    eventually("queued writes to show in /readyz", WAIT, || async {
        app.get("/readyz", None).await.1["store_queue"]
            .as_u64()
            .unwrap_or(0)
            > 0
    })
    .await;
    ann.send(json!({"type":"history","room":"r","limit":20,"ref":"h"}))
        .await;
    // History needs the database for the stored part; during the outage it may fail.
    let h = ann.expect("history or error", |f| f["ref"] == "h").await;
    assert!(h["type"] == "history" || h["code"] == "internal", "{h}");

    tokio::time::sleep(Duration::from_millis(1500)).await; // an outage, not a blip
    proxy.restore();
    eventually("the queue to drain", Duration::from_secs(20), || async {
        app.get("/readyz", None).await.1["store_queue"] == 0
    })
    .await;

    // Every acked message is in the database: read it through a server on the direct URL.
    let mut settings2 = settings;
    settings2.database.url = Secret::new(direct);
    let check = start(settings2, dir, true).await;
    let (_, body) = check
        .get("/api/rooms/r/messages?limit=100", Some(API_KEY))
        .await;
    let stored: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(stored, ids);
}
