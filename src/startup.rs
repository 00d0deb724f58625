//! Application: starts the actors (store, registry), builds the HTTP server on
//! a listener it binds itself (port 0 = any free port, so tests run the real
//! server in three lines) and shuts down in order: stop accepting, close
//! connections, flush the store.
//!
//! Nothing here handles a request; it only wires the parts together.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use actix::{Actor, Addr};
use actix_web::dev::Service as _;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, web};
use anyhow::Context;

use crate::auth::Authenticator;
use crate::bridge::RedisBridge;
use crate::hub::Hub;
use crate::metrics::METRICS;
use crate::protocol::TextLimits;
use crate::registry::Registry;
use crate::room::RoomConfig;
use crate::routes::{self, AppState};
use crate::session::{self, SessionShared};
use crate::settings::Settings;
use crate::store::{self, Store, StoreStatus};
use crate::webhooks::{self, WebhookSender};

/// Failed `/api` authentications allowed per client address per minute
/// (burst the same); past them, 429 instead of 401.
const AUTH_FAILURES_PER_MINUTE: std::num::NonZeroU32 = std::num::NonZeroU32::new(20).unwrap();

/// The shutdown budget after a signal: what each step after the drain window
/// may take. Their sum stays within the contract's 5 s (`tests::the_shutdown_
/// budget_fits`), and the Kubernetes grace period covers the drain window, the
/// preStop sleep and this (`.ci/validate-k8s.sh`).
pub mod budget {
    use std::time::Duration;
    /// Sessions still closing when the drain window ends.
    pub const AFTER_DRAIN: Duration = Duration::from_millis(500);
    /// Stopping the HTTP workers (connections left are cut).
    pub const STOP: Duration = Duration::from_millis(500);
    /// Taking this node's presence out of Redis.
    pub const REDIS: Duration = Duration::from_millis(1_000);
    /// The final write of the store's queue.
    pub const FLUSH: Duration = Duration::from_millis(1_800);
    /// Storing what the webhook sender holds.
    pub const WEBHOOKS: Duration = Duration::from_millis(500);

    /// Everything after the drain window, at most.
    pub fn after_drain() -> Duration {
        AFTER_DRAIN + STOP * 2 + REDIS + FLUSH + WEBHOOKS
    }
}

/// How long shutdown waits for the store to write what it holds.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    node_id: String,
    server: Server,
    store: Addr<Store>,
    store_status: Arc<StoreStatus>,
    bridge: Option<Addr<RedisBridge>>,
    webhooks: Option<Addr<WebhookSender>>,
    draining: Arc<AtomicBool>,
    hub: Hub,
    drain_tx: tokio::sync::watch::Sender<bool>,
    drain_window: Duration,
}

impl Application {
    /// Bind, start the actors and the HTTP server. Must run inside an actix system.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("failed to bind {}:{}", address.0, address.1))?;
        let port = listener
            .local_addr()
            .context("listener has no address")?
            .port();
        let node_id = settings.node_id();

        let jwt_secret = settings.jwt_secret()?;
        let (trusted_proxies, unreadable) =
            routes::client_ip::parse_trusted(&settings.server.trusted_proxies);
        anyhow::ensure!(
            unreadable.is_empty(),
            "server.trusted_proxies has entries that are not addresses or CIDR blocks: {unreadable:?}"
        );
        if settings.api.key.is_none() {
            tracing::info!("api.key is not set: the server API refuses every call");
        }

        let store = Store::new(settings.database.clone(), settings.store.clone())
            .with_snapshot_retention(Duration::from_secs(
                settings.analytics.retention_days * 24 * 3600,
            ));
        let store_status = store.status();
        let store = store.start();

        let open_db = webhook_db(&settings, &store_status);
        let webhooks = WebhookSender::configured(&settings, node_id.clone(), open_db)
            .context("invalid [webhooks] settings")?
            .map(Actor::start);
        let hooks = webhooks::Webhooks::new(webhooks.clone().map(Addr::recipient))
            .only(&settings.webhooks.events)
            .context("invalid webhooks.events")?;
        let bridge = match &settings.redis.url {
            Some(url) if !url.expose().is_empty() => {
                let ttl = Duration::from_secs(settings.presence.ttl_s.max(1));
                let bridge = RedisBridge::new(
                    url.expose(),
                    &settings.redis.prefix,
                    node_id.clone(),
                    ttl,
                    settings.recovery.max_messages,
                )?
                .with_webhooks(hooks.clone());
                tracing::info!(prefix = %settings.redis.prefix, "cluster mode: Redis bridge enabled");
                Some(bridge)
            }
            _ => None,
        };
        let bridge_status = bridge.as_ref().map(RedisBridge::status);
        let bridge = bridge.map(Actor::start);

