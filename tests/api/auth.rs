//! Tokens: accepted in the query or a header, refused with 401 before the upgrade.

use roomcast::auth::{Authenticator, Claims, now_s};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

fn claims(sub: &str, exp: u64) -> Claims {
    Claims {
        sub: sub.into(),
        exp,
        nbf: None,
        name: None,
        moderates: vec![],
        badges: vec![],
    }
}

#[actix_web::test]
async fn bad_expired_and_wrongly_signed_tokens_get_401_before_the_upgrade() {
    let app = spawn_app().await;
    let expired = app.token_with(claims("ann", now_s() - 10));
    let wrong = Authenticator::new(b"some other secret", 0)
        .mint(&claims("ann", now_s() + 60))
        .unwrap();
    for (token, why) in [
        ("not-a-jwt", "malformed"),
        (expired.as_str(), "expired"),
        (wrong.as_str(), "signature"),
    ] {
        let req = format!("{}?token={token}", app.ws_url())
            .into_client_request()
            .unwrap();
        let (status, body) = refused_upgrade(req).await;
        assert_eq!(status, 401, "{why}");
        assert_eq!(body["error"]["code"], "unauthorized", "{why}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }
    // The same through the Authorization header.
    let mut req = app.ws_url().into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {expired}").parse().unwrap(),
    );
    let (status, body) = refused_upgrade(req).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[actix_web::test]
async fn a_token_in_the_authorization_header_identifies_the_user() {
    let app = spawn_app().await;
    let mut req = app.ws_url().into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", app.token("bob", &["*"]))
            .parse()
            .unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let mut bob = Client::from_stream(ws);
    let welcome = bob.next().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(
        welcome["user"],
        json!({"id":"bob","name":"bob","anonymous":false,"mod":["*"]})
    );
    assert_eq!(welcome["heartbeat_ms"], 30000);
}

#[actix_web::test]
async fn claims_outside_the_contract_are_refused() {
    let app = spawn_app().await;
    let mut c = claims("ann", now_s() + 60);
    c.name = Some("n".repeat(33));
    let req = format!("{}?token={}", app.ws_url(), app.token_with(c))
        .into_client_request()
        .unwrap();
    let (status, body) = refused_upgrade(req).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("name"),
        "{body}"
    );
}
