//! A seeded past for a city: days of tickets, each with its whole workflow (受理 → 分派 → 办结 →
//! 审核 → 回访, with late stages and their escalation, rework and ratings), as the store keeps
//! them, fast enough to write a year of a megacity in minutes (`gridwall-server synth-history`).
//! Benchmarks and tests use it to run the live side on a city with years behind it.
//!
//! Tickets follow the simulator's category and source mix and daily rhythm; each lands at a
//! random point of the scene, in the cell there. Steps that would happen after `end_ms` do not
//! happen: the newest tickets are still open, as in a real centre at that moment.

use gridwall_city::records::IncidentRow;
use gridwall_city::tally::{DAY_MS, DayRows, DayTally, local_day};
use gridwall_city::workflow::{Action, Case, TimeLimits};
use gridwall_city::world::World;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::city::{CATEGORY_MIX, DAILY_RHYTHM, SOURCE_MIX, on_site_min, pick};

const MINUTE_MS: i64 = 60_000;

/// What past to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryConfig {
    pub seed: u64,
    /// Days before `end_ms`.
    pub days: u32,
    /// Tickets a day (on average: each day's count varies by ±10 %).
    pub per_day: u32,
    /// Now: the history ends here.
    pub end_ms: i64,
    /// The operators' time zone (days, and the daily rhythm, are theirs).
    pub utc_offset_ms: i64,
    /// The first incident id.
    pub first_id: u64,
}

/// One day of history: its incidents (in id and time order) and their KPI rows.
#[derive(Debug, Clone, Default)]
pub struct HistoryDay {
    pub incidents: Vec<IncidentRow>,
    pub tally: Vec<DayTally>,
}

/// The days of a seeded history, oldest first.
pub struct History<'w> {
    world: &'w World,
    config: HistoryConfig,
    rng: ChaCha8Rng,
    /// The local day made next, and the last one.
    day: i64,
    last_day: i64,
    next_id: u64,
}

impl<'w> History<'w> {
    pub fn new(world: &'w World, config: HistoryConfig) -> Self {
        let last_day = local_day(config.end_ms, config.utc_offset_ms);
        Self {
            world,
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            day: last_day - i64::from(config.days) + 1,
            last_day,
            next_id: config.first_id.max(1),
        }
    }

    /// How many days are left to make.
    pub fn days_left(&self) -> i64 {
        (self.last_day - self.day + 1).max(0)
    }

    /// A point of the scene, in a cell where one is found.
    fn place(&mut self) -> ([f64; 2], String) {
        let [x0, y0, x1, y1] = self.world.manifest.bounds.local;
        let mut p = [x0, y0];
        for _ in 0..16 {
            p = [self.rng.random_range(x0..=x1), self.rng.random_range(y0..=y1)];
            if let Some(cell) = self.world.cell_at(p) {
                return (p, cell.code.clone());
            }
        }
        (p, String::new())
    }

    /// One ticket accepted at `t`, its workflow run up to `end_ms`.
    fn ticket(&mut self, id: u64, t: i64) -> IncidentRow {
        let limits: TimeLimits = self.world.limits.clone();
        let category = pick(&mut self.rng, &CATEGORY_MIX.map(|c| (c.0, c.1)));
        let on_site = on_site_min(category).unwrap_or(30);
        let source = pick(&mut self.rng, &SOURCE_MIX);
        let (pos, grid) = self.place();
        let l = limits.for_category(category);
        let mut case = Case::accept(category, t, source.name_zh(), &limits);
        let end = self.config.end_ms;
        let rng = &mut self.rng;
        // Minutes as a share of a limit: mostly in time, some late.
        let mut within = |limit: u32, late_share: f64| -> i64 {
            let limit = f64::from(limit.max(1));
            let share =
                if rng.random_bool(late_share) { rng.random_range(1.05..2.5) } else { rng.random_range(0.05..0.9) };
            ((limit * share) as i64).max(1) * MINUTE_MS
        };
        let mut at = t;
        let mut steps: Vec<(i64, Action, String)> = Vec::new();
        let patrol = format!("P-{}", id % 997);
        at += within(l.dispatch_min, 0.08);
        steps.push((at, Action::Dispatch { assignee: patrol.clone() }, "指挥中心".into()));
        at += within(l.resolve_min, 0.06).max(i64::from(on_site) * MINUTE_MS);
        steps.push((at, Action::Resolve, patrol.clone()));
        at += within(l.review_min, 0.04);
        if self.rng.random_bool(0.1) {
            steps.push((at, Action::ReviewReject, "审核员".into()));
            at += self.rng.random_range(20..90) * MINUTE_MS;
            steps.push((at, Action::Resolve, patrol));
            at += self.rng.random_range(3..30) * MINUTE_MS;
        }
        steps.push((at, Action::ReviewPass, "审核员".into()));
        at += self.rng.random_range(15..120) * MINUTE_MS;
        let satisfaction =
            if self.rng.random_bool(0.93) { self.rng.random_range(4..=5) } else { self.rng.random_range(1..=3) };
        steps.push((at, Action::Close { satisfaction }, "回访员".into()));
        for (at, action, actor) in steps {
            // The server escalates a late stage at its deadline (once a level, up to the city).
            for _ in 0..3 {
                match case.deadline_ms {
                    Some(d) if d < at.min(end) => {
                        case.escalate_if_overdue(d + 1_000, &limits);
                    }
                    _ => break,
                }
            }
            if at > end {
                break;
            }
            case.apply(&action, &actor, "", at, &limits).expect("the synthetic workflow is valid");
        }
        let description = format!("{}（{}，历史）", category.name_zh(), source.name_zh());
        IncidentRow {
            id,
            category: category.key().into(),
            source: source.key().into(),
            x: (pos[0] * 100.0).round() / 100.0,
            y: (pos[1] * 100.0).round() / 100.0,
            grid,
            description,
            case,
        }
    }
}

