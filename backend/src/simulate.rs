//! Runs the deterministic simulator (`gridwall-sim`) against a live backend: its patrols
//! register and report like devices, its incidents open and move through the workflow through the
//! same operations as real input, and everything is stored like anything else.
//!
//! With a warm-up (`--warmup HOURS`) the simulation starts that many hours before now and the
//! hours up to now are played at start-up, in seconds, as history at the times they happened:
//! the city opens with a day's cases behind it (closed ones, some overdue, realistic KPIs) and
//! the last day's tracks. A store that already has incidents keeps its own history instead.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridwall_city::records::{Record, TrackPoint};
use gridwall_city::services::Intake;
use gridwall_city::state::Live;
use gridwall_city::workflow::Action;
use gridwall_protocol::api::PatrolRegistration;
use gridwall_protocol::{GridLevel, IncidentCategory, IncidentSource};
use gridwall_scene::roads::read_roads;
use gridwall_sim::{RoadGraph, SimConfig, SimEvent, Simulator};
use gridwall_store::history::{holds_incidents, window_of};

use crate::{Backend, BackendError, SimulateConfig};

/// The longest warm-up (a month).
pub const MAX_WARMUP_HOURS: f64 = 720.0;
/// A warm-up steps the simulation this far at a time (patrols cover their route within a step).
const WARMUP_STEP_MS: i64 = 10_000;
/// The warm-up ends this close to now (the live loop takes up to a minute a step).
const WARMUP_DONE_WITHIN_MS: i64 = 30_000;
/// A warm-up keeps a position every ten seconds per patrol, of the retention window only (what
/// replay shows).
const WARMUP_TRACK_EVERY_MS: i64 = 10_000;

/// Registers the simulated patrols and returns the task that steps the simulator ten times a
/// second, on the backend's clock.
pub fn run(
    backend: Arc<Backend>,
    cfg: &SimulateConfig,
) -> Result<impl Future<Output = ()> + Send + 'static, BackendError> {
    let roads = backend.with_frame(|f| Ok::<_, BackendError>(read_roads(&backend.scene_dir, &backend.manifest, f)?))?;
    let graph = RoadGraph::from_roads(&roads);
    let (limits, now, utc_offset_ms, has_history) = {
        let live = backend.live();
        (live.world.limits.clone(), live.now_ms(), live.utc_offset_ms, live.has_incidents())
    };
    let warmup_ms = (cfg.warmup_hours.clamp(0.0, MAX_WARMUP_HOURS) * 3_600_000.0) as i64;
    let warmup_ms = if has_history && warmup_ms > 0 {
        tracing::info!("simulator: no warm-up, the store already has its history");
        0
    } else {
        warmup_ms
    };
    let start = now - warmup_ms;
    let config = SimConfig {
        seed: cfg.seed,
        patrols: cfg.patrols,
        incidents_per_hour: cfg.incident_rate,
        report_ms: 1000,
        utc_offset_ms,
        burst_every_hours: cfg.burst_every_hours.clamp(0.0, 10_000.0),
        desk_slide_hours: cfg.desk_slide_hours.clamp(0.0, 100_000.0),
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
                    grid: Some(grid),
                    status: None,
                }
            })
            .collect()
    };
    {
        let mut live = backend.live();
        let records = live.register(&regs).map_err(BackendError::SimulatedPatrols)?;
        let records = backend.share(&mut live, records);
        backend.store.write_later(records);
    }
    // Simulator incident id → live incident id.
    let mut ids: HashMap<u64, u64> = HashMap::new();
    if warmup_ms > 0 {
        warm_up(&backend, &mut sim, &mut ids);
        // Served once the history is stored: a request right after start-up sees all of it.
        backend.store.settle_blocking();
    }
    Ok(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut told = usize::MAX;
        let mut slide_told = false;
        loop {
            interval.tick().await;
            // Each burst is told once it starts: what 预警 should catch, to compare with.
            if let Some(b) = sim.bursts.last().filter(|b| b.start_ms <= sim.now_ms() && told != sim.bursts.len()) {
                told = sim.bursts.len();
                tracing::info!(
                    category = b.category.key(),
                    x = b.at[0].round(),
                    y = b.at[1].round(),
                    per_hour = (b.per_hour * 10.0).round() / 10.0,
                    hours = ((b.end_ms - b.start_ms) as f64 / 360_000.0).round() / 10.0,
                    "simulated burst: {} reported again and again around one place",
                    b.category.name_zh()
                );
            }
            if let Some(s) = sim.slide.filter(|s| !slide_told && s.from_ms <= sim.now_ms()) {
                slide_told = true;
                tracing::info!(
                    desk = s.desk,
                    "simulated slide: {} fixes every case it takes hours later from now on",
                    s.desk
                );
            }
            let fixes = {
                let mut live = backend.live();
                let dt = (live.now_ms() - sim.now_ms()).clamp(0, 60_000);
                let events = sim.step(dt);
                let records = play(&mut live, events, &mut ids, false);
                // On a bus the other servers' displays see the simulated patrols walk too.
                let fixes = backend.fixes_to_publish(&records);
                // Queued under the lock: the store sees records in the order memory made them.
                if !records.is_empty() {
                    let records = backend.share(&mut live, records);
                    backend.store.write_later(records);
                }
                fixes
            };
            backend.publish(&fixes).await;
        }
    })
}

