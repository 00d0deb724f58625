//! Scenario `fanout`: R rooms, each with V anonymous viewers and S token users
//! who send M messages per second in total. Every viewer measures end-to-end
//! latency (receive time − the send time written in the text) of this run's
//! messages; the run checks that every accepted message reached every viewer.
//!
//! A message's text is `lt:<send unix nanos>:<run nonce>:<seq>` padded to
//! `--text-len`. Message k of a room is due at go + k/M (rooms staggered within
//! one interval) and is sent by sender k mod S, so each sender sends M/S per second.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::pace::{self, Follower, Phase, Schedule, wait_stop};
use super::{
    Busy, Ctx, Outcome, client_json, client_line, describe_tally, opener, parse_results,
    server_delta, setup_limit, setup_line, setup_problems,
};
use crate::cli::FanoutArgs;
use crate::client::{Client, Event, Incoming};
use crate::coord::Worker;
use crate::stats::{Hist, SetupStats, Tally, rate, round1, round3, tally_add, tally_total};
use crate::sys::{ServerSample, unix_ns};

/// Per-sender rate the default number of senders keeps to.
const SENDER_RATE: f64 = 0.4;
/// Per-sender rate above which the server's 5 msgs / 10 s limit refuses messages.
const SENDER_RATE_LIMIT: f64 = 0.5;
/// Longest chat text the server accepts.
const MAX_TEXT: usize = 500;
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// The [`super::Opener`] label of senders (viewers are labelled by room).
const SENDER_LABEL: u32 = u32::MAX;
/// Latency samples a viewer keeps before adding them to the shared histogram.
const BATCH: usize = 256;

/// Senders per room: as given, or ceil(rate / 0.4).
pub fn senders(args: &FanoutArgs) -> usize {
    args.senders
        .unwrap_or_else(|| (args.rate / SENDER_RATE).ceil().max(1.0) as usize)
        .max(1)
}

/// Check the arguments; returns warnings.
pub fn check(args: &FanoutArgs) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(args.rooms >= 1, "--rooms must be at least 1");
    anyhow::ensure!(args.viewers >= 1, "--viewers must be at least 1");
    anyhow::ensure!(
        args.rate > 0.0 && args.rate.is_finite(),
        "--rate must be above 0"
    );
    anyhow::ensure!(args.duration > 0.0, "--duration must be above 0");
    anyhow::ensure!(
        args.text_len <= MAX_TEXT,
        "--text-len must be at most {MAX_TEXT} (the server's limit)"
    );
    let mut warnings = Vec::new();
    let per_sender = args.rate / senders(args) as f64;
    if per_sender > SENDER_RATE_LIMIT {
        warnings.push(format!(
            "each sender would send {per_sender:.2} msg/s, above the server's limit of 5 per 10 s \
             per user: expect rate_limited refusals (use more --senders)"
        ));
    }
    Ok(warnings)
}

/// Connections of one room: viewers first, then senders.
fn per_room(args: &FanoutArgs) -> usize {
    args.viewers + senders(args)
}

/// Connections one process opens for `args` as worker `index` of `count`.
pub fn per_process(args: &FanoutArgs, index: usize, count: usize) -> usize {
    (0..args.rooms * per_room(args))
        .filter(|g| g % count == index)
        .count()
}

/// When each room's messages are due: k = 0, 1, … while k / M < T, room r
/// staggered by r / R of one interval.
fn room_schedule(args: &FanoutArgs, room: usize) -> Schedule {
    Schedule::per_second(args.rate, args.duration).staggered(room, args.rooms)
}

/// The text of message `seq`: `lt:<unix nanos>:<nonce>:<seq>`, padded.
fn message_text(sent_ns: u64, nonce: &str, seq: u64, len: usize) -> String {
    let mut text = format!("lt:{sent_ns}:{nonce}:{seq}");
    if text.len() + 1 < len {
        text.push(':');
        let pad = len - text.len();
        text.extend(std::iter::repeat_n('x', pad));
    }
    text
}

/// The send time of one of this run's messages, from its text.
fn sent_ns_of(text: &str, nonce: &str) -> Option<u64> {
    let mut parts = text.splitn(5, ':');
    if parts.next()? != "lt" {
        return None;
    }
    let ns = parts.next()?.parse().ok()?;
    (parts.next()? == nonce).then_some(ns)
}

