//! Contract §7, moderation v2: room tokens and roles, the stored moderator
//! list, the hierarchy, chat settings and the modes they turn on, AutoMod
//! (block and hold), chat delay, shadow bans, warnings, clear, purge, pins,
//! the user card and the moderation log of every new action.
//!
//! Every test talks to the real server over real sockets. "Nothing arrives"
//! is proved with a marker: a later frame whose order is fixed (the same
//! sender's next message, or a moderator's message sent after the moderator
//! saw the event), or a ping's pong.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use awc::http::Method;
use roomcast::settings::TermSetting;
use serde_json::{Value, json};

use crate::helpers::*;

/// Every setting at its default, as `joined.settings` and `settings` show them.
fn default_settings() -> Value {
    json!({
        "slow_mode": 0,
        "followers_only": null,
        "subscribers_only": false,
        "emote_only": false,
        "unique_chat": false,
        "chat_delay_ms": 0,
        "private": false,
        "typing": null,
    })
}

/// The defaults with `changes` on top.
fn settings_with(changes: Value) -> Value {
    let mut s = default_settings();
    for (k, v) in changes.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn ids(messages: &Value) -> Vec<Value> {
    messages
        .as_array()
        .unwrap_or_else(|| panic!("a list of messages: {messages}"))
        .iter()
        .map(|m| m["id"].clone())
        .collect()
}

fn msg(room: &str, text: &str, reference: &str) -> Value {
    json!({"type":"message","room":room,"text":text,"ref":reference})
}

async fn patch_settings(app: &TestApp, room: &str, patch: Value) -> (u16, Value) {
    app.api(
        Method::PATCH,
        &format!("/api/rooms/{room}/settings"),
        Some(patch),
    )
    .await
}

/// Set the room's settings over the API and check the answer.
async fn set_settings(app: &TestApp, room: &str, patch: Value) -> Value {
    let (status, body) = patch_settings(app, room, patch.clone()).await;
    assert_eq!(status, 200, "PATCH settings {patch}: {body}");
    body
}

async fn put_terms(app: &TestApp, room: &str, terms: Value) {
    let (status, body) = app
        .api(
            Method::PUT,
            &format!("/api/rooms/{room}/terms"),
            Some(json!({ "terms": terms })),
        )
        .await;
    assert_eq!(status, 200, "PUT terms: {body}");
}

/// Join and insist on `joined`.
async fn joins(c: &mut Client, room: &str, token: Option<&str>) -> Value {
    let f = c.try_join(room, token).await;
    assert_eq!(f["type"], "joined", "the join should be admitted: {f}");
    f
}

/// Join and insist on `error` `forbidden` naming the room.
async fn join_forbidden(c: &mut Client, room: &str, token: Option<&str>) -> Value {
    let f = c.try_join(room, token).await;
    assert_eq!(f["type"], "error", "the join should be refused: {f}");
    assert_eq!(f["code"], "forbidden", "{f}");
    assert_eq!(f["room"], room, "the error names the room: {f}");
    f
}

async fn refusals(app: &TestApp, kind: &str) -> f64 {
    app.metric(&format!("roomcast_refusals_total{{kind=\"{kind}\"}}"))
        .await
}

/// The log entries with this action name.
fn entries<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter().filter(|a| a["action"] == action).collect()
}

/// Wait (bounded by the contract's second) until the log has an entry
/// matching `pred`, and return the log.
async fn log_with(
    app: &TestApp,
    room: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let log = app.moderation_log(room).await;
        if log.iter().any(&pred) {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} in the moderation log: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- room tokens

#[actix_web::test]
async fn a_join_with_a_room_token_for_another_user_room_expired_badly_signed_or_with_an_unknown_role_is_forbidden()
 {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let exp = now_ms() / 1000 + 3600;
    let bad = [
        ("another user", app.room_token("bob", "r", &["vip"], None)),
        (
            "another room",
            app.room_token("ann", "elsewhere", &["vip"], None),
        ),
        (
            "expired",
            mint_jwt(
                &json!({"sub":"ann","room":"r","exp":now_ms() / 1000 - 60,"roles":["vip"]}),
                JWT_SECRET,
            ),
        ),
        (
            "wrongly signed",
            mint_jwt(
                &json!({"sub":"ann","room":"r","exp":exp,"roles":["vip"]}),
                "not-the-secret",
            ),
        ),
        (
            "unknown role",
            mint_jwt(
                &json!({"sub":"ann","room":"r","exp":exp,"roles":["emperor"]}),
                JWT_SECRET,
            ),
        ),
        ("not a JWT", "garbage".to_owned()),
        (
            "no exp",
            mint_jwt(&json!({"sub":"ann","room":"r","roles":["vip"]}), JWT_SECRET),
        ),
    ];
    for (i, (why, token)) in bad.iter().enumerate() {
        let err = ann.try_join("r", Some(token)).await;
        assert_eq!(err["type"], "error", "{why}: {err}");
        assert_eq!(err["code"], "forbidden", "{why}: {err}");
        assert_eq!(err["room"], "r", "{why}: the error names the room: {err}");
        // The refused join did not make her a member.
        ann.refused(msg("r", "am I in?", &format!("m{i}")), "not_joined")
            .await;
    }
    // A good token for her, this room and a known role joins.
    let good = app.room_token("ann", "r", &["vip"], None);
    joins(&mut ann, "r", Some(&good)).await;
    assert_eq!(ann.say("r", "in", "in").await["type"], "ack");
}

#[actix_web::test]
async fn a_private_room_admits_room_token_holders_and_moderators_only() {
    let app = spawn_app().await;
    let body = set_settings(&app, "r", json!({"private": true})).await;
    assert_eq!(body, settings_with(json!({"private": true})));

    let mut ann = app.connect("ann").await;
    join_forbidden(&mut ann, "r", None).await;
    let mut anon = app.connect_anon().await;
    join_forbidden(&mut anon, "r", None).await;
    // Someone else's room token does not admit her.
    join_forbidden(&mut ann, "r", Some(&app.room_token("bob", "r", &[], None))).await;

    // A valid room token (no roles needed) admits.
    let token = app.room_token("ann", "r", &[], None);
    let joined = joins(&mut ann, "r", Some(&token)).await;
    assert_eq!(joined["settings"]["private"], true, "{joined}");
    // So does being a moderator, by the connection token's claim…
    let mut mia = app.connect_mod("mia", &["r"]).await;
    joins(&mut mia, "r", None).await;
    // …or by the stored moderator list.
    let (status, body) = app
        .api(Method::PUT, "/api/rooms/r/moderators/max", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let mut max = app.connect("max").await;
    joins(&mut max, "r", None).await;
    // A moderator of another room is not admitted.
    let mut otto = app.connect_mod("otto", &["elsewhere"]).await;
    join_forbidden(&mut otto, "r", None).await;
    // Roles and admission last for the membership: left, she needs a token again.
    ann.send(json!({"type":"leave","room":"r"})).await;
    ann.expect_type("left").await;
    join_forbidden(&mut ann, "r", None).await;
    // An anonymous viewer cannot be the `sub` of a room token.
    let anon_id = anon.welcome["user"]["id"].as_str().unwrap().to_owned();
    join_forbidden(
        &mut anon,
        "r",
        Some(&app.room_token("someone", "r", &[], None)),
    )
    .await;
    assert!(anon_id.starts_with("anon-"), "{anon_id}");
}

#[actix_web::test]
async fn a_room_token_with_role_mod_or_broadcaster_moderates_for_that_membership_only() {
    let app = spawn_app().await;
    let mut bob = app.connect("bob").await;
    bob.join("r").await;
    let mut ann = app.connect("ann").await;
    let mut bea = app.connect("bea").await;
    joins(
        &mut ann,
        "r",
        Some(&app.room_token("ann", "r", &["mod"], None)),
    )
    .await;
    joins(
        &mut bea,
        "r",
        Some(&app.room_token("bea", "r", &["broadcaster"], None)),
    )
    .await;
    let first = bob.say("r", "one", "b1").await["id"].clone();
    let second = bob.say("r", "two", "b2").await["id"].clone();
    let ack = ann
        .acked(json!({"type":"delete","room":"r","id":first,"ref":"d1"}))
        .await;
    assert_eq!(ack["id"], first);
    assert_eq!(bob.expect_type("deleted").await["id"], first);
    bea.acked(json!({"type":"delete","room":"r","id":second,"ref":"d2"}))
        .await;
    assert_eq!(bob.expect_type("deleted").await["id"], second);

    // Roles last for that membership: rejoined without the token, she is a viewer.
    ann.send(json!({"type":"leave","room":"r"})).await;
    ann.expect_type("left").await;
    ann.join("r").await;
    let third = bob.say("r", "three", "b3").await["id"].clone();
    ann.refused(
        json!({"type":"delete","room":"r","id":third,"ref":"d3"}),
        "forbidden",
    )
    .await;
    // A mod token for another room gives nothing here.
    let mut cat = app.connect("cat").await;
    join_forbidden(
        &mut cat,
        "r",
        Some(&app.room_token("cat", "other", &["mod"], None)),
    )
    .await;
}

// ------------------------------------------------------ stored moderator list

#[actix_web::test]
async fn a_stored_moderator_takes_effect_at_once_on_connected_sessions_and_removal_revokes_it() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    let one = bob.say("r", "one", "b1").await["id"].clone();
    ann.refused(
        json!({"type":"delete","room":"r","id":one,"ref":"before"}),
        "forbidden",
    )
    .await;

    let (status, added) = app
        .api(Method::PUT, "/api/rooms/r/moderators/ann", None)
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["user"], "ann", "{added}");
    assert!(added["added_by"].is_string(), "{added}");
    let ts = added["ts"]
        .as_i64()
        .unwrap_or_else(|| panic!("ts: {added}"));
    assert!((ts - now_ms()).abs() < 60_000, "{added}");
    let (status, list) = app.api(Method::GET, "/api/rooms/r/moderators", None).await;
    assert_eq!(status, 200);
    let users: Vec<_> = list["moderators"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|m| m["user"].clone())
        .collect();
    assert_eq!(users, [json!("ann")], "{list}");

    // Her already-open session moderates now.
    let ack = ann
        .acked(json!({"type":"delete","room":"r","id":one,"ref":"after"}))
        .await;
    assert_eq!(ack["id"], one);
    assert_eq!(bob.expect_type("deleted").await["by"], "ann");

    let (status, body) = app
        .api(Method::DELETE, "/api/rooms/r/moderators/ann", None)
        .await;
    assert_eq!(status, 204, "{body}");
    let two = bob.say("r", "two", "b2").await["id"].clone();
    ann.refused(
        json!({"type":"delete","room":"r","id":two,"ref":"removed"}),
        "forbidden",
    )
    .await;
    let (_, list) = app.api(Method::GET, "/api/rooms/r/moderators", None).await;
    assert_eq!(list["moderators"], json!([]), "{list}");

    let log = log_with(&app, "r", "mod_remove", |a| a["action"] == "mod_remove").await;
    for action in ["mod_add", "mod_remove"] {
        let e = entries(&log, action);
        assert_eq!(e.len(), 1, "{action}: {log:#?}");
        assert_eq!(e[0]["user"], "ann", "{action}: {:?}", e[0]);
    }
}

