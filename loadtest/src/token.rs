//! Tokens for the users who send chat messages: HS256 JWTs with `sub`, `name`
//! and `exp`, signed with `--jwt-secret`, as the platform's backend would mint them.
//!
//! This module only signs; it never verifies and never prints a secret.

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Longest display name the server accepts.
const MAX_NAME_CHARS: usize = 32;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    name: &'a str,
    exp: u64,
}

/// Signs tokens with one secret.
pub struct Minter {
    key: EncodingKey,
    exp: u64,
}

impl Minter {
    /// Tokens expire `ttl_s` seconds from now.
    pub fn new(secret: &str, ttl_s: u64) -> Minter {
        Minter {
            key: EncodingKey::from_secret(secret.as_bytes()),
            exp: crate::sys::unix_s() + ttl_s,
        }
    }

    /// A token for user `sub` (the display name is `sub`, cut to 32 characters).
    pub fn mint(&self, sub: &str) -> anyhow::Result<String> {
        let name: String = sub.chars().take(MAX_NAME_CHARS).collect();
        let claims = Claims {
            sub,
            name: &name,
            exp: self.exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .context("failed to sign a token")
    }
}
