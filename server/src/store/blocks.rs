//! Samples are stored in blocks: one row holds many samples of one series that fall in one
//! window of time (an hour). A commit writes one block per series and window it touches, and
//! compaction later merges a closed window's blocks into one, so the database handles a row per
//! series-hour instead of a row (and two index entries) per sample.
//!
//! A block's samples are sorted by time (stable: equal times keep their arrival order) and
//! packed as a version byte, then per sample the time as a varint delta from the previous one
//! (the first from the block's start) and the value XOR-ed with the previous value's bits, kept
//! as its significant bytes only: one header byte (trailing zero bytes << 4 | byte count) and
//! that many bytes. With a 10 s interval (a 2-byte delta) a repeated value costs 3 bytes, a
//! counter's step about 5, a noisy gauge about 11 (16 unpacked).

use std::collections::BTreeMap;

/// Every block lies inside one window of this many milliseconds, aligned to the epoch.
pub const WINDOW_MS: i64 = 3_600_000;

const VERSION: u8 = 1;

/// The window a time falls in.
pub fn window_of(ts: i64) -> i64 {
    ts.div_euclid(WINDOW_MS)
}

/// One block as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub series_id: i64,
    pub window: i64,
    pub start_ts: i64,
    pub end_ts: i64,
    pub count: i64,
    pub data: Vec<u8>,
}

/// A block that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("sample block of series {series_id} at {start_ts}: {reason}")]
pub struct CorruptBlock {
    pub series_id: i64,
    pub start_ts: i64,
    pub reason: &'static str,
}

/// Groups `(series_id, ts, value)` samples into one block per series and window.
pub fn build(samples: impl IntoIterator<Item = (i64, i64, f64)>) -> Vec<Block> {
    let mut groups: BTreeMap<(i64, i64), Vec<(i64, f64)>> = BTreeMap::new();
    for (series_id, ts, value) in samples {
        groups
            .entry((series_id, window_of(ts)))
            .or_default()
            .push((ts, value));
    }
    groups
        .into_iter()
        .map(|((series_id, window), points)| encode(series_id, window, points))
        .collect()
}

/// Packs one series' samples of one window (all with `window_of(ts) == window`).
pub fn encode(series_id: i64, window: i64, mut points: Vec<(i64, f64)>) -> Block {
    points.sort_by_key(|p| p.0);
    let start_ts = points.first().map_or(window * WINDOW_MS, |p| p.0);
    let end_ts = points.last().map_or(start_ts, |p| p.0);
    let mut data = Vec::with_capacity(1 + points.len() * 6);
    data.push(VERSION);
    let (mut prev_ts, mut prev_bits) = (start_ts, 0u64);
    for (ts, value) in &points {
        debug_assert_eq!(
            window_of(*ts),
            window,
            "a sample outside its block's window"
        );
        put_varint(&mut data, (ts - prev_ts) as u64);
        let bits = value.to_bits();
        put_xor(&mut data, bits ^ prev_bits);
        (prev_ts, prev_bits) = (*ts, bits);
    }
    Block {
        series_id,
        window,
        start_ts,
        end_ts,
        count: points.len() as i64,
        data,
    }
}

/// Unpacks a block's samples, in time order.
pub fn decode(
    series_id: i64,
    start_ts: i64,
    count: i64,
    data: &[u8],
) -> Result<Vec<(i64, f64)>, CorruptBlock> {
    let corrupt = |reason| CorruptBlock {
        series_id,
        start_ts,
        reason,
    };
    let (&version, mut rest) = data.split_first().ok_or_else(|| corrupt("empty"))?;
    if version != VERSION {
        return Err(corrupt("unknown version"));
    }
    if count < 0 || count as usize > rest.len() {
        return Err(corrupt("count larger than the data"));
    }
    let mut out = Vec::with_capacity(count as usize);
    let (mut ts, mut bits) = (start_ts, 0u64);
    for _ in 0..count {
        let delta = take_varint(&mut rest).ok_or_else(|| corrupt("truncated time"))?;
        ts = ts
            .checked_add_unsigned(delta)
            .ok_or_else(|| corrupt("time out of range"))?;
        bits ^= take_xor(&mut rest).ok_or_else(|| corrupt("truncated value"))?;
        out.push((ts, f64::from_bits(bits)));
    }
    if !rest.is_empty() {
        return Err(corrupt("bytes after the last sample"));
    }
    Ok(out)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn take_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

pub(crate) fn put_xor(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        out.push(0);
        return;
    }
    let trailing = x.trailing_zeros() / 8;
    let len = 8 - x.leading_zeros() / 8 - trailing;
    out.push(((trailing as u8) << 4) | len as u8);
    let bytes = (x >> (trailing * 8)).to_le_bytes();
    out.extend_from_slice(&bytes[..len as usize]);
}

