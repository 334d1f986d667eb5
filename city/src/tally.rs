//! KPI counters (结案率, 按期结案率, 满意率 and their peers) kept as sums, so that what a KPI
//! costs is bounded by the grid, never by the number of incidents ever handled.
//!
//! Each incident contributes a [`Tally`] (one accepted, perhaps closed, on time, rated, …). The
//! [`KpiBook`] keeps the sums per grid unit (the city, each street, community and cell) and per
//! period of [`KpiPeriod`] (all time, this year, quarter, month, day, in the operators' time
//! zone), updated with each workflow event: O(1) per event. An incident counts in the periods of
//! the day it was accepted (受理); "closed today" counts by the day it closed.
//!
//! What the book changes is handed to the store as [`DayTally`] rows (one per day and cell), so
//! a restart reads the current periods back from at most a year of day rows and the all-time
//! sums from one row per cell, whatever the age of the city; past periods stay in the store.
//! Open incidents are live work: the overdue count is taken from them when asked.

use gridwall_protocol::{KpiPeriod, Kpis};
use gridwall_scene::grids::GridUnit;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::workflow::Case;

pub const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: f64 = 60_000.0;
const PERIODS: usize = KpiPeriod::ALL.len();

/// One incident's part in the KPIs, or a sum of such parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Accepted (受理).
    pub total: i64,
    pub closed: i64,
    /// Closed with no stage ever past its deadline.
    pub on_time: i64,
    /// Closed with a satisfaction rating.
    pub rated: i64,
    /// Rated 4 or 5.
    pub satisfied: i64,
    /// Sum of acceptance → closing (ms) over the closed ones.
    pub handling_ms: i64,
    /// Closed after at least one rework (审核不通过, 返工).
    #[serde(default)]
    pub reworked: i64,
    /// Ran past a stage's deadline at some point, open or closed (超期).
    #[serde(default)]
    pub overdue: i64,
}

