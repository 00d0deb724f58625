//! Webhooks (contract §8) against a real HTTP receiver: signed JSON bodies,
//! retries that keep the id and body, order per room, rooms that do not wait
//! for each other, giving up after `retry_s`, a restart with pending events,
//! and the metrics. Events come from moderator actions (REST and WebSocket).
//!
//! The webhook metrics are process-wide, so these tests run one at a time.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use roomcast::settings::{Secret, Settings};
use roomcast::webhooks::outbox;
use serde_json::json;

use crate::helpers::*;

const SECRET: &str = "whsec-test-secret";

static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// A server whose webhooks go to `receiver` (fast retries), with `tweak` applied.
async fn app_for(receiver: &Receiver, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let url = receiver.url();
    spawn_app_with(move |s| {
        s.webhooks.url = Some(url);
        s.webhooks.secret = Some(Secret::new(SECRET));
        s.webhooks.retry_base_ms = 50;
        s.webhooks.retry_s = 30;
        tweak(s);
    })
    .await
}

/// Ban `user` in `room` through the server API; the action's id.
async fn ban(app: &TestApp, room: &str, user: &str) -> String {
    let (status, body) = app
        .request(
            awc::http::Method::POST,
            &format!("/api/rooms/{room}/bans"),
            Some(API_KEY),
            Some(json!({"user": user, "reason": "spam"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("an action id").to_owned()
}

fn user_of(r: &Received) -> &str {
    r.json["data"]["user"].as_str().unwrap_or("")
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    app.metric(name).await
}

async fn outbox_rows(app: &TestApp, room: &str) -> Vec<entity::webhook_outbox::Model> {
    let db = sea_orm::Database::connect(app.settings.database.url.expose())
        .await
        .expect("open the test database");
    let rows = outbox::of_room(&db, room).await.expect("read the outbox");
    db.close().await.expect("close");
    rows
}

#[actix_web::test]
async fn webhooks_are_signed_json_events_carrying_the_moderation_log_entry() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    // Only moderation actions (Mia joining would also open an occupancy episode).
    let app = app_for(&receiver, |s| {
        s.webhooks.events = vec!["moderation.action".into()];
    })
    .await;
    let ban_id = ban(&app, "shop", "troll").await;
    let mut mia = app.connect_mod("mia", &["shop"]).await;
    mia.join("shop").await;
    mia.send(json!({"type":"timeout","room":"shop","user":"bob","seconds":60,"ref":"t"}))
        .await;
    let ack = mia
        .expect("ack", |f| f["type"] == "ack" && f["ref"] == "t")
        .await;

    let got = receiver.wait_delivered(2, WAIT).await;
    for r in &got {
        assert!(
            r.signed_with(SECRET),
            "bad signature {:?} on {}",
            r.signature,
            r.body
        );
        assert!(!r.signed_with("another secret"));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        let keys: Vec<&str> = r
            .json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{}", r.body);
        assert_eq!(r.id().len(), 26, "a ULID: {}", r.body);
        assert_eq!(r.json["type"], "moderation.action");
        assert_eq!(r.json["room"], "shop");
        let ts = r.json["ts"].as_i64().expect("ts in ms");
        assert!((roomcast::protocol::now_ms() - ts).abs() < 60_000, "{ts}");
    }
    let (b, t) = (&got[0].json["data"], &got[1].json["data"]);
    assert_eq!(b["id"], ban_id.as_str(), "data is the log entry: {b}");
    assert_eq!(
        (&b["action"], &b["user"], &b["reason"]),
        (&json!("ban"), &json!("troll"), &json!("spam"))
    );
    assert!(b["by"].is_string() && b["seconds"].is_null() && b["message_id"].is_null());
    assert!(b["ts"].is_i64());
    assert_eq!(t["id"], ack["id"]);
    assert_eq!(
        (&t["action"], &t["user"], &t["by"], &t["seconds"]),
        (&json!("timeout"), &json!("bob"), &json!("mia"), &json!(60))
    );
    assert_ne!(got[0].id(), got[1].id());
}

#[actix_web::test]
async fn a_failed_event_is_retried_with_the_same_id_and_body_and_the_room_keeps_its_order() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    receiver.set_policy(|_, n| Reply::Status(if n < 3 { 500 } else { 200 }));
    let app = app_for(&receiver, |_| {}).await;
    for user in ["u1", "u2", "u3"] {
        ban(&app, "r", user).await;
    }
    receiver.wait_delivered(3, WAIT).await;
    let all = receiver.received();
    let users: Vec<&str> = all.iter().map(user_of).collect();
    assert_eq!(users, ["u1", "u1", "u1", "u1", "u2", "u3"], "{all:#?}");
    let replies: Vec<Reply> = all.iter().map(|r| r.reply).collect();
    assert_eq!(replies[..4], [500, 500, 500, 200].map(Reply::Status));
    // Every try of the first event is the same event, byte for byte.
    for retry in &all[1..4] {
        assert_eq!(retry.body, all[0].body);
        assert_eq!(retry.signature, all[0].signature);
    }
    let ids: std::collections::HashSet<&str> = all.iter().map(Received::id).collect();
    assert_eq!(ids.len(), 3);
    let rows = outbox_rows(&app, "r").await;
    let stored: Vec<(&str, i32)> = rows
        .iter()
        .map(|r| (r.status.as_str(), r.attempts))
        .collect();
    assert_eq!(
        stored,
        [("delivered", 4), ("delivered", 1), ("delivered", 1)]
    );
    assert_eq!(
        rows[0].body, all[0].body,
        "the stored body is what was sent"
    );
}

#[actix_web::test]
async fn a_stalled_receiver_holds_up_neither_the_room_nor_other_rooms_events() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    receiver.set_policy(|r, _| {
        if r.room() == "stuck" {
            Reply::Stall
        } else {
            Reply::Status(200)
        }
    });
    let app = app_for(&receiver, |_| {}).await;
    ban(&app, "stuck", "first").await;
    receiver
        .wait_until("the stuck room's first event", WAIT, |got| {
            got.iter().any(|r| r.room() == "stuck")
        })
        .await;
    // The room still answers at once, and its next event waits its turn.
    let started = Instant::now();
    ban(&app, "stuck", "second").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    for user in ["a", "b", "c"] {
        ban(&app, "free", user).await;
    }
    let delivered = receiver.wait_delivered(3, WAIT).await;
    let users: Vec<&str> = delivered.iter().map(user_of).collect();
    assert_eq!(users, ["a", "b", "c"]);
    let all = receiver.received();
    let stuck: Vec<&str> = all
        .iter()
        .filter(|r| r.room() == "stuck")
        .map(user_of)
        .collect();
    assert_eq!(
        stuck,
        ["first"],
        "the room's second event waits for its first"
    );
}

#[actix_web::test]
async fn an_event_is_given_up_after_retry_s_and_the_room_moves_on() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    receiver.set_policy(|r, _| Reply::Status(if user_of(r) == "doomed" { 500 } else { 200 }));
    let app = app_for(&receiver, |s| s.webhooks.retry_s = 2).await;
    let failed_before = metric(&app, "roomcast_webhooks_failed_total").await;
    let started = Instant::now();
    ban(&app, "r", "doomed").await;
    ban(&app, "r", "next").await;
    let delivered = receiver.wait_delivered(1, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "given up after retry_s, not before: {:?}",
        started.elapsed()
    );
    assert_eq!(user_of(&delivered[0]), "next");
    let all = receiver.received();
    let doomed: Vec<&Received> = all.iter().filter(|r| user_of(r) == "doomed").collect();
    assert!(
        doomed.len() >= 4,
        "retried with backoff: {} tries",
        doomed.len()
    );
    assert!(doomed.iter().all(|r| r.body == doomed[0].body));
    assert_eq!(
        user_of(all.last().unwrap()),
        "next",
        "no try after giving up"
    );
    let rows = outbox_rows(&app, "r").await;
    assert_eq!(rows[0].status, "failed");
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("HTTP 500"),
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(rows[1].status, "delivered");
    assert!(metric(&app, "roomcast_webhooks_failed_total").await >= failed_before + 1.0);
}

