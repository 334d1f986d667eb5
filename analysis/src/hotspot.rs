//! Emerging hot spots (新增/持续/加剧… 热点): each cell's daily counts of the last days, Getis-Ord
//! Gi* per day over the cells that touch (and the cell itself, binary weights), then the
//! Mann-Kendall trend of each cell's daily z-scores, classified as `ArcGIS` Pro's Emerging Hot Spot
//! Analysis does (its documentation, "How Emerging Hot Spot Analysis works"). A day's bin is hot
//! at z ≥ 1.96 and cold at z ≤ −1.96 (two-sided 95 %); a trend is significant at p < 0.05.
//!
//! Checked against `PySAL` (`esda.G_Local`, `pymannkendall`) on a fixture
//! (`tools/hotspot_reference.py`, `analysis/tests/hotspots.json`).

use gridwall_protocol::HotspotClass;
use gridwall_protocol::api::analysis::HotspotCell;
use statrs::distribution::{ContinuousCDF, Normal};

/// z of a significant hot (or, negated, cold) bin.
pub const Z_SIGNIFICANT: f64 = 1.96;

/// Gi* z-scores of one day's counts `x` (one per cell) with `neighbours[i]` the cells touching
/// cell `i` (the cell itself is added): `(Σⱼ wᵢⱼxⱼ − x̄Wᵢ) / (S √((nWᵢ − Wᵢ²)/(n − 1)))` with
/// binary weights, `x̄` and `S` the mean and standard deviation over all `n` cells.
pub fn gi_star(x: &[f64], neighbours: &[Vec<u32>]) -> Vec<f64> {
    let n = x.len() as f64;
    if x.len() < 2 {
        return vec![0.0; x.len()];
    }
    let mean = x.iter().sum::<f64>() / n;
    let s = (x.iter().map(|v| v * v).sum::<f64>() / n - mean * mean).max(0.0).sqrt();
    (0..x.len())
        .map(|i| {
            let w = neighbours[i].len() as f64 + 1.0;
            let sum = x[i] + neighbours[i].iter().map(|&j| x[j as usize]).sum::<f64>();
            let den = s * ((n * w - w * w) / (n - 1.0)).max(0.0).sqrt();
            if den > 0.0 { (sum - mean * w) / den } else { 0.0 }
        })
        .collect()
}

/// The Mann-Kendall test of a series: its z (with the tie correction and the continuity
/// correction) and two-sided p.
pub fn mann_kendall(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    if n < 3 {
        return (0.0, 1.0);
    }
    let mut s = 0.0f64;
    for i in 0..n {
        for j in i + 1..n {
            s += (x[j] - x[i]).signum() * f64::from(u8::from(x[j] != x[i]));
        }
    }
    // Ties: groups of equal values.
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut k = 0;
    while k < n {
        let mut m = k + 1;
        while m < n && sorted[m] == sorted[k] {
            m += 1;
        }
        let t = (m - k) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        k = m;
    }
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let z = if var <= 0.0 {
        0.0
    } else if s > 0.0 {
        (s - 1.0) / var.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var.sqrt()
    } else {
        0.0
    };
    let normal = Normal::standard();
    (z, 2.0 * (1.0 - normal.cdf(z.abs())))
}

/// The category of a cell from its daily z-scores (oldest first) and their trend.
pub fn classify(z: &[f64], trend_z: f64, trend_p: f64) -> HotspotClass {
    use HotspotClass as C;
    let hot: Vec<bool> = z.iter().map(|&v| v >= Z_SIGNIFICANT).collect();
    let cold: Vec<bool> = z.iter().map(|&v| v <= -Z_SIGNIFICANT).collect();
    let significant = trend_p < 0.05;
    // Hot spots, then (mirrored) cold ones.
    let kinds = [
        (
            &hot,
            &cold,
            trend_z > 0.0,
            [
                C::NewHot,
                C::ConsecutiveHot,
                C::IntensifyingHot,
                C::DiminishingHot,
                C::PersistentHot,
                C::OscillatingHot,
                C::SporadicHot,
                C::HistoricalHot,
            ],
        ),
        (
            &cold,
            &hot,
            trend_z < 0.0,
            [
                C::NewCold,
                C::ConsecutiveCold,
                C::IntensifyingCold,
                C::DiminishingCold,
                C::PersistentCold,
                C::OscillatingCold,
                C::SporadicCold,
                C::HistoricalCold,
            ],
        ),
    ];
    for (
        spot,
        other,
        rising,
        [new, consecutive, intensifying, diminishing, persistent, oscillating, sporadic, historical],
    ) in kinds
    {
        let n = spot.len();
        if n == 0 {
            return C::None;
        }
        let count = spot.iter().filter(|&&v| v).count();
        let share = count as f64 / n as f64;
        let last = spot[n - 1];
        if last {
            if count == 1 {
                return new;
            }
            let run = spot.iter().rev().take_while(|&&v| v).count();
            if run >= 2 && run == count && share < 0.9 {
                return consecutive;
            }
            if share >= 0.9 {
                return match (significant, rising) {
                    (true, true) => intensifying,
                    (true, false) => diminishing,
                    _ => persistent,
                };
            }
            return if other.iter().any(|&v| v) { oscillating } else { sporadic };
        }
        if share >= 0.9 {
            return historical;
        }
    }
    C::None
}

