//! Contract §9: tokens minted through the API, and the console served with a
//! strict Content-Security-Policy from the node itself.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn the_platform_mints_tokens_that_the_server_accepts() {
    let app = spawn_app().await;
    let body = json!({"sub":"mia","name":"Mia","mod":["r1"],"badges":["vip"],"ttl_s":600});
    let (status, minted) = app
        .request(
            awc::http::Method::POST,
            "/api/tokens",
            Some(API_KEY),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{minted}");
    let exp = minted["expires_at"].as_u64().unwrap();
    let now = roomcast::protocol::now_ms() as u64;
    assert!(
        (now + 590_000..=now + 601_000).contains(&exp),
        "{exp} vs {now}"
    );
    let token = minted["token"].as_str().unwrap();
    let mia = Client::connect(&format!("{}?token={token}", app.ws_url())).await;
    assert_eq!(mia.welcome["user"]["id"], "mia");
    assert_eq!(mia.welcome["user"]["mod"], json!(["r1"]));
}

#[actix_web::test]
async fn only_the_platform_mints_tokens_and_only_short_lived_ones() {
    let app = spawn_app().await;
    let body = json!({"sub":"x","mod":["*"]});
    let moderator = app.token("m", &["*"]);
    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/tokens",
            Some(&moderator),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 401, "a moderator's JWT is not the API key");
    let (status, _) = app
        .request(awc::http::Method::POST, "/api/tokens", None, Some(body))
        .await;
    assert_eq!(status, 401);
    let long = json!({"sub":"x","ttl_s":86_401});
    let (status, err) = app
        .request(
            awc::http::Method::POST,
            "/api/tokens",
            Some(API_KEY),
            Some(long),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let anon = json!({"sub":"anon-x"});
    let (status, _) = app
        .request(
            awc::http::Method::POST,
            "/api/tokens",
            Some(API_KEY),
            Some(anon),
        )
        .await;
    assert_eq!(status, 400, "the anon- prefix is the server's own");
}

#[actix_web::test]
async fn the_console_and_the_js_client_are_served_with_a_strict_csp() {
    let app = spawn_app().await;
    let client = awc::Client::default();
    for path in ["/dashboard", "/dashboard/client/index.js"] {
        let resp = client.get(app.http(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    let resp = client
        .get(app.http("/dashboard/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