impl Tally {
    /// The stores' column names of [`Tally::counters`], in order.
    pub const COLUMNS: [&'static str; 8] =
        ["total", "closed", "on_time", "rated", "satisfied", "handling_ms", "reworked", "overdue"];

    /// What one case counts for.
    pub fn of(case: &Case) -> Self {
        let mut t = Self { total: 1, overdue: i64::from(case.ever_overdue), ..Self::default() };
        if let Some(closed) = case.closed_ms {
            t.closed = 1;
            t.reworked = i64::from(case.reworks > 0);
            t.on_time = i64::from(!case.ever_overdue);
            t.handling_ms = closed - case.created_ms;
            if let Some(s) = case.satisfaction {
                t.rated = 1;
                t.satisfied = i64::from(s >= 4);
            }
        }
        t
    }

    /// Adds `o` times `sign` (1 or -1).
    pub fn add(&mut self, o: &Self, sign: i64) {
        self.total += sign * o.total;
        self.closed += sign * o.closed;
        self.on_time += sign * o.on_time;
        self.rated += sign * o.rated;
        self.satisfied += sign * o.satisfied;
        self.handling_ms += sign * o.handling_ms;
        self.reworked += sign * o.reworked;
        self.overdue += sign * o.overdue;
    }

    /// The counters in the order the stores keep them ([`Tally::COLUMNS`]).
    pub fn counters(&self) -> [i64; 8] {
        [
            self.total,
            self.closed,
            self.on_time,
            self.rated,
            self.satisfied,
            self.handling_ms,
            self.reworked,
            self.overdue,
        ]
    }

    /// A tally from its counters in [`Tally::COLUMNS`] order.
    pub fn from_counters(c: [i64; 8]) -> Self {
        let [total, closed, on_time, rated, satisfied, handling_ms, reworked, overdue] = c;
        Self { total, closed, on_time, rated, satisfied, handling_ms, reworked, overdue }
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// The KPIs of these sums, with the two figures that are not sums of accepted incidents.
    pub fn kpis(&self, closed_today: u64, overdue: u64) -> Kpis {
        let n = |v: i64| v.max(0) as u64;
        let ratio = |a: i64, b: i64| if b <= 0 { 0.0 } else { a as f64 / b as f64 };
        Kpis {
            total: n(self.total),
            open: n(self.total - self.closed),
            closed: n(self.closed),
            closed_today,
            overdue,
            closure_rate: ratio(self.closed, self.total),
            on_time_rate: ratio(self.on_time, self.closed),
            satisfaction_rate: ratio(self.satisfied, self.rated),
            mean_handling_min: if self.closed <= 0 {
                0.0
            } else {
                self.handling_ms as f64 / MINUTE_MS / self.closed as f64
            },
        }
    }
}

/// What changed in one cell's counters of one day: incidents accepted that day (`tally`) and
/// incidents closed that day (`closed_in`). The store adds these up (`kpi_days`, `kpi_all`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTally {
    /// Days since 1970-01-01 in the operators' time zone.
    pub day: i64,
    /// The cell code; empty for a point in no cell.
    pub grid: String,
    pub tally: Tally,
    pub closed_in: i64,
}

/// The day rows of one incident as it now is: its tally on the day it was accepted, and its
/// closing on the day it closed (what a history written in one go counts).
pub fn day_rows(grid: &str, case: &Case, utc_offset_ms: i64) -> Vec<DayTally> {
    rows_of(grid, Tally::of(case), case.created_ms, case.closed_ms, utc_offset_ms)
}

/// The rows of a change: `tally` (when not zero) on the day of `created_ms`, and a closing on
/// the day of `closed_ms` (one row when both are the same day).
fn rows_of(grid: &str, tally: Tally, created_ms: i64, closed_ms: Option<i64>, utc_offset_ms: i64) -> Vec<DayTally> {
    let mut rows = Vec::with_capacity(2);
    if !tally.is_zero() {
        let day = local_day(created_ms, utc_offset_ms);
        rows.push(DayTally { day, grid: grid.to_owned(), tally, closed_in: 0 });
    }
    if let Some(closed) = closed_ms {
        let day = local_day(closed, utc_offset_ms);
        match rows.iter_mut().find(|r| r.day == day) {
            Some(r) => r.closed_in += 1,
            None => rows.push(DayTally { day, grid: grid.to_owned(), tally: Tally::default(), closed_in: 1 }),
        }
    }
    rows
}

/// The day rows of many incidents summed per day and cell (their tallies together are the
/// all-time rows: each incident's lies in the row of the day it was accepted). A history
/// written in one go, or a store counted once, carries these.
#[derive(Debug, Default)]
pub struct DayRows {
    days: FxHashMap<(i64, String), (Tally, i64)>,
}

impl DayRows {
    pub fn add(&mut self, grid: &str, case: &Case, utc_offset_ms: i64) {
        for r in day_rows(grid, case, utc_offset_ms) {
            let e = self.days.entry((r.day, r.grid)).or_default();
            e.0.add(&r.tally, 1);
            e.1 += r.closed_in;
        }
    }

    /// The rows, by day and cell.
    pub fn into_rows(self) -> Vec<DayTally> {
        let mut rows: Vec<DayTally> = self
            .days
            .into_iter()
            .map(|((day, grid), (tally, closed_in))| DayTally { day, grid, tally, closed_in })
            .collect();
        rows.sort_unstable_by(|a, b| (a.day, &a.grid).cmp(&(b.day, &b.grid)));
        rows
    }
}

/// The day number of a moment in a time zone `utc_offset_ms` ahead of UTC.
pub fn local_day(t_ms: i64, utc_offset_ms: i64) -> i64 {
    (t_ms + utc_offset_ms).div_euclid(DAY_MS)
}

/// (year, month 1–12, day 1–31) of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Which instance of a period a day falls in (equal numbers: the same year, quarter, …).
pub fn bucket(period: KpiPeriod, day: i64) -> i64 {
    let (y, m, _) = civil_from_days(day);
    let m0 = i64::from(m) - 1;
    match period {
        KpiPeriod::All => 0,
        KpiPeriod::Year => y,
        KpiPeriod::Quarter => y * 4 + m0 / 3,
        KpiPeriod::Month => y * 12 + m0,
        KpiPeriod::Day => day,
    }
}

/// The first day of the year `day` is in.
pub fn year_start(day: i64) -> i64 {
    days_from_civil(civil_from_days(day).0, 1, 1)
}

/// The oldest day row a restart at `now_ms` needs (the current periods': this year's).
pub fn since_day(now_ms: i64, utc_offset_ms: i64) -> i64 {
    year_start(local_day(now_ms, utc_offset_ms))
}

/// What the book holds for one unit and period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sums {
    /// The incidents accepted in the period.
    pub tally: Tally,
    /// Incidents closed today (whenever accepted).
    pub closed_today: u64,
    /// Of the period's open incidents, those that ran late and were escalated for it.
    pub late: u64,
}