impl Iterator for History<'_> {
    type Item = HistoryDay;

    fn next(&mut self) -> Option<HistoryDay> {
        if self.day > self.last_day {
            return None;
        }
        let (day, off) = (self.day, self.config.utc_offset_ms);
        self.day += 1;
        let start = day * DAY_MS - off;
        let n = (f64::from(self.config.per_day) * self.rng.random_range(0.9..1.1)).round() as usize;
        let total: f64 = DAILY_RHYTHM.iter().sum();
        let hours: Vec<(usize, f64)> = DAILY_RHYTHM.iter().enumerate().map(|(h, w)| (h, w / total)).collect();
        let mut times: Vec<i64> = (0..n)
            .map(|_| start + pick(&mut self.rng, &hours) as i64 * 3_600_000 + self.rng.random_range(0..3_600_000))
            .filter(|&t| t <= self.config.end_ms)
            .collect();
        times.sort_unstable();
        let mut out = HistoryDay::default();
        let mut rows = DayRows::default();
        for t in times {
            let id = self.next_id;
            self.next_id += 1;
            let row = self.ticket(id, t);
            rows.add(&row.grid, &row.case, off);
            out.incidents.push(row);
        }
        out.tally = rows.into_rows();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwall_city::tally::Tally;
    use std::path::Path;

    #[test]
    fn a_seeded_history_is_whole_closed_but_for_its_last_hours_and_counted() {
        let world =
            World::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes/helsinki"), TimeLimits::default())
                .unwrap();
        let end = 1_790_000_000_000;
        let config =
            HistoryConfig { seed: 4, days: 10, per_day: 200, end_ms: end, utc_offset_ms: 8 * 3_600_000, first_id: 1 };
        let days: Vec<HistoryDay> = History::new(&world, config).collect();
        assert_eq!(days.len(), 10);
        let again: Vec<HistoryDay> = History::new(&world, config).collect();
        assert_eq!(days[2].incidents, again[2].incidents, "a seed fixes the history");
        let all: Vec<&IncidentRow> = days.iter().flat_map(|d| &d.incidents).collect();
        assert!((1_600..2_300).contains(&all.len()), "{}", all.len());
        assert!(all.windows(2).all(|w| w[1].id == w[0].id + 1 && w[1].case.created_ms >= w[0].case.created_ms));
        assert!(all.iter().all(|i| i.case.created_ms <= end && i.case.timeline.iter().all(|s| s.at_ms <= end)));
        let open = all.iter().filter(|i| i.case.is_open()).count();
        // The longest case (a dispute: 72 h to resolve, late by up to 2.5 times) ends in 8 days.
        let old_open = all.iter().filter(|i| i.case.is_open() && i.case.created_ms < end - 8 * DAY_MS).count();
        assert!(open > 10 && old_open == 0, "{open} open, {old_open} of them older than eight days");
        assert!(all.iter().any(|i| i.case.reworks > 0) && all.iter().any(|i| i.case.ever_overdue));
        assert!(all.iter().filter(|i| !i.grid.is_empty()).count() * 10 > all.len() * 9, "most lie in a cell");
        // The day rows add up to every incident's tally.
        let mut sum = Tally::default();
        for r in days.iter().flat_map(|d| &d.tally) {
            sum.add(&r.tally, 1);
        }
        let mut want = Tally::default();
        for i in &all {
            want.add(&Tally::of(&i.case), 1);
        }
        assert_eq!(sum, want);
        let closed_in: i64 = days.iter().flat_map(|d| &d.tally).map(|r| r.closed_in).sum();
        assert_eq!(closed_in, want.closed);
    }
}
