//! Backtest preview: how often a rule, as written, would have fired over stored history.
//!
//! The rule's query runs over the range at one step (1 minute for a day, 5 for a week, so it
//! reads rollups where it can) and each step's value goes through a fresh state machine, as the
//! evaluator would have fed it. It is an estimate at that resolution: a `for` shorter than the
//! step acts as one step.

use super::{now_ms, Alerting, AlertingError, AlertingResult};
use crate::query::engine as qengine;
use crate::query::params::Agg;
use crate::query::RangeQuery;
use alerts::{AlertInstance, Condition, Labels, Observation, Status};
use app::model::{Backtest, Episode};
use std::collections::{BTreeMap, HashMap};

/// Most episodes listed; the rest are counted.
const MAX_EPISODES: usize = 200;

impl Alerting {
    /// Simulates the rule in `json` over the last `range_ms` (1 h to 7 d).
    pub async fn backtest(&self, json: &[u8], range_ms: i64) -> AlertingResult<Backtest> {
        if !(3_600_000..=7 * 86_400_000).contains(&range_ms) {
            return Err(AlertingError::invalid("range", "must be between 1h and 7d"));
        }
        let rule = alerts::parse_rule(json)?;
        let to = now_ms();
        let from = to - range_ms;
        let step = if range_ms > 86_400_000 {
            300_000
        } else {
            60_000
        };
        let filter: Vec<(String, String)> = rule
            .query
            .filter
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let q = RangeQuery {
            metric: rule.query.metric.clone(),
            from,
            to,
            step,
            agg: Agg::parse(&rule.query.agg)
                .map_err(|e| AlertingError::invalid("query.agg", e.message))?,
            group_by: rule.group_by.clone(),
            filter: filter.clone(),
        };
        let (series, _) = self.query.run(&q, to).await.map_err(|e| match e {
            crate::query::QueryError::Param(p) => AlertingError::invalid(p.field, p.message),
            crate::query::QueryError::TooLarge(message) => AlertingError::invalid("query", message),
            crate::query::QueryError::Store(s) => s.into(),
        })?;
        let scores = match rule.trigger.condition {
            Condition::Anomaly { .. } => {
                let mut scores: HashMap<(Labels, i64), f64> = HashMap::new();
                for a in self
                    .store
                    .anomalies(Some(&rule.query.metric), from, to + 1, 100_000)
                    .await?
                    .iter()
                    .filter(|a| !a.dismissed && qengine::matches(&a.labels, &filter))
                {
                    let key = (
                        qengine::group_key(&a.labels, &rule.group_by),
                        a.timestamp.div_euclid(step) * step,
                    );
                    let best = scores.entry(key).or_insert(0.0);
                    *best = best.max(a.score);
                }
                Some(scores)
            }
            _ => None,
        };
        let first = from.div_euclid(step) * step;
        let mut out = Backtest {
            from,
            to,
            step_ms: step,
            evaluations: 0,
            firings: 0,
            episodes: Vec::new(),
        };
        let mut groups: BTreeMap<Labels, HashMap<i64, f64>> = series
            .into_iter()
            .map(|s| (s.labels, s.points.into_iter().collect()))
            .collect();
        if groups.is_empty() {
            groups.insert(Labels::new(), HashMap::new());
        }
        for (group, points) in groups {
            let labels = rule.instance_labels(&group);
            let mut machine = AlertInstance::new();
            let mut open: Option<Episode> = None;
            let mut t = first;
            while t <= to {
                // A bucket is judged when it closes, as the evaluator would at its end.
                let at = t + step;
                let obs = match (points.get(&t), &scores) {
                    (None, _) => Observation::empty(at),
                    (Some(v), None) => Observation::value(at, *v),
                    (Some(v), Some(s)) => Observation::scored(
                        at,
                        *v,
                        s.get(&(group.clone(), t)).copied().unwrap_or(0.0),
                    ),
                };
                out.evaluations += 1;
                if let Some(tr) = machine.step(&rule.trigger, &obs) {
                    match (tr.from.status(), tr.to.status()) {
                        (from, Status::Firing) if from != Status::Firing => {
                            out.firings += 1;
                            open = Some(Episode {
                                labels: labels.clone(),
                                start: tr.at_ms,
                                end: None,
                                peak: obs.value,
                            });
                        }
                        (Status::Firing, to) if to != Status::Firing => {
                            if let Some(mut e) = open.take() {
                                e.end = Some(tr.at_ms);
                                push(&mut out.episodes, e);
                            }
                        }
                        _ => {}
                    }
                }
                if let (Some(e), Some(v)) = (open.as_mut(), obs.value) {
                    e.peak = Some(match e.peak {
                        Some(p) if more_extreme(&rule.trigger.condition, p, v) => v,
                        Some(p) => p,
                        None => v,
                    });
                }
                t += step;
            }
            if let Some(e) = open {
                push(&mut out.episodes, e);
            }
        }
        out.episodes.sort_by_key(|e| e.start);
        Ok(out)
    }
}

fn push(episodes: &mut Vec<Episode>, e: Episode) {
    if episodes.len() < MAX_EPISODES {
        episodes.push(e);
    }
}

/// Whether `v` is further into the firing side than `peak`.
fn more_extreme(condition: &Condition, peak: f64, v: f64) -> bool {
    match condition {
        Condition::Threshold { op, .. } | Condition::RateOfChange { op, .. } => match op.as_str() {
            "<" | "<=" => v < peak,
            _ => v > peak,
        },
        _ => v > peak,
    }
}
