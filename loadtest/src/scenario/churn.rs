//! Scenario `churn`: about V viewers stay in one room while, every second, J of
//! them leave (closing politely, dropping the TCP connection, or sending
//! `leave` and staying connected) and J join (new connections, or rejoins of
//! connections that had left). One observer connection, also joined, watches
//! the room's `viewers` frames. After churn stops and every pending join and
//! leave has been answered, the observer's last count must equal the
//! connections actually joined, plus one for the observer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use super::pace::{self, Phase, Schedule, wait_stop};
use super::{
    Busy, Ctx, Opener, Outcome, Rng, client_json, describe_tally, opener, parse_results,
    server_delta, setup_limit, setup_line, setup_problems,
};
use crate::cli::ChurnArgs;
use crate::client::{Client, Event, Incoming, join_frame, leave_frame};
use crate::coord::Worker;
use crate::stats::{SetupStats, Tally, round1, round3, tally_add, tally_total};
use crate::sys::{ServerSample, unix_ns};

const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// Connections kept open after `leave`, for rejoins; older ones are closed.
const IDLE_CAP: usize = 32;
/// How long pending joins and leaves may take to be answered once churn stops.
const SETTLE: Duration = Duration::from_secs(10);
/// The server coalesces `viewers` frames to one per second: look at least this
/// long after the last change, and at most `CHECK_MAX`.
const CHECK_MIN: Duration = Duration::from_secs(2);
const CHECK_MAX: Duration = Duration::from_secs(5);

pub fn check(args: &ChurnArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.viewers >= 1, "--viewers must be at least 1");
    anyhow::ensure!(
        args.rate >= 0.0 && args.rate.is_finite(),
        "--rate must be 0 or more"
    );
    anyhow::ensure!(args.duration > 0.0, "--duration must be above 0");
    Ok(())
}

/// Open files one process may need for `args` (its viewers, the observer,
/// idle connections kept for rejoins and connections being replaced).
pub fn per_process(args: &ChurnArgs, index: usize, count: usize) -> usize {
    let viewers = (0..args.viewers).filter(|g| g % count == index).count();
    viewers + 1 + IDLE_CAP + (args.rate / count as f64).ceil() as usize * 4
}

/// What the manager tells a viewer task.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    /// Close politely (close frame).
    Close,
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Send `leave` and stay connected.
    Leave,
    /// Send `join` again.
    Rejoin,
}

/// What a viewer task tells the manager.
#[derive(Debug)]
enum Ev {
    Joined(usize),
    /// The first join failed (the cause is tallied by the opener).
    Failed(usize),
    Left(usize),
    /// A rejoin was refused.
    Refused(usize, String),
    /// The connection is gone; with a cause if we did not close it.
    Gone(usize, Option<String>),
}

const STATES: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Opening,
    Joined,
    Leaving,
    Idle,
    Rejoining,
    Closing,
    Gone,
}

async fn viewer(
    id: usize,
    global: usize,
    opener: Opener,
    room: String,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    events: mpsc::UnboundedSender<Ev>,
) {
    let Some(mut client) = opener.open(global, None, &room, 0).await else {
        let _ = events.send(Ev::Failed(id));
        return;
    };
    let _ = events.send(Ev::Joined(id));
    loop {
        tokio::select! {
            ev = client.recv() => match ev {
                Event::Text(text) => {
                    let Some(frame) = Incoming::parse(text.as_str()) else { continue };
                    if frame.room.as_deref() != Some(room.as_str()) {
                        continue;
                    }
                    let ev = match frame.kind.as_ref() {
                        "left" => Ev::Left(id),
                        "joined" => Ev::Joined(id),
                        "error" => Ev::Refused(id, frame.code.as_deref().unwrap_or("error").to_owned()),
                        _ => continue,
                    };
                    let _ = events.send(ev);
                }
                Event::Closed(cause) => {
                    let _ = events.send(Ev::Gone(id, Some(cause)));
                    return;
                }
            },
            cmd = cmds.recv() => {
                let sent = match cmd {
                    Some(Cmd::Leave) => client.send(leave_frame(&room)).await,
                    Some(Cmd::Rejoin) => client.send(join_frame(&room)).await,
                    Some(Cmd::Drop) => {
                        drop(client);
                        let _ = events.send(Ev::Gone(id, None));
                        return;
                    }
                    Some(Cmd::Close) | None => {
                        client.close(CLOSE_WAIT).await;
                        let _ = events.send(Ev::Gone(id, None));
                        return;
                    }
                };
                if let Err(cause) = sent {
                    let _ = events.send(Ev::Gone(id, Some(cause)));
                    return;
                }
            }
        }
    }
}