#[actix_web::test]
async fn a_moderators_jwt_cannot_change_the_moderator_list_but_the_broadcasters_room_token_can() {
    let app = spawn_app().await;
    let mod_jwt = app.token("mia", &["r"]);
    for method in [Method::PUT, Method::DELETE] {
        let (status, body) = app
            .request(
                method.clone(),
                "/api/rooms/r/moderators/ann",
                Some(&mod_jwt),
                None,
            )
            .await;
        assert_eq!(status, 403, "{method} with a moderator's JWT: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
    }
    let (_, list) = app.api(Method::GET, "/api/rooms/r/moderators", None).await;
    assert_eq!(list["moderators"], json!([]), "{list}");

    // The broadcaster of another room may not.
    let elsewhere = app.room_token("bea", "elsewhere", &["broadcaster"], None);
    let (status, body) = app
        .request(
            Method::PUT,
            "/api/rooms/r/moderators/ann",
            Some(&elsewhere),
            None,
        )
        .await;
    assert!(
        status == 401 || status == 403,
        "another room's broadcaster: {status} {body}"
    );

    let broadcaster = app.room_token("bea", "r", &["broadcaster"], None);
    let (status, added) = app
        .request(
            Method::PUT,
            "/api/rooms/r/moderators/ann",
            Some(&broadcaster),
            None,
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["user"], "ann");
    assert_eq!(added["added_by"], "bea", "{added}");
    let (_, list) = app.api(Method::GET, "/api/rooms/r/moderators", None).await;
    assert_eq!(
        list["moderators"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let (status, body) = app
        .request(
            Method::DELETE,
            "/api/rooms/r/moderators/ann",
            Some(&broadcaster),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, list) = app.api(Method::GET, "/api/rooms/r/moderators", None).await;
    assert_eq!(list["moderators"], json!([]), "{list}");
}

// ------------------------------------------------------------------ hierarchy

#[actix_web::test]
async fn a_moderator_cannot_act_on_another_moderator_or_the_broadcaster_but_the_broadcaster_and_the_api_can()
 {
    let app = spawn_app().await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let mut max = app.connect_mod("max", &["r"]).await;
    let mut bea = app.connect("bea").await;
    let mut viewer = app.connect("vic").await;
    mia.join("r").await;
    max.join("r").await;
    joins(
        &mut bea,
        "r",
        Some(&app.room_token("bea", "r", &["broadcaster"], None)),
    )
    .await;
    viewer.join("r").await;
    let max_msg = max.say("r", "max here", "x1").await["id"].clone();
    let bea_msg = bea.say("r", "bea here", "y1").await["id"].clone();

    for target in ["max", "bea"] {
        let frames = [
            json!({"type":"ban","room":"r","user":target,"reason":"r","ref":"ban"}),
            json!({"type":"timeout","room":"r","user":target,"seconds":60,"ref":"timeout"}),
            json!({"type":"warn","room":"r","user":target,"reason":"r","ref":"warn"}),
            json!({"type":"shadow_ban","room":"r","user":target,"ref":"shadow"}),
            json!({"type":"purge","room":"r","user":target,"ref":"purge"}),
        ];
        for frame in frames {
            let what = frame.to_string();
            let err = mia.refused(frame, "forbidden").await;
            assert!(err["ref"].is_string(), "{what}: {err}");
        }
    }
    for id in [&max_msg, &bea_msg] {
        mia.refused(
            json!({"type":"delete","room":"r","id":id,"ref":"del"}),
            "forbidden",
        )
        .await;
    }
    // Nothing happened: both still talk, their messages are still there, no log.
    assert_eq!(max.say("r", "still here", "x2").await["type"], "ack");
    assert_eq!(bea.say("r", "me too", "y2").await["type"], "ack");
    let mut late = app.connect("late").await;
    let recent = ids(&late.join("r").await["recent"]);
    assert!(
        recent.contains(&max_msg) && recent.contains(&bea_msg),
        "{recent:?}"
    );
    assert_eq!(app.moderation_log("r").await, Vec::<Value>::new());

    // The broadcaster may act on a moderator.
    let ack = bea
        .acked(json!({"type":"timeout","room":"r","user":"max","seconds":60,"reason":"calm","ref":"bt"}))
        .await;
    assert!(ack["id"].is_string(), "{ack}");
    let f = viewer.expect_type("moderation").await;
    assert_eq!(f["action"], "timeout");
    assert_eq!(f["user"], "max");
    assert_eq!(f["by"], "bea");
    bea.acked(json!({"type":"delete","room":"r","id":max_msg,"ref":"bd"}))
        .await;
    // The API may act on anyone, a moderator too.
    let (status, body) = app
        .api(
            Method::POST,
            "/api/rooms/r/bans",
            Some(json!({"user":"mia","reason":"rogue"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let left = mia.expect_type("left").await;
    assert_eq!(left["reason"], "banned");
}

// ------------------------------------------------------------------- settings

#[actix_web::test]
async fn a_moderators_settings_frame_is_acked_and_every_member_gets_all_seven_settings() {
    let app = spawn_app().await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let mut ann = app.connect("ann").await;
    let joined = mia.join("r").await;
    assert_eq!(joined["settings"], default_settings(), "{joined}");
    assert_eq!(ann.join("r").await["settings"], default_settings());

    let (ack, mut kept) = mia
        .act_keep(json!({"type":"settings","room":"r","settings":{"emote_only":true},"ref":"s1"}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert!(
        ack["id"].is_string(),
        "the ack carries the log entry's id: {ack}"
    );
    let expected = json!({
        "type": "settings",
        "room": "r",
        "settings": settings_with(json!({"emote_only": true})),
    });
    assert_eq!(ann.expect_type("settings").await, expected);
    let own = mia
        .expect_kept(&mut kept, "settings", |f| f["type"] == "settings")
        .await;
    assert_eq!(own, expected, "the moderator is a member too");

    // A partial update keeps what it does not name.
    mia.acked(json!({"type":"settings","room":"r","settings":{"followers_only":10,"chat_delay_ms":500},"ref":"s2"}))
        .await;
    let all = settings_with(json!({"emote_only":true,"followers_only":10,"chat_delay_ms":500}));
    assert_eq!(ann.expect_type("settings").await["settings"], all);
    let mut late = app.connect("late").await;
    assert_eq!(late.join("r").await["settings"], all);

    let log = log_with(&app, "r", "settings", |a| a["action"] == "settings").await;
    let changes = entries(&log, "settings");
    assert_eq!(changes.len(), 2, "{log:#?}");
    assert!(changes.iter().all(|a| a["by"] == "mia"), "{log:#?}");
    // Newest first: the first change is the older entry, and its ack named it.
    assert_eq!(changes[1]["id"], ack["id"], "{log:#?}");
}

#[actix_web::test]
async fn a_non_moderator_is_refused_every_v2_moderator_frame_and_nothing_happens() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut other = app.connect_mod("otto", &["elsewhere"]).await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut ann, &mut other, &mut bob, &mut mia] {
        c.join("r").await;
    }
    let id = bob.say("r", "hello", "b").await["id"].clone();
    let held = bob.act(msg("r", "spamalot", "h")).await;
    assert_eq!(held["type"], "held", "{held}");
    let held_id = held["id"].clone();
    let log_before = log_with(&app, "r", "hold", |a| a["action"] == "hold").await;
    for client in [&mut ann, &mut other] {
        for frame in [
            json!({"type":"settings","room":"r","settings":{"emote_only":true},"ref":"x1"}),
            json!({"type":"shadow_ban","room":"r","user":"bob","ref":"x2"}),
            json!({"type":"warn","room":"r","user":"bob","reason":"x","ref":"x3"}),
            json!({"type":"clear","room":"r","ref":"x4"}),
            json!({"type":"purge","room":"r","user":"bob","ref":"x5"}),
            json!({"type":"pin","room":"r","id":id,"seconds":60,"ref":"x6"}),
            json!({"type":"unpin","room":"r","ref":"x7"}),
            json!({"type":"approve","room":"r","id":held_id,"ref":"x8"}),
            json!({"type":"deny","room":"r","id":held_id,"ref":"x9"}),
        ] {
            client.refused(frame, "forbidden").await;
        }
    }
    // Nothing changed: bob talks freely, is not warned, his message stays, no
    // pin, the held message is still waiting, the log has only the hold.
    assert_eq!(bob.say("r", "still here", "c").await["type"], "ack");
    bob.assert_none_before_pong("no warning, clear or settings for bob", |f| {
        [
            "warning", "cleared", "settings", "pinned", "denied", "deleted",
        ]
        .contains(&f["type"].as_str().unwrap_or(""))
    })
    .await;
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert_eq!(joined["settings"], default_settings());
    assert!(joined.get("pinned").is_none(), "{joined}");
    assert_eq!(ids(&joined["recent"]).len(), 2, "{joined}");
    let (_, held) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(held["held"].as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(
        app.moderation_log("r").await,
        log_before,
        "nothing was logged"
    );
}

#[actix_web::test]
async fn patch_settings_answers_the_full_settings_and_announces_them_to_the_room() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let body = set_settings(&app, "r", json!({"slow_mode":5,"unique_chat":true})).await;
    let all = settings_with(json!({"slow_mode":5,"unique_chat":true}));
    assert_eq!(body, all);
    let f = ann.expect_type("settings").await;
    assert_eq!(f, json!({"type":"settings","room":"r","settings":all}));
    // v1's views of slow mode agree.
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(info["slow_mode"], 5, "{info}");
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert_eq!(joined["slow_mode"], 5);
    assert_eq!(joined["settings"], all);
    // followers_only: null turns it off again.
    let body = set_settings(&app, "r", json!({"followers_only":30})).await;
    assert_eq!(body["followers_only"], 30);
    let body = set_settings(&app, "r", json!({"followers_only":null})).await;
    assert_eq!(body, all);
    let log = log_with(&app, "r", "settings", |a| a["action"] == "settings").await;
    assert!(entries(&log, "settings").len() >= 3, "{log:#?}");
}

#[actix_web::test]
async fn invalid_settings_are_bad_request_over_the_socket_and_400_over_rest_and_change_nothing() {
    let app = spawn_app().await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    let invalid = [
        json!({"chat_delay_ms": 7000}),
        json!({"no_such_setting": true}),
        json!({}),
        json!({"emote_only": "yes"}),
    ];
    for (i, patch) in invalid.iter().enumerate() {
        mia.refused(
            json!({"type":"settings","room":"r","settings":patch,"ref":format!("s{i}")}),
            "bad_request",
        )
        .await;
        let (status, body) = patch_settings(&app, "r", patch.clone()).await;
        assert_eq!(status, 400, "PATCH {patch}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
    // The edge of the range is fine.
    mia.acked(json!({"type":"settings","room":"r","settings":{"chat_delay_ms":6000},"ref":"ok"}))
        .await;
    let mut late = app.connect("late").await;
    assert_eq!(
        late.join("r").await["settings"],
        settings_with(json!({"chat_delay_ms":6000}))
    );
    let log = log_with(&app, "r", "settings", |a| a["action"] == "settings").await;
    assert_eq!(entries(&log, "settings").len(), 1, "{log:#?}");
}

#[actix_web::test]
async fn room_settings_survive_a_restart() {
    let app = spawn_app().await;
    let patch = json!({"emote_only":true,"followers_only":10,"chat_delay_ms":500,"private":true,"slow_mode":7});
    let all = set_settings(&app, "r", patch.clone()).await;
    assert_eq!(all, settings_with(patch));
    let app = app.restart().await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let joined = mia.join("r").await;
    assert_eq!(joined["settings"], all);
    assert_eq!(joined["slow_mode"], 7);
    // And they still act: a viewer without a room token is kept out.
    let mut ann = app.connect("ann").await;
    join_forbidden(&mut ann, "r", None).await;
}

// ---------------------------------------------------------------- chat modes

#[actix_web::test]
async fn emote_only_admits_emoji_sequences_refuses_text_from_viewers_and_vips_but_not_moderators() {
    let app = spawn_app().await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let mut ann = app.connect("ann").await;
    let mut vip = app.connect("val").await;
    let mut bob = app.connect("bob").await;
    mia.join("r").await;
    ann.join("r").await;
    joins(
        &mut vip,
        "r",
        Some(&app.room_token("val", "r", &["vip"], None)),
    )
    .await;
    bob.join("r").await;
    mia.acked(json!({"type":"settings","room":"r","settings":{"emote_only":true},"ref":"s"}))
        .await;
    bob.expect_type("settings").await;
    let before = refusals(&app, "emote_only").await;

    // Emoji with skin tones, ZWJ sequences, flags and keycaps pass.
    for (i, text) in ["🔥🔥 👍🏽", "👨‍👩‍👧 🇫🇷", "1️⃣ ❤️"].iter().enumerate()
    {
        let reply = ann.say("r", text, &format!("ok{i}")).await;
        assert_eq!(reply["type"], "ack", "{text:?}: {reply}");
    }
    // Any text is refused, from a viewer and from a vip.
    let refused_texts = ["fire 🔥", "hello", "🔥1", ":)"];
    for (i, text) in refused_texts.iter().enumerate() {
        let reply = vip.say("r", text, &format!("no{i}")).await;
        assert_eq!(reply["code"], "emote_only", "{text:?} from a vip: {reply}");
    }
    let reply = ann.say("r", "fire 🔥", "no-ann").await;
    assert_eq!(reply["code"], "emote_only", "{reply}");
    // Moderators are exempt.
    assert_eq!(
        mia.say("r", "words are fine for me", "m").await["type"],
        "ack"
    );

    // Bob saw the three emoji messages and the moderator's, nothing refused.
    let mut texts = Vec::new();
    while texts.len() < 4 {
        let f = bob.expect_type("message").await;
        texts.push(f["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(texts[3], "words are fine for me", "{texts:?}");
    assert!(
        texts.iter().all(|t| !t.contains("fire") && t != "hello"),
        "{texts:?}"
    );
    let after = refusals(&app, "emote_only").await;
    assert!(
        after >= before + 5.0,
        "five emote_only refusals counted: {before} -> {after}"
    );
}

#[actix_web::test]
async fn subscribers_only_admits_subscribers_vips_moderators_and_the_broadcaster() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"subscribers_only": true})).await;
    let before = refusals(&app, "subscribers_only").await;
    let mut viewer = app.connect("vic").await;
    viewer.join("r").await;
    let reply = viewer.say("r", "let me in", "v").await;
    assert_eq!(reply["code"], "subscribers_only", "{reply}");
    let mut follower = app.connect("fay").await;
    let token = app.room_token("fay", "r", &["follower"], Some(now_ms() - 86_400_000));
    joins(&mut follower, "r", Some(&token)).await;
    let reply = follower.say("r", "I follow", "f").await;
    assert_eq!(reply["code"], "subscribers_only", "{reply}");
    for (user, role) in [
        ("sue", "subscriber"),
        ("val", "vip"),
        ("moe", "mod"),
        ("bea", "broadcaster"),
    ] {
        let mut c = app.connect(user).await;
        joins(&mut c, "r", Some(&app.room_token(user, "r", &[role], None))).await;
        let reply = c.say("r", "hello", role).await;
        assert_eq!(reply["type"], "ack", "{role}: {reply}");
    }
    let mut mia = app.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    assert_eq!(mia.say("r", "mod claim", "m").await["type"], "ack");
    let after = refusals(&app, "subscribers_only").await;
    assert!(after >= before + 2.0, "{before} -> {after}");
}

#[actix_web::test]
async fn followers_only_needs_a_follow_at_least_that_old_or_a_higher_role() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"followers_only": 10})).await;
    let before = refusals(&app, "followers_only").await;
    let minute = 60_000;
    let cases = [
        ("old", vec!["follower"], Some(now_ms() - 11 * minute), true),
        ("new", vec!["follower"], Some(now_ms() - minute), false),
        ("notoken", vec![], None, false),
        ("sub", vec!["subscriber"], None, true),
        ("vip", vec!["vip"], None, true),
    ];
    for (user, roles, since, allowed) in cases {
        let mut c = app.connect(user).await;
        if roles.is_empty() {
            c.join("r").await;
        } else {
            joins(&mut c, "r", Some(&app.room_token(user, "r", &roles, since))).await;
        }
        let reply = c.say("r", "hi", user).await;
        if allowed {
            assert_eq!(reply["type"], "ack", "{user}: {reply}");
        } else {
            assert_eq!(reply["code"], "followers_only", "{user}: {reply}");
        }
    }
    let mut mia = app.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    assert_eq!(mia.say("r", "mods pass", "m").await["type"], "ack");
    let after = refusals(&app, "followers_only").await;
    assert!(after >= before + 2.0, "{before} -> {after}");
}

#[actix_web::test]
async fn unique_chat_refuses_a_case_and_space_folded_repeat_from_anyone_but_moderators() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"unique_chat": true})).await;
    let before = refusals(&app, "duplicate").await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    bob.join("r").await;
    mia.join("r").await;
    assert_eq!(ann.say("r", "Hello  World", "a1").await["type"], "ack");
    let reply = bob.say("r", "hello world", "b1").await;
    assert_eq!(reply["code"], "duplicate", "another user's repeat: {reply}");
    let reply = ann.say("r", " HELLO WORLD ", "a2").await;
    assert_eq!(reply["code"], "duplicate", "her own repeat: {reply}");
    assert_eq!(bob.say("r", "hello there world", "b2").await["type"], "ack");
    assert_eq!(mia.say("r", "hello world", "m").await["type"], "ack");
    // Another room is another history.
    bob.join("r2").await;
    assert_eq!(bob.say("r2", "hello world", "b3").await["type"], "ack");
    let after = refusals(&app, "duplicate").await;
    assert!(after >= before + 2.0, "{before} -> {after}");
}

