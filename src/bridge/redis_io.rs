//! The bridge's two Redis connections: one ordered writer for everything this
//! node sends (publishes and presence), and one subscription that forwards
//! what arrives to the bridge actor. Both reconnect with backoff by themselves.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{BridgeStatus, Connected, Disconnected, Incoming, REDIS_TIMEOUT, RedisBridge};

/// Most commands sent to Redis in one pipeline.
const MAX_PIPELINE: usize = 512;

/// Writes for the ordered writer task.
pub(super) enum Outgoing {
    /// `keep`: sent again until Redis takes it (moderation actions).
    Publish {
        channel: String,
        payload: Vec<u8>,
        keep: bool,
    },
    Pipeline(redis::Pipeline),
    /// A chat message to number and publish (the sequencing script), and
    /// where to say what number it got.
    Sequenced {
        cmd: redis::Cmd,
        id: String,
        reply: actix::Recipient<Sequenced>,
    },
    /// Nothing to write: time to try the held publishes again.
    Tick,
}

/// A chat message this node published got its place in the room's sequence
/// (or could not: Redis failed, and the room falls back to its own numbers).
#[derive(actix::Message, Debug)]
#[rtype(result = "()")]
pub struct Sequenced {
    pub id: String,
    pub position: Option<(u64, String)>,
}

/// The writer has a new connection to Redis (at start, and after every loss).
#[derive(actix::Message, Debug)]
#[rtype(result = "()")]
pub struct WriterConnected;

/// Moderation publishes held while Redis is away, at most.
const MAX_KEPT: usize = 100_000;
/// How often held publishes are tried again while nothing else is written.
const KEPT_RETRY: Duration = Duration::from_millis(500);

/// Send everything this node writes to Redis, in order, on one connection.
/// Consecutive publishes go out as one pipeline. While Redis is unreachable,
/// most writes are dropped (and counted): presence is rewritten whole by the
/// next heartbeat, messages and reactions are current events. Moderation
/// actions are kept and sent again, oldest first, until Redis takes them (a
/// ban must reach every node; a repeat is harmless). Each time this loop has a
/// new connection it tells `connected`, so what is written only once (the
/// node's user entries) is written again on it.
pub(super) async fn write_loop(
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    status: Arc<BridgeStatus>,
    connected: actix::Recipient<WriterConnected>,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut failures = 0u32;
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut kept: VecDeque<(String, Vec<u8>)> = VecDeque::new();
    loop {
        let next = if kept.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(KEPT_RETRY, rx.recv()).await {
                Ok(next) => next,
                Err(_) => Some(Outgoing::Tick),
            }
        };
        let Some(first) = next else { return };
        batch.push(first);
        while batch.len() < MAX_PIPELINE {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(mut c)) => {
                    // Scripts are cached by Redis; a restarted Redis forgets them.
                    let mut load = redis::cmd("SCRIPT");
                    load.arg("LOAD").arg(super::seq::SCRIPT);
                    let loaded = load.query_async::<String>(&mut c);
                    if matches!(tokio::time::timeout(REDIS_TIMEOUT, loaded).await, Ok(Ok(_))) {
                        conn = Some(c);
                        failures = 0;
                        connected.do_send(WriterConnected);
                    } else {
                        failures += 1;
                        retry_at = Instant::now() + backoff(failures);
                    }
                }
                _ => {
                    failures += 1;
                    retry_at = Instant::now() + backoff(failures);
                }
            }
        }
        let Some(c) = conn.as_mut() else {
            hold(&mut batch, &mut kept, &status);
            continue;
        };
        let started = Instant::now();
        // What waited goes first, in order.
        let mut ok = true;
        if !kept.is_empty() {
            let mut pipe = redis::pipe();
            for (channel, payload) in &kept {
                pipe.publish(channel, payload).ignore();
            }
            ok = run(c, &pipe).await;
            if ok {
                status
                    .published
                    .fetch_add(kept.len() as u64, Ordering::Relaxed);
                kept.clear();
            }
        }
        let mut publishes = redis::pipe();
        let mut n_publish = 0u64;
        let mut sent_keep: Vec<(String, Vec<u8>)> = Vec::new();
        // Scripts in the current pipeline, whose replies say their numbers.
        let mut waiting: Vec<(String, actix::Recipient<Sequenced>)> = Vec::new();
        for item in batch.drain(..) {
            match item {
                Outgoing::Sequenced { cmd, id, reply } => {
                    publishes.add_command(cmd);
                    n_publish += 1;
                    waiting.push((id, reply));
                }
                Outgoing::Publish {
                    channel,
                    payload,
                    keep,
                } => {
                    publishes.publish(&channel, &payload).ignore();
                    n_publish += 1;
                    if keep {
                        sent_keep.push((channel, payload));
                    }
                }
                Outgoing::Tick => {}
                Outgoing::Pipeline(pipe) => {
                    if n_publish > 0 && ok {
                        ok &= run_numbered(c, &publishes, &mut waiting).await;
                        publishes = redis::pipe();
                    }
                    if ok {
                        ok &= run(c, &pipe).await;
                    }
                }
            }
        }
        if n_publish > 0 && ok {
            ok &= run_numbered(c, &publishes, &mut waiting).await;
        }
        // Whatever was not numbered: the rooms number those messages themselves.
        for (id, reply) in waiting.drain(..) {
            reply.do_send(Sequenced { id, position: None });
        }
        if ok {
            status.published.fetch_add(n_publish, Ordering::Relaxed);
            status
                .last_publish_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        } else {
            // Not known to be taken: the moderation actions wait for the next try.
            let n_kept = sent_keep.len() as u64;
            for item in sent_keep {
                if kept.len() < MAX_KEPT {
                    kept.push_back(item);
                }
            }
            status
                .dropped
                .fetch_add(n_publish - n_kept, Ordering::Relaxed);
            conn = None;
            failures += 1;
            retry_at = Instant::now() + backoff(failures);
        }
    }
}

