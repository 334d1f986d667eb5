//! Accepted incidents counted per cell × category × source × hour for the recent weeks (the
//! baseline and the trends read them), the newest days' incidents one by one (the sliding
//! windows and repeated places), and the fit of what is normal from them.
//!
//! Memory is bounded by the weeks kept, never by the city's age: a sparse row per hour, cell,
//! category and source that had a case (8 bytes), and one entry per incident of the newest
//! days (BENCHMARKS.md, "研判").

use std::collections::VecDeque;

use gridwall_protocol::{GridLevel, IncidentCategory, IncidentSource};
use rustc_hash::FxHashMap;

use crate::baseline::{self, Band, HOUR_MS, HourShares};
use crate::daily::{DAY_MS, Days};
use crate::periods::weekday;
use crate::units::Units;

const CATEGORIES: usize = IncidentCategory::ALL.len();

/// One accepted incident as the analysis sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intaken {
    pub id: u64,
    pub t_ms: i64,
    /// Its cell's unit (0: in no cell).
    pub cell: u32,
    pub category: IncidentCategory,
    pub source: IncidentSource,
    pub place: [f64; 2],
}

/// Count of one hour (or day), cell, category and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub cell: u32,
    pub category: u8,
    pub source: u8,
    pub n: u16,
}

/// A count as the readers see it: (hour or day, cell, category, source, count).
pub type Counted = (i64, u32, IncidentCategory, IncidentSource, u32);

impl Row {
    /// The row at hour or day `at` (none for a category or source this build does not know).
    fn at(self, at: i64) -> Option<Counted> {
        Some((
            at,
            self.cell,
            IncidentCategory::from_index(self.category)?,
            IncidentSource::from_index(self.source)?,
            u32::from(self.n),
        ))
    }
}

/// The counts kept.
#[derive(Debug, Clone)]
pub struct Intake {
    utc_offset_ms: i64,
    /// Hours kept (the baseline's days and a day more).
    keep_hours: i64,
    /// The hour number (ms / `HOUR_MS`) of `hours[0]`.
    first_hour: i64,
    hours: VecDeque<Vec<Row>>,
    /// Incidents of the newest `recent_ms`, oldest first.
    recent: VecDeque<Intaken>,
    recent_ms: i64,
    /// The newest incident id counted (rows come again with each change; each counts once).
    pub max_id: u64,
    /// Incidents counted, and the earliest hour one was accepted in (the history known).
    pub counted: u64,
    first_data_hour: i64,
    /// The recent incidents by category and square of `place_m` (a place's neighbours are in
    /// the 3 × 3 squares around it).
    places: FxHashMap<(u8, i64, i64), Vec<(i64, u64, [f64; 2])>>,
    place_m: f64,
    /// The days before the hours kept.
    days: Days,
}

impl Intake {
    pub fn new(utc_offset_ms: i64, keep_days: i64, recent_days: i64, place_m: f64) -> Self {
        Self {
            utc_offset_ms,
            keep_hours: keep_days.clamp(1, 400) * 24 + 24,
            first_hour: i64::MIN,
            hours: VecDeque::new(),
            recent: VecDeque::new(),
            recent_ms: recent_days.clamp(1, 60) * 86_400_000,
            max_id: 0,
            counted: 0,
            first_data_hour: i64::MAX,
            places: FxHashMap::default(),
            place_m: place_m.max(1.0),
            days: Days::new(400),
        }
    }

    /// Keeps daily counts for `days` days (the hours kept included).
    #[must_use]
    pub fn with_history_days(mut self, days: i64) -> Self {
        self.days = Days::new(days);
        self
    }

    /// The operators' day of an hour number.
    pub fn day_of(&self, hour: i64) -> i64 {
        (hour * HOUR_MS + self.utc_offset_ms).div_euclid(DAY_MS)
    }

    /// The first hour number of an operators' day.
    pub fn first_hour_of(&self, day: i64) -> i64 {
        (day * DAY_MS - self.utc_offset_ms).div_euclid(HOUR_MS)
    }

    /// Counts of a day before the hours kept, read from the store at a start (a day the hours
    /// still hold in part gets only its older part this way).
    pub fn add_day(&mut self, day: i64, rows: Vec<Row>) {
        self.days.add(day, rows);
    }

