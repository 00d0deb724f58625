//! WebSocket clients for tests: [`Client`] waits for the frames it expects
//! (with timeouts), [`RawClient`] misbehaves on purpose (never reads, never
//! answers pings, writes raw bytes).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{TestApp, WAIT};

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Value,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("WebSocket connects");
        let mut c = Client {
            ws,
            welcome: Value::Null,
        };
        let welcome = c.next().await;
        assert_eq!(
            welcome["type"], "welcome",
            "first frame is welcome: {welcome}"
        );
        c.welcome = welcome;
        c
    }

    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            welcome: Value::Null,
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send frame");
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("send frame");
    }

    /// The next text frame as JSON; fails the test after [`WAIT`].
    /// Skip frames until one matches, for up to `within` (longer waits than [`WAIT`]).
    pub async fn expect_within(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("connection ended")
                .expect("WebSocket error");
            if let Message::Text(t) = msg {
                let frame: Value = serde_json::from_str(&t).expect("server frames are JSON");
                if pred(&frame) {
                    return frame;
                }
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended")
                .expect("WebSocket error");
            match msg {
                Message::Text(t) => {
                    return serde_json::from_str(&t).expect("server frames are JSON");
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next text frame as JSON, or None when the connection closed (no panic).
    pub async fn next_or_close(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => return serde_json::from_str(&t).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Skip frames until one matches; fails after [`WAIT`].
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = tokio::time::timeout(left, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            if pred(&frame) {
                return frame;
            }
        }
    }

    pub async fn expect_type(&mut self, ty: &str) -> Value {
        self.expect(ty, |f| f["type"] == ty).await
    }

    /// The next `error` frame (skipping others), checked for its code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let f = self.expect_type("error").await;
        assert_eq!(f["code"], code, "error frame: {f}");
        f
    }

    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type":"join","room":room})).await;
        self.expect(&format!("joined {room}"), |f| {
            f["type"] == "joined" && f["room"] == room
        })
        .await
    }

    /// Leave `room` and wait for `left`.
    pub async fn leave(&mut self, room: &str) -> Value {
        self.send(json!({"type":"leave","room":room})).await;
        self.expect(&format!("left {room}"), |f| {
            f["type"] == "left" && f["room"] == room
        })
        .await
    }

    /// Send a message and return its ack.
    pub async fn say(&mut self, room: &str, text: &str, reference: &str) -> Value {
        self.send(json!({"type":"message","room":room,"text":text,"ref":reference}))
            .await;
        self.expect(&format!("ack {reference}"), |f| {
            (f["type"] == "ack" || f["type"] == "error") && f["ref"] == reference
        })
        .await
    }

    /// Read until the server closes; return the close frame (skipping data frames).
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.ws.next())
                .await
                .expect("timed out waiting for close")
            {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(tungstenite::Error::ConnectionClosed)) | None => return None,
                Some(Err(e)) => panic!("WebSocket error while waiting for close: {e}"),
            }
        }
    }

    /// Close from our side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Connect expecting an HTTP refusal before the upgrade: status and JSON body.
pub async fn refused_upgrade(request: tungstenite::handshake::client::Request) -> (u16, Value) {
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (status, body)
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// A WebSocket client that never answers pings and never reads unless asked:
/// the handshake by hand over a plain TCP socket, then raw bytes.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    /// Connect with a small receive buffer (so a client that stops reading backs up fast).
    pub async fn connect(
        app: &TestApp,
        token: Option<&str>,
        recv_buffer: Option<u32>,
    ) -> RawClient {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket
            .connect(([127, 0, 0, 1], app.port).into())
            .await
            .expect("tcp connect");
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        let req = format!(
            "GET /ws{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        // Read the response head byte by byte so no frame bytes are consumed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            tokio::time::timeout(WAIT, stream.read_exact(&mut b))
                .await
                .expect("handshake timed out")
                .unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Send one masked text frame.
    pub async fn send_text(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [1u8, 2, 3, 4];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next frame from the server: opcode and payload (None at end of stream).
    pub async fn next_frame(&mut self, within: Duration) -> Option<(u8, Vec<u8>)> {
        self.frame_within(within)
            .await
            .expect("timed out waiting for a frame from the server")
    }

    /// The next frame if one comes within `within` (`Ok(None)`: the server
    /// closed the TCP connection; `Err`: nothing came in time).
    pub async fn frame_within(
        &mut self,
        within: Duration,
    ) -> Result<Option<(u8, Vec<u8>)>, tokio::time::error::Elapsed> {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Server frames are unmasked: opcode, length, payload.
            let buf = &self.buf;
            if buf.len() >= 2 {
                let opcode = buf[0] & 0x0F;
                let header = match buf[1] & 0x7F {
                    126 if buf.len() >= 4 => {
                        Some((u16::from_be_bytes([buf[2], buf[3]]) as usize, 4))
                    }
                    127 if buf.len() >= 10 => Some((
                        u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                        10,
                    )),
                    126 | 127 => None,
                    n => Some((n as usize, 2)),
                };
                if let Some((len, start)) = header
                    && buf.len() >= start + len
                {
                    let payload = buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return Ok(Some((opcode, payload)));
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let n = tokio::time::timeout(left, self.stream.read(&mut chunk))
                .await?
                .unwrap_or(0);
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next text frame as JSON (skipping control frames).
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next_frame(WAIT).await {
                Some((0x1, payload)) => {
                    return serde_json::from_slice(&payload).expect("JSON frame");
                }
                Some((0x9 | 0xA, _)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Read frames until the server's close frame; return its code and the text frames before it.
    pub async fn read_until_close(&mut self, within: Duration) -> (Option<u16>, Vec<String>) {
        let deadline = tokio::time::Instant::now() + within;
        let mut texts = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Some((0x1, payload)) => texts.push(String::from_utf8(payload).unwrap()),
                Some((0x8, payload)) => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return (code, texts);
                }
                Some(_) => {}
                None => return (None, texts),
            }
        }
    }
}
