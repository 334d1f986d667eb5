//! The warnings engine on seeded data: a quiet week raises nothing; a burst of one category in
//! one community is warned within its first hour with the right scope and category, and the
//! warning closes by itself once the burst is over; repeated reports at one place are warned;
//! a commander's acknowledgement is kept.

use geo::polygon;
use gridwall_city::records::IncidentRow;
use gridwall_city::workflow::{Case, TimeLimits};
use gridwall_protocol::{GridLevel, IncidentCategory, IncidentSource, WarningKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::units::Units;
use crate::units::tests::square_grid;
use crate::{Config, Engine};

const HOUR: i64 = 3_600_000;
/// 2026-11-02 00:00 UTC, a Monday.
const T0: i64 = 1_793_577_600_000;

/// A street of 4 × 4 cells 100 m wide (`s-c-<row>-<col>`) in four communities of 2 × 2
/// (`s-q0` … `s-q3`, 第1街道第1社区 …).
fn units() -> Units {
    let mut grids = square_grid(4);
    grids.truncate(1);
    let base = square_grid(4);
    for q in 0..4 {
        let mut c = base[1].clone();
        c.code = format!("s-q{q}");
        c.name = format!("第1街道第{}社区", q + 1);
        let (x, y) = (f64::from(q % 2) * 200.0, f64::from(q / 2) * 200.0);
        c.shape = geo::MultiPolygon::new(vec![polygon![
            (x: x, y: y), (x: x + 200.0, y: y), (x: x + 200.0, y: y + 200.0), (x: x, y: y + 200.0)
        ]]);
        grids.push(c);
    }
    for cell in base.into_iter().skip(2) {
        let parts: Vec<usize> = cell.code.rsplit('-').take(2).map(|p| p.parse().unwrap()).collect();
        let (col, row) = (parts[0], parts[1]);
        let mut cell = cell;
        cell.parent = Some(format!("s-q{}", row / 2 * 2 + col / 2));
        grids.push(cell);
    }
    Units::new(&grids)
}

struct City {
    engine: Engine,
    rng: ChaCha8Rng,
    next: u64,
    cells: Vec<String>,
}

impl City {
    fn new(seed: u64) -> Self {
        let units = units();
        let cells = units.cells().iter().map(|&c| units.get(c).code.clone()).collect();
        Self {
            engine: Engine::new(std::sync::Arc::new(units), Config::default(), 8 * HOUR),
            rng: ChaCha8Rng::seed_from_u64(seed),
            next: 1,
            cells,
        }
    }

    fn report(&mut self, t: i64, cell: &str, category: IncidentCategory, at: [f64; 2]) -> u64 {
        let id = self.next;
        self.next += 1;
        let case = Case::accept(category, t, "12345", &TimeLimits::default());
        let row = IncidentRow {
            id,
            category: category.key().into(),
            source: IncidentSource::Hotline.key().into(),
            x: at[0],
            y: at[1],
            grid: cell.into(),
            description: String::new(),
            case,
        };
        self.engine.take(&row);
        id
    }

    /// Quiet reports over `[from, to)`: each cell and category about once in two days, more by
    /// day than by night; evaluated every ten minutes. Returns the warnings raised.
    fn quiet(&mut self, from: i64, to: i64) -> Vec<gridwall_protocol::api::analysis::Warning> {
        let mut raised = Vec::new();
        let mut t = from;
        while t < to {
            let hod = ((t + 8 * HOUR) / HOUR) % 24;
            let day_factor = if (8..20).contains(&hod) { 1.6 } else { 0.4 };
            for k in 0..self.cells.len() {
                for c in IncidentCategory::ALL {
                    let p = day_factor / 48.0 / 6.0;
                    if self.rng.random_bool(p) {
                        let cell = self.cells[k].clone();
                        // Anywhere in the cell (`s-c-<row>-<col>`, 100 m squares).
                        let rc: Vec<f64> = cell.rsplit('-').take(2).map(|p| p.parse().unwrap()).collect();
                        let at = [
                            rc[0] * 100.0 + self.rng.random_range(0.0..100.0),
                            rc[1] * 100.0 + self.rng.random_range(0.0..100.0),
                        ];
                        let when = t + self.rng.random_range(0..600_000);
                        self.report(when, &cell, c, at);
                    }
                }
            }
            t += 600_000;
            let changes = self.engine.evaluate(t);
            raised.extend(changes.iter().filter(|w| w.is_open()).cloned());
            self.engine.apply(&changes);
        }
        raised
    }
}

#[test]
fn a_quiet_week_raises_no_warning_and_a_burst_is_warned_in_its_first_hour() {
    let mut city = City::new(5);
    // Four weeks to learn from, then a quiet week watched.
    let learned = city.quiet(T0, T0 + 28 * 24 * HOUR);
    let _ = learned;
    let week = city.quiet(T0 + 28 * 24 * HOUR, T0 + 35 * 24 * HOUR);
    assert!(week.is_empty(), "a quiet week warned: {:?}", week.iter().map(|w| &w.sentence).collect::<Vec<_>>());

    // A burst: pipe blockages in the second community, six in forty minutes.
    let start = T0 + 35 * 24 * HOUR + 10 * HOUR;
    for k in 0..6 {
        city.report(
            start + k * 8 * 60_000,
            "s-c-1-3",
            IncidentCategory::PipeBlockage,
            [350.0 - k as f64 * 20.0, 150.0],
        );
    }
    let now = start + 45 * 60_000;
    let changes = city.engine.evaluate(now);
    let w = changes
        .iter()
        .find(|w| w.kind == WarningKind::Volume)
        .unwrap_or_else(|| panic!("no volume warning: {changes:?}"));
    assert_eq!((w.scope.as_str(), w.category), ("s-q1", Some(IncidentCategory::PipeBlockage)));
    assert_eq!(w.scope_level, Some(GridLevel::Community));
    assert_eq!(w.observed, 6.0);
    assert!(w.expected < 1.0 && w.upper < 6.0, "{w:?}");
    assert!(w.sentence.starts_with("第1街道第2社区 · 管道堵塞 · 近1小时 6 件，常态"), "{}", w.sentence);
    assert_eq!(w.incidents.len(), 6);
    assert!(
        !changes.iter().any(|o| o.kind == WarningKind::Volume && o.scope == "s"),
        "the street is not warned for its community's burst"
    );
    city.engine.apply(&changes);
    let id = w.id;

    // The overview's deviation (all categories together, against the yellow band): the burst's
    // community near the band's top, the others at their normal.
    let dev = city.engine.deviation(GridLevel::Community, 1, now).unwrap();
    let of = |code: &str| dev.units.iter().find(|u| u.code == code).unwrap();
    assert!(of("s-q1").observed >= 6 && of("s-q1").deviation() > 0.6, "{:?}", of("s-q1"));
    for quiet in ["s-q0", "s-q2", "s-q3"] {
        assert!(of(quiet).deviation() < 0.3, "{:?}", of(quiet));
    }
    assert!(city.engine.deviation(GridLevel::Cell, 1, now).is_none(), "no baseline is fitted for cells");

    // Acknowledged by a commander: kept as it was raised, with who and when.
    let acked = city.engine.ack(id, "张指挥", now + 60_000).unwrap();
    assert_eq!(acked.acked_by.as_deref(), Some("张指挥"));
    city.engine.apply(std::slice::from_ref(&acked));
    assert!(city.engine.ack(999, "x", now).is_err());

    // Four quiet hours later it has closed by itself, and nothing else was raised.
    let after = city.quiet(now, now + 4 * HOUR);
    assert!(after.iter().all(|w| w.id == id || w.kind != WarningKind::Volume), "{after:?}");
    assert!(city.engine.open_warnings().iter().all(|w| w.id != id), "closed once back within the band");
}

#[test]
fn the_same_place_reported_again_and_again_is_warned_once() {
    let mut city = City::new(9);
    // Four quiet weeks (about one manhole report a day in each 100 m cell: places within 30 m
    // are reported twice or thrice a week by chance), then one place ten times in two days.
    let learned = city.quiet(T0, T0 + 28 * 24 * HOUR);
    assert!(learned.iter().all(|w| w.kind != WarningKind::Repeat), "chance is not a repeat: {learned:?}");
    let t = T0 + 28 * 24 * HOUR;
    for k in 0..10 {
        city.report(t + k * 4 * HOUR, "s-c-0-0", IncidentCategory::ManholeDamage, [50.0 + k as f64 * 2.0, 50.0]);
    }
    let changes = city.engine.evaluate(t + 48 * HOUR);
    let repeats: Vec<_> = changes.iter().filter(|w| w.kind == WarningKind::Repeat).collect();
    assert_eq!(repeats.len(), 1, "{changes:?}");
    assert!(repeats[0].sentence.contains("同一地点（30米内）7日内报告"), "{}", repeats[0].sentence);
    assert!(repeats[0].observed >= 10.0 && repeats[0].expected < 2.0, "{:?}", repeats[0]);
    city.engine.apply(&changes);
    // A week and more later the reports have aged out: it closes.
    let closing = city.engine.evaluate(t + 10 * 24 * HOUR);
    assert!(closing.iter().any(|w| w.kind == WarningKind::Repeat && w.closed_ms.is_some()));
}

#[test]
fn a_busy_street_is_not_a_repeated_place() {
    // A week of reports of every category along one street (y = 50 m, 400 m long), about a
    // hundred a day of each: every 30 m stretch has each category dozens of times a week. By
    // the area's measure every place there would be a repeat; by its own mix of reports none is.
    let mut city = City::new(3);
    let mut repeats = Vec::new();
    for step in 0..7 * 24 * 6 {
        let t = T0 + step * 600_000;
        for c in IncidentCategory::ALL {
            if city.rng.random_bool(0.7) {
                let x: f64 = city.rng.random_range(0.0..400.0);
                let y = 50.0 + city.rng.random_range(-2.0..2.0);
                let when = t + city.rng.random_range(0..600_000);
                city.report(when, &format!("s-c-0-{}", (x / 100.0) as usize), c, [x, y]);
            }
        }
        if step % 6 == 5 {
            let changes = city.engine.evaluate(t + 600_000);
            repeats.extend(changes.iter().filter(|w| w.kind == WarningKind::Repeat && w.is_open()).cloned());
            city.engine.apply(&changes);
        }
    }
    assert!(
        repeats.is_empty(),
        "{} repeats on a busy street, e.g. {:?}",
        repeats.len(),
        repeats.first().map(|w| &w.sentence)
    );
}

/// Past the hours it keeps, a trend is daily: each day's count is what was reported that day,
/// whether the day was folded from the hours as they passed or read back as counts per day at
/// a start (the two engines answer the same).
#[test]
fn a_long_trend_is_daily_and_a_rebuilt_engine_answers_the_same() {
    let off = 8 * HOUR;
    let day_ms = 24 * HOUR;
    let rows: Vec<IncidentRow> = (0..60 * 24)
        .map(|h: i64| {
            // One an hour: every third a garbage report in s-c-3-3 (another community), the rest
            // blocked pipes in s-c-0-0.
            let (cell, category) = if h % 3 == 0 {
                ("s-c-3-3", IncidentCategory::Garbage)
            } else {
                ("s-c-0-0", IncidentCategory::PipeBlockage)
            };
            IncidentRow {
                id: h as u64 + 1,
                category: category.key().into(),
                source: IncidentSource::Hotline.key().into(),
                x: 10.0,
                y: 10.0,
                grid: cell.into(),
                description: String::new(),
                case: Case::accept(category, T0 + h * HOUR + 60_000, "12345", &TimeLimits::default()),
            }
        })
        .collect();
    let now = T0 + 60 * day_ms - 1;
    let units = std::sync::Arc::new(units());
    let mut live = Engine::new(units.clone(), Config::default(), off);
    for r in &rows {
        live.take(r);
    }
    let a = live.trend(0, None, 24 * 61, now);
    assert_eq!(a.bucket_ms, day_ms);
    // T0 is 08:00 on a local day: the first day has 16 hours, the 61st the last 8.
    assert_eq!(a.points.len(), 61);
    assert_eq!(a.points[0].t_ms, T0 - off);
    assert_eq!(a.points[0].observed, 16);
    assert!(a.points[1..60].iter().all(|p| p.observed == 24), "{:?}", a.points);
    assert_eq!(a.points[60].observed, 8);
    assert!(a.points[30].expected > 20.0 && a.points[30].expected < 28.0, "{:?}", a.points[30]);
    let q0 = units.find("s-q0").unwrap();
    let b = live.trend(q0, Some(IncidentCategory::PipeBlockage), 24 * 61, now);
    assert_eq!(b.points.iter().map(|p| p.observed).sum::<u32>(), 60 * 16);
    assert_eq!(b.by_category, [(IncidentCategory::PipeBlockage, 60 * 16)]);
    assert_eq!(live.trend(0, None, 72, now).bucket_ms, HOUR, "hourly within the hours kept");

    // A start: what is older than 31 days as counts per local day, the rest one by one.
    let cut = now - 31 * day_ms;
    let mut per_day = std::collections::BTreeMap::<(i64, String), i64>::new();
    for r in rows.iter().filter(|r| r.case.created_ms < cut) {
        *per_day.entry(((r.case.created_ms + off).div_euclid(day_ms), r.grid.clone())).or_default() += 1;
    }
    let category_of = |grid: &str| if grid == "s-c-3-3" { "garbage" } else { "pipe_blockage" };
    let days = per_day
        .iter()
        .map(|((day, grid), &n)| {
            (*day, crate::daily::row_of(&units, grid, category_of(grid), IncidentSource::Hotline.key(), n).unwrap())
        })
        .collect();
    let mut rebuilt = Engine::new(units.clone(), Config::default(), off);
    rebuilt.rebuild_days(days);
    rebuilt.rebuild(rows.iter().filter(|r| r.case.created_ms >= cut).cloned().collect());
    assert_eq!(rebuilt.trend(0, None, 24 * 61, now), a);
    assert_eq!(rebuilt.trend(q0, Some(IncidentCategory::PipeBlockage), 24 * 61, now), b);
}
