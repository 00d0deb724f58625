//! Connection caps (contract §6): connections per client address, per user
//! (token users, on this node), and the rate of new connections per address.
//! A connection that is admitted holds a [`CapGuard`]; dropping it (the
//! session ended) gives its place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::settings::Limits;

/// How often stale entries of the connect-rate limiter are forgotten.
const RETAIN_EVERY: u64 = 10_000;

#[derive(Default)]
struct Counts {
    by_ip: HashMap<IpAddr, u32>,
    by_user: HashMap<String, u32>,
    admitted: u64,
}

pub struct Caps {
    per_ip: u32,
    per_user: u32,
    counts: Mutex<Counts>,
    connects: DefaultKeyedRateLimiter<IpAddr>,
}

/// Why a connection was not admitted (the message of the 429).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapRefusal {
    #[error("too many connections from this address (at most {0})")]
    PerIp(u32),
    #[error("too many connections for this user on this node (at most {0})")]
    PerUser(u32),
    #[error("connecting too fast from this address; retry shortly")]
    Rate,
}

impl Caps {
    pub fn new(limits: &Limits) -> Arc<Caps> {
        let rate = NonZeroU32::new(limits.connects_per_ip_per_s).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.connects_per_ip_burst).unwrap_or(rate);
        Arc::new(Caps {
            per_ip: limits.connections_per_ip,
            per_user: limits.connections_per_user,
            counts: Mutex::new(Counts::default()),
            connects: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        })
    }

    /// Admit one more connection from `ip` (for `user`, if it has a token).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, user: Option<&str>) -> Result<CapGuard, CapRefusal> {
        if self.connects.check_key(&ip).is_err() {
            return Err(CapRefusal::Rate);
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.admitted += 1;
        if counts.admitted.is_multiple_of(RETAIN_EVERY) {
            self.connects.retain_recent();
        }
        if counts.by_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip {
            return Err(CapRefusal::PerIp(self.per_ip));
        }
        if let Some(u) = user
            && counts.by_user.get(u).copied().unwrap_or(0) >= self.per_user
        {
            return Err(CapRefusal::PerUser(self.per_user));
        }
        *counts.by_ip.entry(ip).or_default() += 1;
        if let Some(u) = user {
            *counts.by_user.entry(u.to_owned()).or_default() += 1;
        }
        Ok(CapGuard {
            caps: self.clone(),
            ip,
            user: user.map(str::to_owned),
        })
    }

    fn release(&self, ip: IpAddr, user: Option<&str>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_ip.remove(&ip);
            }
        }
        if let Some(u) = user
            && let Some(n) = counts.by_user.get_mut(u)
        {
            *n -= 1;
            if *n == 0 {
                counts.by_user.remove(u);
            }
        }
    }
}

/// One admitted connection's place under the caps.
pub struct CapGuard {
    caps: Arc<Caps>,
    ip: IpAddr,
    user: Option<String>,
}

impl Drop for CapGuard {
    fn drop(&mut self) {
        self.caps.release(self.ip, self.user.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn caps(per_ip: u32, per_user: u32) -> Arc<Caps> {
        let mut limits = Settings::load_from(std::path::Path::new("/nonexistent"), None)
            .unwrap()
            .limits;
        limits.connections_per_ip = per_ip;
        limits.connections_per_user = per_user;
        limits.connects_per_ip_per_s = 1000;
        limits.connects_per_ip_burst = 1000;
        Caps::new(&limits)
    }

    #[test]
    fn caps_count_per_address_and_per_user_and_give_places_back() {
        let c = caps(2, 1);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = c.admit(ip, Some("u")).unwrap();
        assert_eq!(c.admit(ip, Some("u")).err(), Some(CapRefusal::PerUser(1)));
        let b = c.admit(ip, None).unwrap();
        assert_eq!(c.admit(ip, None).err(), Some(CapRefusal::PerIp(2)));
        assert!(c.admit("10.0.0.2".parse().unwrap(), None).is_ok());
        drop(a);
        assert!(c.admit(ip, Some("u")).is_ok(), "a place came back");
        drop(b);
    }

    #[test]
    fn the_connect_rate_is_limited_per_address() {
        let mut limits = Settings::load_from(std::path::Path::new("/nonexistent"), None)
            .unwrap()
            .limits;
        limits.connects_per_ip_per_s = 1;
        limits.connects_per_ip_burst = 3;
        let c = Caps::new(&limits);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let kept: Vec<_> = (0..3).map(|_| c.admit(ip, None).unwrap()).collect();
        assert_eq!(c.admit(ip, None).err(), Some(CapRefusal::Rate));
        assert!(c.admit("10.0.0.9".parse().unwrap(), None).is_ok());
        drop(kept);
    }
}
