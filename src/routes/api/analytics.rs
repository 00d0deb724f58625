//! Stream analytics: a room's per-minute snapshots over a time range, and
//! their summary.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::protocol;
use crate::routes::extract::{Platform, RoomPath};
use crate::routes::{ApiError, AppState};
use crate::store::LoadSnapshots;

/// Longest analytics range one call may ask for.
const MAX_ANALYTICS_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;

#[derive(Deserialize)]
pub struct RangeQuery {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/rooms/{room}/analytics?from=<ts>&to=<ts>` (default: the last 24 h).
pub async fn range(
    _: Platform,
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let refused =
        || ApiError::BadRequest("need from < to (epoch ms), at most 31 days apart".to_owned());
    let to = query.to.unwrap_or_else(protocol::now_ms);
    let from = match query.from {
        Some(from) => from,
        None => to.checked_sub(24 * 3600 * 1000).ok_or_else(refused)?,
    };
    // Checked: the bounds come from the caller (i64::MIN..i64::MAX must not overflow).
    let span = to.checked_sub(from).ok_or_else(refused)?;
    if span <= 0 || span > MAX_ANALYTICS_RANGE_MS {
        return Err(refused());
    }
    let snapshots = state
        .store
        .send(LoadSnapshots {
            room: room.to_string(),
            from,
            to,
        })
        .await??;
    let n = snapshots.len().max(1) as f64;
    // An empty sum of floats is -0.0; a range without periods averages 0.
    let avg_sum: f64 = snapshots.iter().map(|s| s.avg).sum::<f64>() + 0.0;
    let summary = serde_json::json!({
        "peak": snapshots.iter().map(|s| s.max).max().unwrap_or(0),
        "avg": (avg_sum / n * 100.0).round() / 100.0,
        "messages": snapshots.iter().map(|s| s.messages).sum::<u64>(),
        "reactions": snapshots.iter().map(|s| s.reactions).sum::<u64>(),
    });
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "room": room,
        "from": from,
        "to": to,
        "snapshots": snapshots,
        "summary": summary,
    })))
}