#[actix_web::test]
async fn moderators_and_the_broadcaster_are_exempt_from_every_mode_at_once() {
    let app = spawn_app().await;
    set_settings(
        &app,
        "r",
        json!({"slow_mode":30,"followers_only":60,"subscribers_only":true,"emote_only":true,"unique_chat":true}),
    )
    .await;
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 200);
    let mut claim = app.connect_mod("mia", &["r"]).await;
    claim.join("r").await;
    let mut stored = app.connect("sam").await;
    stored.join("r").await;
    let mut role = app.connect("moe").await;
    joins(
        &mut role,
        "r",
        Some(&app.room_token("moe", "r", &["mod"], None)),
    )
    .await;
    let mut bea = app.connect("bea").await;
    joins(
        &mut bea,
        "r",
        Some(&app.room_token("bea", "r", &["broadcaster"], None)),
    )
    .await;
    for (who, c) in [
        ("mod claim", &mut claim),
        ("stored moderator", &mut stored),
        ("room-token mod", &mut role),
        ("broadcaster", &mut bea),
    ] {
        for i in 0..2 {
            let reply = c.say("r", "plain words, twice", &format!("{i}")).await;
            assert_eq!(reply["type"], "ack", "{who}, message {i}: {reply}");
        }
    }
}

// -------------------------------------------------------------------- AutoMod

#[actix_web::test]
async fn put_terms_replaces_the_rooms_terms_and_get_returns_them() {
    let app = spawn_app().await;
    let terms = json!([{"pattern":"spam*","action":"hold"},{"pattern":"badword","action":"block"}]);
    let (status, body) = app
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms": terms})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"terms": terms}));
    let (status, body) = app.api(Method::GET, "/api/rooms/r/terms", None).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"terms": terms}));
    // Another room has none; a replacement replaces.
    let (_, other) = app.api(Method::GET, "/api/rooms/r2/terms", None).await;
    assert_eq!(other, json!({"terms": []}));
    put_terms(&app, "r", json!([{"pattern":"*scam","action":"block"}])).await;
    let (_, body) = app.api(Method::GET, "/api/rooms/r/terms", None).await;
    assert_eq!(
        body,
        json!({"terms":[{"pattern":"*scam","action":"block"}]})
    );
    // A bad action is refused.
    let (status, body) = app
        .api(
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"x","action":"explode"}]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn a_blocked_term_refuses_the_message_as_a_whole_word_after_normalisation_and_nobody_sees_it()
{
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"badword","action":"block"}])).await;
    let before = refusals(&app, "blocked_term").await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    bob.join("r").await;
    mia.join("r").await;
    for (i, text) in ["a badword here", "BadWord!", "ＢＡＤＷＯＲＤ"]
        .iter()
        .enumerate()
    {
        let reply = ann.say("r", text, &format!("b{i}")).await;
        assert_eq!(reply["code"], "blocked_term", "{text:?}: {reply}");
    }
    // Not a whole word: passes (the pattern has no `*`).
    let ok = ann.say("r", "badwords are fine", "ok").await;
    assert_eq!(ok["type"], "ack", "{ok}");
    // Her later message is the marker: nothing blocked came before it.
    for c in [&mut bob, &mut mia] {
        let f = c
            .expect_without(
                "the fine message",
                |f| f["type"] == "message" && f["id"] == ok["id"],
                |f| f["type"] == "message" || f["type"] == "held_message",
            )
            .await;
        assert_eq!(f["text"], "badwords are fine");
    }
    let after = refusals(&app, "blocked_term").await;
    assert!(after >= before + 3.0, "{before} -> {after}");
    assert_eq!(app.api_messages("r").await.len(), 1);
}

#[actix_web::test]
async fn configured_terms_apply_to_every_room() {
    let app = spawn_app_with(|s| {
        s.automod.terms = vec![TermSetting {
            pattern: "*crypto".into(),
            action: "block".into(),
        }];
    })
    .await;
    let mut ann = app.connect("ann").await;
    for room in ["a", "b"] {
        ann.join(room).await;
        let reply = ann.say(room, "buy Supercrypto now", room).await;
        assert_eq!(reply["code"], "blocked_term", "room {room}: {reply}");
        let reply = ann
            .say(room, "cryptography is neat", &format!("{room}2"))
            .await;
        assert_eq!(
            reply["type"], "ack",
            "`*crypto` matches words ending in crypto only: {reply}"
        );
    }
}

#[actix_web::test]
async fn a_held_message_reaches_moderators_only_and_approval_publishes_it_with_its_id_and_the_next_seq()
 {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    bob.join("r").await;
    mia.join("r").await;
    let first = ann.say("r", "first", "a0").await;
    let first_msg = bob
        .expect("first", |f| {
            f["type"] == "message" && f["id"] == first["id"]
        })
        .await;
    let seq0 = first_msg["seq"].as_u64().expect("seq on messages");

    let held = ann.act(msg("r", "Spamalot tickets", "h")).await;
    assert_eq!(held["type"], "held", "held instead of an ack: {held}");
    assert_eq!(held["ref"], "h");
    assert_eq!(held["room"], "r");
    let held_id = held["id"].clone();
    assert_eq!(held_id.as_str().map(str::len), Some(26), "{held}");

    let hm = mia.expect_type("held_message").await;
    assert_eq!(hm["room"], "r");
    assert_eq!(hm["term"], "spam*");
    assert_eq!(hm["message"]["id"], held_id, "{hm}");
    assert_eq!(hm["message"]["user"], "ann");
    assert_eq!(hm["message"]["text"], "Spamalot tickets");
    assert!(
        hm["message"].get("seq").is_none(),
        "no seq while held: {hm}"
    );

    // Bob sees nothing of it: ann's next message is the marker. And ann gets
    // no ack for the held one (held instead of an ack).
    ann.send(msg("r", "meanwhile", "a1")).await;
    let marker = ann
        .expect_without(
            "the ack of ann's next message",
            |f| f["type"] == "ack" && f["ref"] == "a1",
            |f| f["ref"] == "h",
        )
        .await;
    let m1 = bob
        .expect_without(
            "ann's next message",
            |f| f["type"] == "message" && f["id"] == marker["id"],
            |f| f["type"] == "held_message" || f["id"] == held_id,
        )
        .await;
    // A held message consumes no seq.
    assert_eq!(m1["seq"].as_u64(), Some(seq0 + 1), "{m1}");

    let (status, queue) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(status, 200);
    let queue = queue["held"].as_array().cloned().unwrap_or_default();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0]["message"]["id"], held_id);
    assert_eq!(queue[0]["term"], "spam*");
    let expires = queue[0]["expires_at"].as_i64().expect("expires_at");
    assert!(expires > now_ms(), "{queue:?}");

    let ack = mia
        .acked(json!({"type":"approve","room":"r","id":held_id,"ref":"ok"}))
        .await;
    assert_eq!(ack["id"], held_id, "the approve ack names the held message");
    for c in [&mut bob, &mut ann] {
        let f = c
            .expect("the approved message", |f| {
                f["type"] == "message" && f["id"] == held_id
            })
            .await;
        assert_eq!(f["text"], "Spamalot tickets");
        assert_eq!(f["user"], "ann");
        assert_eq!(f["seq"].as_u64(), Some(seq0 + 2), "the next seq: {f}");
    }
    // Deciding twice is a bad request.
    mia.refused(
        json!({"type":"approve","room":"r","id":held_id,"ref":"again"}),
        "bad_request",
    )
    .await;
    mia.refused(
        json!({"type":"deny","room":"r","id":held_id,"ref":"again2"}),
        "bad_request",
    )
    .await;
    // It is a message of the room now: recent, history, the API; not held.
    let mut late = app.connect("late").await;
    let recent = ids(&late.join("r").await["recent"]);
    assert_eq!(recent.last(), Some(&held_id), "{recent:?}");
    eventually(
        "the approved message in the API",
        Duration::from_secs(1),
        || async { ids(&json!(app.api_messages("r").await)).contains(&held_id) },
    )
    .await;
    let (_, queue) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(queue["held"], json!([]));
    let log = log_with(&app, "r", "approve", |a| a["action"] == "approve").await;
    assert_eq!(entries(&log, "hold").len(), 1, "{log:#?}");
    assert_eq!(entries(&log, "approve")[0]["by"], "mia", "{log:#?}");
}

