//! The server API of this issue: room info and messages, behind the API key.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn the_server_api_needs_the_api_key() {
    let app = spawn_app().await;
    for (bearer, what) in [(None, "missing"), (Some("wrong"), "invalid")] {
        for path in ["/api/rooms/r", "/api/rooms/r/messages"] {
            let (status, body) = app.get(path, bearer).await;
            assert_eq!(status, 401, "{path} {what}");
            assert_eq!(body["error"]["code"], "unauthorized");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(what),
                "{body}"
            );
        }
    }
    // A user's JWT is not an API key.
    let (status, _) = app.get("/api/rooms/r", Some(&app.token("ann", &[]))).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn without_a_configured_key_every_call_is_refused() {
    let app = spawn_app_with(|s| s.api.key = None).await;
    let (status, body) = app.get("/api/rooms/r", Some(API_KEY)).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api.key")
    );
}

#[actix_web::test]
async fn room_info_reports_viewers_peak_and_slow_mode() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/rooms/quiet", Some(API_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"room":"quiet","viewers":0,"peak":0,"slow_mode":0})
    );
    let mut a = app.connect_anon().await;
    let mut b = app.connect_anon().await;
    a.join("busy").await;
    b.join("busy").await;
    let (_, body) = app.get("/api/rooms/busy", Some(API_KEY)).await;
    assert_eq!(
        body,
        json!({"room":"busy","viewers":2,"peak":2,"slow_mode":0})
    );
    let (status, body) = app.get("/api/rooms/bad%20room", Some(API_KEY)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
}

#[actix_web::test]
async fn messages_are_listed_oldest_first_with_before_and_limit() {
    let app = spawn_app_with(|s| s.limits.messages_per_window = 100).await;
    let mut ann = app.connect("ann").await;
    ann.join("r").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(ann.say("r", &format!("m{i}"), &format!("{i}")).await["id"].clone());
    }
    let (status, body) = app
        .get("/api/rooms/r/messages?limit=3", Some(API_KEY))
        .await;
    assert_eq!(status, 200);
    let got: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(got, ids[3..]);
    let path = format!(
        "/api/rooms/r/messages?before={}&limit=2",
        ids[3].as_str().unwrap()
    );
    let (_, body) = app.get(&path, Some(API_KEY)).await;
    let texts: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["m1", "m2"]);
    for bad in ["?limit=0", "?limit=101", "?before=xyz", "?limit=abc"] {
        let (status, body) = app
            .get(&format!("/api/rooms/r/messages{bad}"), Some(API_KEY))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
}