/// The counters of the current periods per grid unit.
#[derive(Debug, Clone)]
pub struct KpiBook {
    utc_offset_ms: i64,
    /// Each grid code's unit, and the units it counts in (itself and its parents, then the city).
    chains: FxHashMap<String, Vec<u32>>,
    /// The instance of each period now.
    current: [i64; PERIODS],
    /// Per unit (0: the city): the sums of incidents accepted in each current period.
    accepted: Vec<[Tally; PERIODS]>,
    /// Per unit: incidents closed in each current period.
    closed_in: Vec<[i64; PERIODS]>,
    /// Per unit: open incidents accepted in each current period that ran late (and were
    /// escalated for it): 超期在办 without looking at every open incident.
    late: Vec<[i64; PERIODS]>,
}

/// Whether a case counts as 超期在办 once the server's escalation has seen it.
fn is_late(case: &Case) -> i64 {
    i64::from(case.is_open() && case.ever_overdue)
}

impl KpiBook {
    /// An empty book for a scene's grid units, "now" being `now_ms`.
    pub fn new(grids: &[GridUnit], utc_offset_ms: i64, now_ms: i64) -> Self {
        let index: FxHashMap<&str, usize> = grids.iter().enumerate().map(|(i, g)| (g.code.as_str(), i)).collect();
        let mut chains = FxHashMap::default();
        for g in grids {
            let mut chain = Vec::new();
            let mut at = Some(g.code.as_str());
            // Parents nest; the bound guards a scene whose parents loop.
            while let Some(code) = at.filter(|_| chain.len() < 8) {
                let Some(&i) = index.get(code) else { break };
                chain.push(i as u32 + 1);
                at = grids[i].parent.as_deref();
            }
            chain.push(0);
            chains.insert(g.code.clone(), chain);
        }
        let day = local_day(now_ms, utc_offset_ms);
        Self {
            utc_offset_ms,
            chains,
            current: KpiPeriod::ALL.map(|p| bucket(p, day)),
            accepted: vec![[Tally::default(); PERIODS]; grids.len() + 1],
            closed_in: vec![[0; PERIODS]; grids.len() + 1],
            late: vec![[0; PERIODS]; grids.len() + 1],
        }
    }

    /// Starts the periods that began since the last call (a new day, month, …) empty. Only
    /// forwards: an event stamped a moment before a midnight that was already passed (the
    /// simulator's, a warm-up's) does not take the book back.
    pub fn roll(&mut self, now_ms: i64) {
        let day = local_day(now_ms, self.utc_offset_ms);
        for (k, p) in KpiPeriod::ALL.into_iter().enumerate() {
            let b = bucket(p, day);
            if b > self.current[k] {
                self.current[k] = b;
                self.accepted.iter_mut().for_each(|u| u[k] = Tally::default());
                self.closed_in.iter_mut().for_each(|u| u[k] = 0);
                self.late.iter_mut().for_each(|u| u[k] = 0);
            }
        }
    }

    /// The units a cell's incidents count in (a point in no cell: the city's only). Owned: the
    /// counters it indexes are changed while it is walked.
    fn chain(&self, grid: &str) -> Vec<u32> {
        self.chains.get(grid).map_or_else(|| vec![0], Clone::clone)
    }

    /// Adds one day row to the current periods it falls in (`all`: to the all-time sums too).
    fn add_day(&mut self, row: &DayTally, all: bool) {
        let chain = self.chain(&row.grid);
        for (k, p) in KpiPeriod::ALL.into_iter().enumerate() {
            if (p == KpiPeriod::All && !all) || bucket(p, row.day) != self.current[k] {
                continue;
            }
            for &u in &chain {
                self.accepted[u as usize][k].add(&row.tally, 1);
                self.closed_in[u as usize][k] += row.closed_in;
            }
        }
    }