/// Redis is away: keep the moderation publishes of `batch`, drop the rest.
fn hold(batch: &mut Vec<Outgoing>, kept: &mut VecDeque<(String, Vec<u8>)>, status: &BridgeStatus) {
    for item in batch.drain(..) {
        match item {
            Outgoing::Publish {
                channel,
                payload,
                keep: true,
            } if kept.len() < MAX_KEPT => kept.push_back((channel, payload)),
            Outgoing::Tick => {}
            Outgoing::Sequenced { id, reply, .. } => {
                reply.do_send(Sequenced { id, position: None })
            }
            _ => {
                status.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Run a pipeline of publishes and sequencing scripts; tell each script's
/// room its number (taken off `waiting` as answered).
async fn run_numbered(
    conn: &mut redis::aio::MultiplexedConnection,
    pipe: &redis::Pipeline,
    waiting: &mut Vec<(String, actix::Recipient<Sequenced>)>,
) -> bool {
    if waiting.is_empty() {
        return run(conn, pipe).await;
    }
    let replies: Vec<(u64, String)> =
        match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(conn)).await {
            Ok(Ok(r)) => r,
            _ => return false,
        };
    for ((id, reply), (seq, epoch)) in waiting.drain(..).zip(replies) {
        reply.do_send(Sequenced {
            id,
            position: Some((seq, epoch)),
        });
    }
    true
}

async fn run(conn: &mut redis::aio::MultiplexedConnection, pipe: &redis::Pipeline) -> bool {
    // An empty pipeline is an error to redis-rs, not a no-op.
    if pipe.cmd_iter().next().is_none() {
        return true;
    }
    matches!(
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(conn)).await,
        Ok(Ok(()))
    )
}

/// Keep a subscription connection open; hand each (re)connection's sink to the
/// actor, which subscribes every live room, and forward what arrives.
pub(super) async fn subscribe_loop(
    client: redis::Client,
    bridge: Addr<RedisBridge>,
    status: Arc<BridgeStatus>,
) {
    let mut failures = 0u32;
    while bridge.connected() {
        if let Ok(Ok(pubsub)) = tokio::time::timeout(REDIS_TIMEOUT, client.get_async_pubsub()).await
        {
            let (sink, mut stream) = pubsub.split();
            failures = 0;
            bridge.do_send(Connected { sink });
            while let Some(msg) = stream.next().await {
                status.received.fetch_add(1, Ordering::Relaxed);
                bridge.do_send(Incoming {
                    channel: msg.get_channel_name().to_owned(),
                    payload: msg.get_payload_bytes().to_vec(),
                });
            }
            bridge.do_send(Disconnected);
        } else if failures == 0 {
            bridge.do_send(Disconnected);
        }
        failures += 1;
        tokio::time::sleep(backoff(failures)).await;
    }
}

/// Reconnect backoff: 100 ms doubling to 2 s.
pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(5)).min(2_000))
}
