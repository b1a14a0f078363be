//! Live streams: every committed sample (and log record) is offered to each open stream, which
//! folds it into what it follows and sends what changed at most a few times a second. A slow
//! client never slows ingest: a chart stream keeps only the latest value of each bucket, a log
//! tail only the newest lines.

use crate::ingest::model::Labels;
use crate::ingest::Committed;
use crate::query::engine::{self, BucketAcc, Increase};
use crate::query::params::Agg;
use crate::store::LogQuery;
use crate::telemetry::Telemetry;
use app::model::{LogTailUpdate, SeriesPoints};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Buckets behind the newest one that a stream still updates; older samples are ignored.
const OPEN_BUCKETS: i64 = 16;
/// Values a quantile bucket keeps at most.
const MAX_BUCKET_VALUES: usize = 20_000;

/// What one live stream follows.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSpec {
    pub metric: String,
    pub agg: Agg,
    pub group_by: Vec<String>,
    pub filter: Vec<(String, String)>,
    pub step: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("too many live streams open (limit {limit})")]
    TooMany { limit: usize },
    #[error("too many live streams open from one {client} (limit {limit})")]
    TooManyFrom { client: &'static str, limit: usize },
}

/// Who a live stream is counted against besides the global limit: its client's address and,
/// for an embed's stream, the embed token (so one holder cannot take every place).
#[derive(Debug, Clone, Default)]
pub struct LiveClient {
    pub address: Option<String>,
    pub embed: Option<String>,
}

impl LiveClient {
    fn keys(&self) -> Vec<(&'static str, String)> {
        let mut keys = vec![(
            "address",
            format!("ip:{}", self.address.as_deref().unwrap_or("?")),
        )];
        if let Some(grant) = &self.embed {
            keys.push(("embed token", format!("embed:{grant}")));
        }
        keys
    }
}

/// Fans committed samples and log records out to live streams.
pub struct LiveHub {
    tx: broadcast::Sender<Arc<Committed>>,
    logs: broadcast::Sender<Arc<Vec<LiveLog>>>,
    closing: watch::Sender<bool>,
    open: AtomicUsize,
    max: usize,
    /// Streams one client (address or embed token) may hold open at most.
    per_client: usize,
    /// Open streams per client key; a key leaves with its last stream.
    clients: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    interval: Duration,
    telemetry: Arc<Telemetry>,
}

impl LiveHub {
    pub fn new(
        max_subscribers: usize,
        per_client: usize,
        updates_per_second: u32,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let (logs, _) = broadcast::channel(1024);
        LiveHub {
            tx,
            logs,
            closing: watch::channel(false).0,
            open: AtomicUsize::new(0),
            max: max_subscribers,
            per_client,
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
            interval: Duration::from_millis(1000 / u64::from(updates_per_second.max(1))),
            telemetry,
        }
    }

    /// Offers one commit's samples to every stream; never waits.
    pub fn publish(&self, committed: Arc<Committed>) {
        let _ = self.tx.send(committed);
    }

    /// Whether any log tail is open (else there is no need to publish log records).
    pub fn has_log_tails(&self) -> bool {
        self.logs.receiver_count() > 0
    }

    /// Offers one commit's log records to every log tail; never waits.
    pub fn publish_logs(&self, logs: Vec<LiveLog>) {
        let _ = self.logs.send(Arc::new(logs));
    }

