//! One WebSocket connection as the scenarios use it: the handshake and the
//! `welcome` frame, `join`, sending text frames, receiving the next text frame
//! while keeping the connection alive (a `{"type":"ping"}` every `heartbeat_ms`,
//! and answers to the server's WebSocket pings), and closing.
//!
//! It also owns the names of failure causes (`refused`, `timeout`, `fd_cap`, …)
//! so that every scenario reports them alike. It knows nothing of scenarios.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use crate::target::Router;

/// The failure cause of a connect that hit this process's open-file limit.
pub const FD_CAP: &str = "fd_cap";
/// Used when `welcome` carries no (or a silly) `heartbeat_ms`.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
const PING: &str = r#"{"type":"ping"}"#;

/// Name the cause of an I/O error for the failure tally.
pub fn io_cause(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => FD_CAP.to_owned(),
        Some(libc::ECONNREFUSED) => "refused".to_owned(),
        Some(libc::ECONNRESET | libc::EPIPE) => "reset".to_owned(),
        Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE) => "addr_unavailable".to_owned(),
        Some(libc::ETIMEDOUT) => "timeout".to_owned(),
        _ => match err.kind() {
            io::ErrorKind::UnexpectedEof => "eof".to_owned(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => "reset".to_owned(),
            kind => format!("io_{kind:?}").to_lowercase(),
        },
    }
}

/// Name the cause of a WebSocket error for the failure tally.
pub fn ws_cause(err: &tungstenite::Error) -> String {
    use tungstenite::Error;
    match err {
        Error::Io(e) => io_cause(e),
        Error::Http(resp) => format!("http_{}", resp.status().as_u16()),
        Error::ConnectionClosed | Error::AlreadyClosed => "closed".to_owned(),
        Error::Protocol(_) => "protocol".to_owned(),
        Error::Capacity(_) => "capacity".to_owned(),
        _ => "ws_error".to_owned(),
    }
}

/// The fields of server frames the scenarios look at; everything else (a
/// `joined`'s `recent`, a message's `badges`, …) is skipped unparsed.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub room: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(rename = "ref", default, borrow)]
    pub reference: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub viewers: Option<u64>,
    #[serde(default)]
    pub heartbeat_ms: Option<u64>,
    #[serde(default)]
    pub counts: Option<HashMap<String, u64>>,
}

impl<'a> Incoming<'a> {
    pub fn parse(text: &'a str) -> Option<Incoming<'a>> {
        serde_json::from_str(text).ok()
    }
}

/// What [`Client::recv`] returns.
pub enum Event {
    /// A text frame.
    Text(Utf8Bytes),
    /// The connection ended; the cause (`close_1008`, `eof`, `reset`, …).
    Closed(String),
}

/// Timings of a successful [`dial`].
#[derive(Debug, Clone, Copy)]
pub struct Dialed {
    /// TCP connect through the WebSocket upgrade.
    pub connect: Duration,
}

/// An open WebSocket connection that has received its `welcome`.
pub struct Client {
    ws: WebSocketStream<TcpStream>,
    heartbeat: Interval,
    /// The viewer count of the last `joined` frame.
    pub joined_viewers: u64,
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: tens of thousands of connections live in one process.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Connect connection number `global` (server and source address chosen by
/// `router`), upgrade with `token` if any, and wait for `welcome`. The error is
/// a failure cause.
pub async fn dial(
    router: &Router,
    global: usize,
    token: Option<&str>,
) -> Result<(Client, Dialed), String> {
    let started = Instant::now();
    let stream = router.connect(global).await?;
    let base = &router.target(global).url;
    let url = match token {
        Some(t) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}token={t}")
        }
        None => base.clone(),
    };
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config()))
            .await
            .map_err(|e| ws_cause(&e))?;
    let connect = started.elapsed();
    let mut client = Client {
        ws,
        // Replaced once `welcome` says how often to ping.
        heartbeat: heartbeat_interval(DEFAULT_HEARTBEAT),
        joined_viewers: 0,
    };
    loop {
        match client.recv().await {
            Event::Text(text) => {
                let Some(frame) = Incoming::parse(text.as_str()) else {
                    continue;
                };
                if frame.kind == "welcome" {
                    let every = frame
                        .heartbeat_ms
                        .map(Duration::from_millis)
                        .filter(|d| *d >= Duration::from_secs(1))
                        .unwrap_or(DEFAULT_HEARTBEAT);
                    client.heartbeat = heartbeat_interval(every);
                    return Ok((client, Dialed { connect }));
                }
            }
            Event::Closed(cause) => return Err(format!("before_welcome_{cause}")),
        }
    }
}