pub(crate) fn take_xor(input: &mut &[u8]) -> Option<u64> {
    let (&header, rest) = input.split_first()?;
    let (trailing, len) = (u32::from(header >> 4), usize::from(header & 0x0f));
    // A zero is the one header with no bytes; any other must name 1 to 8 of them.
    if (len == 0 && header != 0) || len > 8 || trailing as usize + len > 8 || rest.len() < len {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..len].copy_from_slice(&rest[..len]);
    *input = &rest[len..];
    Some(u64::from_le_bytes(bytes) << (trailing * 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let block = encode(7, window_of(points[0].0), points.to_vec());
        decode(7, block.start_ts, block.count, &block.data).unwrap()
    }

    #[test]
    fn values_of_every_kind_come_back_bit_for_bit() {
        let t = 1_764_000_000_000;
        let points = [
            (t, 0.0),
            (t + 10_000, -0.0),
            (t + 20_000, 42.0),
            (t + 30_000, 42.0),
            (t + 40_000, 43.0),
            (t + 50_000, 0.1 + 0.2),
            (t + 60_000, f64::MAX),
            (t + 70_000, f64::MIN_POSITIVE),
            (t + 80_000, f64::INFINITY),
            (t + 90_000, -1e-300),
        ];
        let back = roundtrip(&points);
        assert_eq!(back.len(), points.len());
        for (a, b) in points.iter().zip(&back) {
            assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
        }
    }

    #[test]
    fn samples_are_sorted_by_time_keeping_arrival_order_for_ties() {
        let t = 1_764_000_000_000;
        let back = roundtrip(&[(t + 5, 1.0), (t, 2.0), (t + 5, 3.0), (t + 1, 4.0)]);
        assert_eq!(
            back,
            vec![(t, 2.0), (t + 1, 4.0), (t + 5, 1.0), (t + 5, 3.0)]
        );
    }

    #[test]
    fn a_batch_becomes_one_block_per_series_and_window() {
        let w = WINDOW_MS;
        let blocks = build([
            (1, 10 * w + 5, 1.0),
            (2, 10 * w, 2.0),
            (1, 10 * w + 1, 3.0),
            (1, 11 * w, 4.0),
            (1, -1, 5.0),
        ]);
        let keys: Vec<_> = blocks
            .iter()
            .map(|b| (b.series_id, b.window, b.start_ts, b.end_ts, b.count))
            .collect();
        assert_eq!(
            keys,
            vec![
                (1, -1, -1, -1, 1),
                (1, 10, 10 * w + 1, 10 * w + 5, 2),
                (1, 11, 11 * w, 11 * w, 1),
                (2, 10, 10 * w, 10 * w, 1),
            ]
        );
    }

    #[test]
    fn regular_samples_pack_small() {
        let t = 1_764_000_000_000 / WINDOW_MS * WINDOW_MS;
        let steady: Vec<_> = (0..360).map(|i| (t + i * 10_000, 5.0)).collect();
        let counter: Vec<_> = (0..360)
            .map(|i| (t + i * 10_000, (i * 17) as f64))
            .collect();
        let steady = encode(1, window_of(t), steady);
        let counter = encode(1, window_of(t), counter);
        // Unpacked, a sample is 16 bytes; a 10 s delta is 2 bytes and a repeated value 1.
        assert!(steady.data.len() <= 4 + 360 * 3, "{}", steady.data.len());
        assert!(counter.data.len() <= 360 * 6, "{}", counter.data.len());
    }

    #[test]
    fn damaged_blocks_are_refused_not_misread() {
        let t = 1_764_000_000_000;
        let block = encode(3, window_of(t), vec![(t, 1.5), (t + 1000, 2.5)]);
        assert!(decode(3, t, 2, &[]).is_err());
        assert!(
            decode(3, t, 2, &[9, 0, 0, 0, 0]).is_err(),
            "unknown version"
        );
        assert!(decode(3, t, 3, &block.data).is_err(), "count too large");
        assert!(decode(3, t, 1, &block.data).is_err(), "trailing bytes");
        assert!(decode(3, t, 2, &block.data[..block.data.len() - 1]).is_err());
        let mut bad = block.data.clone();
        bad[2] = 0x0f; // a header claiming 15 bytes
        assert!(decode(3, t, 2, &bad).is_err());
        bad[2] = 0x80; // eight trailing zero bytes and none stored: not a valid header
        assert!(decode(3, t, 2, &bad).is_err());
        assert!(decode(3, t, 1_000_000, &block.data).is_err());
    }
}
