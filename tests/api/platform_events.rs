//! Contract §8 on one node: `room.occupied` / `room.vacated` (first member in,
//! last member out), `analytics.minute` (one per room and period in which
//! something happened, with the figures the analytics API stores), and typing
//! indicators (to the others, one per 3 s, token users only, the room's
//! `typing` setting and its default by size). Webhooks go to a real HTTP
//! receiver.

use std::time::Duration;

use roomcast::settings::{Secret, Settings};
use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "whsec-platform-events";

/// A server whose webhooks go to `receiver`, with `tweak` applied.
async fn app_for(receiver: &Receiver, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let url = receiver.url();
    spawn_app_with(move |s| {
        s.webhooks.url = Some(url);
        s.webhooks.secret = Some(Secret::new(SECRET));
        s.webhooks.retry_base_ms = 50;
        tweak(s);
    })
    .await
}

#[actix_web::test]
async fn the_first_member_in_and_the_last_out_send_room_occupied_and_room_vacated() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |_| {}).await;
    let before = now_ms();
    let mut ann = app.connect("ann").await;
    ann.join("occ").await;
    let mut bob = app.connect("bob").await;
    bob.join("occ").await;
    let got = receiver
        .wait_until("room.occupied", WAIT, |g| {
            count_of(g, "room.occupied", "occ") == 1
        })
        .await;
    let occupied = of_kind(&got, "room.occupied", "occ")[0].clone();
    assert!(occupied.signed_with(SECRET));
    let since = occupied.json["data"]["since"].as_i64().expect("since");
    assert!(since >= before && since <= now_ms(), "{since}");

    // Bob leaving leaves Ann: still occupied. Ann leaving empties it.
    bob.leave("occ").await;
    let last_out = now_ms();
    ann.leave("occ").await;
    let got = receiver
        .wait_until("room.vacated", WAIT, |g| {
            count_of(g, "room.vacated", "occ") == 1
        })
        .await;
    let vacated = of_kind(&got, "room.vacated", "occ")[0];
    assert!(vacated.signed_with(SECRET));
    assert_eq!(vacated.json["data"]["since"], since, "{}", vacated.json);
    assert!(vacated.json["ts"].as_i64().unwrap_or(0) >= last_out);
    let duration = vacated.json["data"]["duration_s"]
        .as_i64()
        .expect("duration_s");
    assert!((0..=(now_ms() - since) / 1000).contains(&duration));
    assert_eq!(
        count_of(&got, "room.occupied", "occ"),
        1,
        "one episode so far"
    );

    // Occupied again: a new episode, announced after the last one ended.
    bob.join("occ").await;
    let got = receiver
        .wait_until("the second room.occupied", WAIT, |g| {
            count_of(g, "room.occupied", "occ") == 2
        })
        .await;
    let events: Vec<&str> = got
        .iter()
        .filter(|r| r.ok() && r.room() == "occ")
        .map(|r| r.json["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(events, ["room.occupied", "room.vacated", "room.occupied"]);
    let second = of_kind(&got, "room.occupied", "occ")[1];
    assert!(second.json["data"]["since"].as_i64().unwrap_or(0) >= last_out);
}

#[actix_web::test]
async fn a_disconnect_vacates_the_room_and_other_rooms_keep_their_episodes() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |_| {}).await;
    let ann = {
        let mut ann = app.connect("ann").await;
        ann.join("gone").await;
        ann
    };
    let mut cat = app.connect("cat").await;
    cat.join("stays").await;
    receiver
        .wait_until("both rooms occupied", WAIT, |g| {
            count_of(g, "room.occupied", "gone") == 1 && count_of(g, "room.occupied", "stays") == 1
        })
        .await;
    ann.close().await;
    receiver
        .wait_until("gone vacated by the disconnect", WAIT, |g| {
            count_of(g, "room.vacated", "gone") == 1
        })
        .await;
    // Cat is still there: her room's episode goes on.
    cat.say("stays", "still here", "m").await;
    assert_eq!(count_of(&receiver.delivered(), "room.vacated", "stays"), 0);
}

/// The `analytics.minute` events of `room` delivered so far.
fn minutes(receiver: &Receiver, room: &str) -> Vec<Value> {
    of_kind(&receiver.delivered(), "analytics.minute", room)
        .into_iter()
        .map(|r| r.json.clone())
        .collect()
}

