//! `roomcast-loadtest`: load tests for a roomcast server running on this
//! machine. This file owns the run as a whole: argument checks (loopback URLs
//! only, the open-file budget), the Tokio runtime (`--threads`), `--max-runtime`,
//! one process or `--procs` children, and the exit code (0 pass, 1 fail, 2 refused
//! arguments).

mod cli;
mod client;
mod coord;
mod report;
mod scenario;
mod stats;
mod sys;
mod target;
mod token;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Map;

use crate::cli::{ChildRole, Cli, DEFAULT_URL};
use crate::coord::Worker;
use crate::scenario::Ctx;
use crate::target::{Router, Target};

/// Open files kept free for everything that is not a connection.
const FD_RESERVE: u64 = 100;

/// Exit codes.
const EXIT_FAIL: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match prepare(&cli) {
        Ok(prepared) => execute(&cli, prepared),
        Err(msg) => {
            eprintln!("roomcast-loadtest: {msg}");
            EXIT_USAGE
        }
    };
    // Leave at once: connection tasks still closing must not hold the exit.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(i32::from(code));
}

struct Prepared {
    targets: Vec<Target>,
    urls: Vec<String>,
    child: Option<ChildRole>,
    procs: usize,
    src_ips: Option<u8>,
    warnings: Vec<String>,
}

/// Everything that can be refused before connecting anywhere (exit 2).
fn prepare(cli: &Cli) -> Result<Prepared, String> {
    let g = &cli.global;
    let urls: Vec<String> = if g.urls.is_empty() {
        vec![DEFAULT_URL.to_owned()]
    } else {
        g.urls.clone()
    };
    let targets = urls
        .iter()
        .map(|u| target::parse_target(u).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let child = g
        .child
        .as_deref()
        .map(ChildRole::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let procs = child.as_ref().map_or(g.procs, |c| c.count);
    if procs == 0 {
        return Err("--procs must be at least 1".to_owned());
    }
    if g.threads == Some(0) {
        return Err("--threads must be at least 1".to_owned());
    }
    if g.max_runtime == 0 {
        return Err("--max-runtime must be at least 1 second".to_owned());
    }
    let mut warnings = scenario::check(&cli.scenario).map_err(|e| e.to_string())?;
    if !g.server_pids.is_empty() && g.server_pids.len() != targets.len() {
        warnings.push(format!(
            "{} --server-pid for {} --url: server numbers are summed over the PIDs given",
            g.server_pids.len(),
            targets.len()
        ));
    }
    let src_ips = match g.src_ips {
        Some(0) => return Err("--src-ips must be 1 to 254".to_owned()),
        Some(k) => Some(k),
        None => match target::auto_src_ips(scenario::total_conns(&cli.scenario)) {
            1 => None,
            k => Some(k),
        },
    };

    // The open-file budget: the hard limit cannot be raised, only the soft one.
    let limit = sys::raise_nofile_limit();
    let budget = limit.saturating_sub(FD_RESERVE);
    let worst = (0..procs)
        .map(|i| scenario::per_process(&cli.scenario, i, procs))
        .max()
        .unwrap_or(0) as u64;
    if worst > budget {
        let need = (scenario::total_conns(&cli.scenario) as u64).div_ceil(budget.max(1));
        return Err(format!(
            "one process would open {worst} connections but may only have {limit} open files \
             ({budget} for connections); use --procs {need} or more to spread them over processes"
        ));
    }
    Ok(Prepared {
        targets,
        urls,
        child,
        procs,
        src_ips,
        warnings,
    })
}

fn execute(cli: &Cli, p: Prepared) -> u8 {
    // One worker thread per CPU this process may use, unless --threads says otherwise.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.global.threads {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roomcast-loadtest: cannot start the async runtime: {e}");
            return EXIT_FAIL;
        }
    };
    let max_runtime = Duration::from_secs(cli.global.max_runtime);
    runtime.block_on(async move {
        match p.child.clone() {
            Some(role) => run_child(cli, &p, &role, max_runtime).await,
            None => run_top(cli, &p, max_runtime).await,
        }
    })
}

