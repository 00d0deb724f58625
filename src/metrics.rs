//! Process metrics in the Prometheus text format, served at `GET /metrics`.
//!
//! Counters and gauges are plain atomics in one static ([`METRICS`]), so the hot
//! paths pay one relaxed atomic add and never take a lock; a room's fan-out adds
//! its delivery count once per broadcast, not once per receiver. Rendering
//! reads them all and formats text. This module only counts; it never decides.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the HTTP request-duration histogram.
const HTTP_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub rooms: AtomicU64,
    pub joins: AtomicU64,
    pub leaves: AtomicU64,
    /// Chat messages accepted (any origin on this node: clients and the server API).
    pub messages_in: AtomicU64,
    /// Frames put into sessions' outbound queues by rooms.
    pub deliveries: AtomicU64,
    pub slow_consumers: AtomicU64,
    /// Refusals by kind (the error code's index in the list `/metrics` is given).
    refusals: [AtomicU64; MAX_REFUSAL_KINDS],
    pub refused_reactions: AtomicU64,
    /// Upgrades refused, by reason (index in `REFUSED_CONNECTIONS`).
    connections_refused: [AtomicU64; REFUSED_CONNECTIONS.len()],
    /// Bytes queued for clients and not yet written, over every connection.
    pub outbound_bytes: AtomicU64,
    /// Cluster events dropped as malformed, out of range or foreign.
    pub cluster_events_dropped: AtomicU64,
    pub moderation_actions: AtomicU64,
    /// §8: notifications for this node's users received from other nodes.
    pub user_notifications_received: AtomicU64,
    /// §8: room state writes applied on this node (from any node).
    pub state_writes: AtomicU64,
    pub reactions: AtomicU64,
    pub store_writes: AtomicU64,
    pub store_write_failures: AtomicU64,
    /// Duration of the last successful database write, in microseconds.
    pub store_last_write_us: AtomicU64,
    pub http_requests: AtomicU64,
    http_buckets: [AtomicU64; HTTP_BUCKETS.len()],
    http_sum_us: AtomicU64,
}

/// The process's metrics.
pub static METRICS: Metrics = Metrics {
    connections: AtomicU64::new(0),
    connections_total: AtomicU64::new(0),
    rooms: AtomicU64::new(0),
    joins: AtomicU64::new(0),
    leaves: AtomicU64::new(0),
    messages_in: AtomicU64::new(0),
    deliveries: AtomicU64::new(0),
    slow_consumers: AtomicU64::new(0),
    refusals: [const { AtomicU64::new(0) }; MAX_REFUSAL_KINDS],
    refused_reactions: AtomicU64::new(0),
    connections_refused: [const { AtomicU64::new(0) }; REFUSED_CONNECTIONS.len()],
    outbound_bytes: AtomicU64::new(0),
    cluster_events_dropped: AtomicU64::new(0),
    moderation_actions: AtomicU64::new(0),
    user_notifications_received: AtomicU64::new(0),
    state_writes: AtomicU64::new(0),
    reactions: AtomicU64::new(0),
    store_writes: AtomicU64::new(0),
    store_write_failures: AtomicU64::new(0),
    store_last_write_us: AtomicU64::new(0),
    http_requests: AtomicU64::new(0),
    http_buckets: [const { AtomicU64::new(0) }; HTTP_BUCKETS.len()],
    http_sum_us: AtomicU64::new(0),
};

/// Why a WebSocket upgrade was refused (the `reason` label).
pub const REFUSED_CONNECTIONS: [&str; 5] = [
    "unauthorized",
    "too_many_connections",
    "draining",
    "starting",
    "bad_handshake",
];

/// How many kinds of refusal there can be (the error codes of the contract).
pub const MAX_REFUSAL_KINDS: usize = 32;

