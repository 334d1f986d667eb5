//! The indicators of digital city-management evaluations (CJ/T 292 style) from the KPI counters
//! (`gridwall_city::tally::Tally`), a weighted 综合指标, and the ranking of grid units by it
//! (一季一排名, 红黑榜). The formulas are listed in the README ("研判").

use gridwall_city::tally::Tally;
use gridwall_protocol::GridLevel;
use gridwall_protocol::api::analysis::{Indicators, RankEntry};
use serde::{Deserialize, Serialize};

use crate::units::Units;

/// `[analysis.weights]`: the parts of the 综合指标 and their weights, and the handling time that
/// scores full marks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// 结案率.
    pub closure: f64,
    /// 按期结案率.
    pub on_time: f64,
    /// 1 − 返工率.
    pub rework: f64,
    /// 1 − 超期率.
    pub overdue: f64,
    /// 满意率.
    pub satisfaction: f64,
    /// min(1, target ÷ 平均处置时长).
    pub handling: f64,
    /// The mean handling time (minutes) at or under which the handling part scores 1.
    pub handling_target_min: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            closure: 0.25,
            on_time: 0.25,
            rework: 0.1,
            overdue: 0.15,
            satisfaction: 0.15,
            handling: 0.1,
            handling_target_min: 240.0,
        }
    }
}

impl Weights {
    /// Whether every weight is a finite number ≥ 0, some are > 0, and the target is > 0.
    pub fn is_valid(&self) -> bool {
        let w = [self.closure, self.on_time, self.rework, self.overdue, self.satisfaction, self.handling];
        w.iter().all(|v| v.is_finite() && *v >= 0.0)
            && w.iter().sum::<f64>() > 0.0
            && self.handling_target_min.is_finite()
            && self.handling_target_min > 0.0
    }
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a.max(0) as f64 / b as f64)
}

/// The indicators of a tally.
pub fn indicators(t: &Tally, w: &Weights) -> Indicators {
    let n = |v: i64| v.max(0) as u64;
    let mean_handling_min = (t.closed > 0).then(|| t.handling_ms as f64 / 60_000.0 / t.closed as f64);
    let mut i = Indicators {
        total: n(t.total),
        closed: n(t.closed),
        on_time: n(t.on_time),
        reworked: n(t.reworked),
        overdue: n(t.overdue),
        rated: n(t.rated),
        satisfied: n(t.satisfied),
        closure_rate: ratio(t.closed, t.total),
        on_time_rate: ratio(t.on_time, t.closed),
        rework_rate: ratio(t.reworked, t.closed),
        overdue_rate: ratio(t.overdue, t.total),
        satisfaction_rate: ratio(t.satisfied, t.rated),
        mean_handling_min,
        score: None,
    };
    let handling = mean_handling_min.map(|m| if m <= 0.0 { 1.0 } else { (w.handling_target_min / m).min(1.0) });
    let parts = [
        (w.closure, i.closure_rate),
        (w.on_time, i.on_time_rate),
        (w.rework, i.rework_rate.map(|r| 1.0 - r)),
        (w.overdue, i.overdue_rate.map(|r| 1.0 - r)),
        (w.satisfaction, i.satisfaction_rate),
        (w.handling, handling),
    ];
    let (sum, weight) = parts
        .iter()
        .filter_map(|&(w, s)| s.filter(|_| w > 0.0).map(|s| (w * s, w)))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    i.score = (weight > 0.0).then(|| 100.0 * sum / weight);
    i
}

/// Per unit of `units`: the sums of the cells' tallies `rows` (grid code, tally) in its chain
/// (a code the scene does not have counts for the city only).
pub fn roll_up<'a>(units: &Units, rows: impl IntoIterator<Item = (&'a str, &'a Tally)>) -> Vec<Tally> {
    let mut sums = vec![Tally::default(); units.len()];
    for (grid, t) in rows {
        for &u in units.chain_of(grid) {
            sums[u as usize].add(t, 1);
        }
    }
    sums
}

/// The units of `level` with at least `min_cases` accepted, best 综合指标 first (ties: more
/// closed first, then by code), numbered from 1.
pub fn rank(units: &Units, level: GridLevel, sums: &[Tally], w: &Weights, min_cases: u64) -> Vec<RankEntry> {
    ranked(
        units.at_level(level).map(|u| {
            let unit = units.get(u);
            (unit.code.as_str(), unit.name.as_str(), &sums[u as usize])
        }),
        w,
        min_cases,
    )
}

/// The desks (the patrols and departments cases were assigned to) ranked like grid units: a
/// desk's code and name are its name.
pub fn rank_desks(rows: &[(String, Tally)], w: &Weights, min_cases: u64) -> Vec<RankEntry> {
    ranked(rows.iter().map(|(desk, t)| (desk.as_str(), desk.as_str(), t)), w, min_cases)
}

/// Ranks (code, name, counters) by 综合指标: those with at least `min_cases` accepted, best
/// first (ties: more closed first, then by code), numbered from 1.
fn ranked<'a>(
    items: impl Iterator<Item = (&'a str, &'a str, &'a Tally)>,
    w: &Weights,
    min_cases: u64,
) -> Vec<RankEntry> {
    let mut entries: Vec<RankEntry> = items
        .filter_map(|(code, name, t)| {
            let ind = indicators(t, w);
            let score = ind.score.filter(|_| ind.total >= min_cases.max(1))?;
            Some(RankEntry {
                rank: 0,
                previous_rank: None,
                change: None,
                code: code.to_owned(),
                name: name.to_owned(),
                score,
                indicators: ind,
            })
        })
        .collect();
    entries.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then(b.indicators.closed.cmp(&a.indicators.closed)).then(a.code.cmp(&b.code))
    });
    for (i, e) in entries.iter_mut().enumerate() {
        e.rank = i as u32 + 1;
    }
    entries
}

