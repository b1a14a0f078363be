//! Rollups: per-series count, sum, min, max and last value per minute and per hour, so long
//! ranges are read from a few rows instead of every sample.
//!
//! They are stored as blocks, like samples (see [`super::blocks`]): one row holds one series'
//! buckets of one window, an hour of minutes or a day of hours, so a day of 1 000 series reads
//! 24 000 minute rows' worth of blocks instead of 1.44 M rows. A flush appends one block per
//! series and window it touches; compaction merges a window's blocks into one. Partial blocks of
//! one window simply merge on read: every field of a bucket is mergeable.
//!
//! A block is a version byte and the number of buckets as a varint, then per bucket in time order: the bucket's offset from the
//! previous one (from the window's start for the first) in bucket widths as a varint, the count
//! as a varint, the sum XOR-ed with the previous bucket's (as samples are), and, when the count
//! is above one, min, max and last each XOR-ed with the previous bucket's; then the last
//! sample's offset into its bucket in milliseconds as a varint. A bucket of one sample has
//! min = max = last = sum and stores none of them.

use super::blocks::{put_varint, put_xor, take_varint, take_xor};
use super::GroupBucket;
use std::collections::{BTreeMap, HashMap};

/// Resolution of stored data: the tiers of rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    FiveMinutes,
    Hour,
}

impl Resolution {
    /// Every tier, finest first.
    pub const ALL: [Resolution; 3] = [
        Resolution::Minute,
        Resolution::FiveMinutes,
        Resolution::Hour,
    ];

