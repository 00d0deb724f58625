//! `GET /ws`: authenticate (token in `?token=` or `Authorization: Bearer`),
//! refuse with 401 before the upgrade, then hand the socket to a new session.

use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse, web};

use super::extract::bearer;
use super::{ApiError, AppState};
use crate::auth::Identity;
use crate::session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(upgrade));
}

#[derive(serde::Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    if state.draining.load(Ordering::Acquire) {
        return Err(ApiError::Unavailable(
            "this node is shutting down; connect to another".to_owned(),
        )
        .into());
    }
    if !state.store_status.ready.load(Ordering::Acquire) {
        return Err(
            ApiError::Unavailable("the server is starting; try again shortly".to_owned()).into(),
        );
    }
    let query = web::Query::<WsQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let token = query
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .or_else(|| bearer(&req));
    let user = match token {
        None => Identity::anonymous(),
        Some(token) => state
            .auth
            .verify(token)
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?,
    };
    session::start(&req, body, user, state.sessions.clone())
}