fn make_ctx(cli: &Cli, p: &Prepared, nonce: &str) -> Arc<Ctx> {
    let g = &cli.global;
    // Exit code 2, like every other argument the tool refuses.
    let secret = jwt_secret(g.jwt_secret.as_deref()).unwrap_or_else(|e| {
        eprintln!("roomcast-loadtest: {e}");
        std::process::exit(2)
    });
    Arc::new(Ctx {
        router: Router::new(p.targets.clone(), p.src_ips),
        minter: token::Minter::new(&secret, g.max_runtime + 3600),
        nonce: nonce.to_owned(),
        server_pids: g.server_pids.clone(),
        concurrency: g.connect_concurrency.div_ceil(p.procs).max(1),
        connect_timeout: Duration::from_secs(g.connect_timeout.max(1)),
    })
}

/// A worker process started by a `--procs` parent: run, report on stdout.
async fn run_child(cli: &Cli, p: &Prepared, role: &ChildRole, max_runtime: Duration) -> u8 {
    // Warnings are the parent's to print, in its summary.
    let ctx = make_ctx(cli, p, &role.nonce);
    let mut worker = Worker::child(role);
    let outcome =
        match tokio::time::timeout(max_runtime, scenario::run(ctx, &cli.scenario, &mut worker))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "worker {} exceeded --max-runtime {} s",
                role.index,
                max_runtime.as_secs()
            )),
        };
    if let Err(e) = worker.send_result(&outcome) {
        eprintln!("worker {}: {e:#}", role.index);
        return EXIT_FAIL;
    }
    if outcome.is_ok() { 0 } else { EXIT_FAIL }
}

/// A run's identity, shared with the children: names its rooms and messages.
fn new_nonce() -> String {
    // splitmix64 of the time and PID: distinct across runs, no RNG dependency.
    let mut z = sys::unix_ns() ^ (u64::from(std::process::id()) << 32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:08x}", (z ^ (z >> 31)) as u32)
}

/// The process the user started: run alone or drive children, then report.
async fn run_top(cli: &Cli, p: &Prepared, max_runtime: Duration) -> u8 {
    let nonce = new_nonce();
    let started_unix_s = sys::unix_s();
    let t0 = Instant::now();
    let scenario = &cli.scenario;
    let results = tokio::time::timeout(max_runtime, async {
        if p.procs > 1 {
            coord::run_children(p.procs, &nonce).await
        } else {
            let ctx = make_ctx(cli, p, &nonce);
            let mut worker = Worker::solo();
            scenario::run(ctx, scenario, &mut worker)
                .await
                .map(|v| vec![v])
        }
    })
    .await
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the run exceeded --max-runtime {} s and was stopped",
            max_runtime.as_secs()
        ))
    });
    let outcome = results.and_then(|r| scenario::summarize(scenario, r));
    let header = report::Header {
        scenario: scenario.name(),
        label: cli.global.label.as_deref(),
        nonce: &nonce,
        started_unix_s,
        wall_s: t0.elapsed().as_secs_f64(),
        procs: p.procs,
        urls: &p.urls,
        src_ips: p.src_ips,
        client_cpu_total_s: sys::self_cpu_s() + sys::children_cpu_s(),
        warnings: &p.warnings,
    };
    let (ok, fields, lines, problems) = match outcome {
        Ok(o) => (o.ok, o.fields, o.lines, o.problems),
        Err(e) => {
            let msg = format!("{e:#}");
            let mut fields = Map::new();
            fields.insert("error".into(), serde_json::json!(msg));
            (false, fields, Vec::new(), vec![msg])
        }
    };
    report::human(&header, ok, &lines, &problems);
    let line = report::line(&header, ok, fields, &problems);
    if let Err(e) = report::write(&line, cli.global.json_out.as_deref()) {
        eprintln!("roomcast-loadtest: {e}");
        return EXIT_FAIL;
    }
    if ok { 0 } else { EXIT_FAIL }
}

/// The senders' signing secret: `--jwt-secret`, else the server's generated one.
fn jwt_secret(given: Option<&str>) -> Result<String, String> {
    if let Some(s) = given {
        return Ok(s.to_owned());
    }
    let kept = std::fs::read_to_string(cli::SECRET_FILE).map_err(|e| {
        format!(
            "no --jwt-secret given and {} is not readable ({e}): pass the server's secret",
            cli::SECRET_FILE
        )
    })?;
    Ok(kept.trim().to_owned())
}
