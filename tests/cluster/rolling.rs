//! A rolling restart of a 3-node cluster (real processes, SIGTERM one at a time)
//! while clients chat: every acked message is stored, clients that are told to
//! `reconnect` find another node, and the counts come back right.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// Node URLs that are up, shared with the client tasks.
type Live = Rc<RefCell<Vec<String>>>;

/// Connect to some live node (trying them in turn) and join `room`.
async fn connect_and_join(live: &Live, start: usize, token: &str, room: &str) -> Client {
    for attempt in 0..60 {
        let urls = live.borrow().clone();
        let url = &urls[(start + attempt) % urls.len()];
        let req = format!("{url}?token={token}");
        if let Ok(Ok((ws, _))) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&req)).await
        {
            let mut c = Client::from_stream(ws);
            if c.next().await["type"] == "welcome" {
                c.join(room).await;
                return c;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no node accepted a connection");
}

#[actix_web::test]
async fn a_rolling_restart_loses_no_acked_message_and_counts_recover() {
    let redis = RedisServer::start().await;
    let seed = spawn_cluster(1, &redis).await; // only to make the database and settings
    let mut settings = seed[0].settings_for_node("roll-0");
    settings.server.drain_s = 1;
    settings.presence.ttl_s = 15; // counts must recover by nodes saying goodbye, not by expiry
    let mut nodes = Vec::new();
    for i in 0..3 {
        settings.node.id = format!("roll-{i}");
        nodes.push(node_process(&settings).await);
    }
    let live: Live = Rc::new(RefCell::new(
        nodes.iter().map(NodeProcess::ws_url).collect(),
    ));

    // Viewers that reconnect whenever their node sends them away.
    let viewers = 6;
    let connected = Rc::new(RefCell::new(0usize));
    let stop = Rc::new(RefCell::new(false));
    let mut tasks = Vec::new();
    for v in 0..viewers {
        let (live, connected, stop) = (live.clone(), connected.clone(), stop.clone());
        let token = seed[0].token(&format!("viewer{v}"), &[]);
        tasks.push(actix_web::rt::spawn(async move {
            let mut reconnects = 0;
            let mut c = connect_and_join(&live, v, &token, "r").await;
            *connected.borrow_mut() += 1;
            while !*stop.borrow() {
                match tokio::time::timeout(Duration::from_millis(200), c.next_or_close()).await {
                    Ok(Some(f)) if f["type"] != "reconnect" => continue,
                    Ok(_) => {
                        // Told to reconnect, or closed: another node.
                        *connected.borrow_mut() -= 1;
                        reconnects += 1;
                        c = connect_and_join(&live, v + reconnects, &token, "r").await;
                        *connected.borrow_mut() += 1;
                    }
                    Err(_) => {} // quiet; check `stop`
                }
            }
            (reconnects, c) // the connection stays open for the count check
        }));
    }

    // A moderator (no rate limit) chats throughout, reconnecting like the others.
    let acked = Rc::new(RefCell::new(Vec::new()));
    let sender = {
        let (live, acked, stop) = (live.clone(), acked.clone(), stop.clone());
        let token = seed[0].token("host", &["r"]);
        actix_web::rt::spawn(async move {
            let mut c = connect_and_join(&live, 0, &token, "r").await;
            let mut n = 0;
            while !*stop.borrow() {
                n += 1;
                let reference = format!("m{n}");
                c.send(
                    json!({"type":"message","room":"r","text":format!("msg {n}"),"ref":reference}),
                )
                .await;
                // Wait for the ack; a node going away means this one was not acked.
                let answer = tokio::time::timeout(WAIT, async {
                    loop {
                        match c.next_or_close().await {
                            Some(f) if f["type"] == "ack" && f["ref"] == reference.as_str() => {
                                return Some(f);
                            }
                            Some(f) if f["type"] == "reconnect" => return None,
                            Some(_) => continue,
                            None => return None,
                        }
                    }
                })
                .await;
                match answer {
                    Ok(Some(ack)) => acked.borrow_mut().push(ack["id"].clone()),
                    _ => c = connect_and_join(&live, n, &token, "r").await,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            c
        })
    };

    // Roll: SIGTERM each node in turn, wait for a clean exit, start its replacement.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (i, node) in nodes.iter_mut().enumerate() {
        let old = node.ws_url();
        live.borrow_mut().retain(|u| *u != old);
        node.terminate();
        assert_eq!(
            node.wait_exit(Duration::from_secs(20)).await,
            Some(0),
            "node {i} exits cleanly"
        );
        settings.node.id = format!("roll-{i}-new");
        *node = node_process(&settings).await;
        live.borrow_mut().push(node.ws_url());
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    *stop.borrow_mut() = true;
    let _host = sender.await.unwrap();
    let mut reconnects = 0;
    let mut _clients = Vec::new();
    for t in tasks {
        let (n, c) = t.await.unwrap();
        reconnects += n;
        _clients.push(c);
    }
    assert!(reconnects >= 1, "the restart moved some clients");
    let acked = acked.borrow().clone();
    assert!(
        acked.len() > 10,
        "the host kept chatting: {} acked",
        acked.len()
    );

    // Every acked message is stored (read through a node that was not running then).
    let api = format!("http://127.0.0.1:{}", nodes[2].port);
    let mut stored = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let q = before
            .as_ref()
            .map(|b| format!("&before={b}"))
            .unwrap_or_default();
        let mut resp = awc::Client::default()
            .get(format!("{api}/api/rooms/r/messages?limit=100{q}"))
            .insert_header(("Authorization", format!("Bearer {API_KEY}")))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().limit(1 << 22).await.unwrap();
        let page = body["messages"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        before = page[0]["id"].as_str().map(str::to_owned);
        stored.extend(page.into_iter().map(|m| m["id"].clone()));
    }
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acked messages were not stored: {missing:?}",
        missing.len()
    );

    // Counts come back right: every node reports the clients now connected (+ the host).
    let expected = *connected.borrow() as u64 + 1;
    assert_eq!(expected, viewers as u64 + 1);
    for node in &nodes {
        let url = format!("http://127.0.0.1:{}/api/rooms/r", node.port);
        eventually(
            "the cluster-wide count to settle",
            Duration::from_secs(5),
            || {
                let url = url.clone();
                async move {
                    let mut r = awc::Client::default()
                        .get(url)
                        .insert_header(("Authorization", format!("Bearer {API_KEY}")))
                        .send()
                        .await
                        .unwrap();
                    let v: serde_json::Value = r.json().await.unwrap();
                    v["viewers"].as_u64() == Some(expected)
                }
            },
        )
        .await;
    }
    eprintln!(
        "measured: rolling restart of 3 nodes: {} messages acked, all stored; {reconnects} viewer reconnects; count back to {expected}",
        acked.len()
    );
}
