//! Scores the early-warning engine (BENCHMARKS.md, "研判 and 预警"): a seeded city of square
//! cells (communities of 5 × 5, streets of 20 × 20), Poisson reports of every category with a
//! day-night rhythm, 28 days to learn from, then
//!
//! * a quiet month watched every ten minutes: the warnings raised are all false ones;
//! * a month with bursts injected (one category in one community, two to four hours, 3 to 6
//!   reports an hour within 120 m): the share caught by a volume warning of that community or
//!   its street and category while the burst lasts or in the hour after, the delay from the
//!   burst's start, and the other warnings raised (false ones);
//! * the CPU time of taking each incident and of each evaluation, and the memory of the counts.
//!
//! With `--history-days N` it measures the counts kept for trends instead: N days of the usual
//! reports (evaluated hourly), then the memory of the hourly weeks and the days beyond them, and
//! the time of a year's daily trend of the city and of a community.
//!
//! `cargo run --example bench-warnings -- [--cells 10000] [--per-day 30000] [--bursts 60] [--seed 1] [--history-days 365]`

use std::time::{Duration, Instant};

use geo::{MultiPolygon, polygon};
use gridwall_analysis::units::Units;
use gridwall_analysis::{Config, Engine};
use gridwall_city::records::IncidentRow;
use gridwall_city::workflow::{Case, TimeLimits};
use gridwall_protocol::{GridLevel, IncidentCategory, WarningKind};
use gridwall_scene::grids::GridUnit;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-09-07 00:00 UTC+8, a Monday.
const T0: i64 = 1_788_710_400_000;
const OFFSET: i64 = 8 * HOUR;

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn square(x: f64, y: f64, w: f64) -> MultiPolygon<f64> {
    MultiPolygon::new(vec![polygon![(x: x, y: y), (x: x + w, y: y), (x: x + w, y: y + w), (x: x, y: y + w)]])
}

/// A `side` × `side` grid of 100 m cells in communities of 5 × 5 and streets of 20 × 20.
fn grids(side: usize) -> Vec<GridUnit> {
    let unit = |level, code: String, parent: Option<String>, shape| GridUnit {
        level,
        name: code.clone(),
        code,
        parent,
        shape,
    };
    let mut g = Vec::new();
    for sr in 0..side.div_ceil(20) {
        for sc in 0..side.div_ceil(20) {
            g.push(unit(
                GridLevel::Street,
                format!("S{sr}.{sc}"),
                None,
                square(sc as f64 * 2000.0, sr as f64 * 2000.0, 2000.0),
            ));
        }
    }
    for cr in 0..side.div_ceil(5) {
        for cc in 0..side.div_ceil(5) {
            let parent = format!("S{}.{}", cr / 4, cc / 4);
            g.push(unit(
                GridLevel::Community,
                format!("C{cr}.{cc}"),
                Some(parent),
                square(cc as f64 * 500.0, cr as f64 * 500.0, 500.0),
            ));
        }
    }
    for r in 0..side {
        for c in 0..side {
            let parent = format!("C{}.{}", r / 5, c / 5);
            g.push(unit(
                GridLevel::Cell,
                format!("c{r}.{c}"),
                Some(parent),
                square(c as f64 * 100.0, r as f64 * 100.0, 100.0),
            ));
        }
    }
    g
}

struct Burst {
    start: i64,
    end: i64,
    community: String,
    street: String,
    category: IncidentCategory,
    at: [f64; 2],
    per_hour: f64,
}

struct Run {
    engine: Engine,
    rng: ChaCha8Rng,
    side: usize,
    per_cell_category_hour: f64,
    next: u64,
    take_time: Duration,
    taken: u64,
    eval_time: Duration,
    evals: u64,
}

impl Run {
    fn report(&mut self, t: i64, cell: (usize, usize), category: IncidentCategory, at: [f64; 2]) {
        self.next += 1;
        let row = IncidentRow {
            id: self.next,
            category: category.key().into(),
            source: "hotline_12345".into(),
            x: at[0],
            y: at[1],
            grid: format!("c{}.{}", cell.0, cell.1),
            description: String::new(),
            case: Case::accept(category, t, "12345", &TimeLimits::default()),
        };
        let start = Instant::now();
        self.engine.take(&row);
        self.take_time += start.elapsed();
        self.taken += 1;
    }

