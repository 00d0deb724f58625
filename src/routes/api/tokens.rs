//! `POST /api/tokens` (contract §9, platform only): a token signed with this
//! cluster's secret, for platforms without a JWT library and for the console
//! (which mints itself a short-lived `mod: ["*"]` token after an API-key sign-in).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::{Claims, identity_from_claims, now_s};
use crate::routes::extract::Platform;
use crate::routes::{ApiError, AppState};

/// Longest lifetime a minted token may have: a day.
pub const MAX_TTL_S: u64 = 86_400;

#[derive(Deserialize)]
pub struct TokenBody {
    sub: String,
    name: Option<String>,
    #[serde(rename = "mod", default)]
    moderates: Vec<String>,
    #[serde(default)]
    badges: Vec<String>,
    ttl_s: Option<u64>,
}

/// 200 `{"token","expires_at"}` (`expires_at` in epoch ms).
pub async fn mint(
    _: Platform,
    state: web::Data<AppState>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let TokenBody {
        sub,
        name,
        moderates,
        badges,
        ttl_s,
    } = body.into_inner();
    let ttl = ttl_s.unwrap_or(3600);
    if !(1..=MAX_TTL_S).contains(&ttl) {
        return Err(ApiError::BadRequest(format!("ttl_s must be 1-{MAX_TTL_S}")));
    }
    let claims = Claims {
        sub,
        exp: now_s() + ttl,
        nbf: None,
        name,
        moderates,
        badges,
    };
    identity_from_claims(claims.clone()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let token = state.auth.mint(&claims)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "token": token,
        "expires_at": claims.exp * 1000,
    })))
}
