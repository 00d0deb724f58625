//! Scenario `reactions`: V viewers in one room each send X reactions per second
//! (cycling heart, fire, laugh, wow, clap, like) for T seconds, and each counts
//! the `reactions` frames it receives. The server aggregates reactions per
//! window, so every viewer's summed counts must equal, emoji by emoji, what all
//! viewers sent minus what the server refused (`rate_limited` errors, matched by
//! `ref`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::pace::{self, Follower, Phase, Schedule};
use super::{
    Busy, Ctx, Outcome, client_json, describe_tally, opener, parse_results, server_delta,
    setup_limit, setup_line, setup_problems,
};
use crate::cli::{MAX_REACTIONS_PER_SECOND, ReactionsArgs};
use crate::client::{Client, Event, Incoming};
use crate::coord::Worker;
use crate::stats::{SetupStats, Tally, tally_add, tally_total};
use crate::sys::ServerSample;

/// The server's default emoji set, in the order viewers cycle through it.
pub const EMOJIS: [&str; 6] = ["heart", "fire", "laugh", "wow", "clap", "like"];
const N: usize = EMOJIS.len();
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// Examples of mismatching viewers kept for the report.
const EXAMPLES: usize = 5;

pub fn check(args: &ReactionsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.viewers >= 1, "--viewers must be at least 1");
    anyhow::ensure!(
        args.rate > 0.0 && args.rate <= MAX_REACTIONS_PER_SECOND,
        "--rate must be above 0 and at most {MAX_REACTIONS_PER_SECOND} (the server's per-connection limit)"
    );
    anyhow::ensure!(args.duration > 0.0, "--duration must be above 0");
    anyhow::ensure!(args.window_ms > 0, "--window-ms must be above 0");
    Ok(())
}

/// Connections one process opens for `args` as worker `index` of `count`.
pub fn per_process(args: &ReactionsArgs, index: usize, count: usize) -> usize {
    (0..args.viewers).filter(|g| g % count == index).count()
}

fn emoji_index(name: &str) -> Option<usize> {
    EMOJIS.iter().position(|e| *e == name)
}

/// Counters shared by one process's viewers.
struct Shared {
    sent: [AtomicU64; N],
    refused: [AtomicU64; N],
    /// Viewers that have sent everything and heard back (their `fin` pong).
    done: AtomicUsize,
    /// Each viewer's summed counts so far, by the viewer's local slot.
    sums: Vec<AtomicU64>,
}

/// What one viewer saw.
#[derive(Default)]
struct Seen {
    frames: u64,
    counts: [u64; N],
    /// Counts of emojis outside the set (should be none).
    other: u64,
    refused_codes: Tally,
    dropped: Option<String>,
}

struct Plan {
    room: String,
    global: usize,
    slot: usize,
    /// When this viewer's reactions are due.
    schedule: Schedule,
}

