//! The simulator's unit tests (the road graph's use `lattice`).

use super::*;
use gridwall_protocol::IncidentStage;
use gridwall_scene::RoadClass;

/// A 6 × 6 lattice of 100 m blocks.
pub(super) fn lattice() -> RoadGraph {
    let mut roads = Vec::new();
    for k in 0..=6 {
        let k = f64::from(k) * 100.0;
        roads.push((RoadClass::Residential, (0..=6).map(|j| [k, f64::from(j) * 100.0]).collect()));
        roads.push((RoadClass::Residential, (0..=6).map(|j| [f64::from(j) * 100.0, k]).collect()));
    }
    RoadGraph::from_roads(&roads)
}

const DAY_START: i64 = 1_790_035_200_000; // a midnight (UTC)

fn run(seed: u64, hours: i64) -> (Vec<SimEvent>, Simulator) {
    let config = SimConfig {
        seed,
        patrols: 12,
        incidents_per_hour: 20.0,
        report_ms: 1000,
        utc_offset_ms: 0,
        burst_every_hours: 0.0,
        desk_slide_hours: 0.0,
    };
    let mut sim = Simulator::new(lattice(), config, TimeLimits::default(), DAY_START + 8 * 3_600_000).unwrap();
    let mut events = Vec::new();
    for _ in 0..(hours * 3600) {
        events.extend(sim.step(1000));
    }
    (events, sim)
}

#[test]
fn a_seed_fixes_the_whole_run() {
    let (a, _) = run(7, 1);
    let (b, _) = run(7, 1);
    assert_eq!(a, b);
    let (c, _) = run(8, 1);
    assert_ne!(a, c);
}

#[test]
fn incidents_flow_through_the_workflow_and_patrols_move_on_roads() {
    let (events, sim) = run(3, 8);
    let opened = events.iter().filter(|e| matches!(e, SimEvent::IncidentOpened { .. })).count();
    assert!((80..260).contains(&opened), "{opened} incidents in 8 busy hours at 20/h × rhythm");
    let _ = sim;
    let closes: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            SimEvent::Step { action: Action::Close { satisfaction }, .. } => Some(*satisfaction),
            _ => None,
        })
        .collect();
    let closed = closes.len();
    assert!(closed * 2 > opened, "{closed} of {opened} closed");
    assert!(events.iter().any(|e| matches!(e, SimEvent::Step { action: Action::ReviewReject, .. })), "some rework");
    let happy = closes.iter().filter(|&&s| s >= 4).count() as f64 / closes.len() as f64;
    assert!(happy > 0.8, "satisfaction {happy}");
    // Every reported position lies on a road of the lattice (x or y a multiple of 100 m).
    for e in &events {
        if let SimEvent::Position { x, y, .. } = e {
            let on = |v: f64| (v / 100.0 - (v / 100.0).round()).abs() < 1e-6;
            assert!(on(*x) || on(*y), "({x}, {y}) is off the roads");
        }
    }
    // Patrols really move: walkers cover ~1.4 m per report.
    let first: HashMap<u32, (f64, f64)> = events
        .iter()
        .filter_map(|e| match e {
            SimEvent::Position { patrol, x, y, t_ms } if *t_ms == DAY_START + 8 * 3_600_000 + 1000 => {
                Some((*patrol, (*x, *y)))
            }
            _ => None,
        })
        .collect();
    let moved = sim.patrols.iter().filter(|p| (p.pos[0], p.pos[1]) != first[&p.id]).count();
    assert!(moved >= 10, "{moved} of 12 patrols moved");
}

#[test]
fn too_few_patrols_send_cases_to_departments_late() {
    let config = SimConfig {
        seed: 5,
        patrols: 1,
        incidents_per_hour: 60.0,
        report_ms: 1000,
        utc_offset_ms: 0,
        burst_every_hours: 0.0,
        desk_slide_hours: 0.0,
    };
    let mut sim = Simulator::new(lattice(), config, TimeLimits::default(), DAY_START + 9 * 3_600_000).unwrap();
    let (mut escalations, mut to_departments) = (0, 0);
    for _ in 0..(3 * 3600) {
        for e in sim.step(1000) {
            match e {
                SimEvent::Escalated { .. } => escalations += 1,
                SimEvent::Step { action: Action::Dispatch { assignee }, t_ms, incident, .. }
                    if !assignee.starts_with('P') =>
                {
                    to_departments += 1;
                    assert!(t_ms - sim.cases[&incident].0.created_ms >= PATROL_WAIT_MS, "only after waiting");
                }
                _ => {}
            }
        }
    }
    assert!(escalations > 0, "some waited past their time limit");
    assert!(to_departments > 50, "{to_departments} cases went to departments");
}

