//! Scenario `connections`: open N anonymous connections over R rooms (connection
//! i joins room i % R), hold them S seconds, close them. Measures the connect
//! rate and latency, failures by cause, connections the server dropped during
//! the hold, and the server's memory per connection and CPU time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::pace::{self, Phase, wait_stop};
use super::{
    Busy, BusyMeter, Ctx, Outcome, client_json, describe_tally, opener, parse_results,
    server_delta, setup_limit, setup_line, setup_problems,
};
use crate::cli::ConnectionsArgs;
use crate::client::Event;
use crate::coord::Worker;
use crate::stats::{SetupStats, Tally, round1, round3, tally_add, tally_total};
use crate::sys::ServerSample;

/// How long closing one connection may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Connections one process opens for `args` as worker `index` of `count`.
pub fn per_process(args: &ConnectionsArgs, index: usize, count: usize) -> usize {
    (0..args.conns).filter(|g| g % count == index).count()
}

#[derive(Default, Serialize, Deserialize)]
struct ServerTrace {
    before: Option<ServerSample>,
    connected: Option<ServerSample>,
    held: Option<ServerSample>,
    closed: Option<ServerSample>,
}

#[derive(Default, Serialize, Deserialize)]
struct Part {
    setup: SetupStats,
    /// Connections that ended before we closed them, by cause.
    dropped: Tally,
    frames: u64,
    close_s: f64,
    busy: Busy,
    /// Filled by the leader only.
    server: ServerTrace,
}

pub async fn run(
    ctx: Arc<Ctx>,
    args: &ConnectionsArgs,
    worker: &mut Worker,
) -> anyhow::Result<Value> {
    let meter = BusyMeter::start();
    let leader = worker.is_leader();
    let sample = |on: bool| if on { ctx.sample_servers() } else { None };
    let mine: Vec<usize> = (0..args.conns).filter(|g| worker.owns(*g)).collect();
    let n = mine.len();
    let mut part = Part::default();

    part.server.before = sample(leader);
    worker.barrier("start", Value::Null).await?;

    let (opener, mut outcomes) = opener(ctx.clone());
    let (phase, phase_rx) = watch::channel(Phase::Setup);
    let mut tasks: JoinSet<Option<Result<u64, String>>> = JoinSet::new();
    for g in mine {
        let opener = opener.clone();
        let room = ctx.room(&format!("r{}", g % args.rooms));
        let mut phase_rx = phase_rx.clone();
        tasks.spawn(async move {
            let mut client = opener.open(g, None, &room, 0).await?;
            let mut frames = 0u64;
            loop {
                tokio::select! {
                    ev = client.recv() => match ev {
                        Event::Text(_) => frames += 1,
                        Event::Closed(cause) => return Some(Err(cause)),
                    },
                    _ = wait_stop(&mut phase_rx) => {
                        client.close(CLOSE_WAIT).await;
                        return Some(Ok(frames));
                    }
                }
            }
        });
    }
    drop(opener);
    outcomes.collect(n, setup_limit(&ctx, n)).await;
    part.setup = outcomes.stats().clone();

    worker.barrier("connected", Value::Null).await?;
    part.server.connected = sample(leader);
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    worker.barrier("held", Value::Null).await?;
    part.server.held = sample(leader);

    let closing = Instant::now();
    pace::stop_and_join(&phase, &mut tasks, CLOSE_WAIT, |res| match res {
        Ok(Some(Ok(frames))) => part.frames += frames,
        Ok(Some(Err(cause))) => *part.dropped.entry(cause).or_default() += 1,
        Ok(None) => {}
        Err(_) => *part.dropped.entry("task_panicked".to_owned()).or_default() += 1,
    })
    .await;
    part.close_s = closing.elapsed().as_secs_f64();
    worker.barrier("closed", Value::Null).await?;
    if leader {
        // Give the server a moment to release what the closed connections held.
        tokio::time::sleep(Duration::from_secs(1)).await;
        part.server.closed = ctx.sample_servers();
    }
    part.busy = meter.stop();
    Ok(serde_json::to_value(part)?)
}

