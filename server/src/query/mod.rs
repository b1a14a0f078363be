//! The query service: plans a range query over the hot window, raw samples or rollups, and
//! aggregates the result per group.

pub mod engine;
pub mod params;

use crate::hot::HotWindow;
use crate::store::{Resolution, SeriesRow, Store, StoreError};
use app::model::SeriesPoints;
use engine::{BucketAcc, Buckets, SeriesSamples};
use params::{Agg, ParamError};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Param(#[from] ParamError),
    /// More work than one query may do (matched series × points); answered 422.
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A validated `query_range` request.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeQuery {
    pub metric: String,
    pub from: i64,
    pub to: i64,
    pub step: i64,
    pub agg: Agg,
    pub group_by: Vec<String>,
    pub filter: Vec<(String, String)>,
}

/// The raw text of query parameters, as the HTTP layer and the dashboard pass them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RangeParams {
    pub metric: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub step: Option<String>,
    pub agg: Option<String>,
    pub group_by: Option<String>,
    pub filter: Option<String>,
}

/// The longest range one query may span.
pub const MAX_RANGE_MS: i64 = 400 * 86_400_000;

/// Points one query may compute at most, over all the series it matched (series × points per
/// series): 1 000 series over a day at 10 s is 8.6 M. Beyond it a query is refused (422) rather
/// than allowed to take the process's memory.
pub const MAX_QUERY_CELLS: i64 = 10_000_000;

impl RangeQuery {
    /// Validates parameters; `from` defaults to `now-1h` and `to` to `now`.
    pub fn parse(p: &RangeParams, now: i64) -> Result<RangeQuery, ParamError> {
        let metric = params::parse_metric(p.metric.as_deref())?;
        let from = params::parse_time("from", p.from.as_deref().unwrap_or("now-1h"), now)?;
        let to = params::parse_time("to", p.to.as_deref().unwrap_or("now"), now)?;
        let step = match p.step.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => params::parse_step(s)?,
            None => params::default_step(from, to, 300),
        };
        let filter = params::parse_filter(p.filter.as_deref().unwrap_or(""))?;
        let group_by = params::parse_group_by(p.group_by.as_deref().unwrap_or(""));
        if filter.len() > 32 || group_by.len() > 32 {
            return Err(ParamError {
                field: "filter",
                message: "more than 32 labels in filter or group_by".into(),
            });
        }
        let q = RangeQuery {
            metric,
            from,
            to,
            step,
            agg: Agg::parse(p.agg.as_deref().unwrap_or("avg"))?,
            group_by,
            filter,
        };
        q.check()?;
        Ok(q)
    }

    /// The bounds every query keeps, however it was built (API, page, embed, live stream, alert
    /// rule): a range after its start and at most [`MAX_RANGE_MS`] long, a step of at least a
    /// second, at most [`params::MAX_POINTS`] points per series. The query service checks them
    /// again before it allocates anything, so no entry can skip them.
    pub fn check(&self) -> Result<(), ParamError> {
        let refuse = |field, message: String| Err(ParamError { field, message });
        let (from, to) = (self.from, self.to);
        if to <= from {
            return refuse("to", format!("to ({to}) must be after from ({from})"));
        }
        match to.checked_sub(from) {
            Some(span) if span <= MAX_RANGE_MS => {}
            _ => return refuse("from", "range longer than 400 days".into()),
        }
        if self.step < 1_000 {
            return refuse(
                "step",
                format!("step of {} ms is shorter than the minimum of 1s", self.step),
            );
        }
        let points = self.points();
        if points > params::MAX_POINTS {
            return refuse(
                "step",
                format!(
                    "{points} points per series, more than the limit of {}; use a larger step",
                    params::MAX_POINTS
                ),
            );
        }
        if self.filter.len() > 32 || self.group_by.len() > 32 {
            return refuse("filter", "more than 32 labels in filter or group_by".into());
        }
        Ok(())
    }

    /// Points per series: one per step over the range, a bucket at each end.
    pub fn points(&self) -> i64 {
        self.to.saturating_sub(self.from) / self.step.max(1) + 1
    }

    /// Refuses a query whose `series` matched series would compute more than
    /// [`MAX_QUERY_CELLS`] points in all.
    fn check_cost(&self, series: usize) -> Result<(), QueryError> {
        let cells = (series as i64).saturating_mul(self.points());
        if cells > MAX_QUERY_CELLS {
            return Err(QueryError::TooLarge(format!(
                "{series} series × {} points = {cells} points, more than the limit of \
                 {MAX_QUERY_CELLS}; narrow the filter, group fewer series or use a larger step",
                self.points()
            )));
        }
        Ok(())
    }
}