/// Counters shared by one process's connection tasks.
struct Shared {
    nonce: String,
    received: AtomicU64,
    sender_received: AtomicU64,
    last_delivery_ns: AtomicU64,
    latency: Mutex<Hist>,
    accepted_per_room: Vec<AtomicU64>,
    sent: AtomicU64,
    acked: AtomicU64,
    unanswered: AtomicU64,
    refused: Mutex<Tally>,
    senders_done: AtomicUsize,
}

/// Lock `m`, even if a task panicked while holding it (counters stay usable).
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn add_latencies(&self, batch: &mut Vec<u64>) {
        if batch.is_empty() {
            return;
        }
        let mut h = locked(&self.latency);
        for us in batch.drain(..) {
            h.record_us(us);
        }
    }

    fn refuse(&self, code: &str) {
        *locked(&self.refused).entry(code.to_owned()).or_default() += 1;
    }
}

/// If `text` is one of this run's `message` frames: its latency in microseconds
/// and the receive time (unix nanoseconds).
fn delivery(text: &str, nonce: &str) -> Option<(u64, u64)> {
    if !text.contains(r#""type":"message""#) {
        return None;
    }
    let frame = Incoming::parse(text)?;
    if frame.kind != "message" {
        return None;
    }
    let sent = sent_ns_of(frame.text.as_deref()?, nonce)?;
    let now = unix_ns();
    Some((now.saturating_sub(sent) / 1000, now))
}

async fn viewer(
    mut client: Client,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) -> Option<String> {
    let mut batch = Vec::with_capacity(BATCH);
    let end = loop {
        tokio::select! {
            ev = client.recv() => match ev {
                Event::Text(text) => {
                    if let Some((us, now)) = delivery(text.as_str(), &shared.nonce) {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        shared.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
                        batch.push(us);
                        if batch.len() >= BATCH {
                            shared.add_latencies(&mut batch);
                        }
                    }
                }
                Event::Closed(cause) => break Some(cause),
            },
            _ = wait_stop(&mut phase) => break None,
        }
    };
    shared.add_latencies(&mut batch);
    if end.is_none() {
        client.close(CLOSE_WAIT).await;
    }
    end
}

struct SenderPlan {
    room: String,
    /// This sender's index in its room: it sends messages j, j + S, j + 2S, …
    first: u64,
    step: u64,
    /// When the room's messages are due.
    schedule: Schedule,
    text_len: usize,
    room_index: usize,
}