    pub fn millis(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::FiveMinutes => 300_000,
            Resolution::Hour => 3_600_000,
        }
    }
    /// The span of one block of this resolution: an hour of minutes, a day of five-minute
    /// buckets or of hours.
    pub fn window_ms(self) -> i64 {
        match self {
            Resolution::Minute => 3_600_000,
            Resolution::FiveMinutes | Resolution::Hour => 86_400_000,
        }
    }
    /// The window a bucket (or any time) falls in.
    pub fn window_of(self, ts: i64) -> i64 {
        ts.div_euclid(self.window_ms())
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

/// The same data in the coarser buckets of `resolution` (rows of a finer one merge exactly).
pub fn rebucket(rows: &[RollupRow], resolution: Resolution) -> Vec<RollupRow> {
    let width = resolution.millis();
    merge_parts(
        rows.iter()
            .map(|r| RollupRow {
                bucket: r.bucket.div_euclid(width) * width,
                ..*r
            })
            .collect(),
    )
}

/// Merges the parts of each bucket (from blocks not yet compacted, or pending samples) into
/// one row, ordered by series and bucket.
pub fn merge_parts(mut rows: Vec<RollupRow>) -> Vec<RollupRow> {
    rows.sort_unstable_by_key(|r| (r.series_id, r.bucket));
    rows.dedup_by(|later, kept| {
        let same = (later.series_id, later.bucket) == (kept.series_id, kept.bucket);
        if same {
            kept.merge(later);
        }
        same
    });
    rows
}

/// Folds rollup buckets into groups and query buckets (`[from, to)` in steps of `step`) as
/// they are decoded, so a query's memory is its answer's size whatever the number of stored
/// buckets behind it: one dense cell per group and step when there are at most
/// [`DENSE_CELLS`] of them (the query service's answers), else only the cells that get a bucket.
pub struct GroupFold {
    from: i64,
    step: i64,
    steps: i64,
    cells: Cells,
}

enum Cells {
    Dense(Vec<GroupBucket>),
    Sparse(HashMap<(i64, i64), GroupBucket>),
}

/// Cells a fold allocates up front at most (48 bytes each).
pub const DENSE_CELLS: i64 = 1 << 20;

fn empty_cell(group: i64, index: i64) -> GroupBucket {
    GroupBucket {
        group,
        index,
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    }
}

impl GroupFold {
    /// `members` pairs series ids with group indexes (0-based, as the caller numbers them).
    pub fn new(members: &[(i64, i64)], from: i64, to: i64, step: i64) -> GroupFold {
        let step = step.max(1);
        let groups = members
            .iter()
            .map(|m| m.1.saturating_add(1))
            .max()
            .unwrap_or(0)
            .max(0);
        let span = i128::from(to) - i128::from(from);
        let steps = if span > 0 {
            i64::try_from((span - 1) / i128::from(step) + 1).unwrap_or(i64::MAX)
        } else {
            0
        };
        let cells = match groups.checked_mul(steps) {
            Some(n) if n <= DENSE_CELLS => Cells::Dense(
                (0..n)
                    .map(|i| empty_cell(i / steps.max(1), i % steps.max(1)))
                    .collect(),
            ),
            _ => Cells::Sparse(HashMap::new()),
        };
        GroupFold {
            from,
            step,
            steps,
            cells,
        }
    }

    /// Adds one bucket of a series in `group`; buckets outside the range are ignored.
    pub fn add(&mut self, group: i64, r: &RollupRow) {
        if r.bucket < self.from || group < 0 {
            return;
        }
        // In i128: a range from the store's callers may span all of i64.
        let index = (i128::from(r.bucket) - i128::from(self.from)) / i128::from(self.step);
        if index >= i128::from(self.steps) {
            return;
        }
        if let Some(cell) = self.cell(group, index as i64) {
            cell.count += r.count;
            cell.sum += r.sum;
            cell.min = cell.min.min(r.min);
            cell.max = cell.max.max(r.max);
        }
    }

    /// Adds every cell of another fold over the same groups and range.
    pub fn absorb(&mut self, other: GroupFold) {
        for c in other.finish() {
            if let Some(cell) = self.cell(c.group, c.index) {
                cell.count += c.count;
                cell.sum += c.sum;
                cell.min = cell.min.min(c.min);
                cell.max = cell.max.max(c.max);
            }
        }
    }

    /// The cell of `group` at step `index` (both in range).
    fn cell(&mut self, group: i64, index: i64) -> Option<&mut GroupBucket> {
        match &mut self.cells {
            Cells::Dense(cells) => cells.get_mut((group * self.steps + index) as usize),
            Cells::Sparse(cells) => Some(
                cells
                    .entry((group, index))
                    .or_insert_with(|| empty_cell(group, index)),
            ),
        }
    }

    /// The cells that received a bucket, by group then index.
    pub fn finish(self) -> Vec<GroupBucket> {
        match self.cells {
            Cells::Dense(cells) => cells.into_iter().filter(|c| c.count > 0).collect(),
            Cells::Sparse(cells) => {
                let mut out: Vec<GroupBucket> = cells.into_values().collect();
                out.sort_unstable_by_key(|c| (c.group, c.index));
                out
            }
        }
    }
}

const VERSION: u8 = 1;

/// A rollup block that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("rollup block of series {series_id} in window {window}: {reason}")]
pub struct CorruptRollup {
    pub series_id: i64,
    pub window: i64,
    pub reason: &'static str,
}

/// One stored block of rollups: one series' buckets in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupBlock {
    pub series_id: i64,
    pub window: i64,
    pub data: Vec<u8>,
}

/// Packs rows (of any series and windows, as [`aggregate`] makes them) into one block per
/// series and window.
pub fn build(rows: &[RollupRow], resolution: Resolution) -> Vec<RollupBlock> {
    let mut groups: BTreeMap<(i64, i64), Vec<RollupRow>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.series_id, resolution.window_of(r.bucket)))
            .or_default()
            .push(*r);
    }
    groups
        .into_iter()
        .map(|((series_id, window), rows)| RollupBlock {
            series_id,
            window,
            data: encode(window, rows, resolution),
        })
        .collect()
}

