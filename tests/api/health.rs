//! `/healthz` and `/readyz`.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

#[actix_web::test]
async fn healthz_and_readyz_answer_when_the_database_is_ready() {
    let app = spawn_app().await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["database"], "ok");
    // The SQLite file was created where the URL says.
    if BACKEND == Backend::Sqlite {
        assert!(app.dir.join("roomcast.db").exists());
    }
}

#[actix_web::test]
async fn readyz_is_503_and_ws_refused_until_the_database_is_reachable() {
    let dir = temp_dir();
    let mut settings = test_settings(&dir);
    // Nothing listens on port 1: the store keeps retrying.
    settings.database.url =
        roomcast::settings::Secret::new("postgres://postgres@127.0.0.1:1/roomcast");
    let app = start(settings, dir, false).await;
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200, "alive even when not ready");
    let (status, body) = refused_upgrade(app.ws_url().into_client_request().unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "unavailable");
}

#[actix_web::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app().await;
    let (status, body) = app.get("/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[actix_web::test]
async fn metrics_are_served_in_the_prometheus_format_and_count() {
    let app = spawn_app().await;
    let value = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let scrape = || async {
        let mut resp = awc::Client::default()
            .get(app.http("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let ctype = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ctype.starts_with("text/plain"), "{ctype}");
        String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap()
    };
    let before = scrape().await;
    let mut ann = app.connect("ann").await;
    ann.join("m").await;
    ann.say("m", "counted", "1").await;
    let after = scrape().await;
    // Counters are process-wide and tests run in parallel: they only grow.
    for name in [
        "roomcast_joins_total",
        "roomcast_messages_in_total",
        "roomcast_connections_total",
        "roomcast_deliveries_total",
    ] {
        assert!(
            value(&after, name) > value(&before, name),
            "{name} did not grow"
        );
    }
    assert_eq!(value(&after, "roomcast_ready"), 1.0);
    assert!(value(&after, "roomcast_connections") >= 1.0);
    assert!(after.contains("# TYPE roomcast_http_request_duration_seconds histogram"));
    assert!(after.contains("roomcast_refusals_total{kind=\"rate_limited\"}"));
}