#[actix_web::test]
async fn a_denied_held_message_is_dropped_and_its_sender_told() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    bob.join("r").await;
    mia.join("r").await;
    let held = ann.act(msg("r", "spam spam", "h")).await;
    assert_eq!(held["type"], "held", "{held}");
    let held_id = held["id"].clone();
    mia.expect_type("held_message").await;
    let ack = mia
        .acked(json!({"type":"deny","room":"r","id":held_id,"ref":"no"}))
        .await;
    assert_eq!(ack["id"], held_id);
    let denied = ann.expect_type("denied").await;
    assert_eq!(denied, json!({"type":"denied","room":"r","id":held_id}));
    mia.refused(
        json!({"type":"deny","room":"r","id":held_id,"ref":"twice"}),
        "bad_request",
    )
    .await;
    mia.refused(
        json!({"type":"approve","room":"r","id":held_id,"ref":"late"}),
        "bad_request",
    )
    .await;
    let marker = ann.say("r", "ok then", "a").await;
    bob.expect_without(
        "ann's next message",
        |f| f["type"] == "message" && f["id"] == marker["id"],
        |f| f["id"] == held_id || f["type"] == "held_message",
    )
    .await;
    let mut late = app.connect("late").await;
    assert_eq!(ids(&late.join("r").await["recent"]), [marker["id"].clone()]);
    let log = log_with(&app, "r", "deny", |a| a["action"] == "deny").await;
    assert_eq!(entries(&log, "deny")[0]["by"], "mia", "{log:#?}");
    assert_eq!(entries(&log, "hold").len(), 1, "{log:#?}");
    assert!(!ids(&json!(app.api_messages("r").await)).contains(&held_id));
}

#[actix_web::test]
async fn held_messages_are_decided_over_rest_and_a_second_decision_is_404() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    let keep = ann.act(msg("r", "spamalot", "h1")).await["id"].clone();
    let drop = ann.act(msg("r", "spammy", "h2")).await["id"].clone();
    assert!(keep.is_string() && drop.is_string());

    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/rooms/r/held/{}/approve", keep.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"id": keep}));
    let f = bob.expect_type("message").await;
    assert_eq!(f["id"], keep);
    assert!(f["seq"].is_u64(), "{f}");

    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/rooms/r/held/{}/deny", drop.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"id": drop}));
    let denied = ann.expect_type("denied").await;
    assert_eq!(denied["id"], drop);

    for (id, decision) in [
        (&keep, "approve"),
        (&keep, "deny"),
        (&drop, "deny"),
        (&drop, "approve"),
    ] {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/rooms/r/held/{}/{decision}", id.as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(status, 404, "{decision} of a decided message: {body}");
    }
    let log = log_with(&app, "r", "deny", |a| a["action"] == "deny").await;
    assert_eq!(entries(&log, "hold").len(), 2, "{log:#?}");
    assert_eq!(entries(&log, "approve").len(), 1, "{log:#?}");
    assert_eq!(entries(&log, "deny").len(), 1, "{log:#?}");
}

#[actix_web::test]
async fn an_unanswered_held_message_is_dropped_after_hold_s_and_its_sender_told() {
    let app = spawn_app_with(|s| s.automod.hold_s = 1).await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    let sent = Instant::now();
    let held = ann.act(msg("r", "spam", "h")).await;
    assert_eq!(held["type"], "held", "{held}");
    let (_, queue) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    let expires = queue["held"][0]["expires_at"].as_i64().expect("expires_at");
    assert!(
        (expires - now_ms() - 1000).abs() < 500,
        "hold_s = 1: {queue}"
    );
    let denied = ann
        .expect_within("denied", Duration::from_secs(3), |f| f["type"] == "denied")
        .await;
    assert_eq!(denied, json!({"type":"denied","room":"r","id":held["id"]}));
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "not before hold_s: {took:?}"
    );
    let (_, queue) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(queue["held"], json!([]));
    mia.refused(
        json!({"type":"approve","room":"r","id":held["id"],"ref":"late"}),
        "bad_request",
    )
    .await;
}

// ----------------------------------------------------------------- chat delay

#[actix_web::test]
async fn chat_delay_gives_moderators_an_early_delayed_copy_and_the_room_the_message_after_the_delay()
 {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 800})).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    bob.join("r").await;
    mia.join("r").await;
    let sent = Instant::now();
    let ack = ann.say("r", "delayed hello", "a").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert!(sent.elapsed() < Duration::from_millis(400), "acked at once");
    let early = mia.expect_type("message").await;
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "moderators get it at once: {:?}",
        sent.elapsed()
    );
    assert_eq!(early["id"], ack["id"]);
    assert_eq!(early["delayed"], true, "{early}");
    assert!(
        early.get("seq").is_none(),
        "no seq on the early copy: {early}"
    );
    // Bob has nothing yet (the delay is far from over at his pong).
    bob.assert_none_before_pong("no message before the delay", |f| f["type"] == "message")
        .await;
    let published = bob.expect_type("message").await;
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(750),
        "published after the delay: {took:?}"
    );
    assert_eq!(published["id"], ack["id"]);
    assert!(published["seq"].is_u64(), "{published}");
    assert!(published.get("delayed").is_none(), "{published}");
    let again = mia.expect_type("message").await;
    assert_eq!(again["id"], ack["id"]);
    assert_eq!(again["seq"], published["seq"]);
    assert!(again.get("delayed").is_none(), "{again}");

    // A moderator's own message is not delayed.
    let sent = Instant::now();
    let m = mia.say("r", "mods go straight out", "m").await;
    let f = bob
        .expect("the moderator's message", |f| {
            f["type"] == "message" && f["id"] == m["id"]
        })
        .await;
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "{:?}",
        sent.elapsed()
    );
    assert!(f["seq"].is_u64());
}

#[actix_web::test]
async fn a_message_deleted_during_the_chat_delay_never_reaches_viewers() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 1000})).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    bob.join("r").await;
    mia.join("r").await;
    let bad = ann.say("r", "oops, a leak", "a1").await["id"].clone();
    let early = mia.expect_type("message").await;
    assert_eq!(early["id"], bad);
    assert_eq!(early["delayed"], true);
    mia.acked(json!({"type":"delete","room":"r","id":bad,"ref":"d"}))
        .await;
    let deleted = bob.expect_type("deleted").await;
    assert_eq!(
        deleted,
        json!({"type":"deleted","room":"r","id":bad,"by":"mia"})
    );
    // Ann's next message is published after the deleted one would have been.
    let next = ann.say("r", "all good", "a2").await["id"].clone();
    let f = bob
        .expect_without(
            "ann's next message",
            |f| f["type"] == "message" && f["id"] == next,
            |f| f["type"] == "message" && f["id"] == bad,
        )
        .await;
    assert!(f["seq"].is_u64());
    let mut late = app.connect("late").await;
    assert_eq!(
        ids(&late.join("r").await["recent"]),
        std::slice::from_ref(&next)
    );
    late.send(json!({"type":"history","room":"r","ref":"h"}))
        .await;
    let h = late.expect_type("history").await;
    assert_eq!(ids(&h["messages"]), std::slice::from_ref(&next));
    eventually(
        "only the later message in the API",
        Duration::from_secs(1),
        || async { ids(&json!(app.api_messages("r").await)) == std::slice::from_ref(&next) },
    )
    .await;
}

// ---------------------------------------------------------------- shadow ban

#[actix_web::test]
async fn a_shadow_banned_users_messages_reach_only_their_own_connections_and_moderators_marked_shadow()
 {
    let app = spawn_app().await;
    let mut ann1 = app.connect("ann").await;
    let mut ann2 = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut ann1, &mut ann2, &mut bob, &mut mia] {
        c.join("r").await;
    }
    let before = ann1.say("r", "before", "a0").await["id"].clone();
    let seq0 = bob
        .expect("before", |f| f["type"] == "message" && f["id"] == before)
        .await["seq"]
        .as_u64()
        .unwrap();
    let ack = mia
        .acked(json!({"type":"shadow_ban","room":"r","user":"ann","reason":"troll","ref":"sb"}))
        .await;
    assert!(ack["id"].is_string(), "{ack}");

    let ack = ann1.say("r", "can anyone hear me", "a1").await;
    assert_eq!(ack["type"], "ack", "a shadow-banned user is acked: {ack}");
    let shadow_id = ack["id"].clone();
    for c in [&mut ann1, &mut ann2] {
        let own = c
            .expect("her own echo", |f| {
                f["type"] == "message" && f["id"] == shadow_id
            })
            .await;
        assert_eq!(own["text"], "can anyone hear me");
        assert!(own.get("shadow").is_none(), "she cannot tell: {own}");
    }
    let seen = mia
        .expect("the shadow message", |f| {
            f["type"] == "message" && f["id"] == shadow_id
        })
        .await;
    assert_eq!(seen["shadow"], true, "{seen}");
    // The moderator saw it; the moderator's next message is the marker for bob.
    let marker = mia.say("r", "marker", "m").await["id"].clone();
    let m = bob
        .expect_without(
            "the moderator's marker",
            |f| f["type"] == "message" && f["id"] == marker,
            |f| f["id"] == shadow_id,
        )
        .await;
    assert_eq!(
        m["seq"].as_u64(),
        Some(seq0 + 1),
        "a shadow message consumes no seq: {m}"
    );
    // The API lists it, marked.
    eventually(
        "the shadow message in the API",
        Duration::from_secs(1),
        || async {
            app.api_messages("r")
                .await
                .iter()
                .any(|m| m["id"] == shadow_id && m["shadow"] == true)
        },
    )
    .await;
    let mut late = app.connect("late").await;
    assert!(!ids(&late.join("r").await["recent"]).contains(&shadow_id));

    // Unban lifts it.
    mia.acked(json!({"type":"unban","room":"r","user":"ann","ref":"u"}))
        .await;
    let heard = ann1.say("r", "back", "a2").await["id"].clone();
    let f = bob
        .expect("ann's message after unban", |f| {
            f["type"] == "message" && f["id"] == heard
        })
        .await;
    assert!(f.get("shadow").is_none(), "{f}");
    let log = log_with(&app, "r", "shadow_ban", |a| a["action"] == "shadow_ban").await;
    let e = entries(&log, "shadow_ban");
    assert_eq!(e[0]["user"], "ann");
    assert_eq!(e[0]["by"], "mia");
}

#[actix_web::test]
async fn a_shadow_ban_over_rest_is_201_with_an_id_and_hides_the_users_messages() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"ann","reason":"spam"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].clone();
    assert!(id.is_string(), "{body}");
    let hidden = ann.say("r", "hidden", "a").await["id"].clone();
    ann.expect("own echo", |f| f["type"] == "message" && f["id"] == hidden)
        .await;
    let marker = app
        .api(
            Method::POST,
            "/api/rooms/r/messages",
            Some(json!({"user":"bot","text":"marker"})),
        )
        .await
        .1["id"]
        .clone();
    bob.expect_without(
        "the bot's marker",
        |f| f["type"] == "message" && f["id"] == marker,
        |f| f["id"] == hidden,
    )
    .await;
    let log = log_with(&app, "r", "shadow_ban", |a| a["action"] == "shadow_ban").await;
    let e = entries(&log, "shadow_ban");
    assert_eq!(e[0]["id"], id);
    assert_eq!(e[0]["user"], "ann");
}

// ----------------------------------------------------------------------- warn