/// Packs one series' buckets of one window; buckets that repeat are merged first.
pub fn encode(window: i64, mut rows: Vec<RollupRow>, resolution: Resolution) -> Vec<u8> {
    rows.sort_by_key(|r| r.bucket);
    rows.dedup_by(|later, kept| {
        let same = later.bucket == kept.bucket;
        if same {
            kept.merge(later);
        }
        same
    });
    let width = resolution.millis();
    let mut data = Vec::with_capacity(1 + rows.len() * 12);
    data.push(VERSION);
    put_varint(&mut data, rows.len() as u64);
    let mut prev_index = 0;
    let mut prev = [0u64; 4];
    for r in &rows {
        debug_assert_eq!(resolution.window_of(r.bucket), window);
        let index = (r.bucket - window * resolution.window_ms()) / width;
        put_varint(&mut data, (index - prev_index) as u64);
        put_varint(&mut data, r.count.max(0) as u64);
        let bits = [r.sum, r.min, r.max, r.last].map(f64::to_bits);
        put_xor(&mut data, bits[0] ^ prev[0]);
        if r.count > 1 {
            for i in 1..4 {
                put_xor(&mut data, bits[i] ^ prev[i]);
            }
        }
        put_varint(&mut data, (r.last_ts - r.bucket).clamp(0, width - 1) as u64);
        prev = if r.count > 1 { bits } else { [bits[0]; 4] };
        prev_index = index;
    }
    data
}

