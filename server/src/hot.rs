//! The hot window: the most recent points of every series in memory, so live dashboards and
//! recent queries never touch the database.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

/// Recent points per series id, bounded in time, in points per series and in series.
pub struct HotWindow {
    series: RwLock<HashMap<i64, Buffer>>,
    window_ms: i64,
    points_per_series: usize,
    max_series: usize,
    /// Nothing before this instant (unix ms) is known here: the process started then.
    since: i64,
}

struct Buffer {
    points: VecDeque<(i64, f64)>,
    /// Points before this were evicted by the per-series cap.
    covered_from: i64,
}

impl HotWindow {
    pub fn new(window_ms: i64, points_per_series: usize, max_series: usize, since: i64) -> Self {
        HotWindow {
            series: RwLock::new(HashMap::new()),
            window_ms,
            points_per_series,
            max_series,
            since,
        }
    }

    /// Records committed samples `(series id, ts, value)`; `now` drives time-based eviction.
    pub fn record(&self, samples: impl IntoIterator<Item = (i64, i64, f64)>, now: i64) {
        let horizon = now - self.window_ms;
        let mut map = self.series.write().expect("hot window lock");
        for (id, ts, value) in samples {
            if ts < horizon {
                continue;
            }
            if !map.contains_key(&id) && map.len() >= self.max_series {
                // Untracked series are marked so queries on them go to the database.
                continue;
            }
            let buf = map.entry(id).or_insert_with(|| Buffer {
                points: VecDeque::new(),
                covered_from: self.since,
            });
            // Samples almost always arrive in order; late ones are put in their place.
            match buf.points.back() {
                Some(&(last, _)) if ts < last => {
                    let at = buf.points.partition_point(|&(t, _)| t <= ts);
                    buf.points.insert(at, (ts, value));
                }
                _ => buf.points.push_back((ts, value)),
            }
            while buf.points.len() > self.points_per_series {
                if let Some((t, _)) = buf.points.pop_front() {
                    buf.covered_from = buf.covered_from.max(t + 1);
                }
            }
        }
        for buf in map.values_mut() {
            while buf.points.front().is_some_and(|&(t, _)| t < horizon) {
                buf.points.pop_front();
            }
            buf.covered_from = buf.covered_from.max(horizon);
        }
        map.retain(|_, b| !b.points.is_empty());
    }

    /// Points of each series with `from <= ts < to`, or `None` when the window does not cover
    /// the whole range for all of them (the caller then reads the database).
    pub fn read(&self, ids: &[i64], from: i64, to: i64, now: i64) -> Option<Vec<Vec<(i64, f64)>>> {
        if from < self.since.max(now - self.window_ms) {
            return None;
        }
        let map = self.series.read().expect("hot window lock");
        if map.len() >= self.max_series {
            return None;
        }
        ids.iter()
            .map(|id| match map.get(id) {
                None => Some(Vec::new()),
                Some(b) if b.covered_from > from => None,
                Some(b) => Some(
                    b.points
                        .iter()
                        .filter(|(t, _)| *t >= from && *t < to)
                        .copied()
                        .collect(),
                ),
            })
            .collect()
    }

    /// Series held in memory.
    pub fn len(&self) -> usize {
        self.series.read().expect("hot window lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_recent_ranges_and_refuses_older_ones() {
        let hot = HotWindow::new(60_000, 100, 10, 1_000);
        hot.record([(1, 2_000, 1.0), (1, 3_000, 2.0), (2, 2_500, 5.0)], 10_000);
        assert_eq!(
            hot.read(&[1, 2, 3], 1_000, 10_000, 10_000),
            Some(vec![
                vec![(2_000, 1.0), (3_000, 2.0)],
                vec![(2_500, 5.0)],
                vec![]
            ])
        );
        assert_eq!(
            hot.read(&[1], 500, 10_000, 10_000),
            None,
            "before the process started"
        );
    }

    #[test]
    fn late_points_are_ordered_and_caps_evict() {
        let hot = HotWindow::new(60_000, 3, 10, 0);
        hot.record([(1, 1_000, 1.0), (1, 3_000, 3.0), (1, 2_000, 2.0)], 5_000);
        assert_eq!(
            hot.read(&[1], 0, 5_000, 5_000).unwrap()[0],
            vec![(1_000, 1.0), (2_000, 2.0), (3_000, 3.0)]
        );
        hot.record([(1, 4_000, 4.0)], 5_000);
        assert_eq!(
            hot.read(&[1], 0, 5_000, 5_000),
            None,
            "the first point was evicted"
        );
        assert_eq!(hot.read(&[1], 1_001, 5_000, 5_000).unwrap()[0].len(), 3);
    }

    #[test]
    fn old_points_expire_with_time() {
        let hot = HotWindow::new(10_000, 100, 10, 0);
        hot.record([(1, 1_000, 1.0)], 1_000);
        hot.record([(2, 20_000, 1.0)], 20_000);
        assert_eq!(hot.len(), 1);
        assert_eq!(
            hot.read(&[1], 5_000, 20_000, 20_000),
            None,
            "older than the window"
        );
    }
}