/// Where a query's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hot,
    Raw,
    Rollup(Resolution),
}

/// The coarsest stored resolution that still gives one point per step; quantiles need raw samples.
pub fn plan(q: &RangeQuery) -> Source {
    if matches!(q.agg, Agg::Quantile(_)) {
        return Source::Raw;
    }
    for res in Resolution::ALL.into_iter().rev() {
        if q.step >= res.millis() && q.step % res.millis() == 0 {
            return Source::Rollup(res);
        }
    }
    Source::Raw
}

/// Answers range queries.
#[derive(Clone)]
pub struct QueryService {
    store: Arc<dyn Store>,
    hot: Arc<HotWindow>,
    catalog: Arc<SeriesCatalog>,
}

impl QueryService {
    pub fn new(store: Arc<dyn Store>, hot: Arc<HotWindow>) -> Self {
        QueryService {
            store,
            hot,
            catalog: Arc::new(SeriesCatalog::default()),
        }
    }

    pub async fn run(
        &self,
        q: &RangeQuery,
        now: i64,
    ) -> Result<(Vec<SeriesPoints>, Source), QueryError> {
        q.check()?;
        let series = self
            .catalog
            .matching(self.store.as_ref(), &q.metric, &q.filter)
            .await?;
        q.check_cost(series.len())?;
        let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
        let buckets = Buckets::covering(q.from, q.to, q.step);
        // Samples at `to` count, so the exclusive bound of reads is one past it.
        let end = q.to + 1;
        let mut source = plan(q);
        let groups = engine::group(series.iter().map(|s| (&s.labels, s.id)), &q.group_by);

        let points_by_group: Vec<(app::model::Labels, Vec<(i64, f64)>)> = match source {
            Source::Rollup(res) if q.agg != Agg::Rate => {
                // The database sums rollups per group and step; only points come back.
                let groups: Vec<(app::model::Labels, Vec<i64>)> = groups.into_iter().collect();
                let members: Vec<(i64, i64)> = groups
                    .iter()
                    .enumerate()
                    .flat_map(|(g, (_, ids))| ids.iter().map(move |id| (*id, g as i64)))
                    .collect();
                let rows = self
                    .store
                    .rollup_groups(res, &members, buckets.start, end, q.step)
                    .await?;
                let mut accs = vec![vec![BucketAcc::default(); buckets.len]; groups.len()];
                for r in rows {
                    if let Some(acc) = accs
                        .get_mut(r.group as usize)
                        .and_then(|a| a.get_mut(r.index as usize))
                    {
                        acc.add_partial(r.count, r.sum, r.min, r.max);
                    }
                }
                groups
                    .into_iter()
                    .zip(accs)
                    .map(|((labels, _), accs)| (labels, engine::finish(accs, buckets, q.agg)))
                    .collect()
            }
            Source::Rollup(res) => {
                // Rates need the bucket before the range to know the first increase.
                let read_from = if q.agg == Agg::Rate {
                    buckets.start - res.millis()
                } else {
                    buckets.start
                };
                let rows = self.store.rollups(res, &ids, read_from, end).await?;
                let mut by_series: HashMap<i64, Vec<_>> = HashMap::new();
                for r in rows {
                    by_series.entry(r.series_id).or_default().push(r);
                }
                groups
                    .into_iter()
                    .map(|(labels, members)| {
                        let rows: Vec<&[_]> = members
                            .iter()
                            .filter_map(|id| by_series.get(id).map(Vec::as_slice))
                            .collect();
                        (labels, engine::aggregate_rollups(&rows, buckets, q.agg))
                    })
                    .collect()
            }
            Source::Raw | Source::Hot => {
                let (points, from_hot) = self.raw_points(q, &ids, groups, buckets, now).await?;
                if from_hot {
                    source = Source::Hot;
                }
                points
            }
        };
        let out = points_by_group
            .into_iter()
            .filter(|(_, points)| !points.is_empty())
            .map(|(labels, points)| SeriesPoints {
                metric: q.metric.clone(),
                labels,
                points,
            })
            .collect();
        Ok((out, source))
    }