fn heartbeat_interval(every: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

impl Client {
    /// The next text frame. Pings the server every `heartbeat_ms` meanwhile;
    /// WebSocket pings are answered by tungstenite while we read. Cancel-safe:
    /// a frame half-sent when the future is dropped stays queued and goes out
    /// with the next read or write.
    pub async fn recv(&mut self) -> Event {
        loop {
            tokio::select! {
                msg = self.ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => return Event::Text(text),
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                        return Event::Closed(format!("close_{code}"));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Event::Closed(ws_cause(&e)),
                    None => return Event::Closed("eof".to_owned()),
                },
                _ = self.heartbeat.tick() => {
                    if let Err(e) = self.ws.send(Message::text(PING)).await {
                        return Event::Closed(ws_cause(&e));
                    }
                }
            }
        }
    }

    /// Send one text frame. The error is a failure cause.
    pub async fn send(&mut self, text: String) -> Result<(), String> {
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| ws_cause(&e))
    }

    /// Join `room` and wait for `joined` (frames of other kinds are skipped).
    /// Returns the viewer count of the `joined` frame; the error is a failure cause.
    pub async fn join(&mut self, room: &str) -> Result<u64, String> {
        self.send(join_frame(room)).await?;
        loop {
            match self.recv().await {
                Event::Text(text) => {
                    let Some(frame) = Incoming::parse(text.as_str()) else {
                        continue;
                    };
                    match frame.kind.as_ref() {
                        "joined" if frame.room.as_deref() == Some(room) => {
                            self.joined_viewers = frame.viewers.unwrap_or(0);
                            return Ok(self.joined_viewers);
                        }
                        "error" => {
                            return Err(format!(
                                "join_{}",
                                frame.code.as_deref().unwrap_or("error")
                            ));
                        }
                        _ => {}
                    }
                }
                Event::Closed(cause) => return Err(format!("before_joined_{cause}")),
            }
        }
    }

    /// Close politely (close frame, then wait for the server's) within `wait`.
    pub async fn close(mut self, wait: Duration) {
        let _ = tokio::time::timeout(wait, async move {
            if self.ws.close(None).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// `{"type":"join","room":…}`
pub fn join_frame(room: &str) -> String {
    format!(r#"{{"type":"join","room":"{room}"}}"#)
}

/// `{"type":"leave","room":…}`
pub fn leave_frame(room: &str) -> String {
    format!(r#"{{"type":"leave","room":"{room}"}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_without_their_bulky_parts() {
        let joined = r#"{"type":"joined","room":"r1","viewers":3,"slow_mode":0,"recent":[{"type":"message","room":"r1","id":"x","user":"u","name":"U","text":"old","ts":1,"badges":[]}]}"#;
        let f = Incoming::parse(joined).expect("joined");
        assert_eq!(f.kind, "joined");
        assert_eq!(f.viewers, Some(3));
        assert!(f.text.is_none());
        let welcome = r#"{"type":"welcome","user":{"id":"anon-1","name":"anon-1","anonymous":true,"mod":[]},"node":"n","heartbeat_ms":30000}"#;
        assert_eq!(
            Incoming::parse(welcome).expect("welcome").heartbeat_ms,
            Some(30000)
        );
        let reactions = r#"{"type":"reactions","room":"r","counts":{"heart":2,"fire":1}}"#;
        let f = Incoming::parse(reactions).expect("reactions");
        assert_eq!(f.counts.expect("counts")["heart"], 2);
        let error = r#"{"type":"error","ref":"m3","room":"r","code":"rate_limited","message":"slow \"down\"","retry_after_ms":800}"#;
        let f = Incoming::parse(error).expect("error");
        assert_eq!(f.reference.as_deref(), Some("m3"));
        assert_eq!(f.code.as_deref(), Some("rate_limited"));
    }

    #[test]
    fn fd_exhaustion_has_its_own_cause() {
        assert_eq!(
            io_cause(&io::Error::from_raw_os_error(libc::EMFILE)),
            FD_CAP
        );
        assert_eq!(
            io_cause(&io::Error::from_raw_os_error(libc::ENFILE)),
            FD_CAP
        );
        assert_eq!(
            io_cause(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "refused"
        );
    }
}
