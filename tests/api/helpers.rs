//! `spawn_app` and a small WebSocket client that waits for frames with timeouts;
//! for the cluster tests also a private `redis-server` and fresh PostgreSQL
//! databases.
//!
//! The database backend follows the test target: `api` runs on SQLite,
//! `api_postgres` and `cluster` on PostgreSQL (`ROOMCAST_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, one new database per server).
#![allow(dead_code)] // each test target uses a different part of this file

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use futures_util::{SinkExt, StreamExt};
use roomcast::auth::{Authenticator, Claims, now_s};
use roomcast::settings::{Secret, Settings};
use roomcast::startup::Application;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const API_KEY: &str = "test-api-key";
pub const JWT_SECRET: &str = "test-jwt-secret";
/// How long a test waits for a frame it expects before failing.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestApp {
    pub port: u16,
    pub settings: Settings,
    pub auth: Authenticator,
    pub dir: PathBuf,
    handle: ServerHandle,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Which database this test target runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKEND: Backend = if matches!(env!("CARGO_CRATE_NAME").as_bytes(), b"api") {
    Backend::Sqlite
} else {
    Backend::Postgres
};

/// The admin URL of the test PostgreSQL server.
pub fn pg_admin_url() -> String {
    std::env::var("ROOMCAST_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Create an empty PostgreSQL database for one server (or one cluster) and return its URL.
pub async fn fresh_pg_database() -> String {
    use roomcast::store::sea_orm_exec;
    let admin = pg_admin_url();
    let name = format!(
        "roomcast_t_{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    sea_orm_exec(&admin, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "these tests need PostgreSQL, but `CREATE DATABASE` on {admin} failed: {e:#}. \
             Start PostgreSQL (127.0.0.1:5432, trust auth) or point ROOMCAST_TEST_PG at one."
            )
        });
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A database URL for this test target: a SQLite file in `dir`, or a fresh PostgreSQL database.
pub async fn database_url(dir: &Path) -> String {
    match BACKEND {
        Backend::Sqlite => format!("sqlite://{}/roomcast.db?mode=rwc", dir.display()),
        Backend::Postgres => fresh_pg_database().await,
    }
}

/// Settings for a test server: loopback, port 0, a fresh SQLite file, fast timers.
/// (`spawn_app_with` swaps in a PostgreSQL database where the target says so.)
pub fn test_settings(dir: &Path) -> Settings {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut s = Settings::load_from(&config, None).expect("config/default.toml loads");
    s.server.host = "127.0.0.1".into();
    s.server.port = 0;
    s.server.workers = 1;
    s.server.shutdown_timeout_s = 1;
    s.node.id = "test-node".into();
    s.database.url = Secret::new(format!("sqlite://{}/roomcast.db?mode=rwc", dir.display()));
    s.auth.jwt_secret = Some(Secret::new(JWT_SECRET));
    s.api.key = Some(Secret::new(API_KEY));
    s.rooms.viewers_interval_ms = 200;
    s.rooms.reaction_window_ms = 200;
    s.rooms.idle_grace_s = 2;
    s.store.flush_interval_ms = 10;
    s
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roomcast-test-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = temp_dir();
    let mut settings = test_settings(&dir);
    settings.database.url = Secret::new(database_url(&dir).await);
    tweak(&mut settings);
    start(settings, dir, true).await
}

/// Start a server; with `wait_ready`, return once /readyz says 200.
pub async fn start(settings: Settings, dir: PathBuf, wait_ready: bool) -> TestApp {
    if std::env::var_os("ROOMCAST_TEST_LOG").is_some() {
        roomcast::telemetry::init(&settings.log);
    }
    let auth = Authenticator::new(settings.jwt_secret().as_bytes(), 0);
    let app = Application::build(settings.clone())
        .await
        .expect("server builds");
    let port = app.port();
    let handle = app.handle();
    let done = actix_web::rt::spawn(app.run_until_stopped());
    let test_app = TestApp {
        port,
        settings,
        auth,
        dir,
        handle,
        done,
    };
    if wait_ready {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, _) = test_app.get("/readyz", None).await;
            if status == 200 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    test_app
}

impl TestApp {
    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// A token for `sub` moderating `mods`.
    pub fn token(&self, sub: &str, mods: &[&str]) -> String {
        self.token_with(Claims {
            sub: sub.into(),
            exp: now_s() + 3600,
            name: None,
            moderates: mods.iter().map(|m| m.to_string()).collect(),
            badges: vec![],
        })
    }

    pub fn token_with(&self, claims: Claims) -> String {
        self.auth.mint(&claims).expect("mint token")
    }

    pub async fn connect(&self, sub: &str) -> Client {
        Client::connect(&format!("{}?token={}", self.ws_url(), self.token(sub, &[]))).await
    }

    pub async fn connect_mod(&self, sub: &str, rooms: &[&str]) -> Client {
        Client::connect(&format!(
            "{}?token={}",
            self.ws_url(),
            self.token(sub, rooms)
        ))
        .await
    }

    pub async fn connect_anon(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// GET with an optional bearer; returns status and JSON body (Null if none).
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        self.request(awc::http::Method::GET, path, bearer, None)
            .await
    }

    pub async fn request(
        &self,
        method: awc::http::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = awc::Client::default();
        let mut req = client.request(method, self.http(path)).timeout(WAIT);
        if let Some(b) = bearer {
            req = req.insert_header(("Authorization", format!("Bearer {b}")));
        }
        let mut resp = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .expect("HTTP request");
        let status = resp.status().as_u16();
        let bytes = resp.body().limit(1 << 20).await.expect("HTTP body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}))
        };
        (status, json)
    }

    /// Settings for another node on this one's database and Redis.
    pub fn settings_for_node(&self, node: &str) -> Settings {
        let mut s = self.settings.clone();
        s.node.id = node.to_owned();
        s
    }

    /// Stop gracefully (flushing the store) and start again on the same database.
    pub async fn restart(self) -> TestApp {
        self.handle.stop(true).await;
        self.done
            .await
            .expect("server task")
            .expect("clean shutdown");
        let mut settings = self.settings;
        settings.server.port = 0;
        start(settings, self.dir, true).await
    }
}

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
                    return Some((opcode, payload));
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let n = tokio::time::timeout(left, self.stream.read(&mut chunk))
                .await
                .expect("timed out waiting for a frame from the server")
                .expect("read");
            if n == 0 {
                return None;
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

/// A free loopback port (bound and released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private `redis-server` on a free port, which a test may kill and restart.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let mut r = RedisServer {
            port: free_port(),
            child: None,
        };
        r.restart().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same port and wait until it answers PING.
    pub async fn restart(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("the cluster tests need `redis-server` on PATH ({e}); install it with `apt-get install redis-server`")
            });
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read_exact(&mut buf).await.is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not start",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kill it (SIGKILL) and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Settings for node `i` of a cluster sharing `db_url` and `redis`.
pub fn node_settings(i: usize, dir: &Path, db_url: &str, redis: &RedisServer) -> Settings {
    let mut s = test_settings(dir);
    s.node.id = format!("node-{i}");
    s.database.url = Secret::new(db_url);
    s.redis.url = Some(Secret::new(redis.url()));
    s.presence.ttl_s = 2;
    s.presence.interval_ms = 50;
    s.rooms.viewers_interval_ms = 100;
    s
}

/// `n` in-process nodes on one database and one Redis.
pub async fn spawn_cluster(n: usize, redis: &RedisServer) -> Vec<TestApp> {
    let dir = temp_dir();
    let db_url = database_url(&dir).await;
    let mut nodes = Vec::new();
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let node = start(node_settings(i, &node_dir, &db_url, redis), node_dir, true).await;
        // Ready for cluster traffic once its subscription connection is up.
        eventually("the node's Redis bridge to connect", WAIT, || async {
            node.get("/readyz", None).await.1["redis"] == "ok"
        })
        .await;
        nodes.push(node);
    }
    nodes
}