    /// Ten minutes of the usual reports from `t`.
    fn usual(&mut self, t: i64) {
        let hod = ((t + OFFSET) / HOUR) % 24;
        let rhythm = if (8..20).contains(&hod) { 1.6 } else { 0.4 };
        let mean = self.per_cell_category_hour * rhythm / 6.0 * (self.side * self.side * 10) as f64;
        // Poisson count for the whole city, then each report's cell, category and place.
        for _ in 0..poisson(&mut self.rng, mean) {
            let (r, c) = (self.rng.random_range(0..self.side), self.rng.random_range(0..self.side));
            let category = IncidentCategory::ALL[self.rng.random_range(0..10)];
            let at = [
                c as f64 * 100.0 + self.rng.random_range(0.0..100.0),
                r as f64 * 100.0 + self.rng.random_range(0.0..100.0),
            ];
            let when = t + self.rng.random_range(0..600_000);
            self.report(when, (r, c), category, at);
        }
    }

    fn evaluate(&mut self, t: i64) -> Vec<gridwall_protocol::api::analysis::Warning> {
        let start = Instant::now();
        let changes = self.engine.evaluate(t);
        self.engine.apply(&changes);
        self.eval_time += start.elapsed();
        self.evals += 1;
        changes.into_iter().filter(|w| w.is_open() && w.updated_ms == w.since_ms).collect()
    }
}

/// A Poisson count of mean `mean`: exponential gaps that fit in it.
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    let mut n = 0;
    let mut acc = -rng.random::<f64>().max(1e-12).ln();
    while acc < mean {
        n += 1;
        acc -= rng.random::<f64>().max(1e-12).ln();
    }
    n
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let cells = arg("--cells", 10_000.0) as usize;
    let per_day = arg("--per-day", 30_000.0);
    let bursts = arg("--bursts", 60.0) as usize;
    let seed = arg("--seed", 1.0) as u64;
    let side = (cells as f64).sqrt().round() as usize;
    let rss0 = rss_mb();
    let units = Units::new(&grids(side));
    let communities = units.at_level(GridLevel::Community).count();
    println!(
        "city: {} cells, {communities} communities, {per_day} reports a day, 10 categories, seed {seed}",
        side * side
    );
    let mut run = Run {
        engine: Engine::new(std::sync::Arc::new(units), Config::default(), OFFSET),
        rng: ChaCha8Rng::seed_from_u64(seed),
        side,
        per_cell_category_hour: per_day / 24.0 / (side * side * 10) as f64,
        next: 0,
        take_time: Duration::ZERO,
        taken: 0,
        eval_time: Duration::ZERO,
        evals: 0,
    };
    let history_days = arg("--history-days", 0.0) as i64;
    if history_days > 0 {
        history(&mut run, history_days, rss0);
        return;
    }
    let t_learn = Instant::now();
    let mut t = T0;
    while t < T0 + 28 * DAY {
        run.usual(t);
        t += 600_000;
    }
    println!("learning: 28 days, {} reports, {:.1} s", run.taken, t_learn.elapsed().as_secs_f64());

    // A quiet month.
    let quiet_start = t;
    let mut false_quiet = Vec::new();
    while t < quiet_start + 30 * DAY {
        run.usual(t);
        t += 600_000;
        false_quiet.extend(run.evaluate(t));
    }
    let per_100 = |n: usize| n as f64 / 30.0 / (side * side) as f64 * 100.0;
    let count =
        |v: &[gridwall_protocol::api::analysis::Warning], k: WarningKind| v.iter().filter(|w| w.kind == k).count();
    println!(
        "quiet month: {} warnings ({} volume, {} repeat, {} on-time) = {:.4} a day per 100 cells",
        false_quiet.len(),
        count(&false_quiet, WarningKind::Volume),
        count(&false_quiet, WarningKind::Repeat),
        count(&false_quiet, WarningKind::OnTime),
        per_100(false_quiet.len())
    );

    // A month with bursts, spread over it.
    let month = t;
    let mut plan: Vec<Burst> = (0..bursts)
        .map(|k| {
            let r = &mut run.rng;
            let start = month + (k as f64 / bursts as f64 * 29.0 * DAY as f64) as i64 + r.random_range(0..6 * HOUR);
            let (cr, cc) = (r.random_range(0..side / 5), r.random_range(0..side / 5));
            let cell = (cr * 5 + r.random_range(0..5), cc * 5 + r.random_range(0..5));
            let at = [cell.1 as f64 * 100.0 + 50.0, cell.0 as f64 * 100.0 + 50.0];
            Burst {
                start,
                end: start + r.random_range(2 * HOUR..4 * HOUR),
                community: format!("C{cr}.{cc}"),
                street: format!("S{}.{}", cr / 4, cc / 4),
                category: IncidentCategory::ALL[r.random_range(0..10)],
                at,
                per_hour: r.random_range(3.0..6.0),
            }
        })
        .collect();
    plan.sort_by_key(|b| b.start);
    let mut raised = Vec::new();
    while t < month + 30 * DAY {
        run.usual(t);
        for b in plan.iter().filter(|b| b.start < t + 600_000 && b.end > t) {
            let from = t.max(b.start);
            let to = (t + 600_000).min(b.end);
            let mean = b.per_hour * (to - from) as f64 / HOUR as f64;
            let mut reports = Vec::new();
            for _ in 0..poisson(&mut run.rng, mean) {
                let (a, d) = (run.rng.random_range(0.0..std::f64::consts::TAU), run.rng.random_range(0.0..120.0));
                let at = [b.at[0] + d * a.cos(), b.at[1] + d * a.sin()];
                let cell = (
                    (at[1] / 100.0).clamp(0.0, (side - 1) as f64) as usize,
                    (at[0] / 100.0).clamp(0.0, (side - 1) as f64) as usize,
                );
                reports.push((from + run.rng.random_range(0..(to - from).max(1)), cell, at));
            }
            for (when, cell, at) in reports {
                run.report(when, cell, b.category, at);
            }
        }
        t += 600_000;
        raised.extend(run.evaluate(t));
    }
    let mut caught = Vec::new();
    let mut explained = vec![false; raised.len()];
    for b in &plan {
        let hit = raised.iter().enumerate().find(|(_, w)| {
            w.kind == WarningKind::Volume
                && w.category == Some(b.category)
                && (w.scope == b.community || w.scope == b.street)
                && (b.start..b.end + HOUR).contains(&w.since_ms)
        });
        if let Some((k, w)) = hit {
            explained[k] = true;
            caught.push(w.since_ms - b.start);
        }
    }
    // Repeats at a burst's place are true too (a burst is one place reported again and again).
    for (k, w) in raised.iter().enumerate() {
        if w.kind == WarningKind::Repeat
            && plan.iter().any(|b| {
                w.category == Some(b.category)
                    && (b.start..b.end + HOUR).contains(&w.since_ms)
                    && w.place.is_some_and(|p| (p[0] - b.at[0]).hypot(p[1] - b.at[1]) < 200.0)
            })
        {
            explained[k] = true;
        }
    }
    caught.sort_unstable();
    let unexplained = explained.iter().filter(|e| !**e).count();
    let median = caught.get(caught.len() / 2).map_or(f64::NAN, |d| *d as f64 / 60_000.0);
    println!(
        "bursts: {} of {} caught ({:.0} %), delay from the burst's start: median {median:.0} min, max {:.0} min; other warnings {unexplained} = {:.4} a day per 100 cells",
        caught.len(),
        plan.len(),
        100.0 * caught.len() as f64 / plan.len().max(1) as f64,
        caught.last().map_or(f64::NAN, |d| *d as f64 / 60_000.0),
        per_100(unexplained)
    );
    let per_event = run.take_time.as_nanos() as f64 / run.taken.max(1) as f64;
    let per_eval = run.eval_time.as_secs_f64() * 1000.0 / run.evals.max(1) as f64;
    println!(
        "cpu: {per_event:.0} ns to take an incident; {per_eval:.2} ms an evaluation (every 10 min of the city's clock: {:.2} s an hour, hourly refits included)",
        per_eval * 6.0 / 1000.0
    );
    println!(
        "memory: counts and recent incidents {:.1} MB; process {:.0} MB (before the city {:.0} MB)",
        run.engine.intake.bytes() as f64 / 1e6,
        rss_mb(),
        rss0
    );
}

