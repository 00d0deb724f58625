//! Identity: the HS256 JWT of contract §1, the anonymous viewer, the
//! moderator check, and §7's room tokens (roles for one membership).
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
/// The badge of the broadcaster's messages (§7: room-token role `broadcaster`).
pub const BROADCASTER_BADGE: &str = "broadcaster";

/// The claims of a roomcast token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    /// Not before (seconds since the epoch), if the platform sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
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
    /// When the token runs out (epoch ms); None for anonymous and system users.
    pub expires_at: Option<i64>,
}

impl Identity {
    /// An anonymous viewer with this id: no rights beyond watching and reacting.
    fn anonymous_with(id: String) -> Self {
        Identity {
            name: id.clone(),
            id,
            anonymous: true,
            moderates: Vec::new(),
            badges: Vec::new(),
            expires_at: None,
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
            expires_at: None,
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

/// The claims of a room token (contract §7): roles of `sub` in `room`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomClaims {
    pub sub: String,
    pub room: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Since when the user follows (epoch ms), for `followers_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follower_since: Option<i64>,
}

/// What a room token gives its user in its room, for that membership.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRoles {
    pub broadcaster: bool,
    #[serde(rename = "mod")]
    pub moderator: bool,
    pub vip: bool,
    pub subscriber: bool,
    pub follower: bool,
    /// Since when (epoch ms), if the token says.
    pub follower_since: Option<i64>,
}

impl RoomRoles {
    /// The roles a token names; an unknown role refuses the token (a typo
    /// must not silently give less, or more, than the platform meant).
    pub fn from_claims(roles: &[String], follower_since: Option<i64>) -> Result<Self, AuthError> {
        let mut r = RoomRoles {
            follower_since,
            ..RoomRoles::default()
        };
        for role in roles {
            match role.as_str() {
                "broadcaster" => r.broadcaster = true,
                "mod" => r.moderator = true,
                "vip" => r.vip = true,
                "subscriber" => r.subscriber = true,
                "follower" => r.follower = true,
                other => {
                    return Err(AuthError::BadClaim {
                        claim: "roles",
                        why: format!("unknown role {other:?}"),
                    });
                }
            }
        }
        Ok(r)
    }
}

/// A verified room token: whose, for which room, with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomToken {
    pub user: String,
    pub room: String,
    pub roles: RoomRoles,
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
    /// Key of the MAC that signs anonymous ids (derived from the secret).
    anon_key: Vec<u8>,
}

/// URL-safe characters of the MAC on an anonymous id (16 → 96 bits).
const ANON_MAC_CHARS: usize = 16;

impl Authenticator {
    /// `leeway_s` is the clock skew tolerated on `exp` (0 = none).
    pub fn new(secret: &[u8], leeway_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_s;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
                anon_key: mac(secret, b"roomcast anonymous ids").to_vec(),
            }),
        }
    }

    /// An anonymous viewer (contract §6): `previous` is reused when it is an id
    /// this cluster signed (`anon-<ulid>.<mac>`), so a ban or timeout of an
    /// anonymous viewer survives a reconnect; anything else gets a fresh id.
    pub fn anonymous(&self, previous: Option<&str>) -> Identity {
        if let Some(id) = previous.filter(|p| self.signed_anon(p)) {
            return Identity::anonymous_with(id.to_owned());
        }
        let ulid = ulid::Ulid::generate().to_string();
        let tag = self.anon_mac(&ulid);
        Identity::anonymous_with(format!("anon-{ulid}.{tag}"))
    }

    fn anon_mac(&self, ulid: &str) -> String {
        use base64::Engine as _;
        let full = mac(&self.inner.anon_key, ulid.as_bytes());
        let mut tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(full);
        tag.truncate(ANON_MAC_CHARS);
        tag
    }

    /// Is `id` an anonymous id signed with this cluster's secret?
    fn signed_anon(&self, id: &str) -> bool {
        let Some((ulid, tag)) = id.strip_prefix("anon-").and_then(|r| r.split_once('.')) else {
            return false;
        };
        ulid.len() == 26
            && ulid::Ulid::from_string(ulid).is_ok()
            && constant_time_eq(tag.as_bytes(), self.anon_mac(ulid).as_bytes())
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

    /// Check a room token (contract §7): signature, expiry, its claims. Whose
    /// and which room it is the caller compares.
    pub fn room_token(&self, token: &str) -> Result<RoomToken, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<RoomClaims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|e| match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    _ => AuthError::Malformed(e.to_string()),
                })?;
        let claims = data.claims;
        if !UserId::is_valid(&claims.sub) {
            return Err(AuthError::BadClaim {
                claim: "sub",
                why: format!("must be 1-{MAX_USER_CHARS} characters"),
            });
        }
        if !RoomId::is_valid(&claims.room) {
            return Err(AuthError::BadClaim {
                claim: "room",
                why: "not a room id".to_owned(),
            });
        }
        Ok(RoomToken {
            roles: RoomRoles::from_claims(&claims.roles, claims.follower_since)?,
            user: claims.sub,
            room: claims.room,
        })
    }

    /// Sign room claims (tests and tools; the platform mints real ones).
    pub fn mint_room(&self, claims: &RoomClaims) -> anyhow::Result<String> {
        use anyhow::Context;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .context("failed to sign room token")
    }

    /// Sign claims (for `roomcast token` and tests; the platform mints real ones).
    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        use anyhow::Context;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.inner.encoding)
            .context("failed to sign token")
    }
}

/// Compare secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `data` under `key`.
fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac as _};
    // A key of any length is accepted by HMAC: the error arm cannot happen.
    let Ok(mut m) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Badges only the server gives: a token may not claim them.
pub const RESERVED_BADGES: [&str; 3] = [MOD_BADGE, "system", BROADCASTER_BADGE];

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
    // The server's own badges are not the token's to give.
    let badges = claims
        .badges
        .into_iter()
        .filter(|b| !RESERVED_BADGES.contains(&b.as_str()))
        .collect();
    Ok(Identity {
        id: claims.sub,
        name,
        anonymous: false,
        moderates: claims.moderates,
        badges,
        expires_at: Some(claims.exp.saturating_mul(1000).min(i64::MAX as u64) as i64),
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
            nbf: None,
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
        let auth = Authenticator::new(b"secret", 0);
        let a = auth.anonymous(None);
        let b = auth.anonymous(None);
        assert!(
            a.anonymous && a.id.starts_with("anon-") && a.id.len() == 48,
            "{}",
            a.id
        );
        assert_ne!(a.id, b.id);
        assert!(UserId::is_valid(&a.id));
    }

    #[test]
    fn a_signed_anonymous_id_is_reused_and_anything_else_is_replaced() {
        let auth = Authenticator::new(b"secret", 0);
        let a = auth.anonymous(None);
        assert_eq!(auth.anonymous(Some(&a.id)).id, a.id);
        // Another cluster's id, a forged MAC, a bare ulid: fresh ids.
        let other = Authenticator::new(b"another secret", 0).anonymous(None);
        let (head, _) = a.id.split_once('.').unwrap();
        for bad in [
            other.id.as_str(),
            &format!("{head}.AAAAAAAAAAAAAAAA"),
            head,
            "anon-x.y",
            "",
        ] {
            let got = auth.anonymous(Some(bad));
            assert_ne!(got.id, bad);
            assert!(got.id.starts_with("anon-"));
        }
    }

    #[test]
    fn room_tokens_carry_roles_and_refuse_unknown_ones() {
        let auth = Authenticator::new(b"secret", 0);
        let claims = |roles: &[&str]| RoomClaims {
            sub: "ann".into(),
            room: "r".into(),
            exp: now_s() + 60,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            follower_since: Some(5),
        };
        let t = auth
            .room_token(&auth.mint_room(&claims(&["vip", "follower"])).unwrap())
            .unwrap();
        assert_eq!((t.user.as_str(), t.room.as_str()), ("ann", "r"));
        assert!(t.roles.vip && t.roles.follower && !t.roles.moderator);
        assert_eq!(t.roles.follower_since, Some(5));
        let bad = auth.mint_room(&claims(&["moderator"])).unwrap();
        assert!(matches!(
            auth.room_token(&bad),
            Err(AuthError::BadClaim { claim: "roles", .. })
        ));
        // A connection token has no room: it is not a room token.
        let conn = auth.mint(&claims_of("ann", 60)).unwrap();
        assert!(matches!(
            auth.room_token(&conn),
            Err(AuthError::Malformed(_))
        ));
        let mut expired = claims(&[]);
        expired.exp = now_s() - 5;
        let expired = auth.mint_room(&expired).unwrap();
        assert_eq!(auth.room_token(&expired), Err(AuthError::Expired));
    }

    fn claims_of(sub: &str, ttl: i64) -> Claims {
        claims(sub, ttl)
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_and_reserved_badges_are_dropped() {
        let auth = Authenticator::new(b"secret", 0);
        let mut c = claims("alice", 600);
        c.nbf = Some(now_s() + 300);
        assert!(auth.verify(&auth.mint(&c).unwrap()).is_err());
        let mut c = claims("alice", 600);
        c.badges = vec!["mod".into(), "vip".into(), "system".into()];
        let id = auth.verify(&auth.mint(&c).unwrap()).unwrap();
        assert_eq!(id.badges, ["vip"]);
        assert_eq!(id.expires_at, Some(c.exp as i64 * 1000));
    }
}