#[actix_web::test]
async fn a_warned_user_cannot_chat_until_a_connection_acknowledges() {
    let app = spawn_app().await;
    let mut ann1 = app.connect("ann").await;
    let mut ann2 = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut ann1, &mut ann2, &mut bob, &mut mia] {
        c.join("r").await;
    }
    let before = refusals(&app, "warned").await;
    let ack = mia
        .acked(json!({"type":"warn","room":"r","user":"ann","reason":"language","ref":"w"}))
        .await;
    assert!(ack["id"].is_string());
    for c in [&mut ann1, &mut ann2] {
        let w = c.expect_type("warning").await;
        assert_eq!(
            w,
            json!({"type":"warning","room":"r","reason":"language","by":"mia"})
        );
    }
    // Only her: bob gets no warning (the moderator's next message is the marker).
    let marker = mia.say("r", "be nice", "m").await["id"].clone();
    bob.expect_without(
        "the marker",
        |f| f["type"] == "message" && f["id"] == marker,
        |f| f["type"] == "warning",
    )
    .await;
    for c in [&mut ann1, &mut ann2] {
        let reply = c.say("r", "whatever", "x").await;
        assert_eq!(reply["code"], "warned", "{reply}");
    }
    assert_eq!(bob.say("r", "I can talk", "b").await["type"], "ack");
    let ack = ann2
        .acked(json!({"type":"acknowledge","room":"r","ref":"ack"}))
        .await;
    assert_eq!(ack["ref"], "ack");
    // One connection's acknowledgement lifts it for all of hers.
    assert_eq!(ann1.say("r", "sorry", "y").await["type"], "ack");
    assert_eq!(ann2.say("r", "sorry again", "z").await["type"], "ack");
    let after = refusals(&app, "warned").await;
    assert!(after >= before + 2.0, "{before} -> {after}");

    // Over REST too.
    let (status, body) = app
        .api(
            Method::POST,
            "/api/rooms/r/warnings",
            Some(json!({"user":"bob","reason":"caps"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].is_string(), "{body}");
    let w = bob.expect_type("warning").await;
    assert_eq!(w["reason"], "caps");
    assert_eq!(bob.say("r", "HEY", "b2").await["code"], "warned");
    let log = log_with(&app, "r", "warn of bob", |a| {
        a["action"] == "warn" && a["user"] == "bob"
    })
    .await;
    let e = entries(&log, "warn");
    assert_eq!(e.len(), 2, "{log:#?}");
    assert_eq!(e[1]["user"], "ann");
    assert_eq!(e[1]["by"], "mia");
    assert_eq!(e[0]["id"], body["id"]);
}

// ---------------------------------------------------------------------- clear

#[actix_web::test]
async fn clear_empties_recent_for_later_joiners_but_history_keeps_the_rows() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    ann.say("r", "one", "1").await;
    ann.say("r", "two", "2").await;
    let ack = mia
        .acked(json!({"type":"clear","room":"r","ref":"c"}))
        .await;
    assert!(ack["id"].is_string());
    assert_eq!(
        ann.expect_type("cleared").await,
        json!({"type":"cleared","room":"r","by":"mia"})
    );
    let mut late = app.connect("late").await;
    assert_eq!(late.join("r").await["recent"], json!([]));
    // History keeps the rows: over the socket…
    late.send(json!({"type":"history","room":"r","ref":"h"}))
        .await;
    let h = late.expect_type("history").await;
    assert_eq!(ids(&h["messages"]).len(), 2, "history after a clear: {h}");
    // …and over the API.
    eventually("both rows in history", Duration::from_secs(1), || async {
        app.api_messages("r").await.len() == 2
    })
    .await;
    // A message after the clear is recent again.
    let three = ann.say("r", "three", "3").await["id"].clone();
    let mut later = app.connect("later").await;
    assert_eq!(ids(&later.join("r").await["recent"]), [three]);

    let (status, body) = app.api(Method::POST, "/api/rooms/r/clear", None).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].is_string(), "{body}");
    ann.expect_type("cleared").await;
    let mut last = app.connect("last").await;
    assert_eq!(last.join("r").await["recent"], json!([]));
    let log = log_with(&app, "r", "clear", |a| a["action"] == "clear").await;
    let e = entries(&log, "clear");
    assert_eq!(e.len(), 2, "{log:#?}");
    assert_eq!(e[1]["by"], "mia");
    assert_eq!(e[0]["id"], body["id"]);
}

// ---------------------------------------------------------------------- purge

#[actix_web::test]
async fn purge_deletes_one_users_recent_messages_with_a_deleted_frame_each() {
    let app = spawn_app().await;
    let mut troll = app.connect("troll").await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut troll, &mut ann, &mut mia] {
        c.join("r").await;
    }
    let t1 = troll.say("r", "spam one", "t1").await["id"].clone();
    let keep = ann.say("r", "hello", "a1").await["id"].clone();
    let t2 = troll.say("r", "spam two", "t2").await["id"].clone();
    let ack = mia
        .acked(json!({"type":"purge","room":"r","user":"troll","reason":"flood","ref":"p"}))
        .await;
    assert!(ack["id"].is_string());
    let mut deleted = BTreeSet::new();
    while deleted.len() < 2 {
        let f = ann.expect_type("deleted").await;
        assert_eq!(f["by"], "mia", "{f}");
        assert!(
            deleted.insert(f["id"].as_str().unwrap().to_owned()),
            "one each: {f}"
        );
    }
    let expected: BTreeSet<String> = [&t1, &t2]
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted, expected);
    // No more deletions (ann's message stays): the moderator's next message is the marker.
    let marker = mia.say("r", "cleaned", "m").await["id"].clone();
    ann.expect_without(
        "the marker",
        |f| f["type"] == "message" && f["id"] == marker,
        |f| f["type"] == "deleted",
    )
    .await;
    let mut late = app.connect("late").await;
    assert_eq!(
        ids(&late.join("r").await["recent"]),
        [keep.clone(), marker.clone()]
    );
    eventually("the purge in the API", Duration::from_secs(1), || async {
        ids(&json!(app.api_messages("r").await)) == [keep.clone(), marker.clone()]
    })
    .await;

    // Over REST: 201 with the action's id.
    let t3 = troll.say("r", "spam three", "t3").await["id"].clone();
    let (status, body) = app
        .api(
            Method::POST,
            "/api/rooms/r/purges",
            Some(json!({"user":"troll","reason":"again"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].is_string(), "{body}");
    assert_eq!(ann.expect_type("deleted").await["id"], t3);
    let log = log_with(&app, "r", "purge", |a| a["action"] == "purge").await;
    let e = entries(&log, "purge");
    assert_eq!(e.len(), 2, "{log:#?}");
    assert!(e.iter().all(|a| a["user"] == "troll"), "{log:#?}");
    assert_eq!(e[1]["by"], "mia");
}

// ------------------------------------------------------------------------ pin

#[actix_web::test]
async fn a_pin_is_announced_carried_in_joined_and_removed_by_unpin() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    let id = ann.say("r", "pin me", "a").await["id"].clone();
    for (seconds, reference) in [(59, "short"), (1801, "long")] {
        mia.refused(
            json!({"type":"pin","room":"r","id":id,"seconds":seconds,"ref":reference}),
            "bad_request",
        )
        .await;
    }
    let t0 = now_ms();
    let ack = mia
        .acked(json!({"type":"pin","room":"r","id":id,"seconds":60,"ref":"p"}))
        .await;
    assert!(ack["id"].is_string());
    let pinned = ann.expect_type("pinned").await;
    assert_eq!(pinned["room"], "r");
    assert_eq!(pinned["message"]["id"], id, "{pinned}");
    assert_eq!(pinned["message"]["text"], "pin me");
    let until = pinned["until"].as_i64().expect("until");
    assert!(
        (until - (t0 + 60_000)).abs() < 2_000,
        "until = now + 60 s: {pinned}"
    );

    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert_eq!(joined["pinned"]["message"]["id"], id, "{joined}");
    assert_eq!(joined["pinned"]["until"], until);

    mia.acked(json!({"type":"unpin","room":"r","ref":"u"}))
        .await;
    let unpinned = ann.expect_type("pinned").await;
    assert_eq!(unpinned["room"], "r");
    assert!(unpinned["message"].is_null(), "{unpinned}");
    assert!(unpinned["until"].is_i64(), "{unpinned}");
    let mut later = app.connect("later").await;
    let joined = later.join("r").await;
    assert!(joined.get("pinned").is_none(), "no pin: {joined}");

    // Over REST.
    let (status, body) = app
        .api(
            Method::PUT,
            "/api/rooms/r/pin",
            Some(json!({"id":id,"seconds":120})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].is_string(), "{body}");
    assert_eq!(ann.expect_type("pinned").await["message"]["id"], id);
    let (status, body) = app
        .api(
            Method::PUT,
            "/api/rooms/r/pin",
            Some(json!({"id":id,"seconds":59})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app.api(Method::DELETE, "/api/rooms/r/pin", None).await;
    assert_eq!(status, 204);
    assert!(ann.expect_type("pinned").await["message"].is_null());
    let log = log_with(&app, "r", "unpin", |a| a["action"] == "unpin").await;
    assert_eq!(entries(&log, "pin").len(), 2, "{log:#?}");
    assert_eq!(entries(&log, "unpin").len(), 2, "{log:#?}");
    assert_eq!(entries(&log, "pin")[1]["by"], "mia");
}

// ------------------------------------------------------------------ user card

#[actix_web::test]
async fn the_user_card_shows_the_users_messages_actions_and_state() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut ann, &mut bob, &mut mia] {
        c.join("r").await;
    }
    let a1 = ann.say("r", "one", "1").await["id"].clone();
    let a2 = ann.say("r", "two", "2").await["id"].clone();
    bob.say("r", "not ann", "b").await;

    let (status, card) = app.api(Method::GET, "/api/rooms/r/users/ann", None).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["user"], "ann");
    let mine: BTreeSet<String> = ids(&card["messages"])
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: BTreeSet<String> = [&a1, &a2]
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mine, expected, "her messages only: {card}");
    assert_eq!(card["actions"], json!([]));
    assert_eq!(
        card["state"],
        json!({"banned":false,"timed_out_until":null,"shadow_banned":false,"warned":false})
    );

    let t0 = now_ms();
    for frame in [
        json!({"type":"timeout","room":"r","user":"ann","seconds":300,"ref":"t"}),
        json!({"type":"warn","room":"r","user":"ann","reason":"x","ref":"w"}),
        json!({"type":"shadow_ban","room":"r","user":"ann","ref":"s"}),
        json!({"type":"timeout","room":"r","user":"bob","seconds":60,"ref":"tb"}),
    ] {
        mia.acked(frame).await;
    }
    eventually(
        "three actions on ann's card",
        Duration::from_secs(1),
        || async {
            let (_, card) = app.api(Method::GET, "/api/rooms/r/users/ann", None).await;
            card["actions"].as_array().map(Vec::len) == Some(3)
        },
    )
    .await;
    let (_, card) = app.api(Method::GET, "/api/rooms/r/users/ann", None).await;
    let actions: BTreeSet<_> = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["user"], "ann", "only actions about ann: {a}");
            a["action"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        ["shadow_ban", "timeout", "warn"].map(String::from).into()
    );
    let state = &card["state"];
    assert_eq!(state["banned"], false);
    assert_eq!(state["shadow_banned"], true, "{card}");
    assert_eq!(state["warned"], true, "{card}");
    let until = state["timed_out_until"].as_i64().expect("timed_out_until");
    assert!((until - (t0 + 300_000)).abs() < 5_000, "{card}");

    mia.acked(json!({"type":"ban","room":"r","user":"ann","ref":"b"}))
        .await;
    eventually("ann banned on her card", Duration::from_secs(1), || async {
        let (_, card) = app.api(Method::GET, "/api/rooms/r/users/ann", None).await;
        card["state"]["banned"] == true
    })
    .await;
    // Unban lifts the ban, the timeout and the shadow ban.
    mia.acked(json!({"type":"unban","room":"r","user":"ann","ref":"u"}))
        .await;
    eventually(
        "ann's standing after unban",
        Duration::from_secs(1),
        || async {
            let (_, card) = app.api(Method::GET, "/api/rooms/r/users/ann", None).await;
            let s = &card["state"];
            s["banned"] == false && s["timed_out_until"].is_null() && s["shadow_banned"] == false
        },
    )
    .await;
    // A user with no history has an empty card, not a 404.
    let (status, card) = app
        .api(Method::GET, "/api/rooms/r/users/nobody", None)
        .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(
        card,
        json!({"user":"nobody","messages":[],"actions":[],
               "state":{"banned":false,"timed_out_until":null,"shadow_banned":false,"warned":false}})
    );
}

// ------------------------------------------------------------ moderation log

#[actix_web::test]
async fn every_v2_action_is_in_the_moderation_log_with_its_name_by_and_user() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    let id = ann.say("r", "hello", "a").await["id"].clone();
    let h1 = ann.act(msg("r", "spam1", "h1")).await["id"].clone();
    let h2 = ann.act(msg("r", "spam2", "h2")).await["id"].clone();
    let mut acks = Vec::new();
    for frame in [
        json!({"type":"settings","room":"r","settings":{"unique_chat":true},"ref":"1"}),
        json!({"type":"pin","room":"r","id":id,"seconds":60,"ref":"2"}),
        json!({"type":"unpin","room":"r","ref":"3"}),
        json!({"type":"approve","room":"r","id":h1,"ref":"4"}),
        json!({"type":"deny","room":"r","id":h2,"ref":"5"}),
        json!({"type":"warn","room":"r","user":"ann","reason":"w","ref":"6"}),
        json!({"type":"shadow_ban","room":"r","user":"ann","ref":"7"}),
        json!({"type":"purge","room":"r","user":"ann","ref":"8"}),
        json!({"type":"clear","room":"r","ref":"9"}),
    ] {
        acks.push(mia.acked(frame).await["id"].clone());
    }
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/r/moderators/max", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api(Method::DELETE, "/api/rooms/r/moderators/max", None)
        .await;
    assert_eq!(status, 204);

    let log = log_with(&app, "r", "mod_remove", |a| a["action"] == "mod_remove").await;
    let by_mia = [
        ("settings", None),
        ("pin", None),
        ("unpin", None),
        ("approve", None),
        ("deny", None),
        ("warn", Some("ann")),
        ("shadow_ban", Some("ann")),
        ("purge", Some("ann")),
        ("clear", None),
    ];
    // (By mia: the API's change of the terms may be logged too.)
    let by = |action: &str| -> Vec<&Value> {
        entries(&log, action)
            .into_iter()
            .filter(|a| a["by"] == "mia")
            .collect()
    };
    for (action, user) in by_mia {
        let e = by(action);
        assert_eq!(e.len(), 1, "one {action} by mia: {log:#?}");
        assert_eq!(e[0]["by"], "mia", "{action}: {:?}", e[0]);
        if let Some(user) = user {
            assert_eq!(e[0]["user"], user, "{action}: {:?}", e[0]);
        }
    }
    for action in ["mod_add", "mod_remove"] {
        let e = entries(&log, action);
        assert_eq!(e.len(), 1, "{action}: {log:#?}");
        assert_eq!(e[0]["user"], "max");
    }
    assert_eq!(entries(&log, "hold").len(), 2, "{log:#?}");
    // The non-decision acks name the log entry they made.
    for (ack_id, (action, _)) in acks.iter().zip(by_mia) {
        if action == "approve" || action == "deny" {
            continue;
        }
        assert_eq!(&by(action)[0]["id"], ack_id, "{action}");
    }
    // The approve/deny acks name the held message.
    assert_eq!(acks[3], h1);
    assert_eq!(acks[4], h2);
}

