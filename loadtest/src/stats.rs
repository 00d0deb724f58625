//! Numbers that cross process boundaries: latency histograms (hdrhistogram,
//! microseconds, sent between processes as `[value, count]` pairs), failure
//! tallies by cause, and the statistics of opening connections that every
//! scenario shares.
//!
//! Merging is always a sum (or a max for wall times), so a parent can add up
//! what its `--procs` children measured.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Highest latency recorded: one hour, in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// A histogram of microseconds, three significant digits.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "Vec<(u64, u64)>", into = "Vec<(u64, u64)>")]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid"))
    }
}

impl From<Vec<(u64, u64)>> for Hist {
    fn from(pairs: Vec<(u64, u64)>) -> Self {
        let mut h = Hist::default();
        for (value, count) in pairs {
            h.0.saturating_record_n(value.clamp(1, MAX_US), count);
        }
        h
    }
}

impl From<Hist> for Vec<(u64, u64)> {
    fn from(h: Hist) -> Self {
        h.0.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }
}

impl Hist {
    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_US));
    }

    pub fn record(&mut self, d: Duration) {
        self.record_us(d.as_micros().min(u128::from(MAX_US)) as u64);
    }

    pub fn merge(&mut self, other: &Hist) {
        if self.0.add(&other.0).is_err() {
            for v in other.0.iter_recorded() {
                self.0
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Value at quantile `q` in microseconds (0 when empty).
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    /// `{count, min, p50, p90, p99, max, mean}` in microseconds.
    pub fn summary_us(&self) -> Value {
        if self.0.is_empty() {
            return json!({ "count": 0 });
        }
        json!({
            "count": self.0.len(),
            "min": self.0.min(),
            "p50": self.0.value_at_quantile(0.50),
            "p90": self.0.value_at_quantile(0.90),
            "p99": self.0.value_at_quantile(0.99),
            "max": self.0.max(),
            "mean": (self.0.mean() * 10.0).round() / 10.0,
        })
    }

    /// "p50 1.23 ms, p99 4.56 ms" style, for the human summary.
    pub fn describe_ms(&self, quantiles: &[(f64, &str)]) -> String {
        if self.0.is_empty() {
            return "no samples".to_owned();
        }
        let mut parts: Vec<String> = quantiles
            .iter()
            .map(|(q, name)| format!("{name} {:.2} ms", self.quantile_us(*q) as f64 / 1000.0))
            .collect();
        parts.push(format!("max {:.2} ms", self.0.max() as f64 / 1000.0));
        parts.join(", ")
    }
}

/// Counts by cause (failures, drops, refusals).
pub type Tally = BTreeMap<String, u64>;

pub fn tally_add(into: &mut Tally, from: &Tally) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

pub fn tally_total(t: &Tally) -> u64 {
    t.values().sum()
}

/// How opening the connections went, in one process or summed over several.
#[derive(Default, Clone, Serialize, Deserialize)]
pub struct SetupStats {
    pub attempted: u64,
    /// Connected and joined (the ones the scenario goes on with).
    pub joined: u64,
    pub failures: Tally,
    /// TCP connect through the WebSocket upgrade.
    pub connect_us: Hist,
    /// `join` sent to `joined` received.
    pub join_us: Hist,
    /// From the start of connecting to the last outcome (max over processes).
    pub wall_s: f64,
}

impl SetupStats {
    pub fn merge(&mut self, other: &SetupStats) {
        self.attempted += other.attempted;
        self.joined += other.joined;
        tally_add(&mut self.failures, &other.failures);
        self.connect_us.merge(&other.connect_us);
        self.join_us.merge(&other.join_us);
        self.wall_s = self.wall_s.max(other.wall_s);
    }

    pub fn to_json(&self) -> Value {
        json!({
            "attempted": self.attempted,
            "joined": self.joined,
            "failed": tally_total(&self.failures),
            "failures": self.failures,
            "wall_s": round3(self.wall_s),
            "rate_per_s": round1(rate(self.joined as f64, self.wall_s)),
            "connect_us": self.connect_us.summary_us(),
            "join_us": self.join_us.summary_us(),
        })
    }
}

/// `n / secs`, 0 when `secs` is 0.
pub fn rate(n: f64, secs: f64) -> f64 {
    if secs > 0.0 { n / secs } else { 0.0 }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_trip_between_processes() {
        let mut h = Hist::default();
        for us in [5, 1_000, 1_000, 25_000, 2_000_000] {
            h.record_us(us);
        }
        let wire = serde_json::to_string(&h).expect("serialise");
        let back: Hist = serde_json::from_str(&wire).expect("deserialise");
        assert_eq!(back.len(), 5);
        assert_eq!(back.quantile_us(0.5), h.quantile_us(0.5));
        let mut sum = Hist::default();
        sum.merge(&back);
        sum.merge(&h);
        assert_eq!(sum.len(), 10);
    }
}
