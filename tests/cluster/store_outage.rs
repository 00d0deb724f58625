//! PostgreSQL unreachable for a while: nothing acked is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use roomcast::settings::Secret;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

/// A loopback TCP proxy the test can cut (dropping every connection and refusing new ones).
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn acked_messages_wait_out_a_database_outage_and_are_all_stored() {
    let direct = fresh_pg_database().await;
    let pg_port: u16 = pg_admin_url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let proxy = Proxy::start(pg_port).await;
    let through_proxy = direct.replacen(&format!(":{pg_port}/"), &format!(":{}/", proxy.port), 1);
    assert_ne!(direct, through_proxy);

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