/// `--history-days`: the memory of a long past's counts, and what a year's trend costs.
fn history(run: &mut Run, days: i64, rss0: f64) {
    let started = Instant::now();
    let mut t = T0;
    while t < T0 + days * DAY {
        run.usual(t);
        t += 600_000;
        if t % HOUR == 0 {
            run.evaluate(t);
        }
        if t % (30 * DAY) == 0 {
            println!(
                "  day {} of {days}: {} reports, {:.0} s",
                (t - T0) / DAY,
                run.taken,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let intake = &run.engine.intake;
    println!(
        "history: {days} days, {} reports in {:.0} s ({:.2} µs each taken)",
        run.taken,
        started.elapsed().as_secs_f64(),
        run.take_time.as_secs_f64() * 1e6 / run.taken.max(1) as f64
    );
    println!(
        "memory: counts {:.1} MB ({} day rows of 8 bytes beyond the hourly weeks); process {:.0} MB (before the city {:.0} MB)",
        intake.bytes() as f64 / 1e6,
        intake.day_rows(),
        rss_mb(),
        rss0
    );
    let community = run.engine.units.find("C0.0").expect("a community");
    for (name, u) in [("the city", 0), ("a community", community)] {
        let start = Instant::now();
        let trend = run.engine.trend(u, None, 24 * 365, t);
        let total: u32 = trend.points.iter().map(|p| p.observed).sum();
        println!(
            "trend of {name} over 365 days: {} daily points, {total} reports, {:.0} ms",
            trend.points.len(),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}