    /// A case changed from `old` (none: it is new) to `new` in cell `grid`: the counters follow,
    /// and the rows for the store are returned.
    pub fn count(&mut self, grid: &str, old: Option<&Case>, new: &Case, now_ms: i64) -> Vec<DayTally> {
        self.roll(now_ms);
        let mut tally = Tally::of(new);
        if let Some(old) = old {
            tally.add(&Tally::of(old), -1);
        }
        let newly_closed = new.closed_ms.filter(|_| old.is_none_or(|o| o.closed_ms.is_none()));
        let rows = rows_of(grid, tally, new.created_ms, newly_closed, self.utc_offset_ms);
        for r in &rows {
            self.add_day(r, true);
        }
        let late = is_late(new) - old.map_or(0, is_late);
        if late != 0 {
            self.add_late(grid, new.created_ms, late);
        }
        rows
    }

    /// Adds `n` to the late open incidents of the current periods a case accepted at
    /// `created_ms` counts in.
    fn add_late(&mut self, grid: &str, created_ms: i64, n: i64) {
        let day = local_day(created_ms, self.utc_offset_ms);
        let chain = self.chain(grid);
        for (k, p) in KpiPeriod::ALL.into_iter().enumerate() {
            if bucket(p, day) == self.current[k] {
                for &u in &chain {
                    self.late[u as usize][k] += n;
                }
            }
        }
    }

    /// An open incident read back at a restart (its tally is in the day rows already).
    pub fn note_open(&mut self, grid: &str, case: &Case) {
        let late = is_late(case);
        if late != 0 {
            self.add_late(grid, case.created_ms, late);
        }
    }

    /// Fills the book from the store: the all-time sums per cell and the day rows since
    /// [`since_day`].
    pub fn restore(&mut self, all: &[(String, Tally)], days: &[DayTally], now_ms: i64) {
        self.roll(now_ms);
        self.accepted.iter_mut().for_each(|u| *u = [Tally::default(); PERIODS]);
        self.closed_in.iter_mut().for_each(|u| *u = [0; PERIODS]);
        self.late.iter_mut().for_each(|u| *u = [0; PERIODS]);
        let k_all = KpiPeriod::All as usize;
        for (grid, t) in all {
            for u in self.chain(grid) {
                self.accepted[u as usize][k_all].add(t, 1);
            }
        }
        for d in days {
            self.add_day(d, false);
        }
    }

    /// The counters of a unit (`None`: the city) for a period as of `now_ms`. `None` for a code
    /// that is no grid unit.
    pub fn sums(&self, scope: Option<&str>, period: KpiPeriod, now_ms: i64) -> Option<Sums> {
        let unit = match scope {
            None => 0,
            Some(code) => *self.chains.get(code)?.first()?,
        } as usize;
        let day = local_day(now_ms, self.utc_offset_ms);
        // A period that began after the last count has nothing in it yet.
        let k = period as usize;
        let current = bucket(period, day) <= self.current[k];
        let kd = KpiPeriod::Day as usize;
        Some(Sums {
            tally: if current { self.accepted[unit][k] } else { Tally::default() },
            closed_today: if day <= self.current[kd] { self.closed_in[unit][kd].max(0) as u64 } else { 0 },
            late: if current { self.late[unit][k].max(0) as u64 } else { 0 },
        })
    }