pub fn summarize(args: &ConnectionsArgs, results: Vec<Value>) -> anyhow::Result<Outcome> {
    let parts: Vec<Part> = parse_results(results)?;
    let mut setup = SetupStats::default();
    let mut dropped = Tally::new();
    let mut busy = Busy::default();
    let mut frames = 0;
    let mut close_s: f64 = 0.0;
    for p in &parts {
        setup.merge(&p.setup);
        tally_add(&mut dropped, &p.dropped);
        busy.merge(&p.busy);
        frames += p.frames;
        close_s = close_s.max(p.close_s);
    }
    let server = parts.first().map(|p| &p.server);
    let get = |f: fn(&ServerTrace) -> Option<ServerSample>| server.and_then(f);
    let before = get(|s| s.before);
    let connected = get(|s| s.connected);
    let held = get(|s| s.held);
    let closed = get(|s| s.closed);
    let kib_per_conn = match (before, connected) {
        (Some(b), Some(c)) if setup.joined > 0 => Some(round3(
            (c.rss_kib as f64 - b.rss_kib as f64) / setup.joined as f64,
        )),
        _ => None,
    };
    let cpu_connect = server_delta(before, connected);
    let cpu_total = server_delta(before, closed.or(held));

    let mut problems = Vec::new();
    setup_problems(&setup, &mut problems);
    let n_dropped = tally_total(&dropped);
    if n_dropped > 0 {
        problems.push(format!(
            "{n_dropped} connections ended before the hold was over: {}",
            describe_tally(&dropped)
        ));
    }
    let ok = problems.is_empty();

    let rss = |s: Option<ServerSample>| s.map(|s| s.rss_kib);
    let mut fields = Map::new();
    fields.insert(
        "params".into(),
        json!({ "conns": args.conns, "rooms": args.rooms, "hold_s": args.hold }),
    );
    fields.insert("connections".into(), setup.to_json());
    fields.insert(
        "connect_rate_per_s".into(),
        json!(round1(crate::stats::rate(
            setup.joined as f64,
            setup.wall_s
        ))),
    );
    fields.insert("dropped_during_hold".into(), json!(dropped));
    fields.insert("frames_received".into(), json!(frames));
    fields.insert("close_s".into(), json!(round3(close_s)));
    fields.insert(
        "server".into(),
        json!({
            "rss_kib_before": rss(before),
            "rss_kib_connected": rss(connected),
            "rss_kib_after_hold": rss(held),
            "rss_kib_after_close": rss(closed),
            "server_kib_per_conn": kib_per_conn,
            "cpu_s_connect": cpu_connect.map(round3),
            "cpu_s_total": cpu_total.map(round3),
        }),
    );
    fields.insert("client".into(), client_json(&busy));

    let mut lines = vec![setup_line(&setup)];
    lines.push(format!(
        "held {} s; dropped during hold: {}; closed in {:.2} s",
        args.hold,
        describe_tally(&dropped),
        close_s
    ));
    match (before, connected, held) {
        (Some(b), Some(c), Some(h)) => lines.push(format!(
            "server RSS: {} KiB before, {} KiB connected, {} KiB after hold{} → {} KiB per connection; \
             server CPU {:.2} s connecting, {:.2} s in all",
            b.rss_kib,
            c.rss_kib,
            h.rss_kib,
            closed
                .map(|s| format!(", {} KiB after close", s.rss_kib))
                .unwrap_or_default(),
            kib_per_conn.map(|k| format!("{k:.1}")).unwrap_or("?".into()),
            cpu_connect.unwrap_or(0.0),
            cpu_total.unwrap_or(0.0),
        )),
        _ => lines.push("server: not sampled (give --server-pid)".to_owned()),
    }
    Ok(Outcome {
        ok,
        fields,
        lines,
        problems,
    })
}
