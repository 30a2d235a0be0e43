//! Sign-in throttling: failed sign-ins are counted per account (by the name
//! typed, so an unknown user is answered exactly like a known one) and per
//! client address. A few failures are free; after that each one doubles the
//! wait (capped), and until it has passed every attempt answers 429 with
//! `Retry-After` without checking the password — so a flood costs no
//! password hashing — after a short delay, so it costs little else either
//! ([`HELD_UP_ANSWER_DELAY`]). A success clears the account's count (never the
//! address's, so one valid account cannot launder a flood).
//!
//! Time is passed in, so the schedule is tested without sleeping.

use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures per account before any wait.
pub const ACCOUNT_FREE_FAILURES: u32 = 3;
/// Failures per address before any wait (several people may share one).
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// How long a held-up attempt waits before its 429: a client that floods
/// sequentially is slowed to a few attempts a second per connection.
pub const HELD_UP_ANSWER_DELAY: std::time::Duration = std::time::Duration::from_millis(250);
/// The longest wait.
pub const MAX_WAIT: SignedDuration = SignedDuration::from_secs(15 * 60);
/// A count is forgotten after this long without a failure.
const FORGET_AFTER: SignedDuration = SignedDuration::from_secs(60 * 60);
/// Entries kept before old ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Timestamp,
    blocked_until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
pub struct SignInThrottle {
    counts: Mutex<HashMap<Key, Count>>,
}

/// The wait after `failures` failures when `free` are allowed.
fn wait_after(failures: u32, free: u32) -> SignedDuration {
    if failures < free {
        return SignedDuration::ZERO;
    }
    let doublings = (failures - free).min(20);
    SignedDuration::from_secs(1i64 << doublings).min(MAX_WAIT)
}

fn account_key(username: &str) -> Key {
    Key::Account(username.trim().to_lowercase())
}

impl SignInThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Count>> {
        match self.counts.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// `Err(seconds)` while this account or address must wait.
    pub fn check(&self, username: &str, addr: Option<IpAddr>, now: Timestamp) -> Result<(), u64> {
        let counts = self.lock();
        let keys = [Some(account_key(username)), addr.map(Key::Address)];
        let until = keys
            .iter()
            .flatten()
            .filter_map(|k| counts.get(k))
            .map(|c| c.blocked_until)
            .max();
        match until {
            Some(until) if until > now => {
                let secs = until.duration_since(now).as_secs_f64().ceil() as u64;
                Err(secs.max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, username: &str, addr: Option<IpAddr>, now: Timestamp) {
        let mut counts = self.lock();
        if counts.len() > SWEEP_AT {
            counts.retain(|_, c| now.duration_since(c.last) < FORGET_AFTER);
        }
        let mut bump = |key: Key, free: u32| {
            let c = counts.entry(key).or_insert(Count {
                failures: 0,
                last: now,
                blocked_until: now,
            });
            if now.duration_since(c.last) >= FORGET_AFTER {
                c.failures = 0;
            }
            c.failures += 1;
            c.last = now;
            c.blocked_until = now
                .saturating_add(wait_after(c.failures, free))
                .unwrap_or(now);
        };
        bump(account_key(username), ACCOUNT_FREE_FAILURES);
        if let Some(a) = addr {
            bump(Key::Address(a), ADDRESS_FREE_FAILURES);
        }
    }

    /// A successful sign-in clears the account's count.
    pub fn succeeded(&self, username: &str) {
        self.lock().remove(&account_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_per_account_and_unknown_names_are_treated_alike() {
        let t = SignInThrottle::default();
        let now: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..ACCOUNT_FREE_FAILURES - 1 {
            assert_eq!(t.check("eleanor", Some(addr), now), Ok(()));
            t.failed("eleanor", Some(addr), now);
        }
        assert_eq!(t.check("eleanor", Some(addr), now), Ok(()));
        t.failed("Eleanor ", Some(addr), now);
        assert_eq!(t.check("eleanor", Some(addr), now), Err(1));
        t.failed("eleanor", Some(addr), now);
        assert_eq!(t.check("eleanor", None, now), Err(2), "the wait doubles");
        // Another account from elsewhere is not held up; time passing lifts the wait.
        assert_eq!(t.check("dana", None, now), Ok(()));
        let later = now.saturating_add(SignedDuration::from_secs(3)).unwrap();
        assert_eq!(t.check("eleanor", None, later), Ok(()));
        // An unknown name gets exactly the same schedule.
        for _ in 0..ACCOUNT_FREE_FAILURES + 1 {
            t.failed("nobody-here", None, now);
        }
        assert_eq!(t.check("nobody-here", None, now), Err(2));
        t.succeeded("eleanor");
        assert_eq!(t.check("eleanor", None, now), Ok(()));
        assert_eq!(wait_after(100, 3), MAX_WAIT);
    }

    #[test]
    fn an_address_that_floods_waits_whatever_name_it_tries() {
        let t = SignInThrottle::default();
        let now: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..ADDRESS_FREE_FAILURES {
            t.failed(&format!("user{i}"), Some(addr), now);
        }
        assert!(t.check("someone-new", Some(addr), now).is_err());
        assert_eq!(t.check("someone-new", None, now), Ok(()));
    }
}
