//! The webhook counters and gauges, and their lines of `/metrics`.
//!
//! Plain atomics, written by the webhook actor and read by [`render_metrics`]
//! (which `crate::metrics::render` calls). This file only counts; it must not
//! reach into other modules (the metrics module depends on it, not the reverse).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Events stored or waiting to be stored, not yet delivered nor given up on.
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Age of the oldest of them, in milliseconds (0 when none).
pub static OLDEST_PENDING_MS: AtomicU64 = AtomicU64::new(0);
/// Events the receiver took (a 2xx).
pub static DELIVERED: AtomicU64 = AtomicU64::new(0);
/// Events given up on after `webhooks.retry_s`.
pub static FAILED: AtomicU64 = AtomicU64::new(0);
/// POSTs sent (each try of each event).
pub static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
/// Events refused before they were stored (the in-memory queue was full).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

pub(super) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Append the webhook metrics, Prometheus text format 0.0.4.
pub fn render_metrics(out: &mut String) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let lines: [(&str, &str, &str, String); 6] = [
        (
            "roomcast_webhooks_pending",
            "gauge",
            "Webhook events not yet delivered nor given up on (in the shared outbox, and queued here).",
            get(&PENDING).to_string(),
        ),
        (
            "roomcast_webhooks_oldest_pending_seconds",
            "gauge",
            "Age of the oldest pending webhook event.",
            format!("{:.3}", get(&OLDEST_PENDING_MS) as f64 / 1e3),
        ),
        (
            "roomcast_webhooks_delivered_total",
            "counter",
            "Webhook events this node delivered (2xx).",
            get(&DELIVERED).to_string(),
        ),
        (
            "roomcast_webhooks_failed_total",
            "counter",
            "Webhook events this node gave up on after webhooks.retry_s.",
            get(&FAILED).to_string(),
        ),
        (
            "roomcast_webhooks_attempts_total",
            "counter",
            "Webhook POSTs this node sent (every try).",
            get(&ATTEMPTS).to_string(),
        ),
        (
            "roomcast_webhooks_dropped_total",
            "counter",
            "Webhook events refused before they were stored (queue full while the database was away).",
            get(&DROPPED).to_string(),
        ),
    ];
    for (name, kind, help, value) in lines {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_named_typed_and_numeric() {
        let mut out = String::new();
        render_metrics(&mut out);
        for name in [
            "roomcast_webhooks_pending",
            "roomcast_webhooks_delivered_total",
            "roomcast_webhooks_failed_total",
            "roomcast_webhooks_attempts_total",
            "roomcast_webhooks_oldest_pending_seconds",
        ] {
            assert!(out.contains(&format!("# TYPE {name} ")), "{name}");
        }
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect(line);
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
