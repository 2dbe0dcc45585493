//! Rate limits on opening WHIP and WHEP sessions: each POST builds a peer connection, so one
//! token or one address must not be able to open them in a tight loop. Limited per identity and
//! per client IP (loopback, where a reverse proxy connects from, only per identity).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Per identity: one session a second, bursts of 10 (a page reloaded, a publisher restarted).
const PER_IDENTITY: (u32, u32) = (1, 10);
/// Per client IP: several people behind one NAT, still far from a flood.
const PER_IP: (u32, u32) = (5, 30);
/// Keys remembered before idle ones are forgotten.
const MAX_KEYS: usize = 10_000;

fn quota((per_second, burst): (u32, u32)) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// Why a POST was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Identity,
    Address,
}

pub struct SessionRateLimits {
    by_identity: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for SessionRateLimits {
    fn default() -> Self {
        Self {
            by_identity: RateLimiter::keyed(quota(PER_IDENTITY)),
            by_ip: RateLimiter::keyed(quota(PER_IP)),
        }
    }
}

impl SessionRateLimits {
    /// May `identity`, from `ip`, open another session now?
    pub fn check(&self, identity: &str, ip: Option<IpAddr>) -> Result<(), Refusal> {
        if self.by_identity.len() > MAX_KEYS {
            self.by_identity.retain_recent();
        }
        if self.by_ip.len() > MAX_KEYS {
            self.by_ip.retain_recent();
        }
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback()) {
            self.by_ip.check_key(&ip).map_err(|_| Refusal::Address)?;
        }
        self.by_identity
            .check_key(&identity.to_owned())
            .map_err(|_| Refusal::Identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_per_identity_and_per_address() {
        let limits = SessionRateLimits::default();
        let home: IpAddr = "198.51.100.9".parse().unwrap();
        for _ in 0..PER_IDENTITY.1 {
            assert_eq!(limits.check("ana", Some(home)), Ok(()));
        }
        assert_eq!(limits.check("ana", Some(home)), Err(Refusal::Identity));
        assert_eq!(
            limits.check("ben", Some(home)),
            Ok(()),
            "another identity has its own"
        );
        // Many identities from one address run into the address limit.
        let refused = (0..PER_IP.1)
            .map(|i| limits.check(&format!("bot-{i}"), Some(home)))
            .filter(|r| *r == Err(Refusal::Address))
            .count();
        assert!(refused > 0);
        // Behind a proxy on loopback, only identities count.
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..PER_IP.1 * 2 {
            assert_eq!(limits.check(&format!("user-{i}"), Some(proxy)), Ok(()));
        }
    }
}