/// Count one refusal of kind `index` (an error code's index; the protocol
/// counts every `error` frame and refused API call, and names the kinds when
/// rendering: this module knows no protocol).
pub fn refused(index: usize) {
    if let Some(n) = METRICS.refusals.get(index) {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// Count one refused upgrade; `reason` is one of [`REFUSED_CONNECTIONS`].
pub fn connection_refused(reason: &str) {
    if let Some(i) = REFUSED_CONNECTIONS.iter().position(|r| *r == reason) {
        METRICS.connections_refused[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Add one (relaxed: these are statistics, not synchronisation).
pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub fn dec(gauge: &AtomicU64) {
    gauge.fetch_sub(1, Ordering::Relaxed);
}

/// Record one HTTP request's duration.
pub fn observe_http(took: Duration) {
    let m = &METRICS;
    m.http_requests.fetch_add(1, Ordering::Relaxed);
    m.http_sum_us
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    let secs = took.as_secs_f64();
    if let Some(i) = HTTP_BUCKETS.iter().position(|b| secs <= *b) {
        m.http_buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// What `/metrics` needs besides the static counters.
pub struct Extra {
    /// The names of the refusal kinds, in the order they are counted.
    pub refusal_kinds: &'static [&'static str],
    pub ready: bool,
    pub store_queue: u64,
    pub store_dropped: u64,
    /// `None` when there is no Redis bridge (single node).
    pub redis: Option<RedisGauges>,
}

pub struct RedisGauges {
    pub up: bool,
    pub published: u64,
    pub received: u64,
    pub dropped: u64,
    pub reconnects: u64,
    pub last_publish_us: u64,
}

/// The whole exposition, Prometheus text format 0.0.4.
pub fn render(extra: &Extra) -> String {
    let m = &METRICS;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::with_capacity(4096);
    sample(
        &mut out,
        "roomcast_ready",
        "gauge",
        "1 when the database is open and migrated and the node is not draining.",
        u64::from(extra.ready).to_string(),
    );
    sample(
        &mut out,
        "roomcast_connections",
        "gauge",
        "Open WebSocket connections.",
        get(&m.connections).to_string(),
    );
    sample(
        &mut out,
        "roomcast_connections_total",
        "counter",
        "WebSocket connections accepted.",
        get(&m.connections_total).to_string(),
    );
    sample(
        &mut out,
        "roomcast_rooms",
        "gauge",
        "Room actors live on this node.",
        get(&m.rooms).to_string(),
    );
    sample(
        &mut out,
        "roomcast_joins_total",
        "counter",
        "Room joins.",
        get(&m.joins).to_string(),
    );
    sample(
        &mut out,
        "roomcast_leaves_total",
        "counter",
        "Room leaves (including disconnects, bans and slow consumers).",
        get(&m.leaves).to_string(),
    );
    sample(
        &mut out,
        "roomcast_messages_in_total",
        "counter",
        "Chat messages accepted on this node.",
        get(&m.messages_in).to_string(),
    );
    sample(
        &mut out,
        "roomcast_deliveries_total",
        "counter",
        "Frames rooms put into connections' outbound queues.",
        get(&m.deliveries).to_string(),
    );
    sample(
        &mut out,
        "roomcast_slow_consumers_total",
        "counter",
        "Connections closed because their outbound queue overflowed.",
        get(&m.slow_consumers).to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP roomcast_refusals_total Requests refused, by error code (kind=\"reactions\": reactions over their rate).\n\
         # TYPE roomcast_refusals_total counter"
    );
    for (kind, n) in extra.refusal_kinds.iter().zip(&m.refusals) {
        let _ = writeln!(out, "roomcast_refusals_total{{kind=\"{kind}\"}} {}", get(n));
    }
    let _ = writeln!(
        out,
        "roomcast_refusals_total{{kind=\"reactions\"}} {}",
        get(&m.refused_reactions)
    );
    let _ = writeln!(
        out,
        "# HELP roomcast_connections_refused_total WebSocket upgrades refused, by reason.\n\
         # TYPE roomcast_connections_refused_total counter"
    );
    for (reason, n) in REFUSED_CONNECTIONS.iter().zip(&m.connections_refused) {
        let _ = writeln!(
            out,
            "roomcast_connections_refused_total{{reason=\"{reason}\"}} {}",
            get(n)
        );
    }
    sample(
        &mut out,
        "roomcast_outbound_bytes",
        "gauge",
        "Bytes queued for clients and not yet written, over every connection.",
        get(&m.outbound_bytes).to_string(),
    );
    sample(
        &mut out,
        "roomcast_cluster_events_dropped_total",
        "counter",
        "Cluster events dropped: malformed, out of range, or from a node that is not a live member.",
        get(&m.cluster_events_dropped).to_string(),
    );
    sample(
        &mut out,
        "roomcast_reactions_total",
        "counter",
        "Reactions accepted on this node.",
        get(&m.reactions).to_string(),
    );
    sample(
        &mut out,
        "roomcast_moderation_actions_total",
        "counter",
        "Moderation actions taken on this node.",
        get(&m.moderation_actions).to_string(),
    );
    sample(
        &mut out,
        "roomcast_user_notifications_received_total",
        "counter",
        "Notifications for this node's users received from other nodes (its inbox).",
        get(&m.user_notifications_received).to_string(),
    );
    sample(
        &mut out,
        "roomcast_state_writes_total",
        "counter",
        "Room state writes applied by rooms on this node.",
        get(&m.state_writes).to_string(),
    );
    sample(
        &mut out,
        "roomcast_store_queue",
        "gauge",
        "Writes waiting for the database.",
        extra.store_queue.to_string(),
    );
    sample(
        &mut out,
        "roomcast_store_dropped_total",
        "counter",
        "Writes refused because the store queue was full.",
        extra.store_dropped.to_string(),
    );
    sample(
        &mut out,
        "roomcast_store_writes_total",
        "counter",
        "Database write batches that succeeded.",
        get(&m.store_writes).to_string(),
    );
    sample(
        &mut out,
        "roomcast_store_write_failures_total",
        "counter",
        "Database write batches that failed (and were retried).",
        get(&m.store_write_failures).to_string(),
    );
    sample(
        &mut out,
        "roomcast_store_last_write_seconds",
        "gauge",
        "Duration of the last database write batch.",
        secs(get(&m.store_last_write_us)),
    );
    if let Some(r) = &extra.redis {
        sample(
            &mut out,
            "roomcast_redis_up",
            "gauge",
            "1 while the Redis subscription connection is up.",
            u64::from(r.up).to_string(),
        );
        sample(
            &mut out,
            "roomcast_redis_published_total",
            "counter",
            "Cluster events published.",
            r.published.to_string(),
        );
        sample(
            &mut out,
            "roomcast_redis_received_total",
            "counter",
            "Cluster messages received.",
            r.received.to_string(),
        );
        sample(
            &mut out,
            "roomcast_redis_dropped_total",
            "counter",
            "Redis writes dropped while Redis was unreachable.",
            r.dropped.to_string(),
        );
        sample(
            &mut out,
            "roomcast_redis_reconnects_total",
            "counter",
            "Times the Redis subscription reconnected.",
            r.reconnects.to_string(),
        );
        sample(
            &mut out,
            "roomcast_redis_publish_seconds",
            "gauge",
            "Duration of the last publish pipeline.",
            secs(r.last_publish_us),
        );
    }
    crate::webhooks::render_metrics(&mut out);
    let _ = writeln!(
        out,
        "# HELP roomcast_http_request_duration_seconds HTTP request durations (WebSocket upgrades count until the upgrade)."
    );
    let _ = writeln!(
        out,
        "# TYPE roomcast_http_request_duration_seconds histogram"
    );
    let mut cumulative = 0;
    for (i, b) in HTTP_BUCKETS.iter().enumerate() {
        cumulative += get(&m.http_buckets[i]);
        let _ = writeln!(
            out,
            "roomcast_http_request_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
        );
    }
    let total = get(&m.http_requests);
    let _ = writeln!(
        out,
        "roomcast_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}"
    );
    let _ = writeln!(
        out,
        "roomcast_http_request_duration_seconds_sum {}",
        secs(get(&m.http_sum_us))
    );
    let _ = writeln!(out, "roomcast_http_request_duration_seconds_count {total}");
    out
}

/// One metric with its HELP and TYPE lines.
fn sample(out: &mut String, name: &str, kind: &str, help: &str, value: String) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn secs(us: u64) -> String {
    format!("{:.6}", us as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_is_well_formed() {
        observe_http(Duration::from_millis(3));
        let text = render(&Extra {
            refusal_kinds: &["bad_request"],
            ready: true,
            store_queue: 2,
            store_dropped: 0,
            redis: None,
        });
        assert!(text.contains("roomcast_ready 1\n"));
        assert!(text.contains("roomcast_store_queue 2\n"));
        assert!(text.contains("roomcast_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
        assert!(!text.contains("roomcast_redis_up"));
        // Every sample line is "name[{labels}] value".
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect(line);
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
