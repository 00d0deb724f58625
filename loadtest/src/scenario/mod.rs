//! What every scenario shares: the run context (servers, tokens, room names),
//! opening connections under a concurrency limit with their outcomes tallied,
//! the shape of a scenario's outcome (pass/fail, JSON fields, human lines).
//! The phases connection tasks follow and the pacing of sends are in [`pace`].
//!
//! Each scenario module has a `run` (one worker's part: returns a JSON value)
//! and a `summarize` (all workers' values → the outcome). With `--procs 1` the
//! one worker's value goes straight to `summarize`.

pub mod churn;
pub mod connections;
pub mod fanout;
pub mod pace;
pub mod reactions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc};

use crate::client::{self, Client, FD_CAP};
use crate::stats::SetupStats;
use crate::sys::{self, ServerSample};
use crate::target::Router;
use crate::token::Minter;

/// What a run needs to open connections and name things.
pub struct Ctx {
    pub router: Router,
    pub minter: Minter,
    /// Identifies this run's rooms and messages (shared by all worker processes).
    pub nonce: String,
    pub server_pids: Vec<u32>,
    /// Connections this process opens at once.
    pub concurrency: usize,
    pub connect_timeout: Duration,
}

impl Ctx {
    /// A room id unique to this run: `lt-<nonce>-<name>`.
    pub fn room(&self, name: &str) -> String {
        format!("lt-{}-{name}", self.nonce)
    }

    /// Sample the servers (when `--server-pid` was given).
    pub fn sample_servers(&self) -> Option<ServerSample> {
        sys::sample_servers(&self.server_pids)
    }
}

/// One connection's setup, as reported to [`Outcomes::collect`].
struct Opened {
    label: u32,
    result: Result<(Duration, Duration), String>,
}

/// Opens connections for tasks (clone it into each): dial, welcome, join, all
/// within the connect timeout and under the process's concurrency limit.
#[derive(Clone)]
pub struct Opener {
    ctx: Arc<Ctx>,
    permits: Arc<Semaphore>,
    outcomes: mpsc::UnboundedSender<Opened>,
}

/// Receives the outcomes of an [`Opener`]'s connections.
pub struct Outcomes {
    rx: mpsc::UnboundedReceiver<Opened>,
    started: Instant,
    stats: SetupStats,
    joined_by_label: std::collections::BTreeMap<u32, u64>,
}

pub fn opener(ctx: Arc<Ctx>) -> (Opener, Outcomes) {
    let (tx, rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(ctx.concurrency.max(1)));
    (
        Opener {
            ctx,
            permits,
            outcomes: tx,
        },
        Outcomes {
            rx,
            started: Instant::now(),
            stats: SetupStats::default(),
            joined_by_label: Default::default(),
        },
    )
}

impl Opener {
    /// Open connection number `global` (as user `sub`, with a token, or
    /// anonymous) and join `room`. `None` if it failed; the cause is tallied.
    /// Successes are also counted by `label` (a room, a role), so that counts
    /// are complete as soon as [`Outcomes::collect`] returns.
    pub async fn open(
        &self,
        global: usize,
        sub: Option<&str>,
        room: &str,
        label: u32,
    ) -> Option<Client> {
        let result = match self.permits.acquire().await {
            Ok(_permit) => {
                tokio::time::timeout(self.ctx.connect_timeout, self.dial_join(global, sub, room))
                    .await
                    .unwrap_or_else(|_| Err("timeout".to_owned()))
            }
            Err(_) => Err("shutdown".to_owned()),
        };
        let (client, result) = match result {
            Ok((c, connect, join)) => (Some(c), Ok((connect, join))),
            Err(e) => (None, Err(e)),
        };
        let _ = self.outcomes.send(Opened { label, result });
        client
    }

    async fn dial_join(
        &self,
        global: usize,
        sub: Option<&str>,
        room: &str,
    ) -> Result<(Client, Duration, Duration), String> {
        let token = match sub {
            Some(sub) => Some(self.ctx.minter.mint(sub).map_err(|_| "token".to_owned())?),
            None => None,
        };
        let (mut c, dialed) = client::dial(&self.ctx.router, global, token.as_deref()).await?;
        let t = Instant::now();
        c.join(room).await?;
        Ok((c, dialed.connect, t.elapsed()))
    }
}

impl Outcomes {
    fn take(&mut self, o: Opened) {
        self.stats.attempted += 1;
        match o.result {
            Ok((connect, join)) => {
                self.stats.joined += 1;
                *self.joined_by_label.entry(o.label).or_default() += 1;
                self.stats.connect_us.record(connect);
                self.stats.join_us.record(join);
            }
            Err(cause) => *self.stats.failures.entry(cause).or_default() += 1,
        }
        self.stats.wall_s = self.started.elapsed().as_secs_f64();
    }