    /// Counts a new stream against the limits, global and per client; the guard gives its
    /// places back when dropped.
    fn open(self: &Arc<Self>, client: &LiveClient) -> Result<Subscription, LiveError> {
        let keys = client.keys();
        let mut clients = self.clients.lock().expect("live clients lock");
        for (kind, key) in &keys {
            if clients.get(key).copied().unwrap_or(0) >= self.per_client {
                return Err(LiveError::TooManyFrom {
                    client: kind,
                    limit: self.per_client,
                });
            }
        }
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err(LiveError::TooMany { limit: self.max });
        }
        for (_, key) in &keys {
            *clients.entry(key.clone()).or_default() += 1;
        }
        self.telemetry
            .live_subscribers
            .fetch_add(1, Ordering::Relaxed);
        Ok(Subscription {
            hub: self.clone(),
            keys: keys.into_iter().map(|(_, key)| key).collect(),
        })
    }

    /// Ends every stream, so connections close before shutdown.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Opens a stream following one or more named queries; its receiver yields coalesced
    /// updates (query name, changed series) until it is dropped.
    pub fn subscribe(
        self: &Arc<Self>,
        specs: Vec<(String, LiveSpec)>,
        client: &LiveClient,
    ) -> Result<mpsc::Receiver<Update>, LiveError> {
        let guard = self.open(client)?;
        let aggs: Vec<(String, LiveAggregator)> = specs
            .into_iter()
            .map(|(name, spec)| (name, LiveAggregator::new(spec)))
            .collect();
        Ok(self.follow(self.tx.subscribe(), aggs, guard))
    }

    /// Opens a log tail: the records matching `query` (its time range aside), newest first, at
    /// most [`TAIL_LINES`] per update; lines beyond that in one interval are counted, not sent.
    pub fn tail_logs(
        self: &Arc<Self>,
        query: LogQuery,
        client: &LiveClient,
    ) -> Result<mpsc::Receiver<LogTailUpdate>, LiveError> {
        let guard = self.open(client)?;
        let tail = LogTail {
            query,
            lines: std::collections::VecDeque::new(),
            skipped: 0,
        };
        Ok(self.follow(self.logs.subscribe(), tail, guard))
    }

    /// Runs a stream: what arrives on `rx` is folded into `acc`, flushed at most once an interval.
    fn follow<A: Accumulate>(
        &self,
        rx: broadcast::Receiver<Arc<A::Item>>,
        acc: A,
        guard: Subscription,
    ) -> mpsc::Receiver<A::Out> {
        // One pending update: while the client has not taken it, new data merges into the next.
        let (out, updates) = mpsc::channel(1);
        tokio::spawn(follow(
            rx,
            self.closing.subscribe(),
            out,
            acc,
            self.interval,
            guard,
        ));
        updates
    }

    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

struct Subscription {
    hub: Arc<LiveHub>,
    keys: Vec<String>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut clients = self.hub.clients.lock().expect("live clients lock");
        for key in &self.keys {
            if let Some(n) = clients.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    clients.remove(key);
                }
            }
        }
        self.hub.open.fetch_sub(1, Ordering::SeqCst);
        self.hub
            .telemetry
            .live_subscribers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// One flush of a stream: each followed query's changed series.
pub type Update = Vec<(String, Vec<SeriesPoints>)>;

/// What a stream folds its input into between flushes.
trait Accumulate: Send + 'static {
    type Item: Send + Sync + 'static;
    type Out: Send + 'static;
    fn add(&mut self, item: &Self::Item);
    fn has_changes(&self) -> bool;
    fn flush(&mut self) -> Self::Out;
}

/// A chart stream: each followed query's aggregator.
impl Accumulate for Vec<(String, LiveAggregator)> {
    type Item = Committed;
    type Out = Update;
    fn add(&mut self, committed: &Committed) {
        self.iter_mut().for_each(|(_, a)| a.add(committed));
    }
    fn has_changes(&self) -> bool {
        self.iter().any(|(_, a)| a.has_changes())
    }
    fn flush(&mut self) -> Update {
        self.iter_mut()
            .filter(|(_, a)| a.has_changes())
            .map(|(n, a)| (n.clone(), a.flush()))
            .collect()
    }
}

/// Lines a log tail sends per update at most (the newest).
pub const TAIL_LINES: usize = 500;

/// A committed log record as log tails see it.
#[derive(Debug, Clone)]
pub struct LiveLog {
    /// OpenTelemetry's severity number, which `LogQuery::min_severity` compares with.
    pub severity_number: i32,
    pub view: app::model::LogView,
}

struct LogTail {
    query: LogQuery,
    /// Oldest first.
    lines: std::collections::VecDeque<app::model::LogView>,
    skipped: usize,
}