/// Fills each entry's previous rank and the places it gained, from the previous period's
/// ranking.
pub fn with_changes(mut now: Vec<RankEntry>, before: &[RankEntry]) -> Vec<RankEntry> {
    let by_code: rustc_hash::FxHashMap<&str, &RankEntry> = before.iter().map(|b| (b.code.as_str(), b)).collect();
    for e in &mut now {
        if let Some(b) = by_code.get(e.code.as_str()) {
            e.previous_rank = Some(b.rank);
            e.change = Some(i64::from(b.rank) - i64::from(e.rank));
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::tests::square_grid;

    fn tally(total: i64, closed: i64, on_time: i64, reworked: i64, overdue: i64, rated: i64, satisfied: i64) -> Tally {
        Tally { total, closed, on_time, rated, satisfied, handling_ms: closed * 120 * 60_000, reworked, overdue }
    }

    #[test]
    fn indicators_equal_a_hand_computation() {
        // 20 accepted, 16 closed (12 on time, 2 reworked), 5 ever late, 10 rated (8 satisfied),
        // 120 minutes each on average.
        let t = tally(20, 16, 12, 2, 5, 10, 8);
        let w = Weights::default();
        let i = indicators(&t, &w);
        assert_eq!(i.closure_rate, Some(0.8));
        assert_eq!(i.on_time_rate, Some(0.75));
        assert_eq!(i.rework_rate, Some(0.125));
        assert_eq!(i.overdue_rate, Some(0.25));
        assert_eq!(i.satisfaction_rate, Some(0.8));
        assert_eq!(i.mean_handling_min, Some(120.0));
        // 100 × (0.25·0.8 + 0.25·0.75 + 0.1·0.875 + 0.15·0.75 + 0.15·0.8 + 0.1·1) / 1.0
        let hand = 100.0 * (0.2 + 0.1875 + 0.0875 + 0.1125 + 0.12 + 0.1);
        assert!((i.score.unwrap() - hand).abs() < 1e-9, "{:?} vs {hand}", i.score);
        // Nothing closed: the parts over closed cases are left out, not counted as zero.
        let open = indicators(&tally(4, 0, 0, 0, 1, 0, 0), &w);
        assert_eq!((open.on_time_rate, open.mean_handling_min), (None, None));
        let hand = 100.0 * (0.25 * 0.0 + 0.15 * 0.75) / 0.4;
        assert!((open.score.unwrap() - hand).abs() < 1e-9);
        assert_eq!(indicators(&Tally::default(), &w).score, None);
        assert!(!Weights { closure: -1.0, ..w.clone() }.is_valid());
    }

    #[test]
    fn rankings_order_units_and_say_how_they_moved() {
        let units = Units::new(&square_grid(2));
        let w = Weights::default();
        let rows = [
            ("s-c-0-0", tally(10, 10, 10, 0, 0, 10, 10)),
            ("s-c-0-1", tally(10, 5, 2, 1, 6, 5, 2)),
            ("s-c-1-0", tally(10, 8, 7, 0, 1, 8, 7)),
            ("s-c-1-1", tally(1, 1, 1, 0, 0, 1, 1)),
        ];
        let sums = roll_up(&units, rows.iter().map(|(g, t)| (*g, t)));
        assert_eq!(sums[0].total, 31);
        assert_eq!(sums[units.find("s-c").unwrap() as usize].closed, 24);
        let now = rank(&units, GridLevel::Cell, &sums, &w, 5);
        let order: Vec<&str> = now.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(order, ["s-c-0-0", "s-c-1-0", "s-c-0-1"], "s-c-1-1 has too few cases to rank");
        let before_rows = [("s-c-0-0", tally(10, 2, 1, 1, 5, 2, 0)), ("s-c-0-1", tally(10, 10, 10, 0, 0, 10, 10))];
        let before = rank(&units, GridLevel::Cell, &roll_up(&units, before_rows.iter().map(|(g, t)| (*g, t))), &w, 5);
        let now = with_changes(now, &before);
        let moves: Vec<(Option<u32>, Option<i64>)> = now.iter().map(|e| (e.previous_rank, e.change)).collect();
        assert_eq!(moves, [(Some(2), Some(1)), (None, None), (Some(1), Some(-2))]);
    }

    #[test]
    fn desks_rank_by_their_own_cases() {
        let w = Weights::default();
        let rows = vec![
            ("市政养护".to_owned(), tally(20, 12, 4, 3, 14, 10, 5)),
            ("网格员李四".to_owned(), tally(8, 8, 8, 0, 0, 8, 8)),
            ("环卫所".to_owned(), tally(30, 29, 27, 1, 3, 25, 22)),
            ("网格员王五".to_owned(), tally(2, 2, 2, 0, 0, 2, 2)),
        ];
        let ranked = rank_desks(&rows, &w, 5);
        let order: Vec<&str> = ranked.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(order, ["网格员李四", "环卫所", "市政养护"], "王五 has too few cases to rank");
        assert_eq!(ranked[2].indicators.on_time_rate, Some(4.0 / 12.0));
        assert_eq!(ranked[0].code, ranked[0].name);
    }
}
