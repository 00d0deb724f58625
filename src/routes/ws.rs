//! `GET /ws`: the WebSocket upgrade. actix-http hands every request that asks
//! for an upgrade to [`upgrade`] together with its socket, before anything is
//! written, so an accepted connection leaves the HTTP dispatcher and its
//! buffers: the socket becomes a hub link driven by a new session.
//!
//! Refusals happen here, before the upgrade, with the contract's JSON error
//! body: 401 for a bad token, 429 over a connection cap (§6), 503 while
//! starting or draining, 400 for a request that is not a valid WebSocket
//! handshake, 404 for an upgrade of another path.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use actix_http::{HttpMessage as _, Request, h1};
use actix_web::{HttpResponse, web};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::client_ip::client_ip;
use super::extract::bearer_in;
use super::{ApiError, AppState};
use crate::auth::Identity;
use crate::hub::wire;
use crate::session::{self, caps::CapGuard};

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
    /// A previous anonymous id to keep (contract §6).
    anon: Option<String>,
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
        Ok((user, key, cap)) => {
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                wire::accept_key(key.as_bytes())
            );
            if write(&mut io, answer.as_bytes()).await {
                let shared = state.sessions.clone();
                let (link, shard) = shared.hub.attach(io, shared.link_limits());
                session::start(link, shard, parts.read_buf.to_vec(), user, cap, shared);
            }
        }
        Err((refused, reason)) => {
            crate::metrics::connection_refused(reason);
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

/// Check the handshake, the node's state, the token and the caps: who
/// connects, the client's `Sec-WebSocket-Key`, and the connection's place
/// under the caps; or the refusal and its reason (for the metric).
fn accept(
    state: &AppState,
    req: &Request,
) -> Result<(Identity, String, CapGuard), (ApiError, &'static str)> {
    if req.path() != "/ws" {
        return Err((
            ApiError::NotFound("no such route".to_owned()),
            "bad_handshake",
        ));
    }
    let upgrade_ok = header(req, "upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let bad = |why: &str| Err((ApiError::BadRequest(why.to_owned()), "bad_handshake"));
    if req.method() != actix_http::Method::GET || !upgrade_ok {
        return bad("expected a WebSocket upgrade (GET, Upgrade: websocket)");
    }
    if header(req, "sec-websocket-version") != Some("13") {
        return bad("unsupported WebSocket version (Sec-WebSocket-Version: 13)");
    }
    let Some(key) = header(req, "sec-websocket-key").filter(|k| !k.is_empty()) else {
        return bad("missing Sec-WebSocket-Key");
    };
    if state.draining.load(Ordering::Acquire) {
        let e = ApiError::Unavailable("this node is shutting down; connect to another".to_owned());
        return Err((e, "draining"));
    }
    if !state.store_status.ready.load(Ordering::Acquire) {
        let e = ApiError::Unavailable("the server is starting; try again shortly".to_owned());
        return Err((e, "starting"));
    }
    let query = match web::Query::<WsQuery>::from_query(req.uri().query().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return bad(&format!("invalid query: {e}")),
    };
    let token = query
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .or_else(|| bearer_in(req.headers()));
    let user = match token {
        None => state.auth.anonymous(query.anon.as_deref()),
        Some(token) => state
            .auth
            .verify(token)
            .map_err(|e| (ApiError::Unauthorized(e.to_string()), "unauthorized"))?,
    };
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let ip = client_ip(peer, header(req, "x-forwarded-for"), &state.trusted_proxies);
    let user_key = (!user.anonymous).then_some(user.id.as_str());
    let cap = state.caps.admit(ip, user_key).map_err(|refused| {
        let e = ApiError::TooManyConnections(refused.to_string());
        (e, "too_many_connections")
    })?;
    Ok((user, key.to_owned(), cap))
}