#[actix_web::test]
async fn pending_events_survive_a_graceful_restart_and_keep_their_ids() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    receiver.answer(Reply::Status(503));
    let app = app_for(&receiver, |_| {}).await;
    ban(&app, "r", "a1").await;
    ban(&app, "r", "a2").await;
    ban(&app, "q", "b1").await;
    let tried = receiver
        .wait_until("first tries of both rooms", WAIT, |got| {
            got.iter().any(|r| user_of(r) == "a1") && got.iter().any(|r| user_of(r) == "b1")
        })
        .await;
    let first_try = |user: &str| {
        tried
            .iter()
            .find(|r| user_of(r) == user)
            .map(|r| r.body.clone())
            .unwrap()
    };
    // Taken just before the stop: still in memory, stored by the shutdown.
    ban(&app, "r", "a3").await;
    let app = app.restart().await;
    let cut = receiver.received().len();
    receiver.answer(Reply::Status(200));
    receiver.wait_delivered(4, Duration::from_secs(10)).await;
    let after: Vec<Received> = receiver.received()[cut..].to_vec();
    let ok: Vec<&Received> = after.iter().filter(|r| r.ok()).collect();
    let in_r: Vec<&str> = ok
        .iter()
        .filter(|r| r.room() == "r")
        .map(|r| user_of(r))
        .collect();
    assert_eq!(in_r, ["a1", "a2", "a3"], "in order, each once");
    assert_eq!(ok.len(), 4, "each event once: {after:#?}");
    for user in ["a1", "b1"] {
        let sent = ok.iter().find(|r| user_of(r) == user).unwrap();
        assert_eq!(
            sent.body,
            first_try(user),
            "same id and body after the restart"
        );
    }
    // Nothing is left pending.
    eventually("no pending webhook events", WAIT, || async {
        metric(&app, "roomcast_webhooks_pending").await == 0.0
    })
    .await;
}