/// The observer: joined too, remembers the last `viewers` count it saw.
struct Watch {
    count: AtomicU64,
    frames: AtomicU64,
    /// Unix nanoseconds of the last `viewers` frame.
    last_ns: AtomicU64,
    gone: std::sync::Mutex<Option<String>>,
}

async fn observer(
    mut client: Client,
    room: String,
    watch: Arc<Watch>,
    mut phase: watch::Receiver<Phase>,
) {
    // The count in its own `joined` comes first.
    watch.count.store(client.joined_viewers, Ordering::Relaxed);
    let end = loop {
        tokio::select! {
            ev = client.recv() => match ev {
                Event::Text(text) => {
                    let Some(frame) = Incoming::parse(text.as_str()) else { continue };
                    if frame.kind == "viewers" && frame.room.as_deref() == Some(room.as_str()) {
                        watch.count.store(frame.count.unwrap_or(0), Ordering::Relaxed);
                        watch.frames.fetch_add(1, Ordering::Relaxed);
                        watch.last_ns.store(unix_ns(), Ordering::Relaxed);
                    }
                }
                Event::Closed(cause) => break Some(cause),
            },
            _ = wait_stop(&mut phase) => break None,
        }
    };
    match end {
        Some(cause) => *watch.gone.lock().unwrap_or_else(|e| e.into_inner()) = Some(cause),
        None => client.close(CLOSE_WAIT).await,
    }
}

/// One worker's viewers and what happened to them.
struct Manager {
    opener: Opener,
    room: String,
    states: Vec<State>,
    /// How many viewers are in each state.
    tally: [usize; STATES],
    cmds: Vec<Option<mpsc::UnboundedSender<Cmd>>>,
    events_tx: mpsc::UnboundedSender<Ev>,
    /// Ids of idle connections, oldest first.
    idle: std::collections::VecDeque<usize>,
    /// Global connection numbers of new joins: `next_global`, then + `stride`.
    next_global: usize,
    stride: usize,
    counts: Counts,
}

#[derive(Default, Clone, Serialize, Deserialize)]
struct Counts {
    new_joins: u64,
    rejoins: u64,
    closes: u64,
    drops: u64,
    leaves: u64,
    join_failures: u64,
    rejoin_refused: Tally,
    /// Connections that ended without being told to, by cause.
    lost: Tally,
}

impl Manager {
    fn spawn(&mut self, global: usize) {
        let id = self.states.len();
        let (tx, rx) = mpsc::unbounded_channel();
        self.states.push(State::Gone);
        self.tally[State::Gone as usize] += 1;
        self.set(id, State::Opening);
        self.cmds.push(Some(tx));
        tokio::spawn(viewer(
            id,
            global,
            self.opener.clone(),
            self.room.clone(),
            rx,
            self.events_tx.clone(),
        ));
    }

    fn command(&mut self, id: usize, cmd: Cmd, state: State) {
        self.set(id, state);
        let delivered = self.cmds[id]
            .as_ref()
            .is_some_and(|tx| tx.send(cmd).is_ok());
        if !delivered {
            self.set(id, State::Gone);
        }
        if matches!(cmd, Cmd::Close | Cmd::Drop) {
            self.cmds[id] = None;
        }
    }

    fn set(&mut self, id: usize, state: State) {
        self.tally[self.states[id] as usize] -= 1;
        self.tally[state as usize] += 1;
        self.states[id] = state;
    }

    fn count(&self, state: State) -> usize {
        self.tally[state as usize]
    }

    fn pending(&self) -> bool {
        self.count(State::Opening) + self.count(State::Leaving) + self.count(State::Rejoining) > 0
    }

