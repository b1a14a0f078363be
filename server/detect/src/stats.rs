//! Small numeric helpers shared by the detector: fixed-capacity ring buffers, running scales,
//! medians and Gaussian tail probabilities. Nothing here allocates.

/// A fixed-capacity ring of the most recent `N` samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ring<const N: usize> {
    buf: [f32; N],
    next: usize,
    len: usize,
}

impl<const N: usize> Ring<N> {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0.0; N],
            next: 0,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, x: f32) {
        self.buf[self.next] = x;
        self.next = (self.next + 1) % N;
        self.len = (self.len + 1).min(N);
    }

    /// The last `k` samples (unordered), copied into `out`; returns how many were copied.
    pub(crate) fn last_into(&self, k: usize, out: &mut [f32; N]) -> usize {
        let k = k.min(self.len);
        for (j, slot) in out.iter_mut().enumerate().take(k) {
            *slot = self.buf[(self.next + N - 1 - j) % N];
        }
        k
    }

    /// Median of the last `k` samples (`None` when empty).
    pub(crate) fn median_of_last(&self, k: usize) -> Option<f64> {
        let mut tmp = [0.0f32; N];
        let k = self.last_into(k, &mut tmp);
        median_in_place(&mut tmp[..k])
    }

    /// Mean of the last `k` samples (`None` when empty).
    pub(crate) fn mean_of_last(&self, k: usize) -> Option<f64> {
        let k = k.min(self.len);
        if k == 0 {
            return None;
        }
        let sum: f64 = (0..k)
            .map(|j| f64::from(self.buf[(self.next + N - 1 - j) % N]))
            .sum();
        Some(sum / k as f64)
    }
}

/// Median of a small slice, reordering it (upper median for even lengths is averaged).
pub(crate) fn median_in_place(xs: &mut [f32]) -> Option<f64> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, m, _) = xs.select_nth_unstable_by(mid, f32::total_cmp);
    let m = f64::from(*m);
    if n % 2 == 1 {
        return Some(m);
    }
    let below = lower.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    Some(0.5 * (m + f64::from(below)))
}

/// An exponentially weighted mean that starts as a plain running mean, so that early
/// estimates are not biased towards zero: the weight is `max(1/n, alpha)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ewm {
    pub(crate) mean: f64,
    pub(crate) n: u32,
}

impl Ewm {
    pub(crate) const fn new() -> Self {
        Self { mean: 0.0, n: 0 }
    }

    pub(crate) fn update(&mut self, x: f64, alpha: f64) {
        self.n = self.n.saturating_add(1);
        let w = (1.0 / f64::from(self.n)).max(alpha);
        self.mean += w * (x - self.mean);
    }
}

/// Exponentially weighted mean and variance with the same warm-up as [`Ewm`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct EwmVar {
    pub(crate) mean: f64,
    pub(crate) var: f64,
    pub(crate) n: u32,
}

impl EwmVar {
    pub(crate) const fn new() -> Self {
        Self {
            mean: 0.0,
            var: 0.0,
            n: 0,
        }
    }

    pub(crate) fn update(&mut self, x: f64, alpha: f64) {
        self.n = self.n.saturating_add(1);
        let w = (1.0 / f64::from(self.n)).max(alpha);
        let d = x - self.mean;
        self.mean += w * d;
        self.var = (1.0 - w) * (self.var + w * d * d);
    }
}

/// Complementary error function with relative error below 1.2e-7 everywhere, so that it stays
/// accurate deep in the tail (Chebyshev fit from Numerical Recipes, `erfcc`).
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Upper tail probability `P(Z > z)` of a standard normal.
pub(crate) fn normal_tail(z: f64) -> f64 {
    0.5 * erfc(z * std::f64::consts::FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_latest_samples() {
        let mut r = Ring::<4>::new();
        for x in 1..=6 {
            r.push(x as f32);
        }
        assert_eq!(r.median_of_last(3), Some(5.0));
        assert_eq!(r.median_of_last(4), Some(4.5));
        assert_eq!(r.mean_of_last(2), Some(5.5));
    }

    #[test]
    fn normal_tail_is_accurate() {
        assert!((normal_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_tail(1.959_964) - 0.025).abs() < 1e-7);
        assert!((normal_tail(-1.959_964) - 0.975).abs() < 1e-7);
        // Deep tail: relative accuracy matters for the log-likelihood.
        let q = normal_tail(4.264_891);
        assert!((q / 1e-5 - 1.0).abs() < 1e-4, "{q}");
    }

    #[test]
    fn ewm_var_converges() {
        let mut e = EwmVar::new();
        for i in 0..10_000 {
            e.update(if i % 2 == 0 { 1.0 } else { -1.0 }, 0.001);
        }
        assert!(e.mean.abs() < 0.01);
        assert!((e.var - 1.0).abs() < 0.01);
    }
}
