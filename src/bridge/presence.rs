//! Reading cluster presence from Redis: which nodes are alive (heartbeat
//! within the TTL) and their per-room connection counts. Stateless async
//! functions on the pool; the bridge actor writes presence, these only read.

use std::collections::HashMap;
use std::time::Duration;

use bb8_redis::RedisConnectionManager;

use super::{Keys, REDIS_TIMEOUT};
use crate::protocol::now_ms;

type Pool = bb8::Pool<RedisConnectionManager>;

/// The nodes whose heartbeat is within `ttl`.
async fn live_nodes(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    ttl: Duration,
) -> anyhow::Result<Vec<String>> {
    let since = now_ms() - ttl.as_millis() as i64;
    let nodes = tokio::time::timeout(
        REDIS_TIMEOUT,
        redis::cmd("ZRANGEBYSCORE")
            .arg(keys.nodes())
            .arg(since)
            .arg("+inf")
            .query_async(conn),
    )
    .await??;
    Ok(nodes)
}

/// Every node whose heartbeat is within `ttl`.
pub async fn live_nodes_of(pool: Pool, keys: Keys, ttl: Duration) -> anyhow::Result<Vec<String>> {
    let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
    live_nodes(&mut conn, &keys, ttl).await
}

/// Wait (up to `ttl`) for `node` to be live: a node whose heartbeat lapsed
/// while Redis stalled comes back within a heartbeat. True if it did.
pub async fn becomes_live(pool: Pool, keys: Keys, ttl: Duration, node: &str) -> bool {
    let deadline = tokio::time::Instant::now() + ttl;
    loop {
        if let Ok(true) = is_live(pool.clone(), keys.clone(), ttl, node).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Is `node`'s heartbeat within `ttl`?
pub async fn is_live(pool: Pool, keys: Keys, ttl: Duration, node: &str) -> anyhow::Result<bool> {
    let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
    let score: Option<i64> = tokio::time::timeout(
        REDIS_TIMEOUT,
        redis::cmd("ZSCORE")
            .arg(keys.nodes())
            .arg(node)
            .query_async(&mut *conn),
    )
    .await??;
    Ok(score.is_some_and(|s| s >= now_ms() - ttl.as_millis() as i64))
}

/// The live nodes other than `me`, and their counts in `room` (only non-zero ones).
pub async fn remote_counts(
    pool: Pool,
    keys: Keys,
    me: String,
    ttl: Duration,
    room: String,
) -> anyhow::Result<HashMap<String, u64>> {
    let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
    let nodes: Vec<String> = live_nodes(&mut conn, &keys, ttl)
        .await?
        .into_iter()
        .filter(|n| *n != me)
        .collect();
    if nodes.is_empty() {
        return Ok(HashMap::new());
    }
    let mut pipe = redis::pipe();
    for n in &nodes {
        pipe.hget(keys.node_rooms(n), &room);
    }
    let counts: Vec<Option<u64>> =
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut *conn)).await??;
    Ok(nodes
        .into_iter()
        .zip(counts)
        .filter_map(|(n, c)| c.filter(|c| *c > 0).map(|c| (n, c)))
        .collect())
}

/// Every room's connection count summed over the live nodes.
pub async fn room_sums(
    pool: Pool,
    keys: Keys,
    ttl: Duration,
) -> anyhow::Result<HashMap<String, u64>> {
    let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
    let nodes = live_nodes(&mut conn, &keys, ttl).await?;
    let mut pipe = redis::pipe();
    for n in &nodes {
        pipe.hgetall(keys.node_rooms(n));
    }
    let per_node: Vec<HashMap<String, u64>> =
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut *conn)).await??;
    let mut sums: HashMap<String, u64> = HashMap::new();
    for counts in per_node {
        for (room, n) in counts {
            *sums.entry(room).or_default() += n;
        }
    }
    Ok(sums)
}

/// The nodes in the set `listed` (nodes that wrote something to clean up
/// after them) other than `me` whose heartbeat is older than `alive_since`.
pub async fn dead_listed(
    pool: &Pool,
    keys: &Keys,
    listed: &str,
    me: &str,
    alive_since: i64,
) -> anyhow::Result<Vec<String>> {
    let mut conn = tokio::time::timeout(REDIS_TIMEOUT, pool.get()).await??;
    let mut pipe = redis::pipe();
    pipe.smembers(listed)
        .cmd("ZRANGEBYSCORE")
        .arg(keys.nodes())
        .arg(alive_since)
        .arg("+inf");
    let (listed, live): (Vec<String>, Vec<String>) =
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut *conn)).await??;
    Ok(listed
        .into_iter()
        .filter(|n| n != me && !live.contains(n))
        .collect())
}