async fn sender(
    mut client: Client,
    plan: SenderPlan,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
) -> Option<String> {
    let mut phase = Follower::new(phase)?;
    let mut k = plan.first;
    let mut outstanding: u64 = 0;
    let mut done = false;
    let end = loop {
        if !done && phase.go().is_some() && k >= plan.schedule.count && outstanding == 0 {
            done = true;
            shared.senders_done.fetch_add(1, Ordering::Relaxed);
        }
        let due = phase.due(&plan.schedule, k);
        tokio::select! {
            ev = client.recv() => match ev {
                Event::Text(text) => {
                    let text = text.as_str();
                    if delivery(text, &shared.nonce).is_some() {
                        shared.sender_received.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let Some(frame) = Incoming::parse(text) else { continue };
                    let ours = frame.reference.as_deref().is_some_and(|r| r.starts_with('m'));
                    match frame.kind.as_ref() {
                        "ack" if ours => {
                            outstanding = outstanding.saturating_sub(1);
                            shared.acked.fetch_add(1, Ordering::Relaxed);
                            shared.accepted_per_room[plan.room_index].fetch_add(1, Ordering::Relaxed);
                        }
                        "error" if ours => {
                            outstanding = outstanding.saturating_sub(1);
                            shared.refuse(frame.code.as_deref().unwrap_or("error"));
                        }
                        _ => {}
                    }
                }
                Event::Closed(cause) => break Some(cause),
            },
            going = phase.advance() => if !going {
                break None;
            },
            _ = pace::sleep_until(due) => {
                let text = message_text(unix_ns(), &shared.nonce, k, plan.text_len);
                let frame = format!(
                    r#"{{"type":"message","room":"{}","text":"{text}","ref":"m{k}"}}"#,
                    plan.room
                );
                if let Err(cause) = client.send(frame).await {
                    break Some(cause);
                }
                shared.sent.fetch_add(1, Ordering::Relaxed);
                outstanding += 1;
                k += plan.step;
            }
        }
    };
    shared.unanswered.fetch_add(outstanding, Ordering::Relaxed);
    if !done {
        shared.senders_done.fetch_add(1, Ordering::Relaxed);
    }
    if end.is_none() {
        client.close(CLOSE_WAIT).await;
    }
    end
}

#[derive(Default, Serialize, Deserialize)]
struct Part {
    setup: SetupStats,
    viewers: u64,
    senders: u64,
    sent: u64,
    acked: u64,
    refused: Tally,
    unanswered: u64,
    expected: u64,
    received: u64,
    sender_received: u64,
    latency_us: Hist,
    dropped: Tally,
    go_unix_ns: u64,
    last_delivery_unix_ns: u64,
    send_s: f64,
    drain_s: f64,
    busy: Busy,
    server_go: Option<ServerSample>,
    server_end: Option<ServerSample>,
}

#[derive(Serialize, Deserialize)]
struct SentData {
    accepted_per_room: Vec<u64>,
}

pub async fn run(ctx: Arc<Ctx>, args: &FanoutArgs, worker: &mut Worker) -> anyhow::Result<Value> {
    let s = senders(args);
    let per_room = per_room(args);
    let shared = Arc::new(Shared {
        nonce: ctx.nonce.clone(),
        received: AtomicU64::new(0),
        sender_received: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
        latency: Mutex::new(Hist::default()),
        accepted_per_room: (0..args.rooms).map(|_| AtomicU64::new(0)).collect(),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        unanswered: AtomicU64::new(0),
        refused: Mutex::new(Tally::new()),
        senders_done: AtomicUsize::new(0),
    });
    let (opener, mut outcomes) = opener(ctx.clone());
    let (phase, phase_rx) = watch::channel(Phase::Setup);
    let mut tasks: JoinSet<Option<String>> = JoinSet::new();
    let mut n = 0;
    for g in (0..args.rooms * per_room).filter(|g| worker.owns(*g)) {
        n += 1;
        let (r, i) = (g / per_room, g % per_room);
        let room = ctx.room(&format!("r{r}"));
        let opener = opener.clone();
        let shared = shared.clone();
        let phase_rx = phase_rx.clone();
        if i < args.viewers {
            tasks.spawn(async move {
                let client = opener.open(g, None, &room, r as u32).await?;
                viewer(client, shared, phase_rx).await
            });
        } else {
            let j = (i - args.viewers) as u64;
            let plan = SenderPlan {
                first: j,
                step: s as u64,
                schedule: room_schedule(args, r),
                text_len: args.text_len,
                room_index: r,
                room: room.clone(),
            };
            tasks.spawn(async move {
                let sub = format!("lt-sender-{room}-{j}");
                let client = opener.open(g, Some(&sub), &room, SENDER_LABEL).await?;
                sender(client, plan, shared, phase_rx).await
            });
        }
    }
    drop(opener);
    outcomes.collect(n, setup_limit(&ctx, n)).await;
    let mut part = Part {
        setup: outcomes.stats().clone(),
        ..Part::default()
    };
    let my_viewers: Vec<u64> = (0..args.rooms)
        .map(|r| outcomes.joined_with(r as u32))
        .collect();
    part.viewers = my_viewers.iter().sum();
    part.senders = outcomes.joined_with(SENDER_LABEL);

    let started = pace::go(worker, &ctx, &phase).await?;
    let go = started.at;
    part.go_unix_ns = started.unix_ns;
    part.server_go = started.server;

    // Sending: until every sender has sent its share and heard back (bounded).
    let send_limit = go + Duration::from_secs_f64(args.duration + args.drain_timeout + 5.0);
    pace::poll_until(send_limit, Duration::from_millis(20), || {
        shared.senders_done.load(Ordering::Relaxed) >= part.senders as usize
    })
    .await;
    part.send_s = go.elapsed().as_secs_f64();

    let accepted: Vec<u64> = shared
        .accepted_per_room
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect();
    let all = worker
        .barrier(
            "sent",
            serde_json::to_value(SentData {
                accepted_per_room: accepted,
            })?,
        )
        .await?;
    let mut accepted = vec![0u64; args.rooms];
    for d in super::parse_results::<SentData>(all)? {
        for (sum, a) in accepted.iter_mut().zip(d.accepted_per_room) {
            *sum += a;
        }
    }
    part.expected = accepted.iter().zip(&my_viewers).map(|(a, v)| a * v).sum();

    // Drain: wait for deliveries still on their way.
    let drain = tokio::time::Instant::now();
    let drain_limit = drain + Duration::from_secs_f64(args.drain_timeout);
    pace::poll_until(drain_limit, Duration::from_millis(10), || {
        shared.received.load(Ordering::Relaxed) >= part.expected
    })
    .await;
    part.drain_s = drain.elapsed().as_secs_f64();

    (part.busy, part.server_end) = started.finish(worker, &ctx, "drained").await?;
    pace::stop_and_join(&phase, &mut tasks, CLOSE_WAIT, |res| match res {
        Ok(Some(cause)) => *part.dropped.entry(cause).or_default() += 1,
        Ok(None) => {}
        Err(_) => *part.dropped.entry("task_panicked".to_owned()).or_default() += 1,
    })
    .await;

    part.sent = shared.sent.load(Ordering::Relaxed);
    part.acked = shared.acked.load(Ordering::Relaxed);
    part.unanswered = shared.unanswered.load(Ordering::Relaxed);
    part.refused = locked(&shared.refused).clone();
    part.received = shared.received.load(Ordering::Relaxed);
    part.sender_received = shared.sender_received.load(Ordering::Relaxed);
    part.last_delivery_unix_ns = shared.last_delivery_ns.load(Ordering::Relaxed);
    part.latency_us = locked(&shared.latency).clone();
    Ok(serde_json::to_value(part)?)
}

pub fn summarize(args: &FanoutArgs, results: Vec<Value>) -> anyhow::Result<Outcome> {
    let parts: Vec<Part> = parse_results(results)?;
    let mut setup = SetupStats::default();
    let mut sum = Part::default();
    let mut go_ns = u64::MAX;
    for p in &parts {
        setup.merge(&p.setup);
        sum.viewers += p.viewers;
        sum.senders += p.senders;
        sum.sent += p.sent;
        sum.acked += p.acked;
        tally_add(&mut sum.refused, &p.refused);
        sum.unanswered += p.unanswered;
        sum.expected += p.expected;
        sum.received += p.received;
        sum.sender_received += p.sender_received;
        sum.latency_us.merge(&p.latency_us);
        tally_add(&mut sum.dropped, &p.dropped);
        go_ns = go_ns.min(p.go_unix_ns);
        sum.last_delivery_unix_ns = sum.last_delivery_unix_ns.max(p.last_delivery_unix_ns);
        sum.send_s = sum.send_s.max(p.send_s);
        sum.drain_s = sum.drain_s.max(p.drain_s);
        sum.busy.merge(&p.busy);
    }
    let leader = parts.first();
    let server_cpu = server_delta(
        leader.and_then(|p| p.server_go),
        leader.and_then(|p| p.server_end),
    );
    let delivering_s = if sum.last_delivery_unix_ns > go_ns {
        (sum.last_delivery_unix_ns - go_ns) as f64 / 1e9
    } else {
        0.0
    };
    let refused = tally_total(&sum.refused);
    let missing = sum.expected.saturating_sub(sum.received);
    let extra = sum.received.saturating_sub(sum.expected);
    let ratio = if sum.expected > 0 {
        sum.received as f64 / sum.expected as f64
    } else {
        1.0
    };
    let per_s = rate(sum.received as f64, delivering_s);
    let s = senders(args);

    let mut problems = Vec::new();
    setup_problems(&setup, &mut problems);
    if missing > 0 {
        problems.push(format!(
            "{missing} of {} expected deliveries are missing after the {} s drain",
            sum.expected, args.drain_timeout
        ));
    }
    if extra > 0 {
        problems.push(format!(
            "{extra} more deliveries than expected (accepted messages whose ack never came?)"
        ));
    }
    if sum.unanswered > 0 {
        problems.push(format!(
            "{} messages got neither an ack nor an error",
            sum.unanswered
        ));
    }
    let dropped = tally_total(&sum.dropped);
    if dropped > 0 {
        problems.push(format!(
            "{dropped} connections ended during the run: {}",
            describe_tally(&sum.dropped)
        ));
    }
    if sum.sent == 0 {
        problems.push("no message was sent".to_owned());
    }
    let ok = missing == 0
        && extra == 0
        && sum.unanswered == 0
        && dropped == 0
        && tally_total(&setup.failures) == 0
        && sum.sent > 0;

    let client = client_json(&sum.busy);
    let mut fields = Map::new();
    fields.insert(
        "params".into(),
        json!({
            "rooms": args.rooms,
            "viewers_per_room": args.viewers,
            "senders_per_room": s,
            "rate_per_room": args.rate,
            "rate_per_sender": round3(args.rate / s as f64),
            "duration_s": args.duration,
            "text_len": args.text_len,
            "drain_timeout_s": args.drain_timeout,
        }),
    );
    fields.insert("connections".into(), setup.to_json());
    fields.insert("viewers".into(), json!(sum.viewers));
    fields.insert("senders".into(), json!(sum.senders));
    fields.insert("sent".into(), json!(sum.sent));
    fields.insert("acked".into(), json!(sum.acked));
    fields.insert("refused".into(), json!(refused));
    fields.insert("refused_by_code".into(), json!(sum.refused));
    fields.insert("unanswered".into(), json!(sum.unanswered));
    fields.insert("expected_deliveries".into(), json!(sum.expected));
    fields.insert("received".into(), json!(sum.received));
    fields.insert("missing".into(), json!(missing));
    fields.insert("delivery_ratio".into(), json!((ratio * 1e6).round() / 1e6));
    fields.insert("sender_received".into(), json!(sum.sender_received));
    fields.insert("deliveries_per_s".into(), json!(round1(per_s)));
    fields.insert("latency_us".into(), sum.latency_us.summary_us());
    fields.insert("send_s".into(), json!(round3(sum.send_s)));
    fields.insert("drain_s".into(), json!(round3(sum.drain_s)));
    fields.insert("dropped".into(), json!(sum.dropped));
    fields.insert(
        "server".into(),
        json!({
            "cpu_s": server_cpu.map(round3),
            "deliveries_per_cpu_s": server_cpu.filter(|c| *c > 0.0).map(|c| round1(sum.received as f64 / c)),
            "rss_kib_start": leader.and_then(|p| p.server_go).map(|s| s.rss_kib),
            "rss_kib_end": leader.and_then(|p| p.server_end).map(|s| s.rss_kib),
        }),
    );
    fields.insert("client".into(), client.clone());

    let mut lines = vec![setup_line(&setup)];
    lines.push(format!(
        "{} rooms × {} viewers, {} senders/room at {:.2} msg/s each; sent {}, acked {}, refused {} ({}), unanswered {}",
        args.rooms,
        args.viewers,
        s,
        args.rate / s as f64,
        sum.sent,
        sum.acked,
        refused,
        describe_tally(&sum.refused),
        sum.unanswered
    ));
    lines.push(format!(
        "deliveries: {} of {} expected ({:.4}%), {:.0}/s; senders also received {}",
        sum.received,
        sum.expected,
        ratio * 100.0,
        per_s,
        sum.sender_received
    ));
    lines.push(format!(
        "latency: {}",
        sum.latency_us
            .describe_ms(&[(0.5, "p50"), (0.9, "p90"), (0.99, "p99")])
    ));
    lines.push(match server_cpu {
        Some(c) => format!(
            "server CPU {c:.2} s ({:.0} deliveries per CPU-second)",
            rate(sum.received as f64, c)
        ),
        None => "server: not sampled (give --server-pid)".to_owned(),
    });
    lines.push(client_line(&client));
    Ok(Outcome {
        ok,
        fields,
        lines,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_round_trips_and_pads() {
        let t = message_text(1_700_000_000_123_456_789, "abc123", 42, 64);
        assert_eq!(t.len(), 64);
        assert!(t.starts_with("lt:1700000000123456789:abc123:42:x"));
        assert_eq!(sent_ns_of(&t, "abc123"), Some(1_700_000_000_123_456_789));
        assert_eq!(sent_ns_of(&t, "other"), None);
        let short = message_text(5, "n", 1, 0);
        assert_eq!(short, "lt:5:n:1");
        assert_eq!(sent_ns_of(&short, "n"), Some(5));
    }

    #[test]
    fn default_senders_keep_under_the_user_limit() {
        let args = FanoutArgs {
            rooms: 1,
            viewers: 1,
            senders: None,
            rate: 5.0,
            duration: 1.0,
            text_len: 64,
            drain_timeout: 1.0,
        };
        assert_eq!(senders(&args), 13);
        assert!(check(&args).expect("valid").is_empty());
        let loud = FanoutArgs {
            senders: Some(2),
            ..args
        };
        assert_eq!(check(&loud).expect("valid").len(), 1);
    }
}