        let limits = &settings.limits;
        let emojis: Arc<[String]> = settings.rooms.emojis.clone().into();
        let room_cfg = RoomConfig {
            recent: settings.rooms.recent,
            reaction_window: Duration::from_millis(settings.rooms.reaction_window_ms),
            viewers_interval: Duration::from_millis(settings.rooms.viewers_interval_ms),
            idle_grace: Duration::from_secs(settings.rooms.idle_grace_s),
            emojis: emojis.clone(),
            message_quota: RoomConfig::quota(
                limits.messages_per_window,
                Duration::from_secs(limits.message_window_s),
            ),
            bridge: bridge.clone(),
            presence_interval: Duration::from_millis(settings.presence.interval_ms),
            presence_ttl: Duration::from_secs(settings.presence.ttl_s.max(1)),
            snapshot_period: Duration::from_millis(settings.analytics.period_ms.max(100)),
            api_quota: RoomConfig::quota(
                settings.api.posts_per_room_per_second,
                Duration::from_secs(1),
            ),
            store: store.clone(),
            recovery_max: settings.recovery.max_messages,
            store_status: store_status.clone(),
            webhooks: hooks,
            automod_terms: automod_terms(&settings.automod)?,
            hold: Duration::from_secs(settings.automod.hold_s.max(1)),
            milestones: crate::room::stream::milestones(&settings.rooms.viewer_milestones).into(),
            stats_interval: Duration::from_secs(settings.rooms.stats_interval_s.max(1)),
            webhook_messages: settings.webhooks.messages,
        };
        let registry = Registry::new(room_cfg, settings.limits.rooms_per_node).start();

        let auth = Authenticator::new(jwt_secret.expose().as_bytes(), settings.auth.leeway_s);
        let draining = Arc::new(AtomicBool::new(false));
        let (drain_tx, drain_signal) = tokio::sync::watch::channel(false);
        let drain_window = Duration::from_secs(settings.server.drain_s);
        let hub = Hub::default();
        let users = crate::users::Users::new(bridge.clone()).start();
        let sessions = Arc::new(SessionShared {
            hub: hub.clone(),
            drain_window,
            node_id: node_id.clone(),
            registry: registry.clone(),
            store: store.clone(),
            limits: limits.clone(),
            text: TextLimits {
                max_text_chars: limits.max_text_chars,
            },
            emojis,
            anonymous_chat: settings.auth.anonymous_chat,
            reaction_quota: session::reaction_quota(limits.reactions_per_second),
            auth: auth.clone(),
            users,
        });
        let state = web::Data::new(AppState {
            auth,
            api_key: settings.api.key.clone(),
            registry,
            store: store.clone(),
            store_status: store_status.clone(),
            bridge_status,
            draining: draining.clone(),
            drain_signal,
            sessions,
            trusted_proxies,
            caps: crate::session::caps::Caps::new(&settings.limits),
            auth_failures: governor::RateLimiter::keyed(
                governor::Quota::per_minute(AUTH_FAILURES_PER_MINUTE)
                    .allow_burst(AUTH_FAILURES_PER_MINUTE),
            ),
        });

