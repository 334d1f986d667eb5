//! What is normal: expected counts of accepted incidents per grid unit and category, from the
//! unit's own recent history with hour-of-day and weekday seasonality, and the band around them.
//!
//! The model is the log-linear Poisson model `rate(unit, category, t) = daily(unit, category) ×
//! hour(category, hour of t) × weekday(weekday of t)`, fitted by its margins (its maximum
//! likelihood fit): `daily` is the unit's count over the baseline days (plus one, so a unit
//! with no history is not infinitely surprised by its first case) per day; `hour` is the
//! category's share of each hour of day city-wide, shrunk towards all categories' shares;
//! `weekday` is the city's rate on that weekday over its mean rate, shrunk towards 1. The
//! overdispersion φ of each level and category (quasi-Poisson, as Farrington's method) is
//! estimated from the units' daily counts; the band is the negative binomial with that mean
//! and variance φ × mean (Poisson when φ ≤ 1).

use statrs::distribution::{Binomial, DiscreteCDF, NegativeBinomial, Poisson};

pub const HOUR_MS: i64 = 3_600_000;

/// Observed counts above this are not searched for a bound (the band's upper bound is capped).
const MAX_BOUND: u64 = 100_000;

/// A count distribution: what a window's count is expected to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub mean: f64,
    pub phi: f64,
}

impl Band {
    pub fn new(mean: f64, phi: f64) -> Self {
        Self { mean: mean.max(1e-9), phi: if phi.is_finite() { phi.max(1.0) } else { 1.0 } }
    }

    /// P(X > k).
    fn sf(&self, k: u64) -> f64 {
        if self.phi <= 1.000_001 {
            Poisson::new(self.mean).map_or(0.0, |d| d.sf(k))
        } else {
            let r = self.mean / (self.phi - 1.0);
            NegativeBinomial::new(r, 1.0 / self.phi).map_or(0.0, |d| d.sf(k))
        }
    }

    /// P(X ≥ observed): how surprising a count is (1 for 0).
    pub fn p_at_least(&self, observed: u64) -> f64 {
        if observed == 0 { 1.0 } else { self.sf(observed - 1) }
    }

    /// The upper bound at level `alpha`: the least `k` with P(X > k) ≤ alpha.
    pub fn upper(&self, alpha: f64) -> u64 {
        // Doubling then bisection: sf falls as k grows.
        let mut hi = (self.mean * (1.0 + self.phi)).ceil().max(4.0) as u64;
        while self.sf(hi) > alpha && hi < MAX_BOUND {
            hi *= 2;
        }
        let mut lo = 0;
        if self.sf(0) <= alpha {
            return 0;
        }
        // sf(lo) > alpha ≥ sf(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.sf(mid) > alpha { lo = mid } else { hi = mid }
        }
        hi.min(MAX_BOUND)
    }
}

/// The seasonal shape of a category: 24 hour-of-day shares summing to 1.
pub type HourShares = [f64; 24];

/// Shares of `counts` shrunk towards `prior` shares with `weight` pseudo-counts.
pub fn shrunk_shares(counts: &[f64; 24], prior: &HourShares, weight: f64) -> HourShares {
    let n: f64 = counts.iter().sum();
    std::array::from_fn(|h| (counts[h] + weight * prior[h]) / (n + weight))
}

/// Weekday factors (mean 1 over the days counted) from per-weekday counts and days, shrunk
/// towards 1 with `days_prior` days at the mean rate.
pub fn weekday_factors(counts: &[f64; 7], days: &[f64; 7], days_prior: f64) -> [f64; 7] {
    let (n, d): (f64, f64) = (counts.iter().sum(), days.iter().sum());
    if n <= 0.0 || d <= 0.0 {
        return [1.0; 7];
    }
    let mean = n / d;
    std::array::from_fn(|w| (counts[w] + days_prior * mean) / ((days[w] + days_prior) * mean))
}