/// Every cell's category from `days[t][i]`, the count of cell `i` on day `t` (oldest first),
/// with `codes[i]` its grid code.
pub fn emerging(days: &[Vec<f64>], neighbours: &[Vec<u32>], codes: &[String]) -> Vec<HotspotCell> {
    let z: Vec<Vec<f64>> = days.iter().map(|d| gi_star(d, neighbours)).collect();
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let series: Vec<f64> = z.iter().map(|d| d[i]).collect();
            let (trend_z, trend_p) = mann_kendall(&series);
            HotspotCell {
                code: code.clone(),
                class: classify(&series, trend_z, trend_p),
                z: series.last().copied().unwrap_or(0.0),
                trend_z,
                trend_p,
                hot_days: series.iter().filter(|&&v| v >= Z_SIGNIFICANT).count() as u32,
                cold_days: series.iter().filter(|&&v| v <= -Z_SIGNIFICANT).count() as u32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Units;
    use crate::units::tests::square_grid;

    #[test]
    fn categories_equal_pysal_on_the_fixture() {
        let text = include_str!("../tests/hotspots.json");
        let f: serde_json::Value = serde_json::from_str(text).unwrap();
        let n = f["n"].as_u64().unwrap() as usize;
        let units = Units::new(&square_grid(n));
        // Our cells in lattice order (row-major, as libpysal's lat2W numbers them).
        let order: Vec<usize> = (0..n * n)
            .map(|k| {
                let code = format!("s-c-{}-{}", k / n, k % n);
                units.cells().iter().position(|&c| units.get(c).code == code).unwrap()
            })
            .collect();
        let neighbours: Vec<Vec<u32>> = order
            .iter()
            .map(|&i| {
                units
                    .neighbours(i)
                    .iter()
                    .map(|&j| order.iter().position(|&o| o == j as usize).unwrap() as u32)
                    .collect()
            })
            .collect();
        let days: Vec<Vec<f64>> = f["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d.as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                    .collect()
            })
            .collect();
        let codes: Vec<String> = (0..n * n).map(|k| format!("s-c-{}-{}", k / n, k % n)).collect();
        let got = emerging(&days, &neighbours, &codes);
        let mut seen = std::collections::BTreeSet::new();
        for (k, want) in f["cells"].as_array().unwrap().iter().enumerate() {
            let g = &got[k];
            let close = |a: f64, b: &serde_json::Value, what: &str| {
                assert!((a - b.as_f64().unwrap()).abs() < 1e-6, "cell {k} {what}: {a} vs {b}");
            };
            close(g.z, &want["z"], "Gi* z");
            close(g.trend_z, &want["trend_z"], "trend z");
            close(g.trend_p, &want["trend_p"], "trend p");
            assert_eq!(g.class.key(), want["class"].as_str().unwrap(), "cell {k}");
            seen.insert(g.class.key());
        }
        assert!(seen.len() >= 8, "the fixture exercises most categories: {seen:?}");
    }

    #[test]
    fn mann_kendall_of_simple_series() {
        let (z, p) = mann_kendall(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        // S = 10, Var = 5·4·15/18: z = (S − 1) / √Var.
        assert!((z - 9.0 / (300.0f64 / 18.0).sqrt()).abs() < 1e-12, "{z}");
        assert!(p < 0.05);
        assert_eq!(mann_kendall(&[2.0, 2.0, 2.0]).0, 0.0);
        assert_eq!(classify(&[0.0, 0.0, 2.5], 1.0, 0.3), HotspotClass::NewHot);
        assert_eq!(classify(&[2.5; 10], 0.0, 0.9), HotspotClass::PersistentHot);
        assert_eq!(classify(&[0.0; 10], 0.0, 0.9), HotspotClass::None);
    }
}
