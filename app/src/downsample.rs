//! Downsampling for drawing: a line never needs more points than its canvas has pixel
//! columns, so a million points draw as fast as a thousand.

/// Largest-Triangle-Three-Buckets: keeps `threshold` points that preserve the line's shape.
/// Points must be sorted by time. Returns the input when it is already small enough.
pub fn lttb(points: &[(i64, f64)], threshold: usize) -> Vec<(i64, f64)> {
    let n = points.len();
    if threshold >= n || threshold < 3 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(threshold);
    out.push(points[0]);
    let every = (n - 2) as f64 / (threshold - 2) as f64;
    let mut a = 0usize;
    for i in 0..threshold - 2 {
        // The average of the next bucket is the third corner of the triangle.
        let next_start = ((i + 1) as f64 * every) as usize + 1;
        let next_end = (((i + 2) as f64 * every) as usize + 1).min(n);
        let (mut avg_x, mut avg_y) = (0.0, 0.0);
        for p in &points[next_start..next_end] {
            avg_x += p.0 as f64;
            avg_y += p.1;
        }
        let len = (next_end - next_start).max(1) as f64;
        avg_x /= len;
        avg_y /= len;

        let start = (i as f64 * every) as usize + 1;
        let end = next_start;
        let (ax, ay) = (points[a].0 as f64, points[a].1);
        let mut best = start;
        let mut best_area = -1.0;
        for (j, p) in points[start..end].iter().enumerate() {
            let area = ((ax - avg_x) * (p.1 - ay) - (ax - p.0 as f64) * (avg_y - ay)).abs();
            if area > best_area {
                best_area = area;
                best = start + j;
            }
        }
        out.push(points[best]);
        a = best;
    }
    out.push(points[n - 1]);
    out
}

/// Min and max per pixel column: keeps every spike visible, at most two points per column
/// (in time order within the column). Points must be sorted by time.
pub fn min_max_per_column(
    points: &[(i64, f64)],
    from: i64,
    to: i64,
    columns: usize,
) -> Vec<(i64, f64)> {
    if points.len() <= columns * 2 || columns == 0 || to <= from {
        return points.to_vec();
    }
    let width = (to - from) as f64 / columns as f64;
    let mut out = Vec::with_capacity(columns * 2);
    let mut i = 0;
    while i < points.len() {
        let col =
            (((points[i].0 - from) as f64 / width).floor()).clamp(0.0, (columns - 1) as f64) as i64;
        let mut lo = points[i];
        let mut hi = points[i];
        let mut j = i + 1;
        while j < points.len() {
            let c = (((points[j].0 - from) as f64 / width).floor()).clamp(0.0, (columns - 1) as f64)
                as i64;
            if c != col {
                break;
            }
            if points[j].1 < lo.1 {
                lo = points[j];
            }
            if points[j].1 > hi.1 {
                hi = points[j];
            }
            j += 1;
        }
        if lo.0 <= hi.0 {
            out.push(lo);
            if hi != lo {
                out.push(hi);
            }
        } else {
            out.push(hi);
            out.push(lo);
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series() -> impl Strategy<Value = Vec<(i64, f64)>> {
        prop::collection::vec(-1e6f64..1e6, 0..2000).prop_map(|vs| {
            vs.into_iter()
                .enumerate()
                .map(|(i, v)| (i as i64 * 1000, v))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn lttb_keeps_ends_order_and_size(points in series(), threshold in 3usize..500) {
            let out = lttb(&points, threshold);
            prop_assert_eq!(out.len(), points.len().min(threshold));
            prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
            if !points.is_empty() {
                prop_assert_eq!(out[0], points[0]);
                prop_assert_eq!(*out.last().unwrap(), *points.last().unwrap());
            }
            prop_assert!(out.iter().all(|p| points.contains(p)));
        }

        #[test]
        fn min_max_keeps_extremes_and_bounds_size(points in series(), columns in 1usize..400) {
            let to = points.last().map(|p| p.0).unwrap_or(0) + 1;
            let out = min_max_per_column(&points, 0, to, columns);
            prop_assert!(out.len() <= points.len().max(columns * 2).min(points.len()));
            prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
            if let (Some(max), Some(min)) = (
                points.iter().map(|p| p.1).reduce(f64::max),
                points.iter().map(|p| p.1).reduce(f64::min),
            ) {
                prop_assert!(out.iter().any(|p| p.1 == max));
                prop_assert!(out.iter().any(|p| p.1 == min));
            }
        }
    }

    #[test]
    fn a_million_points_become_a_few_per_column() {
        let points: Vec<(i64, f64)> = (0..1_000_000)
            .map(|i| (i, (i as f64 / 1000.0).sin()))
            .collect();
        assert_eq!(lttb(&points, 800).len(), 800);
        assert!(min_max_per_column(&points, 0, 1_000_000, 800).len() <= 1600);
    }
}