    /// One aggregate per group over exactly `[q.from, q.to]`, from the hot window or raw samples
    /// (never rollups, whose minutes would blur the window's edges): what alert rules evaluate.
    /// `q.step` is ignored. Groups without samples in the window are left out.
    pub async fn window(
        &self,
        q: &RangeQuery,
        now: i64,
    ) -> Result<Vec<(app::model::Labels, f64)>, QueryError> {
        self.window_in(q, now, &mut SeriesLookup::default()).await
    }

    /// [`QueryService::window`] taking the metric's series from `lookup`, which reads them from
    /// the store on the metric's first query: many windows at one instant, one read per metric.
    pub async fn window_in(
        &self,
        q: &RangeQuery,
        now: i64,
        lookup: &mut SeriesLookup,
    ) -> Result<Vec<(app::model::Labels, f64)>, QueryError> {
        q.check()?;
        let series = lookup.matching(&*self.store, &q.metric, &q.filter).await?;
        let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
        let groups = engine::group(series.iter().map(|s| (&s.labels, s.id)), &q.group_by);
        let span = (q.to - q.from).max(1);
        let buckets = Buckets {
            start: q.from,
            step: span + 1,
            len: 1,
        };
        let window = RangeQuery {
            step: span,
            ..q.clone()
        };
        let (points, _) = self.raw_points(&window, &ids, groups, buckets, now).await?;
        Ok(points
            .into_iter()
            .filter_map(|(labels, points)| points.first().map(|&(_, v)| (labels, v)))
            .collect())
    }

    /// Raw samples of `ids` aggregated per group into `buckets`; true when the hot window
    /// answered.
    async fn raw_points(
        &self,
        q: &RangeQuery,
        ids: &[i64],
        groups: std::collections::BTreeMap<app::model::Labels, Vec<i64>>,
        buckets: Buckets,
        now: i64,
    ) -> Result<(Vec<(app::model::Labels, Vec<(i64, f64)>)>, bool), QueryError> {
        // Rates need the sample before the range to know the first increase.
        let read_from = if q.agg == Agg::Rate {
            q.from - q.step
        } else {
            q.from
        };
        // Samples at `to` count, so the exclusive bound of reads is one past it.
        let end = q.to + 1;
        let mut from_hot = false;
        let by_series: HashMap<i64, Vec<(i64, f64)>> = match self.hot.read(ids, read_from, end, now)
        {
            Some(points) => {
                from_hot = true;
                ids.iter().copied().zip(points).collect()
            }
            None => {
                let mut map: HashMap<i64, Vec<(i64, f64)>> = HashMap::new();
                for s in self.store.samples(ids, read_from, end).await? {
                    map.entry(s.series_id).or_default().push((s.ts, s.value));
                }
                map
            }
        };
        let points = groups
            .into_iter()
            .map(|(labels, members)| {
                let series: Vec<SeriesSamples> = members
                    .iter()
                    .filter_map(|id| by_series.get(id).map(|s| SeriesSamples { samples: s }))
                    .collect();
                (labels, engine::aggregate_samples(&series, buckets, q.agg))
            })
            .collect();
        Ok((points, from_hot))
    }
}

