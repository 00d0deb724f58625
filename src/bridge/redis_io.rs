//! The bridge's two Redis connections: one ordered writer for everything this
//! node sends (publishes and presence), and one subscription that forwards
//! what arrives to the bridge actor. Both reconnect with backoff by themselves.

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
    Publish { channel: String, payload: Vec<u8> },
    Pipeline(redis::Pipeline),
}

/// Send everything this node writes to Redis, in order, on one connection.
/// Consecutive publishes go out as one pipeline. While Redis is unreachable,
/// writes are dropped (and counted): presence is rewritten whole by the next
/// heartbeat, and cluster events are fire-and-forget by nature.
pub(super) async fn write_loop(
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    status: Arc<BridgeStatus>,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut failures = 0u32;
    let mut batch: Vec<Outgoing> = Vec::new();
    while let Some(first) = rx.recv().await {
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
                Ok(Ok(c)) => {
                    conn = Some(c);
                    failures = 0;
                }
                _ => {
                    failures += 1;
                    retry_at = Instant::now() + backoff(failures);
                }
            }
        }
        let Some(c) = conn.as_mut() else {
            status
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
            continue;
        };
        let started = Instant::now();
        let mut publishes = redis::pipe();
        let mut n_publish = 0u64;
        let mut ok = true;
        for item in batch.drain(..) {
            match item {
                Outgoing::Publish { channel, payload } => {
                    publishes.publish(channel, payload).ignore();
                    n_publish += 1;
                }
                Outgoing::Pipeline(pipe) => {
                    if n_publish > 0 {
                        ok &= run(c, &publishes).await;
                        publishes = redis::pipe();
                    }
                    ok &= run(c, &pipe).await;
                }
            }
        }
        if n_publish > 0 && ok {
            ok &= run(c, &publishes).await;
        }
        if ok {
            status.published.fetch_add(n_publish, Ordering::Relaxed);
            status
                .last_publish_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        } else {
            status.dropped.fetch_add(n_publish, Ordering::Relaxed);
            conn = None;
            failures += 1;
            retry_at = Instant::now() + backoff(failures);
        }
    }
}

async fn run(conn: &mut redis::aio::MultiplexedConnection, pipe: &redis::Pipeline) -> bool {
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