/// P(X ≥ k) for X ~ Binomial(n, p): how surprising `k` of `n` are for a share `p` (1 for
/// k = 0, 0 for k > n).
pub fn binomial_at_least(n: u64, p: f64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    Binomial::new(p.clamp(0.0, 1.0), n).map_or(1.0, |b| b.sf(k - 1))
}

/// Quasi-Poisson dispersion from (observed, expected) pairs: Σ (o − e)² / e over the pairs,
/// per degree of freedom (`pairs − params`), at least 1 and at most 20. Past bursts are left
/// out, as Farrington's reweighting does: after a first estimate, the pairs more than 2.58
/// standard deviations above their expectation are dropped and it is estimated again (twice).
pub fn dispersion(pairs: impl Iterator<Item = (f64, f64)>, params: usize) -> f64 {
    let pairs: Vec<(f64, f64)> = pairs.filter(|p| p.1 > 0.0).collect();
    let estimate = |phi: Option<f64>| {
        let (mut chi, mut n) = (0.0, 0usize);
        for &(o, e) in &pairs {
            if phi.is_some_and(|phi| (o - e) / (phi * e).sqrt() > 2.58) {
                continue;
            }
            chi += (o - e) * (o - e) / e;
            n += 1;
        }
        if n <= params + 1 { 1.0 } else { (chi / (n - params) as f64).clamp(1.0, 20.0) }
    };
    let mut phi = estimate(None);
    for _ in 0..2 {
        phi = estimate(Some(phi));
    }
    phi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_bound_counts_and_say_how_surprising_they_are() {
        let b = Band::new(2.0, 1.0);
        // Poisson(2): P(X > 7) = 0.00110, P(X > 8) = 0.000237.
        assert_eq!(b.upper(1e-3), 8);
        assert!((b.p_at_least(9) - 0.000237).abs() < 1e-5);
        assert_eq!(b.p_at_least(0), 1.0);
        // Overdispersed: a wider band for the same mean.
        assert!(Band::new(2.0, 3.0).upper(1e-3) > 8);
        assert_eq!(Band::new(0.0, 1.0).upper(1e-3), 0, "nothing expected: any case is beyond");
        assert!(Band::new(1e6, 1.0).upper(1e-3) <= MAX_BOUND);
        // Binomial(10, 0.5): P(X ≥ 9) = 11/1024.
        assert!((binomial_at_least(10, 0.5, 9) - 11.0 / 1024.0).abs() < 1e-12);
        assert_eq!((binomial_at_least(10, 0.5, 0), binomial_at_least(3, 0.5, 4)), (1.0, 0.0));
    }

    #[test]
    fn shares_factors_and_dispersion() {
        let mut c = [0.0; 24];
        c[9] = 10.0;
        let s = shrunk_shares(&c, &[1.0 / 24.0; 24], 24.0);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((s[9] - 11.0 / 34.0).abs() < 1e-12);
        let f = weekday_factors(&[14.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0], &[1.0; 7], 0.0);
        assert!((f[0] - 1.75).abs() < 1e-12 && (f[1] - 0.875).abs() < 1e-12);
        assert_eq!(weekday_factors(&[0.0; 7], &[1.0; 7], 1.0), [1.0; 7]);
        assert_eq!(dispersion([(2.0, 2.0), (3.0, 3.0), (1.0, 1.0)].into_iter(), 0), 1.0);
        let d = dispersion([(0.0, 4.0), (8.0, 4.0), (0.0, 4.0), (8.0, 4.0)].into_iter(), 1);
        assert!((d - 16.0 / 3.0).abs() < 1e-12);
        // One burst among quiet Poisson days does not widen every band.
        let mut pairs: Vec<(f64, f64)> = (0..60).map(|k| (f64::from([1, 2, 3, 2, 2][k % 5]), 2.0)).collect();
        pairs.push((30.0, 2.0));
        assert!(dispersion(pairs.into_iter(), 1) < 1.5);
    }
}