    fn on_event(&mut self, ev: Ev) {
        match ev {
            Ev::Joined(id) => {
                if matches!(self.states[id], State::Opening | State::Rejoining) {
                    self.set(id, State::Joined);
                }
            }
            Ev::Failed(id) => {
                self.set(id, State::Gone);
                self.cmds[id] = None;
                self.counts.join_failures += 1;
            }
            Ev::Left(id) => {
                if matches!(self.states[id], State::Leaving | State::Joined) {
                    self.set(id, State::Idle);
                    self.idle.push_back(id);
                }
            }
            Ev::Refused(id, code) => {
                if self.states[id] == State::Rejoining {
                    self.set(id, State::Idle);
                    self.idle.push_back(id);
                }
                *self.counts.rejoin_refused.entry(code).or_default() += 1;
            }
            Ev::Gone(id, cause) => {
                if let Some(cause) = cause
                    && self.states[id] != State::Closing
                {
                    *self.counts.lost.entry(cause).or_default() += 1;
                }
                self.set(id, State::Gone);
                self.cmds[id] = None;
                self.idle.retain(|i| *i != id);
            }
        }
    }

    /// One churn step: one viewer leaves, one joins.
    fn step(&mut self, rng: &mut Rng) {
        let joined: Vec<usize> = (0..self.states.len())
            .filter(|i| self.states[*i] == State::Joined)
            .collect();
        if !joined.is_empty() {
            let id = joined[rng.below(joined.len())];
            match rng.below(3) {
                0 => {
                    self.counts.closes += 1;
                    self.command(id, Cmd::Close, State::Closing);
                }
                1 => {
                    self.counts.drops += 1;
                    self.command(id, Cmd::Drop, State::Closing);
                }
                _ => {
                    self.counts.leaves += 1;
                    self.command(id, Cmd::Leave, State::Leaving);
                }
            }
        }
        // Idle connections may have been closed by their task meanwhile.
        self.idle.retain(|i| self.states[*i] == State::Idle);
        if !self.idle.is_empty() && rng.below(2) == 0 {
            if let Some(id) = self.idle.pop_front() {
                self.counts.rejoins += 1;
                self.command(id, Cmd::Rejoin, State::Rejoining);
            }
        } else {
            self.counts.new_joins += 1;
            let g = self.next_global;
            self.next_global += self.stride;
            self.spawn(g);
        }
        while self.idle.len() > IDLE_CAP {
            if let Some(id) = self.idle.pop_front() {
                self.command(id, Cmd::Close, State::Closing);
            }
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Part {
    /// Opening the first viewers (and the observer).
    setup: SetupStats,
    /// Connections opened by churn.
    churn_setup: SetupStats,
    counts: Counts,
    joined_at_end: u64,
    pending_at_end: u64,
    churn_s: f64,
    /// Leader only: the observer's view and the verdict.
    observer: Option<ObserverView>,
    busy: Busy,
    server_go: Option<ServerSample>,
    server_end: Option<ServerSample>,
}

#[derive(Default, Serialize, Deserialize)]
struct ObserverView {
    joined: bool,
    last_count: u64,
    expected: u64,
    frames: u64,
    /// Seconds from the end of settling to the check.
    waited_s: f64,
    /// Seconds between the last `viewers` frame and the check.
    since_last_frame_s: f64,
    lost: Option<String>,
}

pub async fn run(ctx: Arc<Ctx>, args: &ChurnArgs, worker: &mut Worker) -> anyhow::Result<Value> {
    let room = ctx.room("churn");
    let (opener, mut outcomes) = opener(ctx.clone());
    let (phase, phase_rx) = watch::channel(Phase::Setup);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut m = Manager {
        opener: opener.clone(),
        room: room.clone(),
        states: Vec::new(),
        tally: [0; STATES],
        cmds: Vec::new(),
        events_tx,
        idle: Default::default(),
        next_global: args.viewers + 1 + worker.index,
        stride: worker.count,
        counts: Counts::default(),
    };
    let watch = Arc::new(Watch {
        count: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
        gone: std::sync::Mutex::new(None),
    });
    let mut observer_joined = false;
    if worker.is_leader() {
        // The observer joins first so it sees every change.
        if let Some(client) = opener.open(args.viewers, None, &room, 1).await {
            observer_joined = true;
            tokio::spawn(observer(
                client,
                room.clone(),
                watch.clone(),
                phase_rx.clone(),
            ));
        }
    }
    let mine: Vec<usize> = (0..args.viewers).filter(|g| worker.owns(*g)).collect();
    let n = mine.len();
    for g in mine {
        m.spawn(g);
    }
    let deadline = tokio::time::Instant::now() + setup_limit(&ctx, n);
    while m.count(State::Opening) > 0 && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) => m.on_event(ev),
            _ => break,
        }
    }
    // Every outcome is in by now (the observer's too, on the leader).
    outcomes
        .collect(n + usize::from(worker.is_leader()), Duration::from_secs(1))
        .await;
    let mut part = Part {
        setup: outcomes.take_stats(),
        ..Part::default()
    };