/// A node as a separate `roomcast` process (so a test can SIGKILL it).
pub struct NodeProcess {
    pub port: u16,
    child: std::process::Child,
}

impl NodeProcess {
    pub async fn start(settings: &Settings) -> NodeProcess {
        let port = free_port();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roomcast"));
        cmd.env("ROOMCAST_CONFIG_DIR", config)
            .env("ROOMCAST__SERVER__HOST", "127.0.0.1")
            .env("ROOMCAST__SERVER__PORT", port.to_string())
            .env("ROOMCAST__SERVER__WORKERS", "1")
            .env("ROOMCAST__NODE__ID", &settings.node.id)
            .env("ROOMCAST__DATABASE__URL", settings.database.url.expose())
            .env("ROOMCAST__AUTH__JWT_SECRET", JWT_SECRET)
            .env("ROOMCAST__API__KEY", API_KEY)
            .env(
                "ROOMCAST__PRESENCE__TTL_S",
                settings.presence.ttl_s.to_string(),
            )
            .env(
                "ROOMCAST__SERVER__DRAIN_S",
                settings.server.drain_s.to_string(),
            )
            .env(
                "ROOMCAST__PRESENCE__INTERVAL_MS",
                settings.presence.interval_ms.to_string(),
            )
            .env(
                "ROOMCAST__ROOMS__VIEWERS_INTERVAL_MS",
                settings.rooms.viewers_interval_ms.to_string(),
            )
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null());
        if let Some(url) = &settings.redis.url {
            cmd.env("ROOMCAST__REDIS__URL", url.expose());
        }
        let child = cmd.spawn().expect("start the roomcast binary");
        let node = NodeProcess { port, child };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = awc::Client::default()
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false);
            if ready {
                return node;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "roomcast process never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// SIGTERM: the node drains and exits by itself.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait (bounded) for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the process did not exit in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no goodbye to Redis, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Poll (bounded) until `check` passes; fail with `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