/// The series of metrics as the store listed them on first use, indexed by label, so that an
/// alert evaluation with thousands of rules reads each metric's series once and finds a rule's
/// few without scanning them all. Made for one evaluation: series created later are not seen.
#[derive(Default)]
pub struct SeriesLookup {
    metrics: HashMap<String, MetricSeries>,
}

impl SeriesLookup {
    /// The series of `metric` that have every label of `filter`, in id order.
    pub async fn matching(
        &mut self,
        store: &dyn Store,
        metric: &str,
        filter: &[(String, String)],
    ) -> Result<Vec<&SeriesRow>, StoreError> {
        if !self.metrics.contains_key(metric) {
            let series = store.series(metric).await?;
            self.metrics
                .insert(metric.to_string(), MetricSeries::new(series));
        }
        Ok(self.metrics[metric].matching(filter))
    }
}

/// One metric's series, and the positions of the series that have each label pair.
struct MetricSeries {
    series: Vec<SeriesRow>,
    postings: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl MetricSeries {
    fn new(series: Vec<SeriesRow>) -> MetricSeries {
        let mut postings: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        for (i, s) in series.iter().enumerate() {
            for (name, value) in &s.labels {
                postings
                    .entry(name.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default()
                    .push(i);
            }
        }
        MetricSeries { series, postings }
    }

    /// The series that have every label pair of `filter`, in id order: the shortest posting
    /// list of the filter's pairs, checked against the rest.
    fn matching(&self, filter: &[(String, String)]) -> Vec<&SeriesRow> {
        let lists: Option<Vec<&Vec<usize>>> = filter
            .iter()
            .map(|(name, value)| self.postings.get(name).and_then(|v| v.get(value)))
            .collect();
        match lists {
            None => Vec::new(),
            Some(lists) => match lists.iter().min_by_key(|l| l.len()) {
                None => self.series.iter().collect(),
                Some(shortest) => shortest
                    .iter()
                    .map(|&i| &self.series[i])
                    .filter(|s| engine::matches(&s.labels, filter))
                    .collect(),
            },
        }
    }
}

/// The series of each metric as last read from the store, indexed by label pair, so a query
/// finds its series without reading the series table or scanning them. A metric is read again
/// when this process has created series since (the store's count moved) or after
/// [`CATALOG_FRESH_FOR`], which is how soon series created by other processes sharing the
/// database are seen. At most [`CATALOG_MAX_SERIES`] series are kept.
#[derive(Default)]
pub struct SeriesCatalog {
    metrics: std::sync::RwLock<HashMap<String, Arc<CatalogEntry>>>,
}

struct CatalogEntry {
    created: usize,
    read_at: std::time::Instant,
    metric: MetricSeries,
}

/// How long a metric's series list is trusted when this process created no series meanwhile.
pub const CATALOG_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(10);
/// Series the catalog keeps at most; past it, it starts over.
const CATALOG_MAX_SERIES: usize = 200_000;

impl SeriesCatalog {
    /// The series of `metric` that have every label pair of `filter`, in id order.
    pub async fn matching(
        &self,
        store: &dyn Store,
        metric: &str,
        filter: &[(String, String)],
    ) -> Result<Vec<SeriesRow>, StoreError> {
        let created = store.series_created();
        let cached = self
            .metrics
            .read()
            .expect("catalog lock")
            .get(metric)
            .cloned();
        let entry = match cached {
            Some(e) if e.created == created && e.read_at.elapsed() < CATALOG_FRESH_FOR => e,
            _ => {
                // The count is taken before the read: a series created meanwhile moves it on,
                // so the next query reads again.
                let read_at = std::time::Instant::now();
                let series = store.series(metric).await?;
                let entry = Arc::new(CatalogEntry {
                    created,
                    read_at,
                    metric: MetricSeries::new(series),
                });
                let mut metrics = self.metrics.write().expect("catalog lock");
                let held: usize = metrics.values().map(|e| e.metric.series.len()).sum();
                if held + entry.metric.series.len() > CATALOG_MAX_SERIES {
                    metrics.clear();
                }
                metrics.insert(metric.to_string(), entry.clone());
                entry
            }
        };
        Ok(entry.metric.matching(filter).into_iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> RangeParams {
        let mut p = RangeParams::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "metric" => p.metric = v,
                "from" => p.from = v,
                "to" => p.to = v,
                "step" => p.step = v,
                "agg" => p.agg = v,
                "group_by" => p.group_by = v,
                "filter" => p.filter = v,
                _ => unreachable!(),
            }
        }
        p
    }

    #[test]
    fn parses_and_plans() {
        let now = 1_800_000_000_000;
        let q = RangeQuery::parse(&params(&[("metric", "m"), ("from", "now-24h")]), now).unwrap();
        assert_eq!(q.step, 300_000);
        assert_eq!(plan(&q), Source::Rollup(Resolution::FiveMinutes));
        let q = RangeQuery::parse(
            &params(&[("metric", "m"), ("from", "now-24h"), ("agg", "p95")]),
            now,
        )
        .unwrap();
        assert_eq!(plan(&q), Source::Raw);
        let q = RangeQuery::parse(
            &params(&[("metric", "m"), ("from", "now-30d"), ("step", "2h")]),
            now,
        )
        .unwrap();
        assert_eq!(plan(&q), Source::Rollup(Resolution::Hour));
        let q = RangeQuery::parse(&params(&[("metric", "m"), ("step", "90s")]), now).unwrap();
        assert_eq!(
            plan(&q),
            Source::Raw,
            "90s is not a whole number of minutes"
        );
    }

    #[test]
    fn the_series_lookup_finds_what_a_scan_finds() {
        let series: Vec<SeriesRow> = (0..60)
            .map(|i| SeriesRow {
                id: i,
                name: "m".into(),
                labels: [
                    ("host", format!("h{}", i % 6)),
                    ("rack", format!("r{}", i % 4)),
                ]
                .into_iter()
                .filter(|(_, v)| v != "r3")
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
                kind: crate::ingest::model::MetricKind::Gauge,
            })
            .collect();
        let known = MetricSeries::new(series.clone());
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        for filter in [
            vec![],
            vec![pair("host", "h1")],
            vec![pair("rack", "r2"), pair("host", "h2")],
            vec![pair("host", "h2"), pair("rack", "r1")],
            vec![pair("rack", "r3")],
            vec![pair("zone", "z1")],
        ] {
            let scanned: Vec<i64> = series
                .iter()
                .filter(|s| engine::matches(&s.labels, &filter))
                .map(|s| s.id)
                .collect();
            let found: Vec<i64> = known.matching(&filter).iter().map(|s| s.id).collect();
            assert_eq!(found, scanned, "{filter:?}");
        }
        assert_eq!(known.matching(&[pair("host", "h1")]).len(), 10);
        assert_eq!(
            known
                .matching(&[pair("rack", "r2"), pair("host", "h2")])
                .len(),
            5
        );
    }

    #[test]
    fn refuses_bad_ranges() {
        let now = 1_800_000_000_000;
        assert_eq!(
            RangeQuery::parse(&params(&[]), now).unwrap_err().field,
            "metric"
        );
        assert_eq!(
            RangeQuery::parse(
                &params(&[("metric", "m"), ("from", "now"), ("to", "now-1h")]),
                now
            )
            .unwrap_err()
            .field,
            "to"
        );
        assert_eq!(
            RangeQuery::parse(
                &params(&[("metric", "m"), ("from", "now-30d"), ("step", "1s")]),
                now
            )
            .unwrap_err()
            .field,
            "step"
        );
    }
}
