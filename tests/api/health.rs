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