    /// Counts an incident accepted at `i.t_ms` (once: ids at or under [`Intake::max_id`] were).
    pub fn add(&mut self, i: Intaken) {
        if i.id <= self.max_id {
            return;
        }
        self.max_id = i.id;
        let hour = i.t_ms.div_euclid(HOUR_MS);
        self.first_data_hour = self.first_data_hour.min(hour);
        self.counted += 1;
        self.advance(hour);
        let (category, source) = (i.category.index(), i.source.index());
        if hour >= self.first_hour {
            let rows = &mut self.hours[(hour - self.first_hour) as usize];
            match rows.iter_mut().find(|r| r.cell == i.cell && r.category == category && r.source == source) {
                Some(r) => r.n = r.n.saturating_add(1),
                None => rows.push(Row { cell: i.cell, category, source, n: 1 }),
            }
        } else {
            // Older than the hours kept: its day's count.
            self.days.add(self.day_of(hour), vec![Row { cell: i.cell, category, source, n: 1 }]);
        }
        // Kept in time order (a late one goes in its place; rare).
        let at = self.recent.iter().rposition(|r| r.t_ms <= i.t_ms).map_or(0, |p| p + 1);
        self.recent.insert(at, i);
        self.places.entry(self.square(i.category, i.place)).or_default().push((i.t_ms, i.id, i.place));
    }

    fn square(&self, category: IncidentCategory, p: [f64; 2]) -> (u8, i64, i64) {
        (category.index(), (p[0] / self.place_m).floor() as i64, (p[1] / self.place_m).floor() as i64)
    }

