//! One delivery attempt: POST the stored body, signed, with a timeout; and the
//! retry schedule (exponential backoff with jitter).
//!
//! This file owns the HTTP client and nothing else: it must not touch the
//! outbox or decide whether an event is given up on (the actor does).

use std::time::Duration;

use super::sign;

/// The longest one attempt may take, connecting included. The lease on an
/// event is longer, so a lease never runs out under a request still waiting.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait between two attempts of one event.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How much of an error response's body is kept (in `last_error` and logs).
const ERROR_SNIPPET: usize = 200;

/// Why an attempt did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver answered, but not with a 2xx.
    #[error("the receiver answered HTTP {status}{}", snippet(.body))]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS, or the exchange itself failed.
    #[error("request failed: {0}")]
    Request(String),
}

fn snippet(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// Sends events to the configured receiver. Lives on one arbiter (the HTTP
/// client is not `Send`).
pub struct Deliverer {
    client: awc::Client,
    url: String,
    secret: Vec<u8>,
    user_agent: String,
}

impl Deliverer {
    pub fn new(url: &str, secret: &[u8], node: &str) -> Self {
        let client = awc::Client::builder()
            .disable_redirects()
            .timeout(REQUEST_TIMEOUT)
            .connector(awc::Connector::new().timeout(CONNECT_TIMEOUT))
            .finish();
        Deliverer {
            client,
            url: url.to_owned(),
            secret: secret.to_vec(),
            user_agent: format!("roomcast/{} ({node})", env!("CARGO_PKG_VERSION")),
        }
    }

    /// POST `body` as it is (`Content-Type: application/json`, signed). A 2xx
    /// answers its status; anything else is an error to retry.
    pub async fn post(&self, body: &str) -> Result<u16, DeliveryError> {
        let signature = sign::signature(&self.secret, body.as_bytes());
        let request = self
            .client
            .post(&self.url)
            .insert_header(("Content-Type", "application/json"))
            .insert_header((sign::HEADER, signature))
            .insert_header(("User-Agent", self.user_agent.as_str()))
            .send_body(body.to_owned());
        let exchange = async {
            let mut resp = request.await.map_err(|err| match err {
                awc::error::SendRequestError::Timeout => DeliveryError::Timeout(REQUEST_TIMEOUT),
                other => DeliveryError::Request(other.to_string()),
            })?;
            let status = resp.status();
            // Read the (small) answer so the connection can be used again.
            let body = resp.body().limit(16 * 1024).await.unwrap_or_default();
            if status.is_success() {
                Ok(status.as_u16())
            } else {
                let text = String::from_utf8_lossy(&body);
                Err(DeliveryError::Status {
                    status: status.as_u16(),
                    body: text.chars().take(ERROR_SNIPPET).collect(),
                })
            }
        };
        // The client's own timeout covers the answer's head; this bounds the whole exchange.
        tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(1), exchange)
            .await
            .unwrap_or(Err(DeliveryError::Timeout(REQUEST_TIMEOUT)))
    }
}

/// The wait after the `attempt`-th failed attempt (1-based): `base · 2^(attempt-1)`,
/// at most [`MAX_BACKOFF`], then scaled by `jitter` (expected in `[0.8, 1.2)`)
/// so the events of many rooms do not retry in step.
pub fn backoff(attempt: u32, base: Duration, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let plain = base.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
    plain.mul_f64(jitter.clamp(0.5, 1.5))
}

/// A jitter factor in `[0.8, 1.2)`.
pub fn jitter() -> f64 {
    0.8 + 0.4 * fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let base = Duration::from_millis(1000);
        assert_eq!(backoff(1, base, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, base, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, base, 1.0), Duration::from_secs(16));
        assert_eq!(backoff(12, base, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX, base, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(1, base, 0.8), Duration::from_millis(800));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.8..1.2).contains(&j), "{j}");
        }
    }

    #[test]
    fn errors_say_what_the_receiver_answered() {
        let e = DeliveryError::Status {
            status: 503,
            body: "busy".into(),
        };
        assert_eq!(e.to_string(), "the receiver answered HTTP 503: busy");
        let e = DeliveryError::Status {
            status: 500,
            body: String::new(),
        };
        assert_eq!(e.to_string(), "the receiver answered HTTP 500");
    }
}