    /// Wait for `n` outcomes, at most `limit`; missing ones count as `setup_timeout`.
    pub async fn collect(&mut self, n: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut got = 0;
        while got < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(o)) => {
                    self.take(o);
                    got += 1;
                }
                Ok(None) | Err(_) => {
                    let missing = (n - got) as u64;
                    self.stats.attempted += missing;
                    *self
                        .stats
                        .failures
                        .entry("setup_timeout".to_owned())
                        .or_default() += missing;
                    return;
                }
            }
        }
    }

    /// Take whatever outcomes have arrived, without waiting.
    pub fn drain(&mut self) {
        while let Ok(o) = self.rx.try_recv() {
            self.take(o);
        }
    }

    pub fn stats(&self) -> &SetupStats {
        &self.stats
    }

    /// Hand over the statistics so far and start afresh (a new phase).
    pub fn take_stats(&mut self) -> SetupStats {
        self.started = Instant::now();
        std::mem::take(&mut self.stats)
    }

    /// Connections with this label that opened and joined.
    pub fn joined_with(&self, label: u32) -> u64 {
        self.joined_by_label.get(&label).copied().unwrap_or(0)
    }
}

/// A generous bound on opening `n` connections.
pub fn setup_limit(ctx: &Ctx, n: usize) -> Duration {
    let waves = n.div_ceil(ctx.concurrency.max(1)).max(1) as u32;
    ctx.connect_timeout * waves.min(1000) + Duration::from_secs(10)
}

/// CPU and wall time of the measured part of a worker's run, and the cores it
/// could have used.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Busy {
    pub cpu_s: f64,
    pub wall_s: f64,
    /// Tokio worker threads of the process (`--threads`).
    #[serde(default)]
    pub threads: usize,
    /// CPUs the process may run on (its affinity mask, e.g. `taskset -c 0` → 1).
    #[serde(default)]
    pub cpus: usize,
    /// After [`Busy::merge`]: every process's own figures, in worker order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub procs: Vec<Busy>,
}

impl Busy {
    /// Add another worker's figures: CPU adds up, wall time is the longest.
    pub fn merge(&mut self, o: &Busy) {
        self.cpu_s += o.cpu_s;
        self.wall_s = self.wall_s.max(o.wall_s);
        self.threads = self.threads.max(o.threads);
        self.cpus = self.cpus.max(o.cpus);
        if o.procs.is_empty() {
            self.procs.push(o.clone());
        } else {
            self.procs.extend(o.procs.iter().cloned());
        }
    }

    /// Cores the process could keep busy: its worker threads, at most its CPUs.
    fn usable_cores(&self) -> usize {
        self.threads.max(1).min(self.cpus.max(1))
    }

    /// Used more than 90 % of its usable cores (below half a second the ratio is noise).
    fn saturated(&self, usable: usize) -> bool {
        self.wall_s >= 0.5 && self.cpu_s / self.wall_s > SATURATED * usable as f64
    }
}

/// Share of its usable cores above which a client counts as saturated.
const SATURATED: f64 = 0.9;

/// Measures [`Busy`] from its creation.
pub struct BusyMeter {
    cpu0: f64,
    t0: Instant,
}

impl BusyMeter {
    pub fn start() -> BusyMeter {
        BusyMeter {
            cpu0: sys::self_cpu_s(),
            t0: Instant::now(),
        }
    }
    pub fn stop(&self) -> Busy {
        Busy {
            cpu_s: sys::self_cpu_s() - self.cpu0,
            wall_s: self.t0.elapsed().as_secs_f64(),
            threads: tokio::runtime::Handle::try_current()
                .map(|h| h.metrics().num_workers())
                .unwrap_or(1),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            procs: Vec::new(),
        }
    }
}

/// The client's own load during the measured part: a load tester that is busy
/// most of the time measures itself, not the server.
///
/// A process is saturated when its CPU time over wall time exceeds 90 % of the
/// cores it can use (min of its worker threads and its CPUs). The client as a
/// whole is saturated when any process is, or when all processes together
/// exceed 90 % of the CPUs they share (`--procs 2` under `taskset -c 0` share
/// one core). With several processes, `per_process` has each one's figures.
pub fn client_json(busy: &Busy) -> Value {
    use crate::stats::{rate, round3};
    let procs: Vec<&Busy> = if busy.procs.is_empty() {
        vec![busy]
    } else {
        busy.procs.iter().collect()
    };
    let usable: usize = procs.iter().map(|p| p.usable_cores()).sum();
    let usable = usable.min(busy.cpus.max(1));
    let any = procs.iter().any(|p| p.saturated(p.usable_cores()));
    let mut out = serde_json::json!({
        "cpu_s": round3(busy.cpu_s),
        "wall_s": round3(busy.wall_s),
        "cpu_per_wall": round3(rate(busy.cpu_s, busy.wall_s)),
        "threads": busy.threads,
        "cpus": busy.cpus,
        "usable_cores": usable,
        "client_saturated": any || busy.saturated(usable),
    });
    if procs.len() > 1 {
        out["per_process"] = procs
            .iter()
            .map(|p| {
                serde_json::json!({
                    "cpu_s": round3(p.cpu_s),
                    "wall_s": round3(p.wall_s),
                    "cpu_per_wall": round3(rate(p.cpu_s, p.wall_s)),
                    "threads": p.threads,
                    "cpus": p.cpus,
                    "saturated": p.saturated(p.usable_cores()),
                })
            })
            .collect();
    }
    out
}