    /// The ids of the recent incidents of `category` accepted at or after `since_ms` within
    /// `r` metres (at most the square size) of `p`.
    pub fn near(&self, category: IncidentCategory, p: [f64; 2], r: f64, since_ms: i64) -> Vec<u64> {
        let (c, gx, gy) = self.square(category, p);
        let mut out = Vec::new();
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &(t, id, q) in self.places.get(&(c, gx + dx, gy + dy)).map_or(&[][..], Vec::as_slice) {
                    if t >= since_ms && (q[0] - p[0]).hypot(q[1] - p[1]) <= r {
                        out.push(id);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// How many recent incidents of any category were accepted at or after `since_ms` within
    /// `r` metres (at most the square size) of `p`.
    pub fn count_near_any(&self, p: [f64; 2], r: f64, since_ms: i64) -> usize {
        IncidentCategory::ALL.iter().map(|&c| self.near(c, p, r, since_ms).len()).sum()
    }

    /// Moves the kept hours forward to hold `hour`, dropping what falls out.
    pub fn advance(&mut self, hour: i64) {
        if self.first_hour == i64::MIN {
            self.first_hour = hour - self.keep_hours + 1;
        }
        let last = self.first_hour + self.hours.len() as i64 - 1;
        if hour.saturating_sub(last) >= self.keep_hours {
            // A jump past everything kept (a clock set forward): start the hours afresh
            // rather than push that many empty ones.
            for (k, rows) in std::mem::take(&mut self.hours).into_iter().enumerate() {
                self.days.add(self.day_of(self.first_hour + k as i64), rows);
            }
            self.first_hour = hour - self.keep_hours + 1;
        }
        let last = self.first_hour + self.hours.len() as i64 - 1;
        for _ in last.max(self.first_hour - 1)..hour {
            self.hours.push_back(Vec::new());
        }
        while self.hours.len() as i64 > self.keep_hours {
            let rows = self.hours.pop_front().expect("longer than kept");
            self.days.add(self.day_of(self.first_hour), rows);
            self.first_hour += 1;
        }
        let cut = hour.saturating_mul(HOUR_MS).saturating_sub(self.recent_ms);
        while let Some(old) = self.recent.front().copied().filter(|r| r.t_ms < cut) {
            self.recent.pop_front();
            let key = self.square(old.category, old.place);
            if let Some(v) = self.places.get_mut(&key) {
                v.retain(|e| e.1 != old.id);
                if v.is_empty() {
                    self.places.remove(&key);
                }
            }
        }
    }

    /// The incidents accepted at or after `since_ms`, oldest first.
    pub fn since(&self, since_ms: i64) -> impl Iterator<Item = &Intaken> {
        let start = self.recent.partition_point(|r| r.t_ms < since_ms);
        self.recent.range(start..)
    }

    /// The first hour with counts kept.
    pub fn first_hour(&self) -> i64 {
        self.first_hour
    }

    /// Per hour from `from_hour` to `to_hour` (exclusive) that is kept: (hour, cell, category,
    /// source, count).
    pub fn rows(&self, from_hour: i64, to_hour: i64) -> impl Iterator<Item = Counted> + '_ {
        let from = (from_hour - self.first_hour).max(0) as usize;
        let to = ((to_hour - self.first_hour).max(0) as usize).min(self.hours.len());
        (from..to.max(from)).flat_map(move |k| {
            let hour = self.first_hour + k as i64;
            self.hours[k].iter().filter_map(move |r| r.at(hour))
        })
    }

    /// Per operators' day from `from_day` to `to_day` (exclusive), from the days kept and the
    /// hours kept: (day, cell, category, source, count).
    pub fn daily(&self, from_day: i64, to_day: i64) -> impl Iterator<Item = Counted> + '_ {
        let days = self.days.rows(from_day, to_day).filter_map(|(day, r)| r.at(day));
        let hours = self
            .rows(self.first_hour_of(from_day), self.first_hour_of(to_day))
            .map(|(hour, cell, c, s, n)| (self.day_of(hour), cell, c, s, n));
        days.chain(hours)
    }

    /// The first day with counts kept, daily or hourly (none: nothing counted yet).
    pub fn first_day(&self) -> Option<i64> {
        self.days.first_day().or_else(|| (self.first_hour != i64::MIN).then(|| self.day_of(self.first_hour)))
    }

    /// Day rows kept (for BENCHMARKS.md).
    pub fn day_rows(&self) -> usize {
        self.days.len()
    }

    /// Bytes the counts take (for BENCHMARKS.md).
    pub fn bytes(&self) -> usize {
        self.days.bytes()
            + self.hours.iter().map(|h| h.capacity() * size_of::<Row>() + size_of::<Vec<Row>>()).sum::<usize>()
            + self.recent.capacity() * size_of::<Intaken>()
            + self.places.values().map(|v| v.capacity() * 32 + 48).sum::<usize>()
    }

    /// Hour of day (0–23) and weekday (0 = Monday) of an hour number, in the operators' time.
    pub fn local(&self, hour: i64) -> (usize, usize) {
        let local = hour * HOUR_MS + self.utc_offset_ms;
        let day = local.div_euclid(86_400_000);
        ((local.rem_euclid(86_400_000) / HOUR_MS) as usize, weekday(day) as usize)
    }

    /// The fit of what is normal for the units at `levels` from the hours `[from, to)`.
    pub fn fit(&self, units: &Units, levels: &[GridLevel], from_hour: i64, to_hour: i64) -> Seasonal {
        // Only the hours since the first incident counted are history (a young city's
        // baseline is as long as its past, not the window's length).
        let from_hour = from_hour.max(self.first_hour).max(self.first_data_hour.min(to_hour));
        let hours = (to_hour - from_hour).max(0);
        let days = hours as f64 / 24.0;
        let watched: Vec<bool> = (0..units.len() as u32).map(|u| levels.contains(&units.get(u).level)).collect();
        let mut total: FxHashMap<(u32, u8), f64> = FxHashMap::default();
        // Per (unit, category): counts per local day (for the dispersion).
        let mut daily: FxHashMap<(u32, u8, i64), f64> = FxHashMap::default();
        let mut by_hour = [[0.0; 24]; CATEGORIES];
        let mut by_weekday = [0.0; 7];
        let mut weekday_days = [0.0; 7];
        for h in from_hour..to_hour {
            weekday_days[self.local(h).1] += 1.0 / 24.0;
        }
        for (hour, cell, category, _, n) in self.rows(from_hour, to_hour) {
            let (hod, wd) = self.local(hour);
            let n = f64::from(n);
            by_hour[category.index() as usize][hod] += n;
            by_weekday[wd] += n;
            let day = (hour * HOUR_MS + self.utc_offset_ms).div_euclid(86_400_000);
            for &u in units.chain(cell) {
                if watched[u as usize] {
                    *total.entry((u, category.index())).or_default() += n;
                    *daily.entry((u, category.index(), day)).or_default() += n;
                }
            }
        }
        let all: [f64; 24] = std::array::from_fn(|h| by_hour.iter().map(|c| c[h]).sum());
        let all_shares = baseline::shrunk_shares(&all, &[1.0 / 24.0; 24], 24.0);
        let shares: Vec<HourShares> = by_hour.iter().map(|c| baseline::shrunk_shares(c, &all_shares, 24.0)).collect();
        let weekday = baseline::weekday_factors(&by_weekday, &weekday_days, 1.0);
        let mut fit = Seasonal {
            days,
            total,
            shares,
            weekday,
            phi: FxHashMap::default(),
            utc_offset_ms: self.utc_offset_ms,
            from_hour,
            to_hour,
        };
        // Dispersion per level and category from every watched unit's whole days.
        let first_day = (from_hour * HOUR_MS + self.utc_offset_ms + 86_399_999).div_euclid(86_400_000);
        let last_day = (to_hour * HOUR_MS + self.utc_offset_ms).div_euclid(86_400_000);
        let mut pairs: FxHashMap<(GridLevel, u8), Vec<(f64, f64)>> = FxHashMap::default();
        let mut units_at: FxHashMap<(GridLevel, u8), usize> = FxHashMap::default();
        for (&(u, c), &n) in &fit.total {
            let level = units.get(u).level;
            *units_at.entry((level, c)).or_default() += 1;
            let Some(category) = IncidentCategory::from_index(c) else { continue };
            for day in first_day..last_day {
                let start = day * 86_400_000 - self.utc_offset_ms;
                let e = fit.expected_raw(n, category, start, start + 86_400_000);
                let o = daily.get(&(u, c, day)).copied().unwrap_or(0.0);
                pairs.entry((level, c)).or_default().push((o, e));
            }
        }
        for (key, p) in pairs {
            fit.phi.insert(key, baseline::dispersion(p.into_iter(), units_at[&key]));
        }
        fit
    }
}

/// The fitted model of what is normal (see [`crate::baseline`]).
#[derive(Debug, Clone, Default)]
pub struct Seasonal {
    /// Days the fit covers.
    pub days: f64,
    total: FxHashMap<(u32, u8), f64>,
    shares: Vec<HourShares>,
    weekday: [f64; 7],
    phi: FxHashMap<(GridLevel, u8), f64>,
    utc_offset_ms: i64,
    pub from_hour: i64,
    pub to_hour: i64,
}

impl Seasonal {
    /// The expected count of `category` in `[from_ms, to_ms)` for a unit that had `n` in the
    /// fitted days (its count plus one: see [`crate::baseline`]).
    pub fn expected_for(&self, n: f64, category: IncidentCategory, from_ms: i64, to_ms: i64) -> f64 {
        self.expected_raw(n, category, from_ms, to_ms)
    }