#[actix_web::test]
async fn metrics_show_pending_delivered_and_attempted_events() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    receiver.answer(Reply::Status(500));
    let app = app_for(&receiver, |_| {}).await;
    let delivered_before = metric(&app, "roomcast_webhooks_delivered_total").await;
    let attempts_before = metric(&app, "roomcast_webhooks_attempts_total").await;
    ban(&app, "m", "x").await;
    ban(&app, "m", "y").await;
    eventually("two pending events, the oldest aging", WAIT, || async {
        metric(&app, "roomcast_webhooks_pending").await == 2.0
            && metric(&app, "roomcast_webhooks_oldest_pending_seconds").await > 0.0
            && metric(&app, "roomcast_webhooks_attempts_total").await > attempts_before
    })
    .await;
    receiver.answer(Reply::Status(204));
    receiver.wait_delivered(2, WAIT).await;
    eventually("nothing pending, two delivered", WAIT, || async {
        metric(&app, "roomcast_webhooks_pending").await == 0.0
            && metric(&app, "roomcast_webhooks_oldest_pending_seconds").await == 0.0
            && metric(&app, "roomcast_webhooks_delivered_total").await >= delivered_before + 2.0
    })
    .await;
}

#[actix_web::test]
async fn messages_held_messages_and_stream_ends_are_sent_as_their_own_events() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |s| s.webhooks.messages = true).await;
    let (status, body) = app
        .api(
            awc::http::Method::PUT,
            "/api/rooms/wh/terms",
            Some(json!({"terms":[{"pattern":"spam*","action":"hold"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut ann = app.connect("ann").await;
    ann.join("wh").await;
    let ack = ann.say("wh", "hello", "m1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ann.send(json!({"type":"message","room":"wh","text":"spammy","ref":"m2"}))
        .await;
    ann.expect_type("held").await;
    let (status, _) = app
        .api(
            awc::http::Method::POST,
            "/api/rooms/wh/live",
            Some(json!({"title":"t"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, ended) = app
        .api(awc::http::Method::DELETE, "/api/rooms/wh/live", None)
        .await;
    assert_eq!(status, 200);
    let got = receiver
        .wait_until("the three events", WAIT, |got| {
            ["message.created", "message.held", "stream.ended"]
                .iter()
                .all(|k| got.iter().any(|r| r.ok() && r.json["type"] == *k))
        })
        .await;
    let of = |kind: &str| got.iter().find(|r| r.json["type"] == kind).unwrap();
    let created = of("message.created");
    assert!(created.signed_with(SECRET));
    assert_eq!(created.room(), "wh");
    assert_eq!(created.json["data"]["id"], ack["id"]);
    assert_eq!(created.json["data"]["text"], "hello");
    let held = of("message.held");
    assert_eq!(held.json["data"]["message"]["text"], "spammy");
    assert_eq!(held.json["data"]["term"], "spam*");
    let stream = of("stream.ended");
    assert_eq!(stream.json["data"]["summary"], ended["summary"]);
    assert!(
        !got.iter()
            .any(|r| r.json["type"] == "message.created" && r.json["data"]["text"] == "spammy"),
        "a held message is not created (yet)"
    );
}
