//! Per-client limits: rates, with the generic cell rate algorithm (GCRA), one theoretical arrival
//! time per client (pure: the caller passes the time, so the algorithm is tested without
//! sleeping); and shares of a bounded resource (connections, requests in flight), with
//! [`ClientSlots`].
//!
//! A client is its IP address; IPv6 clients are keyed by their /64, since one host usually holds
//! a whole /64 and could otherwise step around its limit by changing addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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

/// At most `total` slots (connections, requests in flight) held at once, at most an eighth of
/// them by one client, and the last sixteenth only by clients holding few: one client, or a few,
/// cannot take every slot, and a newcomer (another client, a health probe) still finds one.
pub struct ClientSlots {
    total: usize,
    per_client: usize,
    /// Slots that only clients holding fewer than [`FEW_SLOTS`] may take.
    reserved: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// A client holding fewer slots than this may take the reserved ones.
pub const FEW_SLOTS: usize = 4;

/// How many of `total` slots one client may hold: an eighth (at least one).
pub const fn client_share(total: usize) -> usize {
    if total >= 8 { total / 8 } else { 1 }
}

/// How many of `total` slots only clients holding fewer than [`FEW_SLOTS`] may take: a
/// sixteenth.
pub const fn reserved(total: usize) -> usize {
    total / 16
}

/// Why [`ClientSlots::try_acquire`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// This client holds its share.
    Client(usize),
    /// Every slot (that this client may take) is held.
    All(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Client(n) => write!(f, "{n} from one client"),
            Full::All(n) => write!(f, "{n} in all"),
        }
    }
}

/// A held slot, given back when dropped.
pub struct ClientSlot {
    slots: Arc<ClientSlots>,
    key: IpAddr,
}

impl ClientSlots {
    pub fn new(total: usize) -> Arc<ClientSlots> {
        Arc::new(ClientSlots {
            total,
            per_client: client_share(total),
            reserved: reserved(total),
            held: Mutex::new(Held::default()),
        })
    }

    /// A slot for `client`, or why there is none.
    pub fn try_acquire(self: &Arc<Self>, client: IpAddr) -> Result<ClientSlot, Full> {
        let key = client_key(client);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mine = held.by_client.get(&key).copied().unwrap_or(0);
        if mine >= self.per_client {
            return Err(Full::Client(self.per_client));
        }
        let open = if mine < FEW_SLOTS {
            self.total
        } else {
            self.total - self.reserved
        };
        if held.total >= open {
            return Err(Full::All(self.total));
        }
        held.total += 1;
        *held.by_client.entry(key).or_insert(0) += 1;
        Ok(ClientSlot {
            slots: self.clone(),
            key,
        })
    }

    /// Whether every slot is held.
    pub fn exhausted(&self) -> bool {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).total >= self.total
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
        held.total -= 1;
        if let std::collections::hash_map::Entry::Occupied(mut e) = held.by_client.entry(self.key) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
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
    fn one_client_takes_at_most_its_share_and_newcomers_find_room() {
        let slots = ClientSlots::new(64);
        // One client: an eighth of the slots, counted by /64 for IPv6.
        let mut hog: Vec<_> = (0..8)
            .map(|i| slots.try_acquire(ip(&format!("2001:db8::{i}"))).unwrap())
            .collect();
        assert_eq!(
            slots.try_acquire(ip("2001:db8::ffff")).err(),
            Some(Full::Client(8))
        );
        // Seven more clients of eight: the unreserved slots (60) are gone after 52 more.
        for c in 1..7 {
            for _ in 0..8 {
                hog.push(slots.try_acquire(ip(&format!("192.0.2.{c}"))).unwrap());
            }
        }
        for _ in 0..4 {
            hog.push(slots.try_acquire(ip("192.0.2.7")).unwrap());
        }
        assert_eq!(
            slots.try_acquire(ip("192.0.2.7")).err(),
            Some(Full::All(64))
        );
        // The reserve is for clients holding few: a health probe still gets one.
        let probe = slots.try_acquire(ip("198.51.100.1")).unwrap();
        assert!(!slots.exhausted());
        drop(probe);
        // Given back on drop.
        hog.clear();
        let again: Vec<_> = (0..8)
            .map(|_| slots.try_acquire(ip("2001:db8::1")).unwrap())
            .collect();
        assert_eq!(again.len(), 8);
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
