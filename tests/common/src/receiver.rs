//! A real HTTP receiver for webhooks: an actix-web server on a free loopback
//! port that records every request (headers and exact body) and answers as the
//! test says: a status, or a stall (no answer until told otherwise).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{KeyInit as _, Mac as _};
use serde_json::Value;
use tokio::sync::watch;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Status(u16),
    /// Hold the request open without answering (until the policy changes, or a
    /// minute), then answer 503.
    Stall,
}

/// What the receiver was sent, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub json: Value,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub reply: Reply,
}

impl Received {
    pub fn id(&self) -> &str {
        self.json["id"].as_str().unwrap_or("")
    }

    pub fn room(&self) -> &str {
        self.json["room"].as_str().unwrap_or("")
    }

    /// Did it succeed (a 2xx answer)?
    pub fn ok(&self) -> bool {
        matches!(self.reply, Reply::Status(s) if (200..300).contains(&s))
    }

    /// Is `X-Roomcast-Signature` the HMAC-SHA256 of the exact body under `secret`?
    pub fn signed_with(&self, secret: &str) -> bool {
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(self.body.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.signature.as_deref() == Some(&format!("sha256={hex}"))
    }
}

/// Decides the answer to a request, given it and how many came before it.
type Policy = Arc<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

struct Shared {
    log: Mutex<Vec<Received>>,
    policy: Mutex<Policy>,
    /// Bumped on every policy change, to wake stalled requests.
    changed: watch::Sender<u64>,
}

/// The receiver. Dropping it stops the server.
pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Start one answering 200 to everything. Must run inside an actix system.
    pub async fn start() -> Receiver {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            policy: Mutex::new(Arc::new(|_, _| Reply::Status(200))),
            changed,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let state = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("receiver listens")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Receiver {
            port,
            shared,
            handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Answer every request this way from now on.
    pub fn answer(&self, reply: Reply) {
        self.set_policy(move |_, _| reply);
    }

    /// Answer by a rule on the request and the number of requests before it.
    pub fn set_policy(&self, policy: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) {
        *self.shared.policy.lock().expect("policy lock") = Arc::new(policy);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().expect("log lock").clone()
    }

    /// The requests that succeeded, in order.
    pub fn delivered(&self) -> Vec<Received> {
        self.received().into_iter().filter(Received::ok).collect()
    }

    /// Wait (bounded) until `check` holds for what was received; then return it.
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if check(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; received: {:#?}",
                got.iter().map(|r| (&r.json, r.reply)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until `n` requests succeeded; return the successful ones.
    pub async fn wait_delivered(&self, n: usize, within: Duration) -> Vec<Received> {
        self.wait_until(&format!("{n} deliveries"), within, |got| {
            got.iter().filter(|r| r.ok()).count() >= n
        })
        .await
        .into_iter()
        .filter(Received::ok)
        .collect()
    }
}

/// The delivered events of `kind` in `room`, in order, each once: delivery
/// is at least once, so a node that died after the receiver answered but
/// before it noted the success has the event sent again, with the same id.
pub fn of_kind<'a>(got: &'a [Received], kind: &str, room: &str) -> Vec<&'a Received> {
    let mut seen = std::collections::HashSet::new();
    got.iter()
        .filter(|r| r.ok() && r.json["type"] == kind && r.room() == room)
        .filter(|r| seen.insert(r.id().to_owned()))
        .collect()
}

/// How many distinct events of `kind` in `room` were delivered.
pub fn count_of(got: &[Received], kind: &str, room: &str) -> usize {
    of_kind(got, kind, room).len()
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Wake stalled requests, then stop (in the background: drop cannot wait).
        self.shared.changed.send_modify(|n| *n += 1);
        let stop = self.handle.stop(false);
        actix_web::rt::spawn(stop);
    }
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut received = Received {
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        body: text,
        signature: header("X-Roomcast-Signature"),
        content_type: header("Content-Type"),
        user_agent: header("User-Agent"),
        reply: Reply::Status(200),
    };
    let mut changes = shared.changed.subscribe();
    let reply = {
        let policy = shared.policy.lock().expect("policy lock").clone();
        let mut log = shared.log.lock().expect("log lock");
        received.reply = policy(&received, log.len());
        log.push(received.clone());
        received.reply
    };
    match reply {
        Reply::Status(code) => status(code),
        Reply::Stall => {
            // Hold until the policy changes or a minute passes; then a 503, as
            // recorded (not a success): the sender has to try again.
            let _ = tokio::time::timeout(Duration::from_secs(60), changes.changed()).await;
            status(503)
        }
    }
}

fn status(code: u16) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(code)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).finish()
}