    /// The dispersion of a level's counts of a category (1: Poisson).
    pub fn phi(&self, level: GridLevel, category: IncidentCategory) -> f64 {
        self.phi.get(&(level, category.index())).copied().unwrap_or(1.0)
    }

    fn expected_raw(&self, n: f64, category: IncidentCategory, from_ms: i64, to_ms: i64) -> f64 {
        if self.days <= 0.0 || self.shares.is_empty() {
            return 0.0;
        }
        let daily = n / self.days;
        let shares = &self.shares[category.index() as usize];
        let mut sum = 0.0;
        let mut t = from_ms;
        while t < to_ms {
            let hour_end = (t.div_euclid(HOUR_MS) + 1) * HOUR_MS;
            let part = (hour_end.min(to_ms) - t) as f64 / HOUR_MS as f64;
            let local = t + self.utc_offset_ms;
            let hod = (local.rem_euclid(86_400_000) / HOUR_MS) as usize;
            let wd = weekday(local.div_euclid(86_400_000)) as usize;
            sum += daily * shares[hod] * self.weekday[wd] * part;
            t = hour_end;
        }
        sum
    }

    /// The expected count of `category` in unit `u` over `[from_ms, to_ms)`: its baseline
    /// count plus one (see [`crate::baseline`]).
    pub fn expected(&self, u: u32, category: IncidentCategory, from_ms: i64, to_ms: i64) -> f64 {
        let n = self.total.get(&(u, category.index())).copied().unwrap_or(0.0) + 1.0;
        self.expected_raw(n, category, from_ms, to_ms)
    }