#[actix_web::test]
async fn analytics_minute_sends_each_busy_period_once_with_what_the_analytics_api_stores() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |s| s.analytics.period_ms = 1_000).await;
    let mut ann = app.connect("ann").await;
    ann.join("auction").await;
    let ack = ann.say("auction", "100 €", "m1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ann.send(json!({"type":"reaction","room":"auction","emoji":"heart"}))
        .await;
    ann.say("auction", "110 €", "m2").await;
    let sum = |events: &[Value], field: &str| -> u64 {
        events
            .iter()
            .map(|e| e["data"][field].as_u64().unwrap_or(0))
            .sum()
    };
    receiver
        .wait_until(
            "the periods holding 2 messages and 1 reaction",
            WAIT,
            |_| {
                let got = minutes(&receiver, "auction");
                sum(&got, "messages") == 2 && sum(&got, "reactions") == 1
            },
        )
        .await;
    let got = minutes(&receiver, "auction");
    let mut periods: Vec<i64> = got
        .iter()
        .map(|e| e["data"]["minute"].as_i64().unwrap_or(-1))
        .collect();
    assert!(periods.iter().all(|m| m % 1_000 == 0), "{periods:?}");
    periods.dedup();
    assert_eq!(periods.len(), got.len(), "one event per period: {got:#?}");
    for e in &got {
        let d = &e["data"];
        assert_eq!(d["max"], 1, "{e}");
        assert_eq!(d["viewers"], 1, "{e}");
        assert_eq!(d["live"], false, "{e}");
        assert_eq!(d["unique_viewers"], 0, "{e}");
        assert!(d["avg"].is_number() && d["min"].is_number(), "{e}");
    }
    // The same figures as the stored snapshots of those periods.
    let (status, stored) = app.get("/api/rooms/auction/analytics", Some(API_KEY)).await;
    assert_eq!(status, 200, "{stored}");
    for e in &got {
        let d = &e["data"];
        let snap = stored["snapshots"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["minute"] == d["minute"]))
            .unwrap_or_else(|| panic!("no stored snapshot for {e}: {stored}"));
        for field in ["min", "max", "avg", "messages", "reactions"] {
            assert_eq!(snap[field], d[field], "{field}: {snap} vs {e}");
        }
    }
}

#[actix_web::test]
async fn analytics_minute_counts_a_live_streams_unique_viewers() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |s| s.analytics.period_ms = 1_000).await;
    let mut ann = app.connect("ann").await;
    ann.join("live").await;
    let mut bob = app.connect("bob").await;
    bob.join("live").await;
    let (status, _) = app
        .api(
            awc::http::Method::POST,
            "/api/rooms/live/live",
            Some(json!({"title": "Lot 7"})),
        )
        .await;
    assert_eq!(status, 200);
    receiver
        .wait_until("a period of the live stream", WAIT, |_| {
            minutes(&receiver, "live")
                .iter()
                .any(|e| e["data"]["live"] == true && e["data"]["unique_viewers"] == 2)
        })
        .await;
}

#[actix_web::test]
async fn without_webhooks_no_period_or_occupancy_is_sent_anywhere() {
    // The receiver exists but is not configured: nothing may reach it.
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|s| s.analytics.period_ms = 200).await;
    let mut ann = app.connect("ann").await;
    ann.join("quiet").await;
    ann.say("quiet", "hi", "m").await;
    ann.leave("quiet").await;
    // The snapshot is written, so periods did close (and would have been sent).
    eventually("the period's snapshot", WAIT, || async {
        let (_, body) = app.get("/api/rooms/quiet/analytics", Some(API_KEY)).await;
        body["snapshots"].as_array().is_some_and(|s| !s.is_empty())
    })
    .await;
    assert!(receiver.received().is_empty());
}

/// The next typing indicator or chat message `client` gets.
async fn typing_or_message(client: &mut Client) -> Value {
    client
        .expect("typing or a message", |f| {
            f["type"] == "typing" || f["type"] == "message"
        })
        .await
}

#[actix_web::test]
async fn typing_reaches_the_others_at_most_once_per_3_s_and_never_the_typist() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("dm").await;
    let mut bob = app.connect("bob").await;
    bob.join("dm").await;
    ann.send(json!({"type":"typing","room":"dm"})).await;
    let typing = typing_or_message(&mut bob).await;
    assert_eq!(
        typing,
        json!({"type":"typing","room":"dm","user":"ann","name":"ann"})
    );
    // A second one within 3 s is dropped (not refused): Bob's next is the message.
    ann.send(json!({"type":"typing","room":"dm"})).await;
    ann.say("dm", "hi", "m1").await;
    assert_eq!(typing_or_message(&mut bob).await["type"], "message");
    // Ann never hears her own typing: her next frame after it is her message.
    bob.say("dm", "yo", "m2").await;
    let next = typing_or_message(&mut ann).await;
    assert_eq!(next["text"], "hi", "{next}");
    // After 3 s she may type again.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    ann.send(json!({"type":"typing","room":"dm"})).await;
    let again = bob.expect("typing again", |f| f["type"] == "typing").await;
    assert_eq!(again["user"], "ann");
}

#[actix_web::test]
async fn anonymous_viewers_cannot_type_and_typing_needs_a_joined_room() {
    let app = spawn_app().await;
    let mut anon = app.connect_anon().await;
    anon.join("dm").await;
    anon.send(json!({"type":"typing","room":"dm","ref":"t"}))
        .await;
    let err = anon.expect_error("forbidden").await;
    assert_eq!(err["ref"], "t");
    let mut ann = app.connect("ann").await;
    ann.send(json!({"type":"typing","room":"elsewhere","ref":"t2"}))
        .await;
    let err = ann
        .expect("error", |f| f["type"] == "error" && f["ref"] == "t2")
        .await;
    assert_eq!(err["code"], "not_joined", "{err}");
}