// ------------------------------------------------------------- more edges

#[actix_web::test]
async fn an_offline_stored_moderator_is_protected_by_the_hierarchy_but_not_from_the_api() {
    let app = spawn_app().await;
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 200);
    let mut mia = app.connect_mod("mia", &["r"]).await;
    mia.join("r").await;
    for frame in [
        json!({"type":"ban","room":"r","user":"sam","ref":"b"}),
        json!({"type":"timeout","room":"r","user":"sam","seconds":60,"ref":"t"}),
        json!({"type":"shadow_ban","room":"r","user":"sam","ref":"s"}),
        json!({"type":"warn","room":"r","user":"sam","reason":"x","ref":"w"}),
    ] {
        mia.refused(frame, "forbidden").await;
    }
    let (status, body) = app
        .api(
            Method::POST,
            "/api/rooms/r/bans",
            Some(json!({"user":"sam"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut sam = app.connect("sam").await;
    sam.send(json!({"type":"join","room":"r","ref":"j"})).await;
    sam.expect_error("banned").await;
}

#[actix_web::test]
async fn moderation_routes_take_a_moderators_jwt_and_keep_the_hierarchy() {
    let app = spawn_app().await;
    let mut max = app.connect_mod("max", &["r"]).await;
    let mut bea = app.connect("bea").await;
    let mut ann = app.connect("ann").await;
    max.join("r").await;
    joins(
        &mut bea,
        "r",
        Some(&app.room_token("bea", "r", &["broadcaster"], None)),
    )
    .await;
    ann.join("r").await;
    let mia = app.token("mia", &["r"]);
    let viewer = app.token("vic", &[]);
    let (status, body) = app
        .request(
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(&viewer),
            Some(json!({"emote_only":true})),
        )
        .await;
    assert_eq!(status, 403, "a viewer's JWT: {body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = app
        .request(Method::GET, "/api/rooms/r/held", Some(&viewer), None)
        .await;
    assert_eq!(status, 403, "a viewer's JWT: {body}");

    let (status, body) = app
        .request(
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(&mia),
            Some(json!({"unique_chat":true})),
        )
        .await;
    assert_eq!(status, 200, "a moderator's JWT: {body}");
    assert_eq!(body, settings_with(json!({"unique_chat":true})));
    let (status, body) = app
        .request(
            Method::POST,
            "/api/rooms/r/warnings",
            Some(&mia),
            Some(json!({"user":"ann","reason":"x"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(ann.expect_type("warning").await["by"], "mia");
    for (user, route) in [
        ("max", "warnings"),
        ("bea", "shadow_bans"),
        ("max", "purges"),
    ] {
        let (status, body) = app
            .request(
                Method::POST,
                &format!("/api/rooms/r/{route}"),
                Some(&mia),
                Some(json!({"user":user,"reason":"x"})),
            )
            .await;
        assert_eq!(status, 403, "{route} on {user} by a moderator: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
    }
    // Neither the moderator nor the broadcaster was touched.
    assert_eq!(max.say("r", "fine", "m").await["type"], "ack");
    assert_eq!(bea.say("r", "fine too", "b").await["type"], "ack");
}

#[actix_web::test]
async fn acknowledge_without_a_warning_is_acked_and_changes_nothing() {
    let app = spawn_app().await;
    let mut bob = app.connect("bob").await;
    bob.join("r").await;
    let ack = bob
        .acked(json!({"type":"acknowledge","room":"r","ref":"a"}))
        .await;
    assert_eq!(ack["ref"], "a");
    assert_eq!(bob.say("r", "hi", "m").await["type"], "ack");
}

#[actix_web::test]
async fn a_warning_given_while_offline_holds_on_a_later_connection_until_acknowledged() {
    let app = spawn_app().await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/rooms/r/warnings",
            Some(json!({"user":"ann","reason":"read the rules"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    assert_eq!(ann.say("r", "hello", "1").await["code"], "warned");
    // Reconnecting does not clear it either.
    ann.close().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    assert_eq!(ann.say("r", "hello?", "2").await["code"], "warned");
    ann.acked(json!({"type":"acknowledge","room":"r","ref":"ok"}))
        .await;
    assert_eq!(ann.say("r", "hello!", "3").await["type"], "ack");
    // The warning is for that room only.
    ann.join("r2").await;
    assert_eq!(ann.say("r2", "elsewhere", "4").await["type"], "ack");
}

#[actix_web::test]
async fn vips_are_exempt_from_slow_mode_and_viewers_are_not() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"slow_mode": 30})).await;
    let mut val = app.connect("val").await;
    joins(
        &mut val,
        "r",
        Some(&app.room_token("val", "r", &["vip"], None)),
    )
    .await;
    let mut vic = app.connect("vic").await;
    vic.join("r").await;
    for i in 0..3 {
        let reply = val.say("r", &format!("vip {i}"), &format!("v{i}")).await;
        assert_eq!(reply["type"], "ack", "vip message {i}: {reply}");
    }
    assert_eq!(vic.say("r", "one", "1").await["type"], "ack");
    assert_eq!(vic.say("r", "two", "2").await["code"], "slow_mode");
}

#[actix_web::test]
async fn slow_mode_is_one_setting_whether_set_by_v1_or_v2_frames() {
    let app = spawn_app().await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let mut ann = app.connect("ann").await;
    mia.join("r").await;
    ann.join("r").await;
    // v1's frame: v2 clients see it in the settings.
    mia.acked(json!({"type":"slow_mode","room":"r","seconds":10,"ref":"v1"}))
        .await;
    assert_eq!(
        ann.expect_type("slow_mode").await,
        json!({"type":"slow_mode","room":"r","seconds":10})
    );
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert_eq!(joined["settings"]["slow_mode"], 10, "{joined}");
    // v2's frame: v1's views follow.
    mia.acked(json!({"type":"settings","room":"r","settings":{"slow_mode":20},"ref":"v2"}))
        .await;
    let f = ann.expect_type("settings").await;
    assert_eq!(f["settings"]["slow_mode"], 20);
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(info["slow_mode"], 20, "{info}");
    let mut later = app.connect("later").await;
    assert_eq!(later.join("r").await["slow_mode"], 20);
    assert_eq!(ann.say("r", "one", "1").await["type"], "ack");
    let err = ann.say("r", "two", "2").await;
    assert_eq!(err["code"], "slow_mode");
    assert!(err["retry_after_ms"].as_u64().unwrap() > 19_000, "{err}");
}

#[actix_web::test]
async fn term_stars_match_prefixes_and_suffixes_of_whole_words_and_bad_patterns_are_refused() {
    let app = spawn_app().await;
    put_terms(
        &app,
        "r",
        json!([
            {"pattern":"spam*","action":"block"},
            {"pattern":"*scam","action":"block"},
            {"pattern":"*fraud*","action":"block"}
        ]),
    )
    .await;
    let cases = [
        ("spam", true),
        ("spammer", true),
        ("SPAMMER!", true),
        ("nospam", false),
        ("antiscam", true),
        ("scammer", false),
        ("megafraudster", true),
        ("frau d", false),
    ];
    for (i, (text, blocked)) in cases.iter().enumerate() {
        let mut c = app.connect(&format!("u{i}")).await;
        c.join("r").await;
        let reply = c.say("r", &format!("well {text} ok"), "m").await;
        if *blocked {
            assert_eq!(reply["code"], "blocked_term", "{text:?}: {reply}");
        } else {
            assert_eq!(reply["type"], "ack", "{text:?}: {reply}");
        }
    }
    let (_, before) = app.api(Method::GET, "/api/rooms/r/terms", None).await;
    for bad in ["sp*m", "", "*"] {
        let (status, body) = app
            .api(
                Method::PUT,
                "/api/rooms/r/terms",
                Some(json!({"terms":[{"pattern":bad,"action":"block"}]})),
            )
            .await;
        assert_eq!(status, 400, "pattern {bad:?}: {body}");
    }
    let (_, after) = app.api(Method::GET, "/api/rooms/r/terms", None).await;
    assert_eq!(after, before);
}

#[actix_web::test]
async fn purge_leaves_the_users_messages_in_other_rooms() {
    let app = spawn_app().await;
    let mut troll = app.connect("troll").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    troll.join("r").await;
    troll.join("r2").await;
    mia.join("r").await;
    troll.say("r", "here", "1").await;
    let there = troll.say("r2", "there", "2").await["id"].clone();
    mia.acked(json!({"type":"purge","room":"r","user":"troll","ref":"p"}))
        .await;
    troll.expect_type("deleted").await;
    let mut late = app.connect("late").await;
    assert_eq!(late.join("r").await["recent"], json!([]));
    assert_eq!(ids(&late.join("r2").await["recent"]), [there]);
}

#[actix_web::test]
async fn a_joiner_during_the_chat_delay_gets_the_message_when_published_not_in_recent() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 1000})).await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    let id = ann.say("r", "soon", "a").await["id"].clone();
    mia.expect("the early copy", |f| f["id"] == id && f["delayed"] == true)
        .await;
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert!(
        !ids(&joined["recent"]).contains(&id),
        "not yet published: {joined}"
    );
    let f = late
        .expect("the published message", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    let seq = f["seq"].as_u64().expect("a seq");
    assert_eq!(
        seq,
        joined["seq"].as_u64().unwrap() + 1,
        "{f} after {joined}"
    );
}

#[actix_web::test]
async fn stored_moderators_terms_shadow_bans_warnings_and_pins_survive_a_restart() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let pinned = ann.say("r", "pin me", "p").await["id"].clone();
    for (method, path, body, status) in [
        (Method::PUT, "/api/rooms/r/moderators/max", None, 200),
        (
            Method::PUT,
            "/api/rooms/r/terms",
            Some(json!({"terms":[{"pattern":"badword","action":"block"}]})),
            200,
        ),
        (
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"ann","reason":"x"})),
            201,
        ),
        (
            Method::POST,
            "/api/rooms/r/warnings",
            Some(json!({"user":"bob","reason":"x"})),
            201,
        ),
        (
            Method::PUT,
            "/api/rooms/r/pin",
            Some(json!({"id":pinned,"seconds":600})),
            200,
        ),
    ] {
        let (got, answer) = app.api(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
    }
    ann.close().await;
    let app = app.restart().await;

    let (_, list) = app.api(Method::GET, "/api/rooms/r/moderators", None).await;
    assert_eq!(list["moderators"][0]["user"], "max", "{list}");
    let (_, terms) = app.api(Method::GET, "/api/rooms/r/terms", None).await;
    assert_eq!(
        terms,
        json!({"terms":[{"pattern":"badword","action":"block"}]})
    );
    let mut max = app.connect("max").await;
    let joined = max.join("r").await;
    assert_eq!(joined["pinned"]["message"]["id"], pinned, "{joined}");
    max.acked(json!({"type":"settings","room":"r","settings":{"unique_chat":true},"ref":"s"}))
        .await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let hidden = ann.say("r", "still hidden?", "a").await["id"].clone();
    let f = max
        .expect("ann's message", |f| {
            f["type"] == "message" && f["id"] == hidden
        })
        .await;
    assert_eq!(f["shadow"], true, "the shadow ban survived: {f}");
    let mut bob = app.connect("bob").await;
    bob.join("r").await;
    assert_eq!(bob.say("r", "hi", "b").await["code"], "warned");
    let mut cat = app.connect("cat").await;
    cat.join("r").await;
    assert_eq!(cat.say("r", "badword", "c").await["code"], "blocked_term");
}

/// A non-moderator's message waits in the chat delay; `action` (a frame
/// naming `troll`) is taken meanwhile; the message must never go out.
async fn removed_during_the_delay_never_goes_out(action: Value) {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 800})).await;
    let mut troll = app.connect("troll").await;
    let mut cat = app.connect("cat").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut troll, &mut cat, &mut bob, &mut mia] {
        c.join("r").await;
    }
    let gone = troll.say("r", "troll text", "t").await["id"].clone();
    mia.expect("the early copy", |f| {
        f["id"] == gone && f["delayed"] == true
    })
    .await;
    mia.acked(action).await;
    // Cat's message, sent after it, is published after it would have been.
    let later = cat.say("r", "after them", "c").await["id"].clone();
    let f = bob
        .expect_without(
            "cat's later message",
            |f| f["type"] == "message" && f["id"] == later,
            |f| f["type"] == "message" && f["id"] == gone,
        )
        .await;
    assert!(f["seq"].is_u64());
    let mut late = app.connect("late").await;
    assert_eq!(
        ids(&late.join("r").await["recent"]),
        std::slice::from_ref(&later)
    );
    eventually(
        "only cat's message in the API",
        Duration::from_secs(1),
        || async { ids(&json!(app.api_messages("r").await)) == std::slice::from_ref(&later) },
    )
    .await;
}