impl Accumulate for LogTail {
    type Item = Vec<LiveLog>;
    type Out = LogTailUpdate;
    fn add(&mut self, logs: &Vec<LiveLog>) {
        for log in logs.iter().filter(|l| matches(&self.query, l)) {
            if self.lines.len() == TAIL_LINES {
                self.lines.pop_front();
                self.skipped += 1;
            }
            self.lines.push_back(log.view.clone());
        }
    }
    fn has_changes(&self) -> bool {
        !self.lines.is_empty() || self.skipped > 0
    }
    fn flush(&mut self) -> LogTailUpdate {
        let mut logs: Vec<_> = self.lines.drain(..).collect();
        // Newest first, as the Logs page lists them; records of one batch may come in any order.
        logs.sort_by_key(|l| std::cmp::Reverse(l.timestamp));
        LogTailUpdate {
            logs,
            skipped: std::mem::take(&mut self.skipped),
        }
    }
}

/// Whether a record is one `query` lists, by the same rules as the store's search: the service
/// and trace id equal, at least the severity, the text in the body whatever its case.
fn matches(query: &LogQuery, log: &LiveLog) -> bool {
    let v = &log.view;
    query.service.as_ref().is_none_or(|s| *s == v.service)
        && query
            .trace_id
            .as_ref()
            .is_none_or(|t| v.trace_id.as_ref() == Some(t))
        && query
            .min_severity
            .is_none_or(|min| log.severity_number >= min)
        && query
            .text
            .as_ref()
            .is_none_or(|t| v.body.to_lowercase().contains(&t.to_lowercase()))
}

async fn follow<A: Accumulate>(
    mut rx: broadcast::Receiver<Arc<A::Item>>,
    mut closing: watch::Receiver<bool>,
    out: mpsc::Sender<A::Out>,
    mut acc: A,
    interval: Duration,
    guard: Subscription,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = closing.changed() => break,
            // The client went away: give its places back now, not at the next tick.
            _ = out.closed() => break,
            msg = rx.recv() => match msg {
                Ok(item) => acc.add(&item),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    guard.hub.telemetry.live_lagged.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(missed = n, "live stream lagged behind the writer");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = ticker.tick() => {
                if out.is_closed() {
                    break;
                }
                if acc.has_changes() {
                    match out.try_reserve() {
                        Ok(permit) => permit.send(acc.flush()),
                        // The client has not read the last update yet: keep merging.
                        Err(mpsc::error::TrySendError::Full(())) => {}
                        Err(mpsc::error::TrySendError::Closed(())) => break,
                    }
                }
            }
        }
    }
}

/// Aggregates a stream's samples into buckets and remembers which ones changed.
pub struct LiveAggregator {
    spec: LiveSpec,
    groups: HashMap<Labels, BTreeMap<i64, BucketAcc>>,
    /// For rates: each series' increase per (group, bucket), and each series' last sample.
    increases: HashMap<(Labels, i64), HashMap<i64, Increase>>,
    last: HashMap<i64, (i64, f64)>,
    /// Whether each series seen matches the stream's metric and filter.
    matches: HashMap<i64, Option<Labels>>,
    touched: BTreeSet<(Labels, i64)>,
    newest: i64,
}

impl LiveAggregator {
    pub fn new(spec: LiveSpec) -> Self {
        LiveAggregator {
            spec,
            groups: HashMap::new(),
            increases: HashMap::new(),
            last: HashMap::new(),
            matches: HashMap::new(),
            touched: BTreeSet::new(),
            newest: i64::MIN,
        }
    }

