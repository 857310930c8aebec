//! Per-client rate limits: the generic cell rate algorithm (GCRA), one theoretical arrival time
//! per client. Pure: the caller passes the time, so the algorithm is tested without sleeping.
//!
//! A client is its IP address; IPv6 clients are keyed by their /64, since one host usually holds
//! a whole /64 and could otherwise step around its limit by changing addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arkivo_core::limits::MAX_RATE_LIMITED_CLIENTS;

/// Requests a second each client may make on average, and how many it may make at once.
pub struct RateLimiter {
    /// Time between two requests at the steady rate (GCRA's emission interval T).
    interval: Duration,
    /// How far ahead of its schedule a client may run: (burst − 1) · T (GCRA's τ).
    tolerance: Duration,
    /// Each client's theoretical arrival time: when it will have used up no burst at all.
    clients: Mutex<HashMap<IpAddr, Instant>>,
}

/// Refused: the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RateLimiter {
    /// `per_second` ≥ 1 requests a second on average, bursts of up to `burst` ≥ 1.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        let interval = Duration::from_secs(1) / per_second.max(1);
        RateLimiter {
            interval,
            tolerance: interval * (burst.max(1) - 1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client` at `now`, or says when it may come back.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let key = client_key(client);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_RATE_LIMITED_CLIENTS && !clients.contains_key(&key) {
            // Clients whose theoretical arrival time has passed have their whole burst back:
            // forgetting them changes nothing. If the table is still full, so many clients are
            // bursting at once that the server refuses newcomers rather than grow without bound.
            clients.retain(|_, tat| *tat > now);
            if clients.len() >= MAX_RATE_LIMITED_CLIENTS {
                return Err(RetryAfter(self.interval));
            }
        }
        let tat = clients.get(&key).map_or(now, |&t| t.max(now));
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(RetryAfter(ahead - self.tolerance));
        }
        clients.insert(key, tat + self.interval);
        Ok(())
    }
}

/// IPv4 addresses as they are; IPv6 addresses cut to their /64 (IPv4-mapped ones as IPv4).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let limiter = RateLimiter::new(10, 5);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..5 {
            assert_eq!(limiter.check(a, t0), Ok(()));
        }
        // The sixth at once is refused until one interval (100 ms) has passed.
        let Err(RetryAfter(wait)) = limiter.check(a, t0) else {
            panic!("a sixth request at once was accepted");
        };
        assert_eq!(wait, Duration::from_millis(100));
        assert!(limiter.check(a, t0 + Duration::from_millis(99)).is_err());
        assert_eq!(limiter.check(a, t0 + Duration::from_millis(100)), Ok(()));
        // Other clients are not affected.
        assert_eq!(limiter.check(ip("192.0.2.2"), t0), Ok(()));
        // After a quiet second the whole burst is back.
        let later = t0 + Duration::from_secs(2);
        for _ in 0..5 {
            assert_eq!(limiter.check(a, later), Ok(()));
        }
        assert!(limiter.check(a, later).is_err());
    }

    #[test]
    fn steady_rate_is_never_refused() {
        let limiter = RateLimiter::new(100, 1);
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        for i in 0..1000 {
            assert_eq!(limiter.check(a, t0 + Duration::from_millis(10) * i), Ok(()));
        }
        assert!(
            limiter
                .check(
                    a,
                    t0 + Duration::from_millis(10) * 999 + Duration::from_millis(5)
                )
                .is_err()
        );
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        assert_eq!(limiter.check(ip("2001:db8:1:2::1"), t0), Ok(()));
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), t0).is_err());
        assert_eq!(limiter.check(ip("2001:db8:1:3::1"), t0), Ok(()));
        assert_eq!(limiter.check(ip("::ffff:192.0.2.9"), t0), Ok(()));
        assert!(limiter.check(ip("192.0.2.9"), t0).is_err());
    }

    #[test]
    fn the_table_of_clients_is_bounded() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        for i in 0..MAX_RATE_LIMITED_CLIENTS as u32 {
            assert_eq!(limiter.check(IpAddr::V4(i.into()), t0), Ok(()));
        }
        // Full of clients that are all still within their interval: a newcomer waits.
        assert!(limiter.check(ip("203.0.113.1"), t0).is_err());
        // Once their interval has passed they are forgotten and the newcomer gets in.
        assert_eq!(
            limiter.check(ip("203.0.113.1"), t0 + Duration::from_secs(1)),
            Ok(())
        );
        assert_eq!(limiter.clients.lock().unwrap().len(), 1);
    }
}
