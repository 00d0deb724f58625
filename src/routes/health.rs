//! Operational routes, no auth: `/healthz` (the process answers), `/readyz`
//! (503 until the database is open and migrated) and `/metrics` (Prometheus).

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use super::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let status = &state.store_status;
    let draining = state.draining.load(Ordering::Acquire);
    let migrated = status.ready.load(Ordering::Acquire);
    // Ready only while the database answers: a node that lost it goes back to 503.
    let ready = status.healthy() && !draining;
    // Redis down is degraded, not unready: the node still serves its own members.
    let redis = match &state.bridge_status {
        None => "disabled",
        Some(b) if b.up.load(Ordering::Acquire) => "ok",
        Some(_) => "down",
    };
    let body = serde_json::json!({
        "status": if draining { "draining" } else if ready { "ready" } else { "not_ready" },
        "database": if status.healthy() { "ok" } else if migrated { "unreachable" } else { "connecting" },
        "store_queue": status.queued.load(Ordering::Relaxed),
        "redis": redis,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let store = &state.store_status;
    let redis = state
        .bridge_status
        .as_ref()
        .map(|b| crate::metrics::RedisGauges {
            up: b.up.load(Ordering::Acquire),
            published: b.published.load(Ordering::Relaxed),
            received: b.received.load(Ordering::Relaxed),
            dropped: b.dropped.load(Ordering::Relaxed),
            reconnects: b.reconnects.load(Ordering::Relaxed),
            last_publish_us: b.last_publish_us.load(Ordering::Relaxed),
        });
    let text = crate::metrics::render(&crate::metrics::Extra {
        refusal_kinds: &crate::protocol::ErrorCode::NAMES,
        ready: store.healthy() && !state.draining.load(Ordering::Acquire),
        store_queue: store.queued.load(Ordering::Relaxed) as u64,
        store_dropped: store.dropped.load(Ordering::Relaxed) as u64,
        redis,
    });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
