//! Several nodes: a private `redis-server` a test may kill and restart,
//! in-process nodes on one database, and nodes as separate processes (so a
//! test can SIGTERM or SIGKILL them).

use std::path::Path;
use std::time::Duration;

use roomcast::settings::{Secret, Settings};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};

use crate::app::{TestApp, database_url, fresh_pg_database, start, temp_dir, test_settings};
use crate::{API_KEY, Backend, JWT_SECRET, WAIT, config_dir, eventually};

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
    spawn_cluster_with(n, redis, |_| {}).await
}

/// Like [`spawn_cluster`], with `tweak` applied to every node's settings.
pub async fn spawn_cluster_with(
    n: usize,
    redis: &RedisServer,
    tweak: impl Fn(&mut Settings),
) -> Vec<TestApp> {
    let dir = temp_dir();
    let db_url = database_url(Backend::Postgres, &dir).await;
    let mut nodes = Vec::new();
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let mut settings = node_settings(i, &node_dir, &db_url, redis);
        tweak(&mut settings);
        let node = start(settings, node_dir, true).await;
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
    /// Start the `roomcast` binary at `bin` (a suite passes `env!("CARGO_BIN_EXE_roomcast")`).
    pub async fn start(bin: &str, settings: &Settings) -> NodeProcess {
        let port = free_port();
        let config = config_dir();
        let mut cmd = std::process::Command::new(bin);
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
        if let Some(url) = &settings.webhooks.url {
            let secret = settings.webhooks.secret.as_ref().map_or("", |s| s.expose());
            cmd.env("ROOMCAST__WEBHOOKS__URL", url)
                .env("ROOMCAST__WEBHOOKS__SECRET", secret)
                .env(
                    "ROOMCAST__WEBHOOKS__RETRY_BASE_MS",
                    settings.webhooks.retry_base_ms.to_string(),
                )
                .env(
                    "ROOMCAST__WEBHOOKS__RETRY_S",
                    settings.webhooks.retry_s.to_string(),
                )
                .env(
                    "ROOMCAST__ANALYTICS__PERIOD_MS",
                    settings.analytics.period_ms.to_string(),
                )
                .env("ROOMCAST__STORE__FLUSH_INTERVAL_MS", "10");
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

/// A loopback TCP proxy the test can cut (dropping every connection and refusing new ones).
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, up, conns }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A fresh PostgreSQL database reached through a [`Proxy`] the test can cut:
/// the direct URL, the proxy, and the URL through it.
pub async fn pg_behind_proxy() -> (String, Proxy, String) {
    let direct = fresh_pg_database().await;
    let pg_port: u16 = crate::pg_admin_url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let proxy = Proxy::start(pg_port).await;
    let through = direct.replacen(&format!(":{pg_port}/"), &format!(":{}/", proxy.port), 1);
    assert_ne!(direct, through);
    (direct, proxy, through)
}