        let bridge_for_app = bridge.clone();
        let nodelay = settings.server.tcp_nodelay;
        let mut builder = actix_server::Server::build()
            .shutdown_timeout(settings.server.shutdown_timeout_s)
            // We handle SIGTERM/SIGINT ourselves, to drain (see `run_until_stopped`).
            .disable_signals();
        if settings.server.workers > 0 {
            builder = builder.workers(settings.server.workers);
        }
        let server = builder
            .listen("roomcast", listener, move || {
                http_service(state.clone(), nodelay)
            })
            .context("failed to listen")?
            .run();
        tracing::info!(node = %node_id, port, "roomcast listening");
        Ok(Application {
            port,
            node_id,
            server,
            store,
            store_status,
            bridge: bridge_for_app,
            webhooks,
            draining,
            hub,
            drain_tx,
            drain_window,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// A handle to stop the server (`stop(true)` is graceful).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// What the store is doing (readiness, queued writes).
    pub fn store_status(&self) -> Arc<StoreStatus> {
        self.store_status.clone()
    }

    /// Serve until stopped: by the handle (as tests do), or by SIGTERM/SIGINT,
    /// which drains first. Then write out every queued write and, in a cluster,
    /// remove this node's presence from Redis.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        // The server future must keep being polled: it is what carries out
        // `pause` and `stop`. So it runs as its own task.
        let mut server = actix_web::rt::spawn(self.server);
        // Stopped by the handle: finish writing whatever it takes (tests, tools).
        // By a signal: every step is bounded, so the process exits within
        // `server.drain_s` + 5 s whatever its clients do (contract §6).
        let mut flush_for = FINAL_FLUSH;
        tokio::select! {
            res = &mut server => res.context("HTTP server task failed")?.context("HTTP server failed")?,
            () = shutdown_signal() => {
                tracing::info!(drain_s = self.drain_window.as_secs(), "shutdown signal: draining");
                self.draining.store(true, Ordering::Release);
                handle.pause().await; // stop accepting connections
                self.hub.drain();
                let _ = self.drain_tx.send(true); // viewer streams end now
                // Every session leaves within the window.
                let deadline = tokio::time::Instant::now() + self.drain_window + budget::AFTER_DRAIN;
                while METRICS.connections.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Whoever is still connected (a client that stopped reading) is cut.
                let _ = tokio::time::timeout(budget::STOP, handle.stop(false)).await;
                let _ = tokio::time::timeout(budget::STOP, server).await;
                flush_for = budget::FLUSH;
            }
        }
        if let Some(bridge) = &self.bridge {
            let _ = tokio::time::timeout(budget::REDIS, bridge.send(crate::bridge::Shutdown)).await;
        }
        let left = self
            .store
            .send(store::Flush { timeout: flush_for })
            .await
            .context("store unreachable at shutdown")?;
        if left > 0 {
            tracing::error!(
                unwritten = left,
                "shutting down with writes the database did not take"
            );
        } else {
            tracing::info!("shutdown complete; every write stored");
        }
        if let Some(hooks) = &self.webhooks {
            let bound = flush_for.min(budget::WEBHOOKS);
            let _ = tokio::time::timeout(bound, hooks.send(webhooks::Shutdown { timeout: bound }))
                .await;
        }
        Ok(())
    }
}

/// How the webhook actor opens the database: once the store has migrated it,
/// with a small pool of its own.
fn webhook_db(settings: &Settings, status: &Arc<StoreStatus>) -> webhooks::OpenDb {
    let status = status.clone();
    let mut db = settings.database.clone();
    db.max_connections = db.max_connections.clamp(1, 2);
    Box::new(move || {
        let (status, db) = (status.clone(), db.clone());
        Box::pin(async move {
            while !status.ready.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            store::open_database(&db).await
        })
    })
}

/// The HTTP/1 service of one worker: the actix-web `App` for every request,
/// and the WebSocket upgrade hook, which takes upgraded sockets out of the
/// HTTP dispatcher (see `routes::ws`).
fn http_service(
    state: web::Data<AppState>,
    nodelay: bool,
) -> impl actix_service::ServiceFactory<
    actix_rt::net::TcpStream,
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
> {
    use actix_service::{
        IntoServiceFactory as _, ServiceFactoryExt as _, fn_factory, fn_service, map_config,
    };
    let ws_state = state.clone();
    let upgrade = fn_factory(move || {
        let state = ws_state.clone();
        async move {
            Ok::<_, ()>(fn_service(move |(req, framed)| {
                routes::ws::upgrade(state.clone(), req, framed)
            }))
        }
    });
    let app = App::new()
        // Security headers on every answer that does not set its own (the
        // console sets a CSP of its own for its pages).
        .wrap(
            actix_web::middleware::DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer"))
                .add((
                    "Content-Security-Policy",
                    "default-src 'none'; frame-ancestors 'none'",
                )),
        )
        .wrap_fn(|req, srv| {
            // Every request gets an id on its log lines, and its duration goes to /metrics.
            use tracing::Instrument as _;
            let span = tracing::info_span!(
                "request",
                request_id = %ulid::Ulid::generate(),
                method = %req.method(),
                path = %req.path(),
            );
            let started = std::time::Instant::now();
            let fut = srv.call(req);
            async move {
                let res = fut.await;
                let took = started.elapsed();
                crate::metrics::observe_http(took);
                if let Ok(r) = &res {
                    tracing::debug!(
                        status = r.status().as_u16(),
                        took_us = took.as_micros() as u64,
                        "request"
                    );
                }
                res
            }
            .instrument(span)
        })
        .app_data(state)
        .configure(routes::configure)
        .into_factory()
        .map_err(|err: actix_web::Error| err.error_response());
    actix_http::HttpService::build()
        .tcp_nodelay(nodelay)
        .upgrade(upgrade)
        .finish(map_config(app, |_| actix_web::dev::AppConfig::default()))
        .tcp()
}

/// SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `automod.terms` as terms, checked once: a bad one stops the start.
fn automod_terms(
    settings: &crate::settings::AutomodSettings,
) -> anyhow::Result<Arc<[crate::protocol::moderation::Term]>> {
    use crate::protocol::moderation::{Term, TermAction};
    use anyhow::Context as _;
    let terms = settings
        .terms
        .iter()
        .map(|t| {
            let action = match t.action.as_str() {
                "block" => TermAction::Block,
                "hold" => TermAction::Hold,
                other => {
                    anyhow::bail!("automod.terms: action must be block or hold, not {other:?}")
                }
            };
            Ok(Term::new(t.pattern.clone(), action))
        })
        .collect::<anyhow::Result<Vec<Term>>>()?;
    crate::room::automod::Terms::compile(&terms, &[])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("automod.terms")?;
    Ok(Arc::from(terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shutdown_budget_fits_the_contracts_five_seconds() {
        assert!(
            budget::after_drain() <= Duration::from_secs(5),
            "{:?}",
            budget::after_drain()
        );
    }
}