#[actix_web::test]
async fn a_message_of_a_user_banned_during_the_chat_delay_never_goes_out() {
    removed_during_the_delay_never_goes_out(
        json!({"type":"ban","room":"r","user":"troll","ref":"b"}),
    )
    .await;
}

#[actix_web::test]
async fn a_message_of_a_user_purged_during_the_chat_delay_never_goes_out() {
    removed_during_the_delay_never_goes_out(
        json!({"type":"purge","room":"r","user":"troll","ref":"p"}),
    )
    .await;
}

#[actix_web::test]
async fn emote_only_takes_keycaps_and_pictographs_but_not_bare_digits_symbols_or_lone_flags() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"emote_only": true})).await;
    let cases = [
        ("#️⃣ ©️ ™", true),
        ("❤", true),
        ("🏳️‍🌈", true),
        ("1", false),
        ("#", false),
        ("🇫", false),
        ("🔥.", false),
    ];
    for (i, (text, ok)) in cases.iter().enumerate() {
        let mut c = app.connect(&format!("u{i}")).await;
        c.join("r").await;
        let reply = c.say("r", text, "m").await;
        if *ok {
            assert_eq!(reply["type"], "ack", "{text:?}: {reply}");
        } else {
            assert_eq!(reply["code"], "emote_only", "{text:?}: {reply}");
        }
    }
}

#[actix_web::test]
async fn followers_only_refuses_a_follower_token_without_follower_since_and_zero_admits_any_follower()
 {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"followers_only": 10})).await;
    let mut fay = app.connect("fay").await;
    joins(
        &mut fay,
        "r",
        Some(&app.room_token("fay", "r", &["follower"], None)),
    )
    .await;
    assert_eq!(
        fay.say("r", "hi", "1").await["code"],
        "followers_only",
        "a follow of unknown age is not 10 minutes old"
    );
    // A follow "since" the future is no follow yet.
    let mut fut = app.connect("fut").await;
    let token = app.room_token("fut", "r", &["follower"], Some(now_ms() + 3_600_000));
    joins(&mut fut, "r", Some(&token)).await;
    assert_eq!(fut.say("r", "hi", "1").await["code"], "followers_only");

    set_settings(&app, "r", json!({"followers_only": 0})).await;
    let mut new = app.connect("new").await;
    let token = app.room_token("new", "r", &["follower"], Some(now_ms() - 1_000));
    joins(&mut new, "r", Some(&token)).await;
    assert_eq!(new.say("r", "hi", "1").await["type"], "ack");
    let mut vic = app.connect("vic").await;
    vic.join("r").await;
    assert_eq!(
        vic.say("r", "hi", "1").await["code"],
        "followers_only",
        "0 minutes still means followers only"
    );
}

#[actix_web::test]
async fn pinning_an_unknown_or_deleted_message_is_refused_and_pins_nothing() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    let gone = ann.say("r", "soon gone", "a").await["id"].clone();
    mia.acked(json!({"type":"delete","room":"r","id":gone,"ref":"d"}))
        .await;
    let unknown = ulid::Ulid::generate().to_string();
    for (id, reference) in [(json!(unknown), "p1"), (gone.clone(), "p2")] {
        let reply = mia
            .act(json!({"type":"pin","room":"r","id":id,"seconds":60,"ref":reference}))
            .await;
        assert_eq!(reply["type"], "error", "pin {id}: {reply}");
        let (status, body) = app
            .api(
                Method::PUT,
                "/api/rooms/r/pin",
                Some(json!({"id":id,"seconds":60})),
            )
            .await;
        assert!(
            status == 400 || status == 404,
            "PUT pin {id}: {status} {body}"
        );
    }
    // A message of another room cannot be pinned here either.
    ann.join("r2").await;
    let other = ann.say("r2", "other room", "o").await["id"].clone();
    let reply = mia
        .act(json!({"type":"pin","room":"r","id":other,"seconds":60,"ref":"p3"}))
        .await;
    assert_eq!(reply["type"], "error", "{reply}");
    ann.assert_none_before_pong("no pin", |f| f["type"] == "pinned")
        .await;
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert!(joined.get("pinned").is_none(), "{joined}");
}

#[actix_web::test]
async fn every_kind_of_moderator_is_protected_from_every_other_and_the_broadcaster_outranks_them_all()
 {
    let app = spawn_app().await;
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 200);
    let mut claim = app.connect_mod("cid", &["r"]).await;
    claim.join("r").await;
    let mut stored = app.connect("sam").await;
    stored.join("r").await;
    let mut role = app.connect("rod").await;
    joins(
        &mut role,
        "r",
        Some(&app.room_token("rod", "r", &["mod"], None)),
    )
    .await;
    let mut bea = app.connect("bea").await;
    joins(
        &mut bea,
        "r",
        Some(&app.room_token("bea", "r", &["broadcaster"], None)),
    )
    .await;
    let mut mods = [("cid", claim), ("sam", stored), ("rod", role)];
    let names: Vec<&str> = mods.iter().map(|(n, _)| *n).collect();
    for (who, c) in mods.iter_mut() {
        let who = *who;
        for target in names.iter().chain(["bea"].iter()) {
            if *target == who {
                continue;
            }
            let reply = c
                .act(
                    json!({"type":"timeout","room":"r","user":target,"seconds":60,
                            "ref":format!("{who}-{target}")}),
                )
                .await;
            assert_eq!(
                reply["code"], "forbidden",
                "{who} timing out {target}: {reply}"
            );
        }
    }
    for target in names {
        let reply = bea
            .act(json!({"type":"warn","room":"r","user":target,"reason":"x","ref":target}))
            .await;
        assert_eq!(
            reply["type"], "ack",
            "the broadcaster warning {target}: {reply}"
        );
    }
    let log = app.moderation_log("r").await;
    let by_mods: Vec<_> = log
        .iter()
        .filter(|a| a["by"] != "bea" && a["by"] != "api")
        .collect();
    assert!(by_mods.is_empty(), "{by_mods:#?}");
}

#[actix_web::test]
async fn a_held_message_is_published_when_approved_after_its_sender_left() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut ann, &mut bob, &mut mia] {
        c.join("r").await;
    }
    let id = ann.act(msg("r", "spam later", "h")).await["id"].clone();
    ann.close().await;
    mia.acked(json!({"type":"approve","room":"r","id":id,"ref":"ok"}))
        .await;
    let f = bob
        .expect("the approved message", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    assert_eq!(f["user"], "ann");
    assert_eq!(f["text"], "spam later");
}

#[actix_web::test]
async fn a_held_message_cannot_be_decided_through_another_room() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["*"]).await;
    ann.join("r").await;
    mia.join("r").await;
    mia.join("r2").await;
    let id = ann.act(msg("r", "spam", "h")).await["id"].clone();
    for (decision, reference) in [("approve", "a"), ("deny", "d")] {
        mia.refused(
            json!({"type":decision,"room":"r2","id":id,"ref":reference}),
            "bad_request",
        )
        .await;
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/rooms/r2/held/{}/{decision}", id.as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(status, 404, "{body}");
    }
    // Still held in its own room.
    let (_, queue) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(queue["held"][0]["message"]["id"], id, "{queue}");
}

#[actix_web::test]
async fn a_message_deleted_over_rest_during_the_chat_delay_never_goes_out() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 800})).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    let gone = ann.say("r", "oops", "1").await["id"].clone();
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!("/api/rooms/r/messages/{}", gone.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(bob.expect_type("deleted").await["id"], gone);
    let next = ann.say("r", "fine", "2").await["id"].clone();
    bob.expect_without(
        "ann's next message",
        |f| f["type"] == "message" && f["id"] == next,
        |f| f["type"] == "message" && f["id"] == gone,
    )
    .await;
    let mut late = app.connect("late").await;
    assert_eq!(ids(&late.join("r").await["recent"]), [next]);
}

#[actix_web::test]
async fn a_shadow_banned_users_message_stays_hidden_under_a_chat_delay() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 500})).await;
    let (status, _) = app
        .api(
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"ann"})),
        )
        .await;
    assert_eq!(status, 201);
    let mut ann = app.connect("ann").await;
    let mut cat = app.connect("cat").await;
    let mut bob = app.connect("bob").await;
    for c in [&mut ann, &mut cat, &mut bob] {
        c.join("r").await;
    }
    let hidden = ann.say("r", "psst", "1").await["id"].clone();
    // Cat's message, sent after it and delayed as much, is the marker.
    let later = cat.say("r", "hello", "2").await["id"].clone();
    bob.expect_without(
        "cat's message",
        |f| f["type"] == "message" && f["id"] == later,
        |f| f["id"] == hidden,
    )
    .await;
    let mut late = app.connect("late").await;
    assert_eq!(ids(&late.join("r").await["recent"]), [later]);
}

#[actix_web::test]
async fn under_a_chat_delay_seq_still_grows_by_one_in_the_order_viewers_receive() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"chat_delay_ms": 600})).await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let mut bob = app.connect("bob").await;
    for c in [&mut ann, &mut mia, &mut bob] {
        c.join("r").await;
    }
    let delayed = ann.say("r", "slow", "1").await["id"].clone();
    let quick = mia.say("r", "fast", "2").await["id"].clone();
    let first = bob.expect_type("message").await;
    let second = bob.expect_type("message").await;
    assert_eq!(first["id"], quick, "the moderator's message is not delayed");
    assert_eq!(second["id"], delayed);
    let (a, b) = (
        first["seq"].as_u64().unwrap(),
        second["seq"].as_u64().unwrap(),
    );
    assert_eq!(b, a + 1, "{first} then {second}");
    // A resume from before both gets them in that order.
    let mut late = app.connect("late").await;
    let joined = late.join("r").await;
    assert_eq!(ids(&joined["recent"]), [quick, delayed]);
}