    /// Whether an incident accepted at `created_ms` counts in `period` now.
    pub fn in_period(&self, period: KpiPeriod, created_ms: i64, now_ms: i64) -> bool {
        let off = self.utc_offset_ms;
        bucket(period, local_day(created_ms, off)) == bucket(period, local_day(now_ms, off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Action, TimeLimits, compute_kpis};
    use gridwall_protocol::IncidentCategory;

    #[test]
    fn civil_dates_round_trip() {
        for d in [-800_000, -1, 0, 59, 60, 11_016, 20_454, 20_819, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(days_from_civil(2026, 12, 6) - days_from_civil(2026, 1, 1), 339);
        let d = days_from_civil(2026, 8, 15);
        assert_eq!(bucket(KpiPeriod::Quarter, d), bucket(KpiPeriod::Quarter, days_from_civil(2026, 7, 1)));
        assert_ne!(bucket(KpiPeriod::Quarter, d), bucket(KpiPeriod::Quarter, days_from_civil(2026, 6, 30)));
        assert_eq!(year_start(d), days_from_civil(2026, 1, 1));
    }

    #[test]
    fn the_book_counts_by_acceptance_and_starts_each_period_empty() {
        let limits = TimeLimits::default();
        let off = 8 * 3_600_000;
        // 2026-06-30 23:00 local, an hour before a new quarter.
        let t0 = (days_from_civil(2026, 6, 30) * DAY_MS) - off + 23 * 3_600_000;
        let unit = |level, code: &str, parent: Option<&str>| GridUnit {
            level,
            code: code.into(),
            name: code.into(),
            parent: parent.map(Into::into),
            shape: geo::MultiPolygon::new(Vec::new()),
        };
        use gridwall_protocol::GridLevel as L;
        let grids =
            vec![unit(L::Street, "s1", None), unit(L::Community, "m1", Some("s1")), unit(L::Cell, "c1", Some("m1"))];
        let mut book = KpiBook::new(&grids, off, t0);
        let mut case = Case::accept(IncidentCategory::Garbage, t0, "12345", &limits);
        let rows = book.count("c1", None, &case, t0);
        assert_eq!(rows.len(), 1);
        let s = book.sums(Some("s1"), KpiPeriod::Quarter, t0).unwrap();
        assert_eq!((s.tally.total, s.closed_today), (1, 0));
        // Late (its dispatch deadline passes at midnight, in the new quarter): escalated, it
        // counts as 超期在办 since the start, and no more once closed.
        let on_time = case.clone();
        let d = case.deadline_ms.unwrap();
        case.escalate_if_overdue(d + 1_000, &limits);
        let late_rows = book.count("c1", Some(&on_time), &case, d + 1_000);
        assert_eq!(late_rows.len(), 1, "超期 counted on its day of acceptance");
        assert_eq!((late_rows[0].tally.overdue, late_rows[0].tally.total, late_rows[0].closed_in), (1, 0, 0));
        assert_eq!(book.sums(Some("m1"), KpiPeriod::All, d + 1_000).unwrap().late, 1);
        assert_eq!(book.sums(Some("m1"), KpiPeriod::Quarter, d + 1_000).unwrap().late, 0, "accepted last quarter");
        // Closed two hours later: in the new quarter, the new day.
        let before = case.clone();
        let t1 = t0 + 2 * 3_600_000;
        for a in [
            Action::Dispatch { assignee: "P".into() },
            Action::Resolve,
            Action::ReviewPass,
            Action::Close { satisfaction: 5 },
        ] {
            case.apply(&a, "x", "", t1, &limits).unwrap();
        }
        let rows = book.count("c1", Some(&before), &case, t1);
        assert_eq!(rows.iter().map(|r| r.closed_in).sum::<i64>(), 1);
        assert_eq!(rows.len(), 2, "accepted yesterday, closed today: two days' rows");
        // This quarter accepted nothing; all time counts it closed; today closed one.
        let q = book.sums(None, KpiPeriod::Quarter, t1).unwrap();
        assert_eq!((q.tally.total, q.closed_today), (0, 1));
        let all = book.sums(Some("m1"), KpiPeriod::All, t1).unwrap();
        assert_eq!(all.late, 0);
        assert_eq!(all.tally.kpis(1, 0), compute_kpis([&case], t1, t1 - 3_600_000));
        assert!(book.sums(Some("nowhere"), KpiPeriod::All, t1).is_none());

        // A book restored from the rows agrees.
        let mut again = KpiBook::new(&grids, off, t1);
        let mut days = Vec::new();
        let mut c = Case::accept(IncidentCategory::Garbage, t0, "12345", &limits);
        days.extend(KpiBook::new(&grids, off, t0).count("c1", None, &c, t0));
        let open = c.clone();
        c = case.clone();
        days.extend(KpiBook::new(&grids, off, t1).count("c1", Some(&open), &c, t1));
        again.restore(&[("c1".into(), Tally::of(&case))], &days, t1);
        for p in KpiPeriod::ALL {
            assert_eq!(again.sums(Some("s1"), p, t1), book.sums(Some("s1"), p, t1), "{p}");
        }
        // An event stamped a moment before the midnight already passed does not take the book
        // back to yesterday (and wipe today).
        let late_news = Case::accept(IncidentCategory::Noise, t0 + 1_000, "12345", &limits);
        book.count("c1", None, &late_news, t0 + 1_000);
        assert_eq!(book.sums(None, KpiPeriod::Day, t1).unwrap().closed_today, 1);
        assert_eq!(book.sums(None, KpiPeriod::All, t1).unwrap().tally.total, 2);
    }
}
