//! The signature of a webhook body: `sha256=<hex HMAC-SHA256 of the exact body
//! with webhooks.secret>`, sent as `X-Roomcast-Signature`.
//!
//! Pure: it signs the bytes it is given, and knows nothing of HTTP or events.

use hmac::{KeyInit as _, Mac as _};

/// The header that carries the signature.
pub const HEADER: &str = "X-Roomcast-Signature";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `sha256=<64 lowercase hex digits>` for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use std::fmt::Write as _;
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        unreachable!("HMAC takes a key of any length (RFC 2104)")
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * digest.len());
    out.push_str("sha256=");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_rfc_4231_vectors() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 1: a 20-byte key of 0x0b.
        assert_eq!(
            signature(&[0x0b; 20], b"Hi There"),
            "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn the_signature_covers_every_byte_of_the_body() {
        assert_ne!(
            signature(b"k", b"{\"a\":1}"),
            signature(b"k", b"{\"a\": 1}")
        );
        assert_ne!(signature(b"k", b"x"), signature(b"l", b"x"));
    }
}