#[actix_web::test]
async fn held_message_term_is_the_pattern_as_configured() {
    let app = spawn_app_with(|s| {
        s.automod.terms = vec![TermSetting {
            pattern: "BuyNow*".into(),
            action: "hold".into(),
        }];
    })
    .await;
    put_terms(&app, "r", json!([{"pattern":"*SpAm","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    ann.join("r").await;
    mia.join("r").await;
    assert_eq!(
        ann.act(msg("r", "eggs and spam", "1")).await["type"],
        "held"
    );
    assert_eq!(mia.expect_type("held_message").await["term"], "*SpAm");
    assert_eq!(ann.act(msg("r", "buynowplease", "2")).await["type"], "held");
    assert_eq!(mia.expect_type("held_message").await["term"], "BuyNow*");
}

#[actix_web::test]
async fn a_moderators_jwt_for_another_room_is_forbidden_on_this_rooms_moderation_routes() {
    let app = spawn_app().await;
    let other = app.token("otto", &["elsewhere"]);
    let calls = [
        (
            Method::PATCH,
            "/api/rooms/r/settings",
            Some(json!({"emote_only":true})),
        ),
        (Method::GET, "/api/rooms/r/held", None),
        (Method::PUT, "/api/rooms/r/terms", Some(json!({"terms":[]}))),
        (Method::POST, "/api/rooms/r/clear", None),
        (
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"ann"})),
        ),
        (Method::GET, "/api/rooms/r/users/ann", None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app.request(method.clone(), path, Some(&other), body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
    }
    let mut late = app.connect("late").await;
    assert_eq!(late.join("r").await["settings"], default_settings());
}

#[actix_web::test]
async fn a_resume_gets_approved_messages_but_no_shadow_purged_or_deleted_ones() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    let mut troll = app.connect("troll").await;
    let mut shade = app.connect("shade").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    let mut bob = app.connect("bob").await;
    for c in [&mut ann, &mut troll, &mut shade, &mut mia, &mut bob] {
        c.join("r").await;
    }
    let first = ann.say("r", "first", "0").await["id"].clone();
    let seen = bob
        .expect("first", |f| f["type"] == "message" && f["id"] == first)
        .await;
    let seq = seen["seq"].as_u64().unwrap();
    let (_, info) = app.get("/api/rooms/r", Some(API_KEY)).await;
    let epoch = info["epoch"].clone();
    bob.send(json!({"type":"leave","room":"r"})).await;
    bob.expect_type("left").await;

    // Meanwhile: an approved held message, a shadow message, a purged one, a deleted one.
    let held = ann.act(msg("r", "spam ok", "1")).await["id"].clone();
    mia.acked(json!({"type":"approve","room":"r","id":held,"ref":"a"}))
        .await;
    mia.acked(json!({"type":"shadow_ban","room":"r","user":"shade","ref":"s"}))
        .await;
    let shadow = shade.say("r", "hidden", "2").await["id"].clone();
    let purged = troll.say("r", "troll", "3").await["id"].clone();
    mia.acked(json!({"type":"purge","room":"r","user":"troll","ref":"p"}))
        .await;
    let deleted = ann.say("r", "oops", "4").await["id"].clone();
    mia.acked(json!({"type":"delete","room":"r","id":deleted,"ref":"d"}))
        .await;
    let last = ann.say("r", "last", "5").await["id"].clone();

    bob.send(json!({"type":"join","room":"r","since":{"seq":seq,"epoch":epoch}}))
        .await;
    let resumed = bob.expect_type("joined").await;
    assert_eq!(resumed["recovered"], true, "{resumed}");
    assert_eq!(ids(&resumed["recent"]), [held, last], "{resumed}");
    for unwanted in [shadow, purged, deleted] {
        assert!(!ids(&resumed["recent"]).contains(&unwanted));
    }
}

#[actix_web::test]
async fn every_kind_of_moderator_carries_the_mod_badge_and_loses_it_with_the_role() {
    let app = spawn_app().await;
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 200);
    let mut sam = app.connect("sam").await;
    sam.join("r").await;
    let mut rod = app.connect("rod").await;
    joins(
        &mut rod,
        "r",
        Some(&app.room_token("rod", "r", &["mod"], None)),
    )
    .await;
    let mut bob = app.connect("bob").await;
    bob.join("r").await;
    for (who, c) in [("sam", &mut sam), ("rod", &mut rod)] {
        let id = c.say("r", "hello", who).await["id"].clone();
        let m = bob
            .expect("the message", |f| f["type"] == "message" && f["id"] == id)
            .await;
        assert!(
            m["badges"]
                .as_array()
                .is_some_and(|b| b.contains(&json!("mod"))),
            "{who} is a moderator: {m}"
        );
    }
    let (status, _) = app
        .api(Method::DELETE, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 204);
    let id = sam.say("r", "still me", "again").await["id"].clone();
    let m = bob
        .expect("the message", |f| f["type"] == "message" && f["id"] == id)
        .await;
    assert!(
        !m["badges"]
            .as_array()
            .is_some_and(|b| b.contains(&json!("mod"))),
        "no longer a moderator: {m}"
    );
}

#[actix_web::test]
async fn unique_chat_folds_case_the_unicode_way() {
    let app = spawn_app().await;
    set_settings(&app, "r", json!({"unique_chat": true})).await;
    let mut ann = app.connect("ann").await;
    let mut bob = app.connect("bob").await;
    ann.join("r").await;
    bob.join("r").await;
    assert_eq!(ann.say("r", "Grüße aus Köln", "1").await["type"], "ack");
    let reply = bob.say("r", "GRÜSSE AUS KÖLN", "2").await;
    assert_eq!(reply["code"], "duplicate", "ß case-folds to ss: {reply}");
    assert_eq!(ann.say("r", "ΣΟΦΟΣ", "3").await["type"], "ack");
    let reply = bob.say("r", "σοφος", "4").await;
    assert_eq!(reply["code"], "duplicate", "{reply}");
}

#[actix_web::test]
async fn moderators_of_every_kind_get_held_shadow_and_early_delayed_copies_and_viewers_do_not() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    set_settings(&app, "r", json!({"chat_delay_ms": 1000})).await;
    let (status, _) = app
        .api(Method::PUT, "/api/rooms/r/moderators/sam", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api(
            Method::POST,
            "/api/rooms/r/shadow_bans",
            Some(json!({"user":"shade"})),
        )
        .await;
    assert_eq!(status, 201);
    let mut cid = app.connect_mod("cid", &["r"]).await;
    cid.join("r").await;
    let mut sam = app.connect("sam").await;
    sam.join("r").await;
    let mut rod = app.connect("rod").await;
    joins(
        &mut rod,
        "r",
        Some(&app.room_token("rod", "r", &["mod"], None)),
    )
    .await;
    let mut bea = app.connect("bea").await;
    joins(
        &mut bea,
        "r",
        Some(&app.room_token("bea", "r", &["broadcaster"], None)),
    )
    .await;
    let mut val = app.connect("val").await;
    joins(
        &mut val,
        "r",
        Some(&app.room_token("val", "r", &["vip"], None)),
    )
    .await;
    // A moderator of every room who has not joined this one.
    let mut away = app.connect_mod("away", &["*"]).await;
    away.join("elsewhere").await;

    let mut ann = app.connect("ann").await;
    let mut shade = app.connect("shade").await;
    ann.join("r").await;
    shade.join("r").await;
    let held = ann.act(msg("r", "spam", "h")).await["id"].clone();
    let delayed = ann.say("r", "slow", "d").await["id"].clone();
    let hidden = shade.say("r", "psst", "s").await["id"].clone();
    for (who, m) in [
        ("claim", &mut cid),
        ("stored", &mut sam),
        ("room-token mod", &mut rod),
        ("broadcaster", &mut bea),
    ] {
        let mut got = (false, false, false);
        while got != (true, true, true) {
            let f = m.next().await;
            if f["type"] == "held_message" && f["message"]["id"] == held {
                got.0 = true;
            } else if f["type"] == "message" && f["id"] == delayed {
                assert_eq!(f["delayed"], true, "{who}: the early copy first: {f}");
                got.1 = true;
            } else if f["type"] == "message" && f["id"] == hidden {
                assert_eq!(f["shadow"], true, "{who}: {f}");
                got.2 = true;
            }
        }
    }
    // Neither the vip nor the moderator elsewhere got any of it.
    let marker = cid.say("r", "marker", "m").await["id"].clone();
    val.expect_without(
        "the marker",
        |f| f["type"] == "message" && f["id"] == marker,
        |f| f["type"] == "held_message" || f["id"] == hidden || f["id"] == delayed,
    )
    .await;
    away.assert_none_before_pong("nothing of room r", |f| f["room"] == "r")
        .await;
}

#[actix_web::test]
async fn a_warning_goes_only_to_the_users_connections_in_that_room() {
    let app = spawn_app().await;
    let mut mia = app.connect_mod("mia", &["*"]).await;
    let mut in_r = app.connect("ann").await;
    let mut in_r2 = app.connect("ann").await;
    mia.join("r").await;
    mia.join("r2").await;
    in_r.join("r").await;
    in_r2.join("r2").await;
    mia.acked(json!({"type":"warn","room":"r","user":"ann","reason":"x","ref":"w"}))
        .await;
    in_r.expect_type("warning").await;
    let marker = mia.say("r2", "marker", "m").await["id"].clone();
    in_r2
        .expect_without(
            "the marker in r2",
            |f| f["type"] == "message" && f["id"] == marker,
            |f| f["type"] == "warning",
        )
        .await;
    assert_eq!(in_r2.say("r2", "fine here", "1").await["type"], "ack");
}

#[actix_web::test]
async fn a_held_message_survives_a_restart_and_can_be_approved_after_it() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let id = ann.act(msg("r", "spam before the restart", "h")).await["id"].clone();
    assert!(id.is_string());
    ann.close().await;
    let app = app.restart().await;
    let (_, queue) = app.api(Method::GET, "/api/rooms/r/held", None).await;
    assert_eq!(queue["held"][0]["message"]["id"], id, "{queue}");
    let mut bob = app.connect("bob").await;
    bob.join("r").await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/rooms/r/held/{}/approve", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let f = bob
        .expect("the approved message", |f| {
            f["type"] == "message" && f["id"] == id
        })
        .await;
    assert_eq!(f["text"], "spam before the restart");
}

#[actix_web::test]
async fn v1s_slow_mode_route_shows_in_the_v2_settings() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let (status, body) = app
        .api(
            Method::PUT,
            "/api/rooms/r/slow_mode",
            Some(json!({"seconds":5})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ann.expect_type("slow_mode").await,
        json!({"type":"slow_mode","room":"r","seconds":5})
    );
    let mut late = app.connect("late").await;
    assert_eq!(
        late.join("r").await["settings"],
        settings_with(json!({"slow_mode":5}))
    );
}

#[actix_web::test]
async fn a_viewers_history_has_neither_shadow_nor_purged_messages() {
    let app = spawn_app().await;
    let mut ann = app.connect("ann").await;
    let mut shade = app.connect("shade").await;
    let mut troll = app.connect("troll").await;
    let mut mia = app.connect_mod("mia", &["r"]).await;
    for c in [&mut ann, &mut shade, &mut troll, &mut mia] {
        c.join("r").await;
    }
    let kept = ann.say("r", "visible", "1").await["id"].clone();
    mia.acked(json!({"type":"shadow_ban","room":"r","user":"shade","ref":"s"}))
        .await;
    let hidden = shade.say("r", "hidden", "2").await["id"].clone();
    let purged = troll.say("r", "purged", "3").await["id"].clone();
    mia.acked(json!({"type":"purge","room":"r","user":"troll","ref":"p"}))
        .await;
    // Stored (the API has the shadow one, marked).
    eventually(
        "the shadow message in the API",
        Duration::from_secs(1),
        || async {
            app.api_messages("r")
                .await
                .iter()
                .any(|m| m["id"] == hidden)
        },
    )
    .await;
    let mut vic = app.connect("vic").await;
    vic.join("r").await;
    vic.send(json!({"type":"history","room":"r","ref":"h"}))
        .await;
    let h = vic.expect_type("history").await;
    let got = ids(&h["messages"]);
    assert_eq!(got, [kept], "a viewer's history: {h}");
    assert!(!got.contains(&hidden) && !got.contains(&purged));
    assert!(!ids(&json!(app.api_messages("r").await)).contains(&purged));
}

#[actix_web::test]
async fn held_messages_are_decided_over_rest_by_a_moderators_token_but_not_a_viewers() {
    let app = spawn_app().await;
    put_terms(&app, "r", json!([{"pattern":"spam*","action":"hold"}])).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let one = ann.act(msg("r", "spam one", "1")).await["id"].clone();
    let two = ann.act(msg("r", "spam two", "2")).await["id"].clone();
    let viewer = app.token("vic", &[]);
    let path = |id: &Value, d: &str| format!("/api/rooms/r/held/{}/{d}", id.as_str().unwrap());
    let (status, body) = app
        .request(Method::POST, &path(&one, "approve"), Some(&viewer), None)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = app
        .request(Method::GET, "/api/rooms/r/held", Some(&viewer), None)
        .await;
    assert_eq!(status, 403);
    // A moderator by JWT claim, and one by room-token role.
    let claim = app.token("mia", &["r"]);
    let (status, body) = app
        .request(Method::POST, &path(&one, "approve"), Some(&claim), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let role = app.room_token("rod", "r", &["mod"], None);
    let (status, body) = app
        .request(Method::POST, &path(&two, "deny"), Some(&role), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ann.expect_type("denied").await["id"], two);
    let log = log_with(&app, "r", "deny", |a| a["action"] == "deny").await;
    assert_eq!(entries(&log, "approve")[0]["by"], "mia", "{log:#?}");
    assert_eq!(entries(&log, "deny")[0]["by"], "rod", "{log:#?}");
    // A room-token moderator is no broadcaster: the moderator list is not theirs.
    let (status, body) = app
        .request(Method::PUT, "/api/rooms/r/moderators/x", Some(&role), None)
        .await;
    assert_eq!(status, 403, "{body}");
}