/// Unpacks a block's buckets, in time order, calling `each` with every one.
pub fn decode(
    series_id: i64,
    window: i64,
    resolution: Resolution,
    data: &[u8],
    mut each: impl FnMut(RollupRow),
) -> Result<(), CorruptRollup> {
    let corrupt = |reason| CorruptRollup {
        series_id,
        window,
        reason,
    };
    let (&version, mut rest) = data.split_first().ok_or_else(|| corrupt("empty"))?;
    if version != VERSION {
        return Err(corrupt("unknown version"));
    }
    let width = resolution.millis();
    let per_window = (resolution.window_ms() / width) as u64;
    let start = window
        .checked_mul(resolution.window_ms())
        .ok_or_else(|| corrupt("window out of range"))?;
    let buckets = take_varint(&mut rest)
        .filter(|n| *n <= per_window)
        .ok_or_else(|| corrupt("bad bucket count"))?;
    let mut index = 0u64;
    let mut prev = [0u64; 4];
    let mut first = true;
    for _ in 0..buckets {
        let delta = take_varint(&mut rest).ok_or_else(|| corrupt("truncated bucket"))?;
        if !first && delta == 0 {
            return Err(corrupt("buckets out of order"));
        }
        first = false;
        index = index
            .checked_add(delta)
            .filter(|i| *i < per_window)
            .ok_or_else(|| corrupt("bucket outside its window"))?;
        let count = take_varint(&mut rest).ok_or_else(|| corrupt("truncated count"))?;
        let mut bits = prev;
        bits[0] ^= take_xor(&mut rest).ok_or_else(|| corrupt("truncated sum"))?;
        if count > 1 {
            for b in &mut bits[1..] {
                *b ^= take_xor(&mut rest).ok_or_else(|| corrupt("truncated value"))?;
            }
        } else {
            bits = [bits[0]; 4];
        }
        let last_offset = take_varint(&mut rest)
            .filter(|o| *o < width as u64)
            .ok_or_else(|| corrupt("bad last time"))?;
        let bucket = start
            .checked_add(index as i64 * width)
            .ok_or_else(|| corrupt("window out of range"))?;
        let [sum, min, max, last] = bits.map(f64::from_bits);
        each(RollupRow {
            series_id,
            bucket,
            count: i64::try_from(count).map_err(|_| corrupt("count out of range"))?,
            sum,
            min,
            max,
            last,
            last_ts: bucket
                .checked_add(last_offset as i64)
                .ok_or_else(|| corrupt("window out of range"))?,
        });
        prev = bits;
    }
    if !rest.is_empty() {
        return Err(corrupt("bytes after the last bucket"));
    }
    Ok(())
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

    fn row(series_id: i64, bucket: i64, values: &[(i64, f64)]) -> RollupRow {
        let mut r = RollupRow::start(series_id, bucket, values[0].0, values[0].1);
        for (ts, v) in &values[1..] {
            r.merge(&RollupRow::start(series_id, bucket, *ts, *v));
        }
        r
    }

    fn decoded(block: &RollupBlock, resolution: Resolution) -> Vec<RollupRow> {
        let mut out = Vec::new();
        decode(
            block.series_id,
            block.window,
            resolution,
            &block.data,
            |r| out.push(r),
        )
        .unwrap();
        out
    }

    #[test]
    fn blocks_give_back_every_bucket_bit_for_bit() {
        for resolution in [Resolution::Minute, Resolution::Hour] {
            let w = resolution.millis();
            let t = 1_764_000_000_000 / resolution.window_ms() * resolution.window_ms();
            let rows = vec![
                row(4, t, &[(t + 5, 1.5)]),
                row(
                    4,
                    t + w,
                    &[(t + w, -0.0), (t + w + 7, f64::MAX), (t + w + 9, 3.0)],
                ),
                row(4, t + 5 * w, &[(t + 5 * w + w - 1, f64::NAN)]),
                row(
                    4,
                    t + 6 * w,
                    &[(t + 6 * w, 2.0), (t + 6 * w + 1, f64::NEG_INFINITY)],
                ),
                row(4, t + 7 * w, &[(t + 7 * w + 3, 0.1 + 0.2)]),
                row(9, t - w, &[(t - 1, 8.0)]),
            ];
            let blocks = build(&rows, resolution);
            assert_eq!(blocks.len(), 2, "one per series and window");
            let mut back: Vec<RollupRow> =
                blocks.iter().flat_map(|b| decoded(b, resolution)).collect();
            back.sort_by_key(|r| (r.series_id, r.bucket));
            let mut want = rows.clone();
            want.sort_by_key(|r| (r.series_id, r.bucket));
            assert_eq!(back.len(), want.len());
            for (a, b) in want.iter().zip(&back) {
                assert_eq!(
                    (a.series_id, a.bucket, a.count, a.last_ts),
                    (b.series_id, b.bucket, b.count, b.last_ts)
                );
                let bits = |r: &RollupRow| [r.sum, r.min, r.max, r.last].map(f64::to_bits);
                assert_eq!(bits(a), bits(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn repeated_buckets_merge_and_minutes_pack_small() {
        let t = 1_764_000_000_000 / 3_600_000 * 3_600_000;
        // Two partial aggregates of one minute (as two flushes would make them) become one.
        let data = encode(
            t / 3_600_000,
            vec![row(1, t, &[(t, 1.0)]), row(1, t, &[(t + 10, 3.0)])],
            Resolution::Minute,
        );
        let block = RollupBlock {
            series_id: 1,
            window: t / 3_600_000,
            data,
        };
        let back = decoded(&block, Resolution::Minute);
        assert_eq!(back, vec![row(1, t, &[(t, 1.0), (t + 10, 3.0)])]);
        // An hour of minutes of six steady samples each: a few bytes a minute.
        let steady: Vec<RollupRow> = (0..60)
            .map(|m| {
                let b = t + m * 60_000;
                row(
                    1,
                    b,
                    &(0..6).map(|i| (b + i * 10_000, 5.0)).collect::<Vec<_>>(),
                )
            })
            .collect();
        let data = encode(t / 3_600_000, steady, Resolution::Minute);
        assert!(data.len() <= 1 + 60 * 10, "{}", data.len());
    }

    #[test]
    fn damaged_rollup_blocks_are_refused_not_misread() {
        let t = 1_764_000_000_000 / 3_600_000 * 3_600_000;
        let w = t / 3_600_000;
        let data = encode(
            w,
            vec![
                row(1, t, &[(t, 1.0), (t + 1, 2.0)]),
                row(1, t + 60_000, &[(t + 60_000, 1.0)]),
            ],
            Resolution::Minute,
        );
        let check = |bytes: &[u8]| decode(1, w, Resolution::Minute, bytes, |_| {});
        assert!(check(&data).is_ok());
        assert!(check(&[]).is_err());
        assert!(check(&[9]).is_err(), "unknown version");
        for cut in 1..data.len() {
            assert!(check(&data[..cut]).is_err(), "cut at {cut}");
        }
        assert!(
            check(&[VERSION, 1, 60, 1, 0, 0]).is_err(),
            "bucket past the window"
        );
        assert!(
            check(&[VERSION, 2, 0, 1, 0, 0, 0, 1, 0, 0]).is_err(),
            "a bucket twice"
        );
        assert!(
            check(&[VERSION, 61]).is_err(),
            "more buckets than the window has"
        );
        let mut longer = data.clone();
        longer.push(0);
        assert!(check(&longer).is_err(), "trailing bytes");
        assert!(decode(1, i64::MAX, Resolution::Minute, &data, |_| {}).is_err());
        assert!(
            check(&[VERSION, 1, 0, 1, 0x80, 0]).is_err(),
            "a value header naming no bytes"
        );
    }

    #[test]
    fn finer_rollups_rebucket_into_coarser_ones_exactly() {
        let t = 1_764_000_000_000;
        let samples: Vec<(i64, i64, f64)> = (0..500)
            .map(|i| (i % 3, t + i * 7_001, (i % 17) as f64 * 0.5))
            .collect();
        for coarse in [Resolution::FiveMinutes, Resolution::Hour] {
            let direct = aggregate(samples.iter().copied(), coarse);
            let via_minutes = rebucket(
                &aggregate(samples.iter().copied(), Resolution::Minute),
                coarse,
            );
            assert_eq!(direct, via_minutes, "{coarse:?}");
        }
    }

    #[test]
    fn folds_agree_dense_or_sparse_and_survive_any_range() {
        let t = 1_764_000_000_000;
        let rows: Vec<RollupRow> = (0..50)
            .map(|i| row(i % 3, t + i * 60_000, &[(t + i * 60_000, i as f64)]))
            .collect();
        let members = [(0, 0), (1, 1), (2, 0)];
        let fold = |from: i64, to: i64, step: i64| {
            let mut f = GroupFold::new(&members, from, to, step);
            for r in &rows {
                f.add(if r.series_id == 1 { 1 } else { 0 }, r);
            }
            f.finish()
        };
        let dense = fold(t, t + 50 * 60_000, 300_000);
        assert_eq!(dense.len(), 2 * 10);
        assert_eq!(dense.iter().map(|c| c.count).sum::<i64>(), 50);
        // A range too long to allocate densely folds the same buckets sparsely.
        let sparse = fold(
            t - (DENSE_CELLS / 2 + 10) * 300_000,
            t + 50 * 60_000,
            300_000,
        );
        assert_eq!(sparse.len(), dense.len());
        assert_eq!(sparse.iter().map(|c| c.count).sum::<i64>(), 50);
        assert_eq!(
            sparse.iter().map(|c| c.sum).sum::<f64>(),
            dense.iter().map(|c| c.sum).sum::<f64>()
        );
        for (from, to, found) in [
            (0, i64::MAX / 2, 50),
            (i64::MIN, i64::MAX, 50),
            (-1, i64::MAX, 50),
            (t, t, 0),
        ] {
            let cells = fold(from, to, 60_000);
            assert_eq!(
                cells.iter().map(|c| c.count).sum::<i64>(),
                found,
                "{from}..{to}"
            );
        }
    }
}