/// Human line for [`client_json`]'s value.
pub fn client_line(client: &Value) -> String {
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let mut line = format!(
        "client CPU {:.2} s over {:.2} s ({} worker threads, {} CPUs per process)",
        f(client, "cpu_s"),
        f(client, "wall_s"),
        client["threads"],
        client["cpus"],
    );
    if let Some(procs) = client["per_process"].as_array() {
        let each: Vec<String> = procs
            .iter()
            .map(|p| format!("{:.2}", f(p, "cpu_per_wall")))
            .collect();
        line += &format!("; CPU/wall by process: {}", each.join(", "));
    }
    if client["client_saturated"] == Value::Bool(true) {
        line += " — the client is saturated: these numbers measure the load tester, not the server";
    }
    line
}

/// What a scenario concluded.
pub struct Outcome {
    pub ok: bool,
    /// Scenario fields of the JSON line.
    pub fields: Map<String, Value>,
    /// Human summary lines.
    pub lines: Vec<String>,
    /// Why the run failed (or what looks wrong), for both outputs.
    pub problems: Vec<String>,
}

/// The problems every scenario reports about opening connections.
pub fn setup_problems(setup: &SetupStats, problems: &mut Vec<String>) {
    let fd = setup.failures.get(FD_CAP).copied().unwrap_or(0);
    if fd > 0 {
        problems.push(format!(
            "{fd} connects failed with EMFILE/ENFILE: the load tester hit its own open-file cap \
             (not a server fault); use --procs to spread connections over more processes"
        ));
    }
    if let Some(n) = setup.failures.get("addr_unavailable") {
        problems.push(format!(
            "{n} connects failed with EADDRNOTAVAIL: out of client ports; use --src-ips"
        ));
    }
    if let Some(n) = setup.failures.get("http_401") {
        problems.push(format!(
            "{n} upgrades were refused with 401: does --jwt-secret (or ROOMCAST_JWT_SECRET) \
             match the server's auth.jwt_secret?"
        ));
    }
    let failed = crate::stats::tally_total(&setup.failures);
    if failed > 0 {
        problems.push(format!(
            "{failed} of {} connections failed to open and join: {}",
            setup.attempted,
            describe_tally(&setup.failures)
        ));
    }
}

/// "refused 3, timeout 2"
pub fn describe_tally(t: &crate::stats::Tally) -> String {
    if t.is_empty() {
        return "none".to_owned();
    }
    t.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Human line for the setup phase.
pub fn setup_line(setup: &SetupStats) -> String {
    format!(
        "connections: {}/{} joined in {:.2} s ({:.0}/s); connect {}; join {}; failures: {}",
        setup.joined,
        setup.attempted,
        setup.wall_s,
        crate::stats::rate(setup.joined as f64, setup.wall_s),
        setup.connect_us.describe_ms(&[(0.5, "p50"), (0.99, "p99")]),
        setup.join_us.describe_ms(&[(0.5, "p50"), (0.99, "p99")]),
        describe_tally(&setup.failures)
    )
}

/// Deserialise every worker's value.
pub fn parse_results<T: for<'de> Deserialize<'de>>(values: Vec<Value>) -> anyhow::Result<Vec<T>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v)
                .map_err(|e| anyhow::anyhow!("unreadable result of worker {i}: {e}"))
        })
        .collect()
}

/// Server CPU between two samples, and RSS at each.
pub fn server_delta(a: Option<ServerSample>, b: Option<ServerSample>) -> Option<f64> {
    Some(b?.cpu_s - a?.cpu_s)
}

/// A small xorshift generator (no dependency needed for picking victims).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform-ish in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// Dispatch by scenario
// ---------------------------------------------------------------------------

use crate::cli::Scenario;
use crate::coord::Worker;

