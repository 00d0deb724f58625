//! `GET /ws`: the WebSocket upgrade. actix-http hands every request that asks
//! for an upgrade to [`upgrade`] together with its socket, before anything is
//! written, so an accepted connection leaves the HTTP dispatcher and its
//! buffers: the socket becomes a hub link driven by a new session.
//!
//! Refusals happen here, before the upgrade, with the contract's JSON error
//! body: 401 for a bad token, 503 while starting or draining, 400 for a request
//! that is not a valid WebSocket handshake, 404 for an upgrade of another path.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use actix_http::{HttpMessage as _, Request, h1};
use actix_web::{HttpResponse, web};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::extract::bearer_in;
use super::{ApiError, AppState};
use crate::auth::Identity;
use crate::hub::wire;
use crate::session;

/// How long writing the handshake answer may take.
const HANDSHAKE_WRITE: Duration = Duration::from_secs(5);

/// A plain `GET /ws` (no upgrade headers) is a client error.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/ws",
        web::get().to(|| async {
            Err::<HttpResponse, _>(ApiError::BadRequest(
                "expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)".to_owned(),
            ))
        }),
    );
}

#[derive(serde::Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// Serve one upgrade request (the HTTP service's upgrade hook).
pub async fn upgrade(
    state: web::Data<AppState>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), Infallible> {
    let started = Instant::now();
    let parts = framed.into_parts();
    let mut io = parts.io;
    match accept(&state, &req) {
        Ok((user, key)) => {
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                wire::accept_key(key.as_bytes())
            );
            if write(&mut io, answer.as_bytes()).await {
                let shared = state.sessions.clone();
                let (link, shard) = shared.hub.attach(io, shared.link_limits());
                session::start(link, shard, parts.read_buf.to_vec(), user, shared);
            }
        }
        Err(refused) => {
            let (status, body) = refused.status_and_body();
            let answer = format!(
                "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                body.len()
            );
            write(&mut io, answer.as_bytes()).await;
            let _ = io.shutdown().await;
        }
    }
    crate::metrics::observe_http(started.elapsed());
    Ok(())
}

/// Write the whole answer, bounded in time; false if the client is gone.
async fn write(io: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(HANDSHAKE_WRITE, io.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Check the handshake, the node's state and the token: who connects, and
/// the client's `Sec-WebSocket-Key`.
fn accept(state: &AppState, req: &Request) -> Result<(Identity, String), ApiError> {
    if req.path() != "/ws" {
        return Err(ApiError::NotFound("no such route".to_owned()));
    }
    let upgrade_ok = header(req, "upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if req.method() != actix_http::Method::GET || !upgrade_ok {
        return Err(ApiError::BadRequest(
            "expected a WebSocket upgrade (GET, Upgrade: websocket)".to_owned(),
        ));
    }
    if header(req, "sec-websocket-version") != Some("13") {
        return Err(ApiError::BadRequest(
            "unsupported WebSocket version (Sec-WebSocket-Version: 13)".to_owned(),
        ));
    }
    let Some(key) = header(req, "sec-websocket-key").filter(|k| !k.is_empty()) else {
        return Err(ApiError::BadRequest("missing Sec-WebSocket-Key".to_owned()));
    };
    if state.draining.load(Ordering::Acquire) {
        return Err(ApiError::Unavailable(
            "this node is shutting down; connect to another".to_owned(),
        ));
    }
    if !state.store_status.ready.load(Ordering::Acquire) {
        return Err(ApiError::Unavailable(
            "the server is starting; try again shortly".to_owned(),
        ));
    }
    let query = web::Query::<WsQuery>::from_query(req.uri().query().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let token = query
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .or_else(|| bearer_in(req.headers()));
    let user = match token {
        None => Identity::anonymous(),
        Some(token) => state
            .auth
            .verify(token)
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?,
    };
    Ok((user, key.to_owned()))
}
