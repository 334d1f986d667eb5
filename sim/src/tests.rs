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
    let config = SimConfig { seed, patrols: 12, incidents_per_hour: 20.0, report_ms: 1000, utc_offset_ms: 0 };
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
    let closed = sim.cases.values().filter(|(c, _)| c.stage == IncidentStage::Closed).count();
    assert!(closed * 2 > opened, "{closed} of {opened} closed");
    assert!(sim.cases.values().any(|(c, _)| c.reworks > 0), "some rework");
    let sat: Vec<u8> = sim.cases.values().filter_map(|(c, _)| c.satisfaction).collect();
    let happy = sat.iter().filter(|&&s| s >= 4).count() as f64 / sat.len() as f64;
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
    let config = SimConfig { seed: 5, patrols: 1, incidents_per_hour: 60.0, report_ms: 1000, utc_offset_ms: 0 };
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
    let config = SimConfig { seed: 9, patrols: 200, incidents_per_hour: 600.0, report_ms: 60_000, utc_offset_ms: 0 };
    let mut sim = Simulator::new(lattice(), config, TimeLimits::default(), DAY_START).unwrap();
    for _ in 0..(24 * 360) {
        sim.step(10_000);
    }
    let now = sim.now_ms();
    let cases: Vec<&Case> = sim.cases.values().map(|(c, _)| c).collect();
    let rate = |cs: &[&Case]| cs.iter().filter(|c| !c.is_open()).count() as f64 / cs.len() as f64;
    let settled: Vec<&Case> = cases.iter().copied().filter(|c| c.created_ms < now - 4 * 3_600_000).collect();
    assert!(cases.len() > 10_000, "{}", cases.len());
    assert!(rate(&settled) > 0.98, "cases older than four hours closed: {}", rate(&settled));
    assert!(rate(&cases) > 0.9, "all closed: {}", rate(&cases));
    let waiting_review = cases.iter().filter(|c| c.stage == IncidentStage::Resolved).count();
    assert!(waiting_review < 200, "{waiting_review} wait for review");
    let rated: Vec<u8> = cases.iter().filter_map(|c| c.satisfaction).collect();
    let happy = rated.iter().filter(|&&s| s >= 4).count() as f64 / rated.len() as f64;
    assert!((0.9..0.96).contains(&happy), "satisfaction {happy}");
}
