//! Trends for the 研判 panel: a unit's hourly (or, past the hours kept, daily) counts with what
//! the baseline expected and the band's upper bound, and the category, source and weekday × hour
//! breakdowns of the same span.

use gridwall_protocol::api::analysis::{DeviationAnswer, HotspotAnswer, TrendAnswer, TrendPoint, UnitDeviation};
use gridwall_protocol::{GridLevel, IncidentCategory, IncidentSource};

use std::sync::Arc;

use crate::baseline::{Band, HOUR_MS};
use crate::daily::DAY_MS;
use crate::warn::Engine;

/// Most hours one trend covers (the counts kept bound it further).
pub const MAX_HOURS: i64 = 24 * 400;

impl Engine {
    /// The last `hours` hours up to `now_ms` of unit `u` (the city: 0), of one category or all:
    /// hourly while the hours kept cover the span, else per operators' day (from the days kept,
    /// up to `history_days`). The weekday × hour calendar comes from the span's hours kept.
    pub fn trend(&mut self, u: u32, category: Option<IncidentCategory>, hours: i64, now_ms: i64) -> TrendAnswer {
        let fit = self.fit(now_ms);
        let hours = hours.clamp(1, MAX_HOURS);
        let now_hour = now_ms.div_euclid(HOUR_MS);
        let hourly = hours <= now_hour - self.intake.first_hour() + 1;
        // The buckets: the first one's start (hour or day number), how many, their length.
        let (from, to, bucket_ms) = if hourly {
            (now_hour - hours + 1, now_hour + 1, HOUR_MS)
        } else {
            let today = self.intake.day_of(now_hour);
            let first = self.intake.first_day().unwrap_or(today);
            ((today - (hours + 23) / 24 + 1).max(first), today + 1, DAY_MS)
        };
        let start_ms = |k: i64| if hourly { k * HOUR_MS } else { self.intake.first_hour_of(k) * HOUR_MS };
        let under: Vec<bool> = (0..self.units.len() as u32).map(|c| self.units.chain(c).contains(&u)).collect();
        let wanted = |c: IncidentCategory| category.is_none_or(|k| k == c);
        let mut observed = vec![0u32; (to - from).max(0) as usize];
        let mut by_category = [0u32; IncidentCategory::ALL.len()];
        let mut by_source = [0u32; IncidentSource::ALL.len()];
        let rows: Box<dyn Iterator<Item = _>> =
            if hourly { Box::new(self.intake.rows(from, to)) } else { Box::new(self.intake.daily(from, to)) };
        for (k, cell, c, s, n) in rows {
            if !under[cell as usize] {
                continue;
            }
            by_category[c.index() as usize] += n;
            if wanted(c) {
                observed[(k - from) as usize] += n;
                by_source[s.index() as usize] += n;
            }
        }
        // The calendar from the hours kept in the span.
        let mut weekday_hour = vec![[0u32; 24]; 7];
        let first_hour = start_ms(from).div_euclid(HOUR_MS).max(self.intake.first_hour());
        for (hour, cell, c, _, n) in self.intake.rows(first_hour, now_hour + 1) {
            if under[cell as usize] && wanted(c) {
                let (hod, wd) = self.intake.local(hour);
                weekday_hour[wd][hod] += n;
            }
        }
        // The unit's own baseline counts per category, over the fit's hours.
        let mut base = [0.0f64; IncidentCategory::ALL.len()];
        for (_, cell, c, _, n) in self.intake.rows(fit.from_hour, fit.to_hour) {
            if under[cell as usize] {
                base[c.index() as usize] += f64::from(n);
            }
        }
        let level = self.units.get(u).level;
        let alpha = self.config.alpha[0];
        let points = observed
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                let t = start_ms(from + k as i64);
                // Today's expectation runs to now: the day is not over.
                let end = if hourly { t + HOUR_MS } else { start_ms(from + k as i64 + 1).min(now_ms.max(t + 1)) };
                let (mut mean, mut var) = (0.0, 0.0);
                for c in IncidentCategory::ALL.into_iter().filter(|&c| wanted(c)) {
                    let e = fit.expected_for(base[c.index() as usize] + 1.0, c, t, end);
                    mean += e;
                    var += e * fit.phi(level, c);
                }
                let phi = if mean > 0.0 { var / mean } else { 1.0 };
                let upper = if fit.days > 0.0 { Band::new(mean, phi).upper(alpha) as f64 } else { 0.0 };
                TrendPoint { t_ms: t, observed: n, expected: mean, upper }
            })
            .collect();
        let unit = self.units.get(u);
        TrendAnswer {
            scope: (u != 0).then(|| unit.code.clone()),
            name: unit.name.clone(),
            category,
            bucket_ms,
            points,
            by_category: IncidentCategory::ALL.into_iter().zip(by_category).filter(|p| p.1 > 0).collect(),
            by_source: IncidentSource::ALL.into_iter().zip(by_source).filter(|p| p.1 > 0).collect(),
            weekday_hour,
        }
    }
}