/// Plays the simulation from its start up to now as history, an hour of it at a time (the
/// lock is let go in between), reporting progress.
fn warm_up(backend: &Backend, sim: &mut Simulator, ids: &mut HashMap<u64, u64>) {
    let from = sim.now_ms();
    let started = std::time::Instant::now();
    let mut reported = 0;
    loop {
        let mut live = backend.live();
        // Up to now as it is now: the clock runs on during the warm-up (a fast demo clock never
        // stands still, so the last minute is left to the live loop).
        let now = live.now_ms();
        if now - sim.now_ms() < WARMUP_DONE_WITHIN_MS {
            live.warming_up = false;
            tracing::info!(
                "simulator warm-up done: {:.0} hours of history in {:.1} s",
                (sim.now_ms() - from) as f64 / 3_600_000.0,
                started.elapsed().as_secs_f64()
            );
            break;
        }
        let hour_end = (sim.now_ms() + 3_600_000).min(now);
        let keep_tracks_from = now - live.retention_ms;
        live.warming_up = true;
        let mut records = Vec::new();
        let mut next_track = sim.now_ms();
        while sim.now_ms() < hour_end {
            let before = sim.now_ms();
            let events = sim.step(WARMUP_STEP_MS.min(hour_end - sim.now_ms()));
            let t = sim.now_ms();
            let keep = t >= keep_tracks_from && t >= next_track;
            if keep {
                next_track = t + WARMUP_TRACK_EVERY_MS;
            }
            records.extend(play(&mut live, events, ids, !keep));
            // The server's own escalation check, at the history's time.
            live.write_history_at(Some(t));
            records.extend(live.escalate());
            // The history's keyframes and KPIs, as the live tick writes them.
            if t >= keep_tracks_from && window_of(t) > window_of(before) {
                records.push(live.keyframe(holds_incidents(window_of(t))));
                records.push(live.kpi_record(&live.kpis()));
            }
        }
        live.write_history_at(None);
        let records = backend.share(&mut live, records);
        backend.store.write_later(records);
        drop(live);
        let done = ((sim.now_ms() - from) * 10 / (now - from).max(1)) as i32;
        if done > reported {
            reported = done;
            tracing::info!(
                "simulator warm-up: {}0 % ({:.0} of {:.0} hours, {:.1} s)",
                done,
                (sim.now_ms() - from) as f64 / 3_600_000.0,
                (now - from) as f64 / 3_600_000.0,
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Hands what the simulator did to the live state, each at the time it happened (a warm-up's
/// hours ago, or a moment ago); `skip_positions` drops the position fixes.
fn play(live: &mut Live, events: Vec<SimEvent>, ids: &mut HashMap<u64, u64>, skip_positions: bool) -> Vec<Record> {
    let mut records = Vec::new();
    let mut points = Vec::new();
    for e in events {
        live.write_history_at(Some(event_time(&e)));
        match e {
            SimEvent::Position { patrol: n, x, y, t_ms } => {
                if let (Some(id), false) = (live.patrol_id(&format!("sim-{n}")), skip_positions) {
                    points.push(TrackPoint { patrol: id, t_ms, x, y });
                }
            }
            SimEvent::IncidentOpened { incident, category, source, x, y, .. } => {
                let (id, r) =
                    live.open_incident(category, source, [x, y], &description(category, source), Intake::default());
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
                let closes = matches!(action, Action::Close { .. });
                if let Ok(r) = live.apply(id, &action, &actor, "") {
                    records.extend(r);
                }
                if closes {
                    ids.remove(&incident);
                }
            }
            // Escalation is the server's own check (same limits, same clock).
            SimEvent::Escalated { .. } => {}
        }
    }
    records.extend(live.ingest_points(points));
    live.write_history_at(None);
    records
}

fn event_time(e: &SimEvent) -> i64 {
    match e {
        SimEvent::Position { t_ms, .. }
        | SimEvent::IncidentOpened { t_ms, .. }
        | SimEvent::Step { t_ms, .. }
        | SimEvent::Escalated { t_ms, .. } => *t_ms,
    }
}

fn description(category: IncidentCategory, source: IncidentSource) -> String {
    format!("{}（{}，模拟）", category.name_zh(), source.name_zh())
}