    let started = pace::go(worker, &ctx, &phase).await?;
    let go = started.at;
    part.server_go = started.server;
    // This worker's share of the churn, one step in the middle of each slot.
    let schedule = Schedule::mid_slot(args.rate / worker.count as f64, args.duration);
    let end = go + Duration::from_secs_f64(args.duration);
    let mut rng = Rng::new(unix_ns() ^ ((worker.index as u64 + 1) << 32));
    let mut step = 0u64;
    loop {
        let due = schedule.due(go, step);
        let next = due.unwrap_or(end);
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => m.on_event(ev),
                None => break,
            },
            _ = tokio::time::sleep_until(next) => {
                if due.is_some() {
                    m.step(&mut rng);
                    step += 1;
                } else {
                    break;
                }
            }
        }
    }
    part.churn_s = go.elapsed().as_secs_f64();

    // Settle: every pending join and leave answered (bounded).
    let settle_limit = tokio::time::Instant::now() + SETTLE;
    while m.pending() && tokio::time::Instant::now() < settle_limit {
        match tokio::time::timeout_at(settle_limit, events.recv()).await {
            Ok(Some(ev)) => m.on_event(ev),
            _ => break,
        }
    }
    while let Ok(ev) = events.try_recv() {
        m.on_event(ev);
    }
    part.joined_at_end = m.count(State::Joined) as u64;
    part.pending_at_end =
        (m.count(State::Opening) + m.count(State::Leaving) + m.count(State::Rejoining)) as u64;

    let all = worker.barrier("settled", json!(part.joined_at_end)).await?;
    let joined_total: u64 = all.iter().filter_map(Value::as_u64).sum();
    if worker.is_leader() {
        let expected = joined_total + u64::from(observer_joined);
        let t0 = tokio::time::Instant::now();
        let limit = t0 + CHECK_MAX;
        loop {
            let now = tokio::time::Instant::now();
            let seen = watch.count.load(Ordering::Relaxed);
            if (now >= t0 + CHECK_MIN && seen == expected) || now >= limit {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let last_ns = watch.last_ns.load(Ordering::Relaxed);
        part.observer = Some(ObserverView {
            joined: observer_joined,
            last_count: watch.count.load(Ordering::Relaxed),
            expected,
            frames: watch.frames.load(Ordering::Relaxed),
            waited_s: t0.elapsed().as_secs_f64(),
            since_last_frame_s: if last_ns > 0 {
                unix_ns().saturating_sub(last_ns) as f64 / 1e9
            } else {
                0.0
            },
            lost: watch.gone.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        });
        part.server_end = ctx.sample_servers();
    }
    worker.barrier("checked", Value::Null).await?;
    part.busy = started.meter.stop();

    // Close everything: dropping the command senders closes each viewer.
    let _ = phase.send(Phase::Stop);
    for tx in m.cmds.iter_mut() {
        *tx = None;
    }
    drop(opener);
    let close_limit = tokio::time::Instant::now() + CLOSE_WAIT + Duration::from_secs(5);
    while m.count(State::Gone) < m.states.len() && tokio::time::Instant::now() < close_limit {
        match tokio::time::timeout_at(close_limit, events.recv()).await {
            Ok(Some(Ev::Gone(id, _))) => m.set(id, State::Gone),
            Ok(Some(Ev::Failed(id))) => m.set(id, State::Gone),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    outcomes.drain();
    part.churn_setup = outcomes.take_stats();
    part.counts = m.counts.clone();
    Ok(serde_json::to_value(part)?)
}

pub fn summarize(args: &ChurnArgs, results: Vec<Value>) -> anyhow::Result<Outcome> {
    let parts: Vec<Part> = parse_results(results)?;
    let mut setup = SetupStats::default();
    let mut churn_setup = SetupStats::default();
    let mut counts = Counts::default();
    let mut joined = 0;
    let mut pending = 0;
    let mut churn_s: f64 = 0.0;
    let mut busy = Busy::default();
    for p in &parts {
        setup.merge(&p.setup);
        churn_setup.merge(&p.churn_setup);
        counts.new_joins += p.counts.new_joins;
        counts.rejoins += p.counts.rejoins;
        counts.closes += p.counts.closes;
        counts.drops += p.counts.drops;
        counts.leaves += p.counts.leaves;
        counts.join_failures += p.counts.join_failures;
        tally_add(&mut counts.rejoin_refused, &p.counts.rejoin_refused);
        tally_add(&mut counts.lost, &p.counts.lost);
        joined += p.joined_at_end;
        pending += p.pending_at_end;
        churn_s = churn_s.max(p.churn_s);
        busy.merge(&p.busy);
    }
    let leader = parts.first();
    let obs = leader.and_then(|p| p.observer.as_ref());
    let server_cpu = server_delta(
        leader.and_then(|p| p.server_go),
        leader.and_then(|p| p.server_end),
    );
    let joins = counts.new_joins + counts.rejoins;
    let leaves = counts.closes + counts.drops + counts.leaves;

    let mut problems = Vec::new();
    setup_problems(&setup, &mut problems);
    setup_problems(&churn_setup, &mut problems);
    match obs {
        None => problems.push("no observer result".to_owned()),
        Some(o) if !o.joined => problems.push("the observer could not join".to_owned()),
        Some(o) => {
            if o.last_count != o.expected {
                problems.push(format!(
                    "the observer's last viewers count is {} but {} connections are joined \
                     ({} viewers + the observer)",
                    o.last_count, o.expected, joined
                ));
            }
            if let Some(cause) = &o.lost {
                problems.push(format!("the observer's connection ended: {cause}"));
            }
        }
    }
    if pending > 0 {
        problems.push(format!(
            "{pending} joins or leaves were still unanswered {} s after churn stopped",
            SETTLE.as_secs()
        ));
    }
    let lost = tally_total(&counts.lost);
    if lost > 0 {
        problems.push(format!(
            "{lost} connections ended without being closed by us: {}",
            describe_tally(&counts.lost)
        ));
    }
    let ok = problems.is_empty();

    let mut fields = Map::new();
    fields.insert(
        "params".into(),
        json!({ "viewers": args.viewers, "rate_per_s": args.rate, "duration_s": args.duration }),
    );
    fields.insert("connections".into(), setup.to_json());
    fields.insert(
        "churn".into(),
        json!({
            "joins": joins,
            "new_connections": counts.new_joins,
            "rejoins": counts.rejoins,
            "leaves": leaves,
            "closes": counts.closes,
            "drops": counts.drops,
            "leave_frames": counts.leaves,
            "join_failures": counts.join_failures,
            "new_connections_opened": churn_setup.to_json(),
            "rejoin_refused": counts.rejoin_refused,
            "lost": counts.lost,
            "achieved_rate_per_s": round1(crate::stats::rate(joins as f64, churn_s)),
            "churn_s": round3(churn_s),
        }),
    );
    fields.insert("joined_at_end".into(), json!(joined));
    fields.insert("pending_at_end".into(), json!(pending));
    fields.insert(
        "observer".into(),
        match obs {
            Some(o) => json!({
                "last_count": o.last_count,
                "expected": o.expected,
                "match": o.last_count == o.expected,
                "viewers_frames": o.frames,
                "waited_s": round3(o.waited_s),
                "since_last_frame_s": round3(o.since_last_frame_s),
            }),
            None => Value::Null,
        },
    );
    fields.insert("server".into(), json!({ "cpu_s": server_cpu.map(round3) }));
    fields.insert("client".into(), client_json(&busy));

    let mut lines = vec![setup_line(&setup)];
    lines.push(format!(
        "churn for {churn_s:.1} s: {joins} joins ({} new connections, {} rejoins), {leaves} leaves \
         ({} closes, {} TCP drops, {} leave frames); {} join failures",
        counts.new_joins,
        counts.rejoins,
        counts.closes,
        counts.drops,
        counts.leaves,
        counts.join_failures
    ));
    lines.push(format!(
        "churn connections: connect {}; join {}; failures: {}",
        churn_setup
            .connect_us
            .describe_ms(&[(0.5, "p50"), (0.99, "p99")]),
        churn_setup
            .join_us
            .describe_ms(&[(0.5, "p50"), (0.99, "p99")]),
        describe_tally(&churn_setup.failures)
    ));
    if let Some(o) = obs {
        lines.push(format!(
            "observer: last viewers count {} vs {} joined (+1 observer) = {} → {}",
            o.last_count,
            joined,
            o.expected,
            if o.last_count == o.expected {
                "match"
            } else {
                "MISMATCH"
            }
        ));
    }
    Ok(Outcome {
        ok,
        fields,
        lines,
        problems,
    })
}