impl Engine {
    /// Every unit of `level` (one the baseline is fitted at, else `None`) over the last `hours`
    /// hours up to `now_ms`: its count of all categories, the count expected and the band's upper
    /// bound at the first level. One pass over the kept rows of those hours.
    pub fn deviation(&mut self, level: GridLevel, hours: i64, now_ms: i64) -> Option<DeviationAnswer> {
        if !self.config.levels.contains(&level) {
            return None;
        }
        let hours = hours.clamp(1, 24 * 7);
        let fit = self.fit(now_ms);
        let now_hour = now_ms.div_euclid(HOUR_MS);
        let (from, to) = (now_hour - hours + 1, now_hour + 1);
        let units = Arc::clone(&self.units);
        // Each cell's unit of the level (its place in `chosen`).
        let chosen: Vec<u32> = units.at_level(level).collect();
        let slot: rustc_hash::FxHashMap<u32, usize> = chosen.iter().enumerate().map(|(k, &u)| (u, k)).collect();
        let of_cell = |cell: u32| units.chain(cell).iter().find_map(|a| slot.get(a).copied());
        let mut observed = vec![0u32; chosen.len()];
        for (_, cell, _, _, n) in self.intake.rows(from.max(self.intake.first_hour()), to) {
            if let Some(k) = of_cell(cell) {
                observed[k] = observed[k].saturating_add(n);
            }
        }
        let (from_ms, to_ms) = (from * HOUR_MS, now_ms.max(from * HOUR_MS + 1));
        let alpha = self.config.alpha[0];
        let list = chosen
            .iter()
            .zip(observed)
            .filter_map(|(&u, observed)| {
                let (mut mean, mut var) = (0.0, 0.0);
                for c in IncidentCategory::ALL {
                    let e = fit.expected(u, c, from_ms, to_ms);
                    mean += e;
                    var += e * fit.phi(level, c);
                }
                if observed == 0 && mean <= 0.0 {
                    return None;
                }
                let phi = if mean > 0.0 { var / mean } else { 1.0 };
                let upper = if fit.days > 0.0 { Band::new(mean, phi).upper(alpha) as f64 } else { 0.0 };
                Some(UnitDeviation { code: units.get(u).code.clone(), observed, expected: mean, upper })
            })
            .collect();
        Some(DeviationAnswer { level, hours: hours as u32, to_ms, units: list })
    }

    /// The emerging hot spot layer of the `hotspot_days` whole days before today (operators'
    /// time), of one category or all: the cells in a category other than none.
    pub fn hotspots(&mut self, category: Option<IncidentCategory>, now_ms: i64) -> HotspotAnswer {
        self.intake.advance(now_ms.div_euclid(HOUR_MS));
        let day_ms = 86_400_000;
        let today = (now_ms + self.utc_offset()).div_euclid(day_ms);
        let days = self.config.hotspot_days;
        let first = today - days;
        let cells = self.units.cells().to_vec();
        let at: rustc_hash::FxHashMap<u32, usize> = cells.iter().enumerate().map(|(k, &c)| (c, k)).collect();
        let mut counts = vec![vec![0.0f64; cells.len()]; days as usize];
        let from_hour = (first * day_ms - self.utc_offset()).div_euclid(HOUR_MS);
        let to_hour = (today * day_ms - self.utc_offset()).div_euclid(HOUR_MS);
        for (hour, cell, c, _, n) in self.intake.rows(from_hour, to_hour) {
            if category.is_some_and(|k| k != c) {
                continue;
            }
            let day = (hour * HOUR_MS + self.utc_offset()).div_euclid(day_ms) - first;
            if let (Some(&k), true) = (at.get(&cell), (0..days).contains(&day)) {
                counts[day as usize][k] += f64::from(n);
            }
        }
        let neighbours: Vec<Vec<u32>> = (0..cells.len()).map(|i| self.units.neighbours(i).to_vec()).collect();
        let codes: Vec<String> = cells.iter().map(|&c| self.units.get(c).code.clone()).collect();
        let cells = crate::hotspot::emerging(&counts, &neighbours, &codes)
            .into_iter()
            .filter(|t| t.class != gridwall_protocol::HotspotClass::None)
            .collect();
        HotspotAnswer {
            category,
            first_day: crate::periods::iso(first),
            last_day: crate::periods::iso(today - 1),
            days: days as u32,
            computed_ms: now_ms,
            cells,
        }
    }
}
