//! Rollups: per-series count, sum, min, max and last value per minute and per hour, so long
//! ranges are read from a few rows instead of every sample.

use std::collections::HashMap;

/// Resolution of stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
}

impl Resolution {
    pub fn millis(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
        }
    }
    pub fn table(self) -> &'static str {
        match self {
            Resolution::Minute => "rollup_1m",
            Resolution::Hour => "rollup_1h",
        }
    }
}

/// One rollup bucket of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRow {
    pub series_id: i64,
    pub bucket: i64,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub last_ts: i64,
}

impl RollupRow {
    fn start(series_id: i64, bucket: i64, ts: i64, value: f64) -> Self {
        RollupRow {
            series_id,
            bucket,
            count: 1,
            sum: value,
            min: value,
            max: value,
            last: value,
            last_ts: ts,
        }
    }

    /// Folds another partial aggregate of the same bucket into this one.
    pub fn merge(&mut self, other: &RollupRow) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.last_ts >= self.last_ts {
            self.last = other.last;
            self.last_ts = other.last_ts;
        }
    }
}

/// Pre-aggregates one commit's samples, so each (series, bucket) is upserted once per commit.
pub fn aggregate(
    samples: impl Iterator<Item = (i64, i64, f64)>,
    resolution: Resolution,
) -> Vec<RollupRow> {
    let step = resolution.millis();
    let mut rows: HashMap<(i64, i64), RollupRow> = HashMap::new();
    for (series_id, ts, value) in samples {
        let bucket = ts.div_euclid(step) * step;
        let row = RollupRow::start(series_id, bucket, ts, value);
        rows.entry((series_id, bucket))
            .and_modify(|r| r.merge(&row))
            .or_insert(row);
    }
    let mut out: Vec<RollupRow> = rows.into_values().collect();
    // A stable order keeps concurrent writers from deadlocking on PostgreSQL row locks.
    out.sort_by_key(|r| (r.series_id, r.bucket));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_per_series_and_bucket() {
        let rows = aggregate(
            [
                (1, 0, 1.0),
                (1, 59_999, 3.0),
                (1, 60_000, 5.0),
                (2, 10, 7.0),
                (1, 30_000, 2.0),
            ]
            .into_iter(),
            Resolution::Minute,
        );
        assert_eq!(rows.len(), 3);
        let first = rows[0];
        assert_eq!((first.series_id, first.bucket, first.count), (1, 0, 3));
        assert_eq!((first.sum, first.min, first.max), (6.0, 1.0, 3.0));
        assert_eq!(
            (first.last, first.last_ts),
            (3.0, 59_999),
            "last is by time, not arrival"
        );
        assert_eq!((rows[1].bucket, rows[1].count), (60_000, 1));
        assert_eq!(rows[2].series_id, 2);
    }
}