    /// The band of a unit's count over `[from_ms, to_ms)`.
    pub fn band(&self, u: u32, level: GridLevel, category: IncidentCategory, from_ms: i64, to_ms: i64) -> Band {
        Band::new(self.expected(u, category, from_ms, to_ms), self.phi(level, category))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::tests::square_grid;

    #[test]
    fn counts_each_incident_once_and_keeps_the_recent_weeks() {
        let units = Units::new(&square_grid(2));
        let cell = units.find("s-c-0-0").unwrap();
        let mut intake = Intake::new(0, 2, 1, 30.0);
        let at = |id, t_ms| Intaken {
            id,
            t_ms,
            cell,
            category: IncidentCategory::Garbage,
            source: IncidentSource::Hotline,
            place: [0.0, 0.0],
        };
        let t0 = 1_000 * HOUR_MS;
        intake.add(at(1, t0));
        intake.add(at(1, t0));
        intake.add(at(2, t0 + 10));
        assert_eq!(intake.rows(1_000, 1_001).map(|r| r.4).sum::<u32>(), 2, "id 1 counted once");
        intake.add(at(3, t0 + 80 * HOUR_MS));
        assert_eq!(intake.rows(0, 2_000).map(|r| r.4).sum::<u32>(), 1, "two days and a day kept");
        assert_eq!(intake.since(0).count(), 1, "a day of single incidents kept");
        // A clock set years forward: the kept hours start afresh, no years of empty ones.
        intake.advance(1_000 + 10 * 365 * 24);
        assert_eq!(intake.hours.len() as i64, intake.keep_hours);
        intake.advance(i64::MAX / HOUR_MS);
        assert!(intake.hours.len() as i64 <= intake.keep_hours);
    }

    #[test]
    fn a_steady_unit_is_expected_at_its_own_rate() {
        let units = Units::new(&square_grid(2));
        let cell = units.find("s-c-0-0").unwrap();
        let community = units.find("s-c").unwrap();
        let mut intake = Intake::new(0, 28, 1, 30.0);
        // Two garbage reports every day at 09:00 for 28 days.
        let mut id = 0;
        for day in 0..28 {
            for _ in 0..2 {
                id += 1;
                intake.add(Intaken {
                    id,
                    t_ms: day * 86_400_000 + 9 * HOUR_MS,
                    cell,
                    category: IncidentCategory::Garbage,
                    source: IncidentSource::Hotline,
                    place: [0.0, 0.0],
                });
            }
        }
        let fit = intake.fit(&units, &[GridLevel::Community], 0, 28 * 24);
        let day = 28 * 86_400_000;
        let whole = fit.expected(community, IncidentCategory::Garbage, day, day + 86_400_000);
        // The history starts with the first report (day 0, 09:00), not with the window.
        assert_eq!(fit.days, (28.0 * 24.0 - 9.0) / 24.0);
        assert!((whole / (57.0 / fit.days) - 1.0).abs() < 0.1, "{whole}");
        let nine = fit.expected(community, IncidentCategory::Garbage, day + 9 * HOUR_MS, day + 10 * HOUR_MS);
        let three = fit.expected(community, IncidentCategory::Garbage, day + 3 * HOUR_MS, day + 4 * HOUR_MS);
        assert!(nine > 20.0 * three, "09:00 is when it happens: {nine} vs {three}");
        let band = fit.band(community, GridLevel::Community, IncidentCategory::Garbage, day, day + 86_400_000);
        assert!(band.upper(1e-3) >= 5 && band.p_at_least(12) < 1e-4, "{band:?}");
    }
}