#[test]
fn a_busy_city_keeps_up_with_its_cases() {
    // The wall operator's busy day: 600 new cases an hour for 200 patrols, for a whole day.
    let config = SimConfig {
        seed: 9,
        patrols: 200,
        incidents_per_hour: 600.0,
        report_ms: 60_000,
        utc_offset_ms: 0,
        burst_every_hours: 0.0,
        desk_slide_hours: 0.0,
    };
    let mut sim = Simulator::new(lattice(), config, TimeLimits::default(), DAY_START).unwrap();
    // Each case's acceptance time, and its satisfaction once closed (closed cases leave the
    // simulator's memory: the events tell their story).
    let mut opened: HashMap<u64, i64> = HashMap::new();
    let mut closed: HashMap<u64, u8> = HashMap::new();
    for _ in 0..(24 * 360) {
        for e in sim.step(10_000) {
            match e {
                SimEvent::IncidentOpened { incident, t_ms, .. } => {
                    opened.insert(incident, t_ms);
                }
                SimEvent::Step { incident, action: Action::Close { satisfaction }, .. } => {
                    closed.insert(incident, satisfaction);
                }
                _ => {}
            }
        }
    }
    let now = sim.now_ms();
    let rate = |ids: &[u64]| ids.iter().filter(|id| closed.contains_key(id)).count() as f64 / ids.len() as f64;
    let all: Vec<u64> = opened.keys().copied().collect();
    let settled: Vec<u64> = opened.iter().filter(|(_, t)| **t < now - 4 * 3_600_000).map(|(id, _)| *id).collect();
    assert!(all.len() > 10_000, "{}", all.len());
    assert!(rate(&settled) > 0.98, "cases older than four hours closed: {}", rate(&settled));
    assert!(rate(&all) > 0.9, "all closed: {}", rate(&all));
    assert_eq!(sim.cases.len(), all.len() - closed.len(), "the simulator holds its open cases only");
    let waiting_review = sim.cases.values().filter(|(c, _)| c.stage == IncidentStage::Resolved).count();
    assert!(waiting_review < 200, "{waiting_review} wait for review");
    let rated: Vec<u8> = closed.values().copied().collect();
    let happy = rated.iter().filter(|&&s| s >= 4).count() as f64 / rated.len() as f64;
    assert!((0.9..0.96).contains(&happy), "satisfaction {happy}");
}

#[test]
fn bursts_pile_one_category_around_one_place() {
    let config = |bursts| SimConfig {
        seed: 3,
        patrols: 12,
        incidents_per_hour: 20.0,
        report_ms: 60_000,
        utc_offset_ms: 0,
        burst_every_hours: bursts,
        desk_slide_hours: 0.0,
    };
    let opened = |bursts| {
        let mut sim = Simulator::new(lattice(), config(bursts), TimeLimits::default(), DAY_START).unwrap();
        let mut out = Vec::new();
        for _ in 0..(24 * 60) {
            for e in sim.step(60_000) {
                if let SimEvent::IncidentOpened { category, x, y, t_ms, .. } = e {
                    out.push((category, [x, y], t_ms));
                }
            }
        }
        (out, sim.bursts)
    };
    let (plain, none) = opened(0.0);
    let (with, bursts) = opened(4.0);
    assert!(none.is_empty() && !bursts.is_empty());
    let b = bursts.iter().find(|b| b.end_ms <= DAY_START + 24 * 3_600_000).expect("a burst within the day");
    let inside = |(c, p, t): &&(IncidentCategory, [f64; 2], i64)| {
        *c == b.category && (p[0] - b.at[0]).hypot(p[1] - b.at[1]) <= 120.0 && (b.start_ms..b.end_ms).contains(t)
    };
    let hours = (b.end_ms - b.start_ms) as f64 / 3_600_000.0;
    let extra = with.iter().filter(inside).count() - plain.iter().filter(inside).count();
    assert!(extra as f64 >= hours * 1.5, "{extra} burst reports in {hours:.1} h at {} an hour", b.per_hour);
}

#[test]
fn a_department_that_slides_fixes_its_cases_hours_later_from_then_on() {
    // Few patrols: many cases go to the departments.
    let config = SimConfig {
        seed: 4,
        patrols: 2,
        incidents_per_hour: 30.0,
        report_ms: 60_000,
        utc_offset_ms: 0,
        burst_every_hours: 0.0,
        desk_slide_hours: 24.0,
    };
    let mut sim = Simulator::new(lattice(), config, TimeLimits::default(), DAY_START).unwrap();
    let slide = sim.slide.expect("a slide");
    let (mut taken, mut fixed) = (HashMap::new(), HashMap::new());
    for _ in 0..(72 * 60) {
        for e in sim.step(60_000) {
            match e {
                SimEvent::Step { incident, action: Action::Dispatch { assignee }, t_ms, .. }
                    if assignee == slide.desk =>
                {
                    taken.insert(incident, t_ms);
                }
                SimEvent::Step { incident, action: Action::Resolve, t_ms, .. } => {
                    fixed.insert(incident, t_ms);
                }
                _ => {}
            }
        }
    }
    // The department's hours from taking a case to fixing it, before the slide and after.
    let hours = |after: bool| {
        let spans: Vec<f64> = taken
            .iter()
            .filter(|(_, t)| (**t >= slide.from_ms) == after)
            .filter_map(|(id, t)| fixed.get(id).map(|f| (f - t) as f64 / 3_600_000.0))
            .collect();
        (spans.iter().sum::<f64>() / spans.len().max(1) as f64, spans.len())
    };
    let ((before, n0), (after, n1)) = (hours(false), hours(true));
    assert!(n0 >= 10 && n1 >= 10, "{n0} and {n1} cases of {}", slide.desk);
    assert!(after > before + 3.5, "{} took {before:.1} h, then {after:.1} h", slide.desk);
}
