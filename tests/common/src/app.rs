//! `spawn_app`: the real server on a random port with its own database (a
//! SQLite file, or a fresh PostgreSQL database), and HTTP helpers on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use roomcast::auth::{Authenticator, Claims, now_s};
use roomcast::settings::{Secret, Settings};
use roomcast::startup::Application;
use serde_json::{Value, json};

use crate::client::Client;
use crate::{API_KEY, Backend, JWT_SECRET, WAIT, config_dir};

pub struct TestApp {
    pub port: u16,
    pub settings: Settings,
    pub auth: Authenticator,
    pub dir: PathBuf,
    handle: ServerHandle,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

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

/// A database URL on `backend`: a SQLite file in `dir`, or a fresh PostgreSQL database.
pub async fn database_url(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/roomcast.db?mode=rwc", dir.display()),
        Backend::Postgres => fresh_pg_database().await,
    }
}

/// Settings for a test server: loopback, port 0, a fresh SQLite file, fast timers.
/// (`spawn_app_with` swaps in a PostgreSQL database where the target says so.)
pub fn test_settings(dir: &Path) -> Settings {
    let config = config_dir();
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

/// A test server on `backend`, with `tweak` applied to its settings.
pub async fn spawn_app_on(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = temp_dir();
    let mut settings = test_settings(&dir);
    settings.database.url = Secret::new(database_url(backend, &dir).await);
    tweak(&mut settings);
    start(settings, dir, true).await
}

/// Start a server; with `wait_ready`, return once /readyz says 200.
pub async fn start(settings: Settings, dir: PathBuf, wait_ready: bool) -> TestApp {
    if std::env::var_os("ROOMCAST_TEST_LOG").is_some() {
        roomcast::telemetry::init(&settings.log);
    }
    let secret = settings.jwt_secret().expect("the test secret");
    let auth = Authenticator::new(secret.expose().as_bytes(), 0);
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

/// One sample of a node's `/metrics` at `url`, by its name and labels as
/// written there, e.g. `roomcast_refusals_total{kind="rate_limited"}`.
pub async fn metric(url: String, sample: &str) -> f64 {
    let body = awc::Client::default()
        .get(url)
        .send()
        .await
        .expect("metrics")
        .body()
        .await
        .expect("metrics body");
    let text = String::from_utf8_lossy(&body).into_owned();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no sample {sample} in /metrics"))
}

impl TestApp {
    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// One sample of this server's `/metrics`; see [`metric`].
    pub async fn metric(&self, sample: &str) -> f64 {
        metric(self.http("/metrics"), sample).await
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// A token for `sub` moderating `mods`.
    pub fn token(&self, sub: &str, mods: &[&str]) -> String {
        self.token_with(Claims {
            sub: sub.into(),
            exp: now_s() + 3600,
            nbf: None,
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
