//! Identity: the HS256 JWT of contract §1, the anonymous viewer, and the
//! moderator check.
//!
//! This module verifies and mints tokens and answers "who is this and what may
//! they moderate". It must not know about sockets, rooms or HTTP; routes turn
//! its [`AuthError`] into a 401.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use crate::protocol::MAX_NAME_CHARS;
use crate::protocol::{MAX_USER_CHARS, RoomId, UserId};

/// Most badges echoed on a message, and the longest badge.
pub const MAX_BADGES: usize = 8;
pub const MAX_BADGE_CHARS: usize = 24;
/// The badge every moderator's messages carry in the rooms they moderate.
pub const MOD_BADGE: &str = "mod";

/// The claims of a roomcast token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "mod", default, skip_serializing_if = "Vec::is_empty")]
    pub moderates: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub badges: Vec<String>,
}

/// Who is on the other end of a connection (or of a moderator API call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub name: String,
    pub anonymous: bool,
    /// Rooms this user moderates; `"*"` means every room.
    pub moderates: Vec<String>,
    pub badges: Vec<String>,
}

impl Identity {
    /// An anonymous viewer: `anon-<ulid>`, no rights beyond watching and reacting.
    pub fn anonymous() -> Self {
        let id = format!("anon-{}", ulid::Ulid::generate());
        Identity {
            name: id.clone(),
            id,
            anonymous: true,
            moderates: Vec::new(),
            badges: Vec::new(),
        }
    }

    /// A system user of the server API (`POST /api/rooms/{room}/messages`).
    pub fn system(id: String, name: String) -> Self {
        Identity {
            id,
            name,
            anonymous: false,
            moderates: Vec::new(),
            badges: Vec::new(),
        }
    }

    /// Does this user moderate `room`?
    pub fn moderates(&self, room: &str) -> bool {
        self.moderates.iter().any(|r| r == "*" || r == room)
    }

    /// Badges on this user's messages in `room`: their own, plus `mod` where they moderate.
    pub fn badges_in(&self, room: &str) -> Vec<String> {
        let mut badges = self.badges.clone();
        if self.moderates(room) && !badges.iter().any(|b| b == MOD_BADGE) {
            badges.push(MOD_BADGE.to_owned());
        }
        badges
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("token has expired")]
    Expired,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("token claim `{claim}` is invalid: {why}")]
    BadClaim { claim: &'static str, why: String },
}

/// Verifies and mints tokens with one HS256 secret. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    /// `leeway_s` is the clock skew tolerated on `exp` (0 = none).
    pub fn new(secret: &[u8], leeway_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_s;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
            }),
        }
    }

    /// Check a token and the claims the contract constrains.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|e| match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    ErrorKind::InvalidAlgorithm => {
                        AuthError::Malformed("only HS256 tokens are accepted".to_owned())
                    }
                    _ => AuthError::Malformed(e.to_string()),
                })?;
        identity_from_claims(data.claims)
    }

    /// Sign claims (for `roomcast token` and tests; the platform mints real ones).
    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        use anyhow::Context;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .context("failed to sign token")
    }
}

/// Turn verified claims into an identity, refusing what the contract forbids.
pub fn identity_from_claims(claims: Claims) -> Result<Identity, AuthError> {
    if !UserId::is_valid(&claims.sub) {
        return Err(AuthError::BadClaim {
            claim: "sub",
            why: format!("must be 1-{MAX_USER_CHARS} characters"),
        });
    }
    if claims.sub.starts_with("anon-") {
        return Err(AuthError::BadClaim {
            claim: "sub",
            why: "the anon- prefix is reserved for anonymous viewers".to_owned(),
        });
    }
    let name = claims.name.unwrap_or_else(|| claims.sub.clone());
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AuthError::BadClaim {
            claim: "name",
            why: format!("must be 1-{MAX_NAME_CHARS} characters"),
        });
    }
    if let Some(bad) = claims
        .moderates
        .iter()
        .find(|r| r.as_str() != "*" && !RoomId::is_valid(r))
    {
        return Err(AuthError::BadClaim {
            claim: "mod",
            why: format!("{bad:?} is not a room id or \"*\""),
        });
    }
    if claims.badges.len() > MAX_BADGES
        || claims
            .badges
            .iter()
            .any(|b| b.is_empty() || b.chars().count() > MAX_BADGE_CHARS)
    {
        return Err(AuthError::BadClaim {
            claim: "badges",
            why: format!("at most {MAX_BADGES} badges of 1-{MAX_BADGE_CHARS} characters"),
        });
    }
    Ok(Identity {
        id: claims.sub,
        name,
        anonymous: false,
        moderates: claims.moderates,
        badges: claims.badges,
    })
}

/// Seconds since the epoch, for `exp`.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, ttl: i64) -> Claims {
        Claims {
            sub: sub.to_owned(),
            exp: (now_s() as i64 + ttl) as u64,
            name: None,
            moderates: vec!["r1".to_owned()],
            badges: vec!["vip".to_owned()],
        }
    }

    #[test]
    fn a_minted_token_verifies_and_names_default_to_sub() {
        let auth = Authenticator::new(b"secret", 0);
        let token = auth.mint(&claims("alice", 60)).unwrap();
        let id = auth.verify(&token).unwrap();
        assert_eq!(id.id, "alice");
        assert_eq!(id.name, "alice");
        assert!(!id.anonymous);
        assert!(id.moderates("r1"));
        assert!(!id.moderates("r2"));
        assert_eq!(id.badges_in("r1"), vec!["vip", "mod"]);
        assert_eq!(id.badges_in("r2"), vec!["vip"]);
    }

    #[test]
    fn expired_and_wrongly_signed_tokens_are_refused() {
        let auth = Authenticator::new(b"secret", 0);
        let expired = auth.mint(&claims("alice", -5)).unwrap();
        assert_eq!(auth.verify(&expired), Err(AuthError::Expired));
        let other = Authenticator::new(b"other", 0)
            .mint(&claims("alice", 60))
            .unwrap();
        assert_eq!(auth.verify(&other), Err(AuthError::BadSignature));
        assert!(matches!(
            auth.verify("garbage"),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn claims_outside_the_contract_are_refused() {
        let auth = Authenticator::new(b"secret", 0);
        let mut c = claims(&"u".repeat(65), 60);
        assert!(matches!(
            auth.verify(&auth.mint(&c).unwrap()),
            Err(AuthError::BadClaim { claim: "sub", .. })
        ));
        c.sub = "bob".into();
        c.name = Some("n".repeat(33));
        assert!(matches!(
            auth.verify(&auth.mint(&c).unwrap()),
            Err(AuthError::BadClaim { claim: "name", .. })
        ));
        c.name = None;
        c.moderates = vec!["bad room".into()];
        assert!(matches!(
            auth.verify(&auth.mint(&c).unwrap()),
            Err(AuthError::BadClaim { claim: "mod", .. })
        ));
    }

    #[test]
    fn star_moderates_every_room_and_anonymous_ids_are_unique() {
        let mut c = claims("m", 60);
        c.moderates = vec!["*".into()];
        let id = identity_from_claims(c).unwrap();
        assert!(id.moderates("anything"));
        let a = Identity::anonymous();
        let b = Identity::anonymous();
        assert!(a.anonymous && a.id.starts_with("anon-") && a.id.len() == 31);
        assert_ne!(a.id, b.id);
    }
}
