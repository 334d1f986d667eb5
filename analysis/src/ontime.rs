//! 按期结案率下滑: a Bernoulli CUSUM per grid unit and per desk (the assignee who closed it) over
//! its closed cases in closing order, each late (1) or on time (0).
//!
//! Against an in-control late share `p0` (the scope's own over the last days, shrunk towards
//! the city's) the chart looks for `p1 = odds × p0 / (1 − p0 + odds × p0)` (the odds of being
//! late multiplied by `odds`): each case adds its log-likelihood ratio
//! `x·ln(p1/p0) + (1 − x)·ln((1 − p1)/(1 − p0))` and the sum is held at zero from below
//! (Reynolds & Stoumbos). It signals when the sum passes `h`; the run since it last stood at
//! zero is what the warning reports.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

/// Pseudo-cases of the city's late share in each scope's `p0`.
const PRIOR_CASES: f64 = 20.0;
/// Closed cases a scope (and the city) needs in its baseline days before its chart runs: a
/// young city's or a new desk's usual share is not known yet.
const MIN_BASELINE: f64 = 30.0;
/// Late ids a run keeps (the incidents behind a warning).
const RUN_IDS: usize = 50;

/// One scope's chart.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub s: f64,
    /// Closed cases and late ones since the sum last stood at zero, and when that was.
    pub run_n: u32,
    pub run_late: u32,
    pub since_ms: i64,
    pub late_ids: VecDeque<u64>,
    /// The in-control late share the last case was judged against.
    pub p0: f64,
    /// Per day (operators' days): late and closed, the newest `days`.
    days: VecDeque<(i64, u32, u32)>,
}

/// The charts of every scope.
#[derive(Debug, Clone)]
pub struct OnTime {
    pub odds: f64,
    days: i64,
    pub charts: FxHashMap<String, Chart>,
    city: Chart,
    /// Most scopes kept (desks are named by whoever assigns).
    max_scopes: usize,
}

fn push_day(days: &mut VecDeque<(i64, u32, u32)>, day: i64, late: bool, keep: i64) {
    match days.back_mut() {
        Some(d) if d.0 == day => {
            d.1 += u32::from(late);
            d.2 += 1;
        }
        _ => days.push_back((day, u32::from(late), 1)),
    }
    while days.front().is_some_and(|d| d.0 <= day - keep) {
        days.pop_front();
    }
}

/// Late and closed before `day`.
fn before(days: &VecDeque<(i64, u32, u32)>, day: i64) -> (f64, f64) {
    days.iter().filter(|d| d.0 < day).fold((0.0, 0.0), |a, d| (a.0 + f64::from(d.1), a.1 + f64::from(d.2)))
}

impl OnTime {
    pub fn new(odds: f64, days: i64, max_scopes: usize) -> Self {
        Self {
            odds: odds.clamp(1.01, 100.0),
            days: days.clamp(1, 400),
            charts: FxHashMap::default(),
            city: Chart::default(),
            max_scopes,
        }
    }

    /// The city's late share before `day` (0.1 with nothing closed yet).
    fn city_p0(&self, day: i64) -> f64 {
        let (late, n) = before(&self.city.days, day);
        if n < 1.0 { 0.1 } else { late / n }
    }

    /// A case closed on `day` at `t_ms`, `late` or not, counts in each of `scopes`.
    pub fn observe(&mut self, scopes: &[String], id: u64, day: i64, t_ms: i64, late: bool) {
        let known = before(&self.city.days, day).1 >= MIN_BASELINE;
        let city = self.city_p0(day).clamp(0.01, 0.9);
        push_day(&mut self.city.days, day, late, self.days);
        for scope in scopes {
            if !self.charts.contains_key(scope) && self.charts.len() >= self.max_scopes {
                continue;
            }
            let odds = self.odds;
            let keep = self.days;
            let c = self.charts.entry(scope.clone()).or_default();
            let (l, n) = before(&c.days, day);
            if !known || n < MIN_BASELINE {
                push_day(&mut c.days, day, late, keep);
                continue;
            }
            let p0 = ((l + PRIOR_CASES * city) / (n + PRIOR_CASES)).clamp(0.01, 0.9);
            let p1 = odds * p0 / (1.0 - p0 + odds * p0);
            let w = if late { (p1 / p0).ln() } else { ((1.0 - p1) / (1.0 - p0)).ln() };
            c.p0 = p0;
            c.s = (c.s + w).max(0.0);
            if c.s == 0.0 {
                c.run_n = 0;
                c.run_late = 0;
                c.late_ids.clear();
                c.since_ms = t_ms;
            } else {
                c.run_n += 1;
                c.run_late += u32::from(late);
                if late {
                    c.late_ids.push_back(id);
                    if c.late_ids.len() > RUN_IDS {
                        c.late_ids.pop_front();
                    }
                }
            }
            push_day(&mut c.days, day, late, keep);
        }
    }

    /// The share `p1` the chart looks for, against `p0`.
    pub fn p1(&self, p0: f64) -> f64 {
        self.odds * p0 / (1.0 - p0 + self.odds * p0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desk_that_turns_late_signals_and_an_on_time_one_does_not() {
        let mut ot = OnTime::new(2.0, 28, 100);
        let scopes = |s: &str| vec![s.to_owned()];
        let mut id = 0;
        // Four weeks of both desks 10 % late.
        for day in 0..28 {
            for k in 0..10 {
                id += 1;
                ot.observe(&scopes("甲"), id, day, day * 86_400_000 + k, k == 0);
                ot.observe(&scopes("乙"), id, day, day * 86_400_000 + k, k == 0);
            }
        }
        let quiet = ot.charts["甲"].s;
        assert!(quiet < 4.0, "in control: {quiet}");
        // Then 甲 is late one case in two.
        for k in 0..20 {
            id += 1;
            ot.observe(&scopes("甲"), id, 28, 28 * 86_400_000 + k, k % 2 == 0);
            ot.observe(&scopes("乙"), id, 28, 28 * 86_400_000 + k, k % 10 == 0);
        }
        let (a, b) = (&ot.charts["甲"], &ot.charts["乙"]);
        assert!(a.s > 4.0, "甲 signals: {}", a.s);
        assert!(b.s < 4.0, "乙 does not: {}", b.s);
        assert!((a.p0 - 0.1).abs() < 0.01);
        assert!(a.run_late >= 8 && a.late_ids.len() == a.run_late as usize);
        assert!((ot.p1(0.1) - 2.0 * 0.1 / 1.1).abs() < 1e-12);
    }
}
