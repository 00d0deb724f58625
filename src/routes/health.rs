//! Operational routes, no auth: `/healthz` (the process answers) and `/readyz`
//! (503 until the database is open and migrated).

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use super::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let status = &state.store_status;
    let ready = status.ready.load(Ordering::Acquire);
    // Redis down is degraded, not unready: the node still serves its own members.
    let redis = match &state.bridge_status {
        None => "disabled",
        Some(b) if b.up.load(Ordering::Acquire) => "ok",
        Some(_) => "down",
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": if ready { "ok" } else { "connecting" },
        "store_queue": status.queued.load(Ordering::Relaxed),
        "redis": redis,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
