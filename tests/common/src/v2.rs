//! Helpers for contract §7 (moderation v2): room tokens minted by hand (so a
//! test can make them wrong on purpose), API calls with the API key, and
//! client helpers that match replies by `ref` and prove a frame did not come.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};

use crate::client::Client;
use crate::{API_KEY, JWT_SECRET, TestApp};

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An HS256 JWT with exactly these claims, signed with `secret`.
pub fn mint_jwt(claims: &Value, secret: &str) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = base64url(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(signing_input.as_bytes());
    let signature = base64url(&mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

impl TestApp {
    /// A room token (§7) for `sub` in `room` with `roles`, valid for an hour,
    /// signed with the test secret.
    pub fn room_token(
        &self,
        sub: &str,
        room: &str,
        roles: &[&str],
        follower_since: Option<i64>,
    ) -> String {
        let mut claims = json!({
            "sub": sub,
            "room": room,
            "exp": now_ms() / 1000 + 3600,
            "roles": roles,
        });
        if let Some(since) = follower_since {
            claims["follower_since"] = json!(since);
        }
        mint_jwt(&claims, JWT_SECRET)
    }

    /// A call to the server API with the API key as bearer.
    pub async fn api(
        &self,
        method: awc::http::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.request(method, path, Some(API_KEY), body).await
    }

    /// The room's moderation log (newest first), read with the API key.
    pub async fn moderation_log(&self, room: &str) -> Vec<Value> {
        let (status, body) = self
            .get(
                &format!("/api/rooms/{room}/moderation?limit=100"),
                Some(API_KEY),
            )
            .await;
        assert_eq!(status, 200, "moderation log: {body}");
        body["actions"].as_array().cloned().unwrap_or_default()
    }

    /// The room's messages over the API (oldest first).
    pub async fn api_messages(&self, room: &str) -> Vec<Value> {
        let (status, body) = self
            .get(
                &format!("/api/rooms/{room}/messages?limit=100"),
                Some(API_KEY),
            )
            .await;
        assert_eq!(status, 200, "messages: {body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }
}

impl Client {
    /// Send a frame carrying a `ref` and return the first frame echoing that
    /// `ref` (an `ack`, `error`, `held`, `joined`…; never the `pong` of a marker).
    pub async fn act(&mut self, frame: Value) -> Value {
        let reference = frame["ref"]
            .as_str()
            .expect("act: the frame needs a string ref")
            .to_owned();
        self.send(frame).await;
        self.expect(&format!("the reply to ref {reference}"), |f| {
            f["ref"] == reference.as_str() && f["type"] != "pong"
        })
        .await
    }

    /// [`Client::act`], keeping the frames read before the reply (a
    /// broadcast that overtook the reply is not lost; see [`Client::expect_kept`]).
    pub async fn act_keep(&mut self, frame: Value) -> (Value, Vec<Value>) {
        let reference = frame["ref"]
            .as_str()
            .expect("act_keep: the frame needs a string ref")
            .to_owned();
        self.send(frame).await;
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        let mut kept = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = tokio::time::timeout(left, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for the reply to ref {reference}"));
            if f["ref"] == reference.as_str() && f["type"] != "pong" {
                return (f, kept);
            }
            kept.push(f);
        }
    }

    /// The first frame matching `pred`: taken from `kept` if one is there,
    /// else read (skipping others) as [`Client::expect`] does.
    pub async fn expect_kept(
        &mut self,
        kept: &mut Vec<Value>,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = kept.iter().position(&pred) {
            return kept.remove(i);
        }
        self.expect(what, pred).await
    }

    /// [`Client::act`], and the reply must be an `ack`.
    pub async fn acked(&mut self, frame: Value) -> Value {
        let what = frame.to_string();
        let reply = self.act(frame).await;
        assert_eq!(reply["type"], "ack", "{what} was not acked: {reply}");
        reply
    }

    /// [`Client::act`], and the reply must be an `error` with `code`.
    pub async fn refused(&mut self, frame: Value, code: &str) -> Value {
        let what = frame.to_string();
        let reply = self.act(frame).await;
        assert_eq!(reply["type"], "error", "{what} should be refused: {reply}");
        assert_eq!(reply["code"], code, "{what}: {reply}");
        reply
    }

    /// Join `room` with a room token; the `joined` frame or the `error`.
    pub async fn join_with_token(&mut self, room: &str, token: &str) -> Value {
        self.try_join(room, Some(token)).await
    }

    /// Join `room` (with a room token, if any); the `joined` frame or the
    /// `error` answering this join (matched by a fresh `ref`).
    pub async fn try_join(&mut self, room: &str, token: Option<&str>) -> Value {
        let reference = format!("join-{}", ulid::Ulid::generate());
        let mut frame = json!({"type":"join","room":room,"ref":reference});
        if let Some(token) = token {
            frame["token"] = json!(token);
        }
        self.send(frame).await;
        self.expect(&format!("joined {room} (or an error)"), |f| {
            (f["type"] == "joined" && f["room"] == room)
                || (f["type"] == "error" && f["ref"] == reference.as_str())
        })
        .await
    }

    /// Ping with a fresh ref and read up to its `pong`; fail if a frame
    /// matching `unwanted` comes first. Returns the frames read before the pong.
    pub async fn assert_none_before_pong(
        &mut self,
        what: &str,
        unwanted: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let reference = format!("marker-{}", ulid::Ulid::generate());
        self.send(json!({"type":"ping","ref":reference})).await;
        let mut seen = Vec::new();
        loop {
            let f = self.next().await;
            if f["type"] == "pong" && f["ref"] == reference.as_str() {
                return seen;
            }
            assert!(!unwanted(&f), "{what}: got {f}");
            seen.push(f);
        }
    }

    /// Read until a frame matching `wanted`; fail if a frame matching
    /// `unwanted` comes before it. Returns the wanted frame.
    pub async fn expect_without(
        &mut self,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
        unwanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = tokio::time::timeout(left, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            if wanted(&f) {
                return f;
            }
            assert!(!unwanted(&f), "before {what}, an unwanted frame: {f}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_values() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
