//! Sequenced publishing (contract §5): one Lua script numbers a chat message,
//! appends it to the room's stream and publishes it, atomically, in one round
//! trip. Redis runs scripts one at a time, so the channel carries a room's
//! messages in number order to every subscriber. The stream serves resuming
//! clients; a node that finds a gap fills it from there.

use super::event::{ClusterEvent, Envelope};
use super::{Keys, REDIS_TIMEOUT};
use crate::protocol::ChatMessage;

/// KEYS: seq, epoch, stream. ARGV: channel, node (a JSON string), the event
/// (JSON), the stream's cap, an epoch to start with if the room has none.
/// A room whose epoch is gone (Redis restarted, FLUSHALL) starts a new
/// sequence under a new epoch. Returns `{seq, epoch}`.
pub const SCRIPT: &str = r#"
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1])
end
local seq = redis.call('INCR', KEYS[1])
local payload = '{"node":' .. ARGV[2] .. ',"seq":' .. seq .. ',"epoch":"' .. epoch .. '","event":' .. ARGV[3] .. '}'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 's', seq, 'p', payload)
redis.call('PUBLISH', ARGV[1], payload)
return {seq, epoch}
"#;

/// The script's arguments for one message.
pub fn invocation(
    keys: &Keys,
    room: &str,
    node: &str,
    msg: &ChatMessage,
    max_messages: u64,
    candidate_epoch: &str,
) -> Result<redis::Cmd, serde_json::Error> {
    let event = serde_json::to_string(&ClusterEvent::Message { msg: msg.clone() })?;
    let node = serde_json::to_string(node)?;
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script_sha())
        .arg(3)
        .arg(keys.room_seq(room))
        .arg(keys.room_epoch(room))
        .arg(keys.room_log(room))
        .arg(keys.room_channel(room))
        .arg(node)
        .arg(event)
        .arg(max_messages.max(1))
        .arg(candidate_epoch);
    Ok(cmd)
}

/// The SHA-1 the script is known by (`SCRIPT LOAD` returns the same).
pub fn script_sha() -> String {
    redis::Script::new(SCRIPT).get_hash().to_owned()
}

/// Where a room's sequence stands in Redis: its last number and its epoch,
/// which is set to `candidate` if the room has none yet.
pub async fn position(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    room: &str,
    candidate: &str,
) -> anyhow::Result<(u64, String)> {
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg(keys.room_epoch(room))
        .arg(candidate)
        .arg("NX")
        .ignore()
        .get(keys.room_seq(room))
        .get(keys.room_epoch(room));
    let (seq, epoch): (Option<u64>, Option<String>) =
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(conn)).await??;
    Ok((
        seq.unwrap_or(0),
        epoch.unwrap_or_else(|| candidate.to_owned()),
    ))
}

/// The messages of a room's stream numbered `from..=to`, in order, from
/// envelopes of `epoch` (entries that do not decode are skipped).
pub async fn read_log(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    room: &str,
    epoch: &str,
    from: u64,
    to: u64,
) -> anyhow::Result<Vec<ChatMessage>> {
    // Entries are few (the stream is capped): read them all, newest last.
    // Each entry: [id, [field, value, field, value, …]].
    let entries: Vec<(String, Vec<String>)> = tokio::time::timeout(
        REDIS_TIMEOUT,
        redis::cmd("XRANGE")
            .arg(keys.room_log(room))
            .arg("-")
            .arg("+")
            .query_async(conn),
    )
    .await??;
    let mut found = Vec::new();
    for (_, fields) in entries {
        let Some(payload) = fields
            .chunks(2)
            .find(|kv| kv.first().is_some_and(|k| k == "p"))
            .and_then(|kv| kv.get(1))
        else {
            continue;
        };
        let Ok(env) = Envelope::decode(payload.as_bytes()) else {
            continue;
        };
        if let (Some(seq), Some(e), ClusterEvent::Message { mut msg }) =
            (env.seq, env.epoch, env.event)
            && e == epoch
            && (from..=to).contains(&seq)
        {
            msg.seq = Some(seq);
            msg.epoch = Some(e.into());
            found.push(msg);
        }
    }
    found.sort_by_key(|m| m.seq);
    found.dedup_by_key(|m| m.seq);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_builds_the_envelope_every_node_reads() {
        // What the script concatenates, done here by hand, must decode as the
        // node-to-node format with the number and epoch on the envelope.
        let msg = ChatMessage {
            room: "r".into(),
            id: ulid::Ulid::generate().to_string(),
            user: "u1".into(),
            name: "Ann".into(),
            text: "hi \"there\"".into(),
            ts: 5,
            badges: vec![],
            seq: None,
            epoch: None,
        };
        let event = serde_json::to_string(&ClusterEvent::Message { msg: msg.clone() }).unwrap();
        let node = serde_json::to_string("pod-\"a\"").unwrap();
        let payload = format!(r#"{{"node":{node},"seq":7,"epoch":"e1","event":{event}}}"#);
        let env = Envelope::decode(payload.as_bytes()).unwrap();
        assert_eq!(
            (env.node.as_str(), env.seq, env.epoch.as_deref()),
            ("pod-\"a\"", Some(7), Some("e1"))
        );
        assert!(matches!(env.event, ClusterEvent::Message { msg: m } if m.text == msg.text));
    }
}