    pub fn add(&mut self, committed: &Committed) {
        let step = self.spec.step;
        let keep = matches!(self.spec.agg, Agg::Quantile(_));
        for s in &committed.samples {
            if self.matches.len() > 100_000 {
                self.matches.clear();
            }
            let spec = &self.spec;
            let group = self
                .matches
                .entry(s.series_id)
                .or_insert_with(|| {
                    (s.series.name == spec.metric
                        && engine::matches(&s.series.labels, &spec.filter))
                    .then(|| {
                        spec.group_by
                            .iter()
                            .map(|k| {
                                (
                                    k.clone(),
                                    s.series.labels.get(k).cloned().unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                })
                .clone();
            let Some(group) = group else { continue };
            let bucket = s.ts.div_euclid(step) * step;
            let prev = self.last.insert(s.series_id, (s.ts, s.value));
            if bucket < self.newest.saturating_sub(OPEN_BUCKETS * step) {
                continue;
            }
            self.newest = self.newest.max(bucket);
            if self.spec.agg == Agg::Rate {
                let Some(prev) = prev.filter(|p| p.0 < s.ts) else {
                    continue;
                };
                self.increases
                    .entry((group.clone(), bucket))
                    .or_default()
                    .entry(s.series_id)
                    .or_default()
                    .add(prev, (s.ts, s.value));
            } else {
                let acc = self
                    .groups
                    .entry(group.clone())
                    .or_default()
                    .entry(bucket)
                    .or_default();
                if !keep || acc.value(Agg::Count).unwrap_or(0.0) < MAX_BUCKET_VALUES as f64 {
                    acc.add(s.value, keep);
                }
            }
            self.touched.insert((group, bucket));
        }
    }

    pub fn has_changes(&self) -> bool {
        !self.touched.is_empty()
    }

    /// The current values of every bucket that changed since the last flush.
    pub fn flush(&mut self) -> Vec<SeriesPoints> {
        let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        for (group, bucket) in std::mem::take(&mut self.touched) {
            let value = if self.spec.agg == Agg::Rate {
                let series = self.increases.get(&(group.clone(), bucket));
                let rates = series
                    .into_iter()
                    .flat_map(|m| m.values().filter_map(Increase::per_second));
                rates.reduce(|a, b| a + b)
            } else {
                let acc = self.groups.get_mut(&group).and_then(|g| g.get_mut(&bucket));
                acc.and_then(|a| a.value(self.spec.agg))
            };
            if let Some(v) = value {
                out.entry(group).or_default().push((bucket, v));
            }
        }
        let horizon = self.newest.saturating_sub(OPEN_BUCKETS * self.spec.step);
        for buckets in self.groups.values_mut() {
            buckets.retain(|b, _| *b >= horizon);
        }
        self.groups.retain(|_, b| !b.is_empty());
        self.increases.retain(|(_, b), _| *b >= horizon);
        out.into_iter()
            .map(|(labels, points)| SeriesPoints {
                metric: self.spec.metric.clone(),
                labels,
                points,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::model::SeriesKey;
    use crate::ingest::CommittedSample;

    fn sample(id: i64, service: &str, ts: i64, value: f64) -> CommittedSample {
        let labels = [("service".to_string(), service.to_string())]
            .into_iter()
            .collect();
        CommittedSample {
            series_id: id,
            series: Arc::new(SeriesKey {
                name: "lat".into(),
                labels,
            }),
            ts,
            value,
        }
    }

    fn spec(agg: Agg) -> LiveSpec {
        LiveSpec {
            metric: "lat".into(),
            agg,
            group_by: vec!["service".into()],
            filter: vec![],
            step: 1_000,
        }
    }

    #[test]
    fn coalesces_and_keeps_whole_bucket_values() {
        let mut a = LiveAggregator::new(spec(Agg::Avg));
        a.add(&Committed {
            samples: vec![sample(1, "api", 1_000, 2.0), sample(2, "web", 1_100, 9.0)],
        });
        a.add(&Committed {
            samples: vec![sample(1, "api", 1_500, 4.0)],
        });
        let first = a.flush();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].points, vec![(1_000, 3.0)]);
        assert!(!a.has_changes());
        // A later sample in the same bucket reports the whole bucket's average, not its own.
        a.add(&Committed {
            samples: vec![sample(1, "api", 1_900, 6.0)],
        });
        let second = a.flush();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].points, vec![(1_000, 4.0)]);
    }

    #[test]
    fn ignores_other_metrics_and_filtered_series() {
        let mut s = spec(Agg::Sum);
        s.filter = vec![("service".into(), "api".into())];
        let mut a = LiveAggregator::new(s);
        let mut other = sample(3, "api", 1_000, 1.0);
        other.series = Arc::new(SeriesKey {
            name: "other".into(),
            labels: other.series.labels.clone(),
        });
        a.add(&Committed {
            samples: vec![other, sample(2, "web", 1_000, 1.0)],
        });
        assert!(!a.has_changes());
    }

    #[test]
    fn rates_use_the_previous_sample() {
        let mut a = LiveAggregator::new(spec(Agg::Rate));
        a.add(&Committed {
            samples: vec![sample(1, "api", 1_000, 10.0), sample(1, "api", 2_000, 15.0)],
        });
        assert_eq!(a.flush()[0].points, vec![(2_000, 5.0)]);
    }
}