/// Check a scenario's arguments; returns warnings worth showing.
pub fn check(s: &Scenario) -> anyhow::Result<Vec<String>> {
    match s {
        Scenario::Connections(a) => {
            anyhow::ensure!(a.conns >= 1, "--conns must be at least 1");
            anyhow::ensure!(a.rooms >= 1, "--rooms must be at least 1");
            anyhow::ensure!(
                a.hold >= 0.0 && a.hold.is_finite(),
                "--hold must be 0 or more"
            );
            Ok(Vec::new())
        }
        Scenario::Fanout(a) => fanout::check(a),
        Scenario::Reactions(a) => reactions::check(a).map(|_| Vec::new()),
        Scenario::Churn(a) => churn::check(a).map(|_| Vec::new()),
    }
}

/// Connections of the whole run (for the `--src-ips` default).
pub fn total_conns(s: &Scenario) -> usize {
    match s {
        Scenario::Connections(a) => a.conns,
        Scenario::Fanout(a) => a.rooms * (a.viewers + fanout::senders(a)),
        Scenario::Reactions(a) => a.viewers,
        Scenario::Churn(a) => a.viewers + 1,
    }
}

/// Open files worker `index` of `count` may need for its connections.
pub fn per_process(s: &Scenario, index: usize, count: usize) -> usize {
    match s {
        Scenario::Connections(a) => connections::per_process(a, index, count),
        Scenario::Fanout(a) => fanout::per_process(a, index, count),
        Scenario::Reactions(a) => reactions::per_process(a, index, count),
        Scenario::Churn(a) => churn::per_process(a, index, count),
    }
}

/// This process's part of the run.
pub async fn run(ctx: Arc<Ctx>, s: &Scenario, worker: &mut Worker) -> anyhow::Result<Value> {
    match s {
        Scenario::Connections(a) => connections::run(ctx, a, worker).await,
        Scenario::Fanout(a) => fanout::run(ctx, a, worker).await,
        Scenario::Reactions(a) => reactions::run(ctx, a, worker).await,
        Scenario::Churn(a) => churn::run(ctx, a, worker).await,
    }
}

/// Every worker's part → the outcome.
pub fn summarize(s: &Scenario, results: Vec<Value>) -> anyhow::Result<Outcome> {
    match s {
        Scenario::Connections(a) => connections::summarize(a, results),
        Scenario::Fanout(a) => fanout::summarize(a, results),
        Scenario::Reactions(a) => reactions::summarize(a, results),
        Scenario::Churn(a) => churn::summarize(a, results),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(cpu_s: f64, threads: usize, cpus: usize) -> Busy {
        Busy {
            cpu_s,
            wall_s: 10.0,
            threads,
            cpus,
            procs: Vec::new(),
        }
    }

    fn merged(parts: &[Busy]) -> Value {
        let mut sum = Busy::default();
        for p in parts {
            sum.merge(p);
        }
        client_json(&sum)
    }

    #[test]
    fn saturation_is_relative_to_the_cores_a_process_can_use() {
        // One process on one core: as before, above 0.9 of it.
        assert_eq!(merged(&[busy(9.5, 1, 1)])["client_saturated"], true);
        assert_eq!(merged(&[busy(8.0, 1, 1)])["client_saturated"], false);
        // Two worker threads on two CPUs: 1.5 cores' worth is not saturated.
        let two = merged(&[busy(15.0, 2, 2)]);
        assert_eq!(two["client_saturated"], false);
        assert_eq!(two["usable_cores"], 2);
        assert!(two.get("per_process").is_none());
        // More threads than CPUs do not add cores.
        assert_eq!(merged(&[busy(9.5, 4, 1)])["client_saturated"], true);
    }

    #[test]
    fn processes_are_judged_each_and_together() {
        // Two processes sharing one core (taskset -c 0): each at 0.5, together full.
        let shared = merged(&[busy(5.0, 1, 1), busy(4.8, 1, 1)]);
        assert_eq!(shared["client_saturated"], true);
        assert_eq!(shared["per_process"][0]["saturated"], false);
        assert_eq!(shared["per_process"].as_array().map(Vec::len), Some(2));
        // Two processes on two CPUs, one of them saturated.
        let one_hot = merged(&[busy(9.5, 1, 2), busy(2.0, 1, 2)]);
        assert_eq!(one_hot["client_saturated"], true);
        assert_eq!(one_hot["per_process"][0]["saturated"], true);
        assert_eq!(one_hot["per_process"][1]["saturated"], false);
        // Two processes on two CPUs, both comfortable.
        let fine = merged(&[busy(6.0, 1, 2), busy(6.0, 1, 2)]);
        assert_eq!(fine["client_saturated"], false);
        assert!(client_line(&fine).contains("CPU/wall by process: 0.60, 0.60"));
    }
}