/// Set the room's `typing` setting through the server API.
async fn set_typing(app: &TestApp, room: &str, typing: Value) -> Value {
    let (status, body) = app
        .api(
            awc::http::Method::PATCH,
            &format!("/api/rooms/{room}/settings"),
            Some(json!({ "typing": typing })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn the_typing_setting_turns_indicators_off_and_on() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let joined = ann.join("dm").await;
    assert_eq!(joined["settings"]["typing"], Value::Null, "{joined}");
    let mut bob = app.connect("bob").await;
    bob.join("dm").await;
    let settings = set_typing(&app, "dm", json!(false)).await;
    assert_eq!(settings["typing"], false, "{settings}");
    bob.expect("settings", |f| f["type"] == "settings").await;
    ann.send(json!({"type":"typing","room":"dm"})).await;
    ann.say("dm", "hi", "m1").await;
    assert_eq!(typing_or_message(&mut bob).await["type"], "message");
    // Back to the default (on: two viewers).
    set_typing(&app, "dm", Value::Null).await;
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    ann.send(json!({"type":"typing","room":"dm"})).await;
    assert_eq!(typing_or_message(&mut bob).await["type"], "typing");
}

#[actix_web::test]
async fn rooms_over_100_viewers_drop_typing_unless_the_setting_is_on() {
    let app = spawn_app_with(|s| {
        s.limits.connections_per_ip = 1_000;
        s.limits.connects_per_ip_per_s = 1_000;
        s.limits.connects_per_ip_burst = 1_000;
    })
    .await;
    let mut ann = app.connect("ann").await;
    ann.join("big").await;
    let mut bob = app.connect("bob").await;
    bob.join("big").await;
    let mut crowd = Vec::new();
    for _ in 0..99 {
        let mut c = app.connect_anon().await;
        c.join("big").await;
        crowd.push(c);
    }
    // 101 viewers: the default drops it.
    ann.send(json!({"type":"typing","room":"big"})).await;
    ann.say("big", "hi", "m1").await;
    assert_eq!(typing_or_message(&mut bob).await["type"], "message");
    // Turned on explicitly, a big room relays it.
    set_typing(&app, "big", json!(true)).await;
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    ann.send(json!({"type":"typing","room":"big"})).await;
    assert_eq!(typing_or_message(&mut bob).await["type"], "typing");
}

#[actix_web::test]
async fn webhooks_events_sends_only_the_types_it_names() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |s| {
        s.analytics.period_ms = 200;
        s.webhooks.events = vec!["room.vacated".into()];
    })
    .await;
    let mut ann = app.connect("ann").await;
    ann.join("picky").await;
    ann.say("picky", "hi", "m").await;
    ann.leave("picky").await;
    let got = receiver
        .wait_until("room.vacated", WAIT, |g| {
            count_of(g, "room.vacated", "picky") == 1
        })
        .await;
    // The period with the message has closed too (its snapshot is stored),
    // but neither it nor the occupancy's start was sent.
    eventually("the period's snapshot", WAIT, || async {
        let (_, body) = app.get("/api/rooms/picky/analytics", Some(API_KEY)).await;
        body["snapshots"].as_array().is_some_and(|s| !s.is_empty())
    })
    .await;
    let kinds: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("room.vacated")], "{got:#?}");
}

#[actix_web::test]
async fn a_room_that_stops_mid_period_sends_and_stores_the_period_so_far() {
    const PERIOD: i64 = 600_000;
    // Not within 10 s of a period boundary, so the event below can only come from the stop.
    let into = now_ms() % PERIOD;
    if into > PERIOD - 10_000 {
        tokio::time::sleep(Duration::from_millis((PERIOD - into + 100) as u64)).await;
    }
    let receiver = Receiver::start().await;
    let app = app_for(&receiver, |s| s.analytics.period_ms = PERIOD as u64).await;
    let mut ann = app.connect("ann").await;
    ann.join("brief").await;
    ann.say("brief", "in and out", "m").await;
    ann.leave("brief").await;
    // The room stops after rooms.idle_grace_s (2 s in tests).
    let got = receiver
        .wait_until("the stopped room's period", WAIT, |g| {
            count_of(g, "analytics.minute", "brief") == 1
        })
        .await;
    let event = &of_kind(&got, "analytics.minute", "brief")[0].json;
    let minute = event["data"]["minute"].as_i64().expect("minute");
    assert_eq!(minute % PERIOD, 0);
    assert!(
        event["ts"].as_i64().unwrap_or(i64::MAX) < minute + PERIOD,
        "{event}"
    );
    assert_eq!(event["data"]["messages"], 1, "{event}");
    assert_eq!(event["data"]["max"], 1, "{event}");
    let (_, stored) = app.get("/api/rooms/brief/analytics", Some(API_KEY)).await;
    assert_eq!(stored["snapshots"][0]["messages"], 1, "{stored}");
    assert_eq!(stored["snapshots"][0]["minute"], minute, "{stored}");
}
