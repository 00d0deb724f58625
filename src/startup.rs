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

/// How long shutdown waits for the store to write what it holds.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    node_id: String,
    server: Server,
    store: Addr<Store>,
    store_status: Arc<StoreStatus>,
    bridge: Option<Addr<RedisBridge>>,
    draining: Arc<AtomicBool>,
    hub: Hub,
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

        if settings
            .auth
            .jwt_secret
            .as_ref()
            .is_none_or(|s| s.expose().is_empty())
        {
            tracing::warn!(
                "auth.jwt_secret is not set: using the development secret (never do this in production)"
            );
        }
        if settings.api.key.is_none() {
            tracing::info!("api.key is not set: the server API refuses every call");
        }

        let store = Store::new(settings.database.clone(), settings.store.clone())
            .with_snapshot_retention(Duration::from_secs(
                settings.analytics.retention_days * 24 * 3600,
            ));
        let store_status = store.status();
        let store = store.start();

        let bridge = match &settings.redis.url {
            Some(url) if !url.expose().is_empty() => {
                let ttl = Duration::from_secs(settings.presence.ttl_s.max(1));
                let bridge =
                    RedisBridge::new(url.expose(), &settings.redis.prefix, node_id.clone(), ttl)?;
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
            webhooks: crate::webhooks::Webhooks::default(),
        };
        let registry = Registry::new(room_cfg).start();

        let draining = Arc::new(AtomicBool::new(false));
        let drain_window = Duration::from_secs(settings.server.drain_s);
        let hub = Hub::default();
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
        });
        let state = web::Data::new(AppState {
            auth: Authenticator::new(settings.jwt_secret().as_bytes(), settings.auth.leeway_s),
            api_key: settings.api.key.clone(),
            registry,
            store: store.clone(),
            store_status: store_status.clone(),
            bridge_status,
            draining: draining.clone(),
            sessions,
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
            draining,
            hub,
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
        tokio::select! {
            res = &mut server => res.context("HTTP server task failed")?.context("HTTP server failed")?,
            () = shutdown_signal() => {
                tracing::info!(drain_s = self.drain_window.as_secs(), "shutdown signal: draining");
                self.draining.store(true, Ordering::Release);
                handle.pause().await; // stop accepting connections
                self.hub.drain();
                // Every session leaves within the window; give them a little more to close.
                let deadline = tokio::time::Instant::now() + self.drain_window + Duration::from_secs(2);
                while METRICS.connections.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                handle.stop(true).await;
                server.await.context("HTTP server task failed")?.context("HTTP server failed")?;
            }
        }
        if let Some(bridge) = &self.bridge {
            let _ = bridge.send(crate::bridge::Shutdown).await;
        }
        let left = self
            .store
            .send(store::Flush {
                timeout: FINAL_FLUSH,
            })
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
        Ok(())
    }
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
