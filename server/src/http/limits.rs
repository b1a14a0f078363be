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
    /// Active series per key.
    pub series: SeriesBudget,
}

impl IngestLimits {
    pub fn new(config: &crate::config::IngestConfig) -> Self {
        IngestLimits {
            per_key: RateLimiter::new(config.rate_per_key),
            per_ip: RateLimiter::new(config.rate_per_ip),
            series: SeriesBudget::new(config.max_series_per_key),
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

/// A series stays active this long after its last sample; then it no longer counts against its
/// key's budget.
const SERIES_ACTIVE: Duration = Duration::from_secs(3600);

/// How often at most a key at its limit is swept for series that went idle: a flood of refused
/// batches costs a hash lookup per series, not a sweep of the whole budget each time.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Active series per ingest key, so one client (a bug that puts a request id in a label, or an
/// attack) cannot take the whole store's series limit from everyone else, nor grow the memory
/// the anomaly detectors and the hot window keep per series. A batch that would start more
/// series than its key has left is refused as a whole (429 `series_limit`); samples of the key's
/// active series are always accepted.
///
/// The budget lives in memory: each key holds at most `limit` hashes and last-seen times (about
/// 24 bytes each), and after a restart a key's series count again as they arrive.
pub struct SeriesBudget {
    limit: usize,
    start: Instant,
    hasher: std::hash::RandomState,
    keys: Mutex<HashMap<String, KeySeries>>,
}

#[derive(Default)]
struct KeySeries {
    /// Series hash → seconds since `start` of its last sample.
    seen: HashMap<u64, u32>,
    swept: Option<Instant>,
}

/// A key's series budget is spent; `active` is what it has.
#[derive(Debug, PartialEq)]
pub struct OverBudget {
    pub limit: usize,
    pub active: usize,
}

impl SeriesBudget {
    /// `limit` 0 turns the budget off.
    pub fn new(limit: usize) -> Self {
        SeriesBudget {
            limit,
            start: Instant::now(),
            hasher: std::hash::RandomState::new(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a batch of `series` (repeats allowed) from the key hashed `key`, marking them
    /// active, or refuses it whole when it would start more series than the key has left.
    pub fn admit<'a>(
        &self,
        key: &str,
        series: impl IntoIterator<Item = &'a crate::ingest::model::SeriesKey>,
        now: Instant,
    ) -> Result<(), OverBudget> {
        use std::hash::BuildHasher;
        if self.limit == 0 {
            return Ok(());
        }
        let mut hashes: Vec<u64> = series
            .into_iter()
            .map(|s| self.hasher.hash_one(s))
            .collect();
        if hashes.is_empty() {
            return Ok(());
        }
        hashes.sort_unstable();
        hashes.dedup();
        let at = now.saturating_duration_since(self.start).as_secs() as u32;
        let mut keys = self.keys.lock().expect("series budget lock");
        let budget = keys.entry(key.to_string()).or_default();
        let new = hashes
            .iter()
            .filter(|h| !budget.seen.contains_key(h))
            .count();
        if budget.seen.len() + new > self.limit
            && budget
                .swept
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            let active_since = at.saturating_sub(SERIES_ACTIVE.as_secs() as u32);
            budget.seen.retain(|_, last| *last >= active_since);
            budget.swept = Some(now);
        }
        let new = hashes
            .iter()
            .filter(|h| !budget.seen.contains_key(h))
            .count();
        if budget.seen.len() + new > self.limit {
            return Err(OverBudget {
                limit: self.limit,
                active: budget.seen.len(),
            });
        }
        for h in hashes {
            budget.seen.insert(h, at);
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

    fn key(name: &str) -> crate::ingest::model::SeriesKey {
        crate::ingest::model::SeriesKey {
            name: name.into(),
            labels: Default::default(),
        }
    }

    #[test]
    fn a_key_starts_at_most_its_budget_of_series() {
        let budget = SeriesBudget::new(3);
        let t0 = Instant::now();
        let (a, b, c, d) = (key("a"), key("b"), key("c"), key("d"));
        assert_eq!(
            budget.admit("k", [&a, &b, &a], t0),
            Ok(()),
            "repeats count once"
        );
        assert_eq!(
            budget.admit("k", [&c, &d], t0),
            Err(OverBudget {
                limit: 3,
                active: 2
            }),
            "refused whole: nothing of it is marked active"
        );
        assert_eq!(budget.admit("k", [&c], t0), Ok(()));
        assert_eq!(
            budget.admit("k", [&a, &b, &c], t0),
            Ok(()),
            "known series always pass"
        );
        assert!(budget.admit("k", [&d], t0).is_err());
        assert_eq!(
            budget.admit("other", [&d], t0),
            Ok(()),
            "keys have their own budgets"
        );
    }

    #[test]
    fn idle_series_give_their_place_back() {
        let budget = SeriesBudget::new(2);
        let t0 = Instant::now();
        let (a, b, c) = (key("a"), key("b"), key("c"));
        budget.admit("k", [&a, &b], t0).unwrap();
        let later = t0 + Duration::from_secs(1800);
        budget.admit("k", [&a], later).unwrap();
        assert!(budget.admit("k", [&c], later).is_err(), "b is still active");
        let after_b_idled = t0 + SERIES_ACTIVE + Duration::from_secs(60);
        assert_eq!(
            budget.admit("k", [&c], after_b_idled),
            Ok(()),
            "b idled out, a did not"
        );
        assert!(budget.admit("k", [&b], after_b_idled).is_err());
    }

    #[test]
    fn zero_is_no_budget() {
        let budget = SeriesBudget::new(0);
        let keys: Vec<_> = (0..1000).map(|i| key(&i.to_string())).collect();
        assert_eq!(budget.admit("k", &keys, Instant::now()), Ok(()));
    }

    #[test]
    fn addresses_and_keys_are_both_checked() {
        let limits = IngestLimits::new(&crate::config::IngestConfig {
            rate_per_key: 1_000,
            rate_per_ip: 1, // bursts of 2 per address
            ..Default::default()
        });
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
