//! Runs the deterministic simulator ([`crate::sim`]) against a live backend: its patrols
//! register and report like devices, its incidents open and move through the workflow through the
//! same operations as real input, and everything is stored like anything else.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridwall_protocol::api::PatrolRegistration;
use gridwall_protocol::{GridLevel, IncidentCategory, IncidentSource};
use gridwall_scene::roads::read_roads;

use crate::backend::{Backend, BackendError, SimulateConfig};
use crate::sim::{RoadGraph, SimConfig, SimEvent, Simulator};
use crate::store::TrackPoint;
use crate::workflow::Action;

/// Registers the simulated patrols and returns the task that steps the simulator ten times a
/// second, on the backend's clock.
pub fn run(
    backend: Arc<Backend>,
    cfg: &SimulateConfig,
) -> Result<impl Future<Output = ()> + Send + 'static, BackendError> {
    let roads = backend.with_frame(|f| Ok::<_, BackendError>(read_roads(&backend.scene_dir, &backend.manifest, f)?))?;
    let graph = RoadGraph::from_roads(&roads);
    let (limits, start, utc_offset_ms) = {
        let live = backend.live();
        (live.world.limits.clone(), live.now_ms(), live.utc_offset_ms)
    };
    let config = SimConfig {
        seed: cfg.seed,
        patrols: cfg.patrols,
        incidents_per_hour: cfg.incident_rate,
        report_ms: 1000,
        utc_offset_ms,
    };
    let mut sim = Simulator::new(graph, config, limits, start).ok_or(BackendError::NoRoads)?;
    // Register the simulated patrols in the cell where each starts.
    let regs: Vec<PatrolRegistration> = {
        let live = backend.live();
        let first_cell = live.world.grids.iter().find(|g| g.level == GridLevel::Cell).map(|g| g.code.clone());
        sim.patrols
            .iter()
            .map(|p| {
                let grid = live
                    .world
                    .cell_at(p.pos)
                    .map(|c| c.code.clone())
                    .or_else(|| first_cell.clone())
                    .unwrap_or_default();
                PatrolRegistration {
                    patrol_id: format!("sim-{}", p.id),
                    name: Some(format!("{}{:02}", p.role.name_zh(), p.id)),
                    role: p.role.key().into(),
                    grid,
                    status: None,
                }
            })
            .collect()
    };
    let records = backend.live().register(&regs).map_err(BackendError::SimulatedPatrols)?;
    backend.store.write_later(records);
    Ok(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Simulator incident id → live incident id.
        let mut ids: HashMap<u64, u64> = HashMap::new();
        loop {
            interval.tick().await;
            let mut live = backend.live();
            let dt = (live.now_ms() - sim.now_ms()).clamp(0, 60_000);
            let mut records = Vec::new();
            let mut points = Vec::new();
            for e in sim.step(dt) {
                match e {
                    SimEvent::Position { patrol: n, x, y, t_ms } => {
                        if let Some(id) = live.patrol_id(&format!("sim-{n}")) {
                            points.push(TrackPoint { patrol: id, t_ms, x, y });
                        }
                    }
                    SimEvent::IncidentOpened { incident, category, source, x, y, .. } => {
                        let (id, r) = live.open_incident(category, source, [x, y], &description(category, source));
                        ids.insert(incident, id);
                        records.extend(r);
                    }
                    SimEvent::Step { incident, action, actor, .. } => {
                        let Some(&id) = ids.get(&incident) else { continue };
                        let action = match action {
                            Action::Dispatch { assignee } => Action::Dispatch {
                                assignee: assignee.strip_prefix('P').map_or(assignee.clone(), |n| format!("sim-{n}")),
                            },
                            a => a,
                        };
                        let actor = actor
                            .strip_prefix('P')
                            .filter(|n| n.parse::<u32>().is_ok())
                            .map_or(actor.clone(), |n| format!("sim-{n}"));
                        // A person may have stepped in (e.g. a commander reassigned it): the
                        // simulator's step is then refused like anyone else's.
                        if let Ok(r) = live.apply(id, &action, &actor, "") {
                            records.extend(r);
                        }
                    }
                    // Escalation is the server's own check (same limits, same clock).
                    SimEvent::Escalated { .. } => {}
                }
            }
            records.extend(live.ingest_points(points));
            drop(live);
            if !records.is_empty() {
                backend.store.write_later(records);
            }
        }
    })
}

fn description(category: IncidentCategory, source: IncidentSource) -> String {
    format!("{}（{}，模拟）", category.name_zh(), source.name_zh())
}
