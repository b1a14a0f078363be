//! Rate limits on the ingest endpoints, per key and per client address: token buckets that
//! refill continuously, so a steady client is never refused and a flood is told when to come
//! back (`429` with `Retry-After`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept at once per limiter; beyond it the fullest (idlest) are forgotten, which only
/// ever gives a client more room, never less.
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Requests per second per name (a key, an address), with bursts up to twice that.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_second` 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            rate: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's token for `name`, or says how long until one is free.
    pub fn take(&self, name: &str, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(name) {
            self.forget_idle(&mut buckets, now);
        }
        let bucket = buckets.entry(name.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// Drops the buckets that have refilled completely (they hold no memory of anything), or
    /// if none has, half of them, the idlest first.
    fn forget_idle(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full_after = Duration::from_secs_f64(self.burst / self.rate);
        buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        if buckets.len() >= MAX_BUCKETS {
            let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            buckets.retain(|_, b| b.at > cutoff);
        }
    }
}

/// The ingest endpoints' limits.
pub struct IngestLimits {
    pub per_key: RateLimiter,
    pub per_ip: RateLimiter,
}

impl IngestLimits {
    pub fn new(per_key: u32, per_ip: u32) -> Self {
        IngestLimits {
            per_key: RateLimiter::new(per_key),
            per_ip: RateLimiter::new(per_ip),
        }
    }

    /// Checks one request from `ip` presenting `key`; the wait before retrying when refused.
    pub fn check(&self, key: Option<&str>, ip: Option<&str>, now: Instant) -> Result<(), Duration> {
        if let Some(ip) = ip {
            self.per_ip.take(ip, now)?;
        }
        if let Some(key) = key {
            // Keyed by the key's hash: the limiter never holds secrets.
            self.per_key.take(&crate::auth::hash_key(key), now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(l.take("k", t0), Ok(()), "bursts up to twice the rate");
        }
        let wait = l.take("k", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert_eq!(l.take("k", t0 + Duration::from_millis(100)), Ok(()));
        assert!(l.take("k", t0 + Duration::from_millis(100)).is_err());
        assert_eq!(l.take("other", t0), Ok(()), "names are limited apart");
    }

    #[test]
    fn zero_is_no_limit() {
        let l = RateLimiter::new(0);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| l.take("k", t0).is_ok()));
    }

    #[test]
    fn memory_stays_bounded() {
        let l = RateLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS + 10) {
            let _ = l.take(&i.to_string(), t0);
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_BUCKETS);
    }

    #[test]
    fn addresses_and_keys_are_both_checked() {
        let limits = IngestLimits::new(1_000, 1); // bursts of 2 per address
        let t0 = Instant::now();
        assert!(limits.check(Some("a"), Some("10.0.0.1"), t0).is_ok());
        assert!(limits.check(Some("b"), Some("10.0.0.1"), t0).is_ok());
        assert!(
            limits.check(Some("c"), Some("10.0.0.1"), t0).is_err(),
            "one address cannot escape by rotating keys"
        );
        assert!(limits.check(Some("c"), Some("10.0.0.2"), t0).is_ok());
    }
}

/// Batches stored lately, by client key and batch id, with what was accepted: a client that
/// did not see the answer (a page unloading, a dropped connection) sends the batch again with
/// the same id and gets the same answer, and nothing is stored twice. Bounded: the oldest are
/// forgotten first (`MAX_RECENT_BATCHES`, minutes of traffic at any realistic rate).
#[derive(Default)]
pub struct RecentBatches {
    inner: Mutex<(
        HashMap<String, crate::ingest::model::Accepted>,
        std::collections::VecDeque<String>,
    )>,
}

const MAX_RECENT_BATCHES: usize = 100_000;

impl RecentBatches {
    pub fn get(&self, id: &str) -> Option<crate::ingest::model::Accepted> {
        self.inner
            .lock()
            .expect("recent batches")
            .0
            .get(id)
            .copied()
    }

    pub fn insert(&self, id: String, accepted: crate::ingest::model::Accepted) {
        let mut inner = self.inner.lock().expect("recent batches");
        let (map, order) = &mut *inner;
        if map.insert(id.clone(), accepted).is_none() {
            order.push_back(id);
        }
        while order.len() > MAX_RECENT_BATCHES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}