async fn viewer(
    mut client: Client,
    plan: Plan,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
) -> Seen {
    let mut seen = Seen::default();
    let Some(mut phase) = Follower::new(phase) else {
        return seen;
    };
    let mut k: u64 = 0;
    let mut fin_sent = false;
    let mut done = false;
    let emoji_of = |k: u64| (plan.global + k as usize) % N;
    let stopped = loop {
        if phase.go().is_some() && k >= plan.schedule.count && !fin_sent {
            // Errors for our reactions come before this pong on the same connection.
            if let Err(cause) = client
                .send(r#"{"type":"ping","ref":"fin"}"#.to_owned())
                .await
            {
                seen.dropped = Some(cause);
                break false;
            }
            fin_sent = true;
        }
        let due = phase.due(&plan.schedule, k);
        tokio::select! {
            ev = client.recv() => match ev {
                Event::Text(text) => {
                    let Some(frame) = Incoming::parse(text.as_str()) else { continue };
                    match frame.kind.as_ref() {
                        "reactions" => {
                            seen.frames += 1;
                            let mut added = 0;
                            for (emoji, n) in frame.counts.iter().flatten() {
                                match emoji_index(emoji) {
                                    Some(i) => seen.counts[i] += n,
                                    None => seen.other += n,
                                }
                                added += n;
                            }
                            shared.sums[plan.slot].fetch_add(added, Ordering::Relaxed);
                        }
                        "error" => {
                            let k = frame
                                .reference
                                .as_deref()
                                .and_then(|r| r.strip_prefix('e'))
                                .and_then(|r| r.parse::<u64>().ok());
                            if let Some(k) = k {
                                shared.refused[emoji_of(k)].fetch_add(1, Ordering::Relaxed);
                                let code = frame.code.as_deref().unwrap_or("error").to_owned();
                                *seen.refused_codes.entry(code).or_default() += 1;
                            }
                        }
                        "pong" if fin_sent && !done && frame.reference.as_deref() == Some("fin") => {
                            done = true;
                            shared.done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
                Event::Closed(cause) => {
                    seen.dropped = Some(cause);
                    break false;
                }
            },
            going = phase.advance() => if !going {
                break true;
            },
            _ = pace::sleep_until(due) => {
                let e = emoji_of(k);
                let frame = format!(
                    r#"{{"type":"reaction","room":"{}","emoji":"{}","ref":"e{k}"}}"#,
                    plan.room, EMOJIS[e]
                );
                if let Err(cause) = client.send(frame).await {
                    seen.dropped = Some(cause);
                    break false;
                }
                shared.sent[e].fetch_add(1, Ordering::Relaxed);
                k += 1;
            }
        }
    };
    if !done {
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    if stopped {
        client.close(CLOSE_WAIT).await;
    }
    seen
}

#[derive(Default, Serialize, Deserialize)]
struct Part {
    setup: SetupStats,
    viewers: u64,
    sent: [u64; N],
    refused: [u64; N],
    refused_codes: Tally,
    /// What every viewer should have counted (the same in every worker).
    accepted: [u64; N],
    matching: u64,
    mismatching: u64,
    examples: Vec<String>,
    frames_min: u64,
    frames_max: u64,
    frames_sum: u64,
    dropped: Tally,
    send_s: f64,
    busy: Busy,
    server_go: Option<ServerSample>,
    server_end: Option<ServerSample>,
}

#[derive(Serialize, Deserialize)]
struct SentData {
    sent: [u64; N],
    refused: [u64; N],
}

fn load(a: &[AtomicU64; N]) -> [u64; N] {
    std::array::from_fn(|i| a[i].load(Ordering::Relaxed))
}

pub async fn run(
    ctx: Arc<Ctx>,
    args: &ReactionsArgs,
    worker: &mut Worker,
) -> anyhow::Result<Value> {
    let room = ctx.room("react");
    let mine: Vec<usize> = (0..args.viewers).filter(|g| worker.owns(*g)).collect();
    let n = mine.len();
    let schedule = Schedule::per_second(args.rate, args.duration);
    let shared = Arc::new(Shared {
        sent: std::array::from_fn(|_| AtomicU64::new(0)),
        refused: std::array::from_fn(|_| AtomicU64::new(0)),
        done: AtomicUsize::new(0),
        sums: (0..n).map(|_| AtomicU64::new(0)).collect(),
    });
    let (opener, mut outcomes) = opener(ctx.clone());
    let (phase, phase_rx) = watch::channel(Phase::Setup);
    let mut tasks: JoinSet<Option<Seen>> = JoinSet::new();
    for (slot, g) in mine.into_iter().enumerate() {
        let opener = opener.clone();
        let shared = shared.clone();
        let phase_rx = phase_rx.clone();
        let plan = Plan {
            room: room.clone(),
            global: g,
            slot,
            schedule: schedule.staggered(g, args.viewers),
        };
        tasks.spawn(async move {
            let client = opener.open(g, None, &plan.room, 0).await?;
            Some(viewer(client, plan, shared, phase_rx).await)
        });
    }
    drop(opener);
    outcomes.collect(n, setup_limit(&ctx, n)).await;
    let mut part = Part {
        setup: outcomes.stats().clone(),
        viewers: outcomes.stats().joined,
        ..Part::default()
    };

    let started = pace::go(worker, &ctx, &phase).await?;
    let go = started.at;
    part.server_go = started.server;
    let limit = go + Duration::from_secs_f64(args.duration + 10.0);
    pace::poll_until(limit, Duration::from_millis(20), || {
        shared.done.load(Ordering::Relaxed) >= part.viewers as usize
    })
    .await;
    part.send_s = go.elapsed().as_secs_f64();
    part.sent = load(&shared.sent);
    part.refused = load(&shared.refused);

    let all = worker
        .barrier(
            "sent",
            serde_json::to_value(SentData {
                sent: part.sent,
                refused: part.refused,
            })?,
        )
        .await?;
    for d in parse_results::<SentData>(all)? {
        for i in 0..N {
            part.accepted[i] += d.sent[i].saturating_sub(d.refused[i]);
        }
    }
    let expected: u64 = part.accepted.iter().sum();

    // Wait for the last windows to be flushed to everyone, then one window more
    // so that counts above the expected total would show too.
    let window = Duration::from_millis(args.window_ms);
    let limit = tokio::time::Instant::now() + Duration::from_secs(5) + window * 2;
    pace::poll_until(limit, Duration::from_millis(20), || {
        shared
            .sums
            .iter()
            .all(|s| s.load(Ordering::Relaxed) >= expected)
    })
    .await;
    tokio::time::sleep(window * 2 + Duration::from_millis(200)).await;

    (part.busy, part.server_end) = started.finish(worker, &ctx, "counted").await?;
    part.frames_min = u64::MAX;
    pace::stop_and_join(&phase, &mut tasks, CLOSE_WAIT, |res| {
        let seen = match res {
            Ok(Some(seen)) => seen,
            Ok(None) => return,
            Err(_) => {
                *part.dropped.entry("task_panicked".to_owned()).or_default() += 1;
                return;
            }
        };
        tally_add(&mut part.refused_codes, &seen.refused_codes);
        if let Some(cause) = &seen.dropped {
            *part.dropped.entry(cause.clone()).or_default() += 1;
        }
        part.frames_min = part.frames_min.min(seen.frames);
        part.frames_max = part.frames_max.max(seen.frames);
        part.frames_sum += seen.frames;
        if seen.counts == part.accepted && seen.other == 0 {
            part.matching += 1;
        } else {
            part.mismatching += 1;
            if part.examples.len() < EXAMPLES {
                part.examples.push(format!(
                    "a viewer counted {:?} (+{} unknown), expected {:?}{}",
                    seen.counts,
                    seen.other,
                    part.accepted,
                    seen.dropped
                        .as_ref()
                        .map(|c| format!(" (connection ended: {c})"))
                        .unwrap_or_default()
                ));
            }
        }
    })
    .await;
    if part.frames_min == u64::MAX {
        part.frames_min = 0;
    }
    Ok(serde_json::to_value(part)?)
}

pub fn summarize(args: &ReactionsArgs, results: Vec<Value>) -> anyhow::Result<Outcome> {
    let parts: Vec<Part> = parse_results(results)?;
    let mut setup = SetupStats::default();
    let mut sum = Part {
        frames_min: u64::MAX,
        ..Part::default()
    };
    for p in &parts {
        setup.merge(&p.setup);
        sum.viewers += p.viewers;
        for i in 0..N {
            sum.sent[i] += p.sent[i];
            sum.refused[i] += p.refused[i];
        }
        tally_add(&mut sum.refused_codes, &p.refused_codes);
        sum.matching += p.matching;
        sum.mismatching += p.mismatching;
        sum.examples.extend(p.examples.iter().cloned());
        if p.viewers > 0 {
            sum.frames_min = sum.frames_min.min(p.frames_min);
        }
        sum.frames_max = sum.frames_max.max(p.frames_max);
        sum.frames_sum += p.frames_sum;
        tally_add(&mut sum.dropped, &p.dropped);
        sum.send_s = sum.send_s.max(p.send_s);
        sum.busy.merge(&p.busy);
    }
    if sum.frames_min == u64::MAX {
        sum.frames_min = 0;
    }
    sum.examples.truncate(EXAMPLES);
    let accepted = parts.first().map(|p| p.accepted).unwrap_or_default();
    let sent_total: u64 = sum.sent.iter().sum();
    let refused_total: u64 = sum.refused.iter().sum();
    let accepted_total: u64 = accepted.iter().sum();
    let frames_mean = if sum.viewers > 0 {
        sum.frames_sum as f64 / sum.viewers as f64
    } else {
        0.0
    };
    let frames_expected = args.duration * 1000.0 / args.window_ms as f64;
    let leader = parts.first();
    let server_cpu = server_delta(
        leader.and_then(|p| p.server_go),
        leader.and_then(|p| p.server_end),
    );

    let mut problems = Vec::new();
    setup_problems(&setup, &mut problems);
    if sum.mismatching > 0 {
        problems.push(format!(
            "{} of {} viewers counted reactions different from what was accepted: {}",
            sum.mismatching,
            sum.viewers,
            sum.examples.join("; ")
        ));
    }
    let dropped = tally_total(&sum.dropped);
    if dropped > 0 {
        problems.push(format!(
            "{dropped} connections ended during the run: {}",
            describe_tally(&sum.dropped)
        ));
    }
    if accepted_total == 0 {
        problems.push("no reaction was accepted".to_owned());
    }
    let ok = problems.is_empty();

    let per_emoji = |a: &[u64; N]| -> Map<String, Value> {
        EMOJIS
            .iter()
            .zip(a)
            .map(|(e, n)| ((*e).to_owned(), json!(n)))
            .collect()
    };
    let mut fields = Map::new();
    fields.insert(
        "params".into(),
        json!({
            "viewers": args.viewers,
            "rate_per_viewer": args.rate,
            "duration_s": args.duration,
            "window_ms": args.window_ms,
        }),
    );
    fields.insert("connections".into(), setup.to_json());
    fields.insert("viewers".into(), json!(sum.viewers));
    fields.insert("sent".into(), json!(sent_total));
    fields.insert("refused".into(), json!(refused_total));
    fields.insert("refused_by_code".into(), json!(sum.refused_codes));
    fields.insert("accepted".into(), json!(accepted_total));
    fields.insert("accepted_by_emoji".into(), json!(per_emoji(&accepted)));
    fields.insert("viewers_matching".into(), json!(sum.matching));
    fields.insert("viewers_mismatching".into(), json!(sum.mismatching));
    fields.insert("mismatch_examples".into(), json!(sum.examples));
    fields.insert(
        "frames_per_viewer".into(),
        json!({
            "min": sum.frames_min,
            "mean": (frames_mean * 10.0).round() / 10.0,
            "max": sum.frames_max,
            "expected_about": (frames_expected * 10.0).round() / 10.0,
        }),
    );
    fields.insert("dropped".into(), json!(sum.dropped));
    fields.insert(
        "server".into(),
        json!({ "cpu_s": server_cpu.map(crate::stats::round3) }),
    );
    fields.insert("client".into(), client_json(&sum.busy));

    let lines = vec![
        setup_line(&setup),
        format!(
            "{} viewers × {}/s for {} s: sent {sent_total}, refused {refused_total} ({}), accepted {accepted_total}",
            sum.viewers,
            args.rate,
            args.duration,
            describe_tally(&sum.refused_codes)
        ),
        format!(
            "reactions frames per viewer: min {}, mean {frames_mean:.1}, max {} (about {frames_expected:.1} expected)",
            sum.frames_min, sum.frames_max
        ),
        format!(
            "viewers whose summed counts equal the accepted reactions, emoji by emoji: {} of {}",
            sum.matching, sum.viewers
        ),
        match server_cpu {
            Some(c) => format!("server CPU {c:.2} s"),
            None => "server: not sampled (give --server-pid)".to_owned(),
        },
    ];
    Ok(Outcome {
        ok,
        fields,
        lines,
        problems,
    })
}
