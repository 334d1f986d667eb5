//! The deterministic city simulator: patrols walking the road network, incidents arising with a
//! realistic category mix and daily rhythm, dispatched to the nearest free patrol, who goes there
//! along the roads, handles it, and the workflow runs to its close (with some rework and, when
//! patrols are short, overdue cases that escalate). A case that finds no free patrol for a while
//! goes to the responsible department (市政养护, 环卫所, …), as a real centre would send it. Review
//! (审核) and the follow-up call to the resident (回访) are done by desks staffed for the load the
//! simulation makes, so the city keeps up with its cases at any incident rate.
//!
//! Everything is driven by [`Simulator::step`] with an explicit clock and one seeded RNG, so a
//! seed fixes the whole run. The simulator produces what real devices and operators would send
//! (position reports, new incidents, workflow steps); the backend ingests them like any other.
//!
//! A crate of its own above the city core, beside the store and the bus: the simulator stands in
//! for the world outside the city (devices, callers, desks, departments), so it uses only the
//! core's public vocabulary (the workflow's actions and time limits, the moving-point index) and
//! nothing of the core depends on it. `gridwall-backend` drives it against a live backend.

mod city;
pub mod history;
mod roads;

use std::collections::{HashMap, HashSet};

use gridwall_protocol::{IncidentCategory, IncidentSource, PatrolRole};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use roads::RoadGraph;

use city::{
    CATEGORY_MIX, DAILY_RHYTHM, Desk, HARD_SHARE, PATROL_WAIT_MS, SOURCE_MIX, department, hard_delay_ms, on_site_min,
    pick,
};

use gridwall_city::index::MovingIndex;
use gridwall_city::workflow::{Action, Case, TimeLimits};

/// What a simulated patrol is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Wandering the streets.
    Patrol,
    /// Going to an incident along a route.
    Respond { incident: u64 },
    /// On site until the given time.
    Handle { incident: u64, until_ms: i64 },
}

#[derive(Debug, Clone)]
pub struct SimPatrol {
    pub id: u32,
    pub role: PatrolRole,
    /// Metres per second.
    pub speed: f64,
    pub pos: [f64; 2],
    /// Node being walked towards, and the rest of the route after it.
    target: u32,
    route: Vec<u32>,
    last: u32,
    pub task: Task,
}

/// Something the simulator did, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    Position { patrol: u32, x: f64, y: f64, t_ms: i64 },
    IncidentOpened { incident: u64, category: IncidentCategory, source: IncidentSource, x: f64, y: f64, t_ms: i64 },
    Step { incident: u64, action: Action, actor: String, t_ms: i64 },
    Escalated { incident: u64, t_ms: i64 },
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub patrols: usize,
    /// Mean new incidents per hour at the daily average.
    pub incidents_per_hour: f64,
    /// Position report interval per patrol.
    pub report_ms: i64,
    /// Local time zone of the city (the daily rhythm follows local hours).
    pub utc_offset_ms: i64,
    /// Mean hours between bursts (0: none): anomalies 预警 should catch ([`Burst`]).
    pub burst_every_hours: f64,
    /// Hours after the start when one department (seeded) slows down for good (0: never): its
    /// fixes take 4 to 10 hours longer, so its on-time rate slides ([`Slide`]).
    pub desk_slide_hours: f64,
}

/// A department that slows down: from `from_ms` on, each case it takes is fixed 4 to 10 hours
/// later than it would have been (staff away, a contractor gone): 按期结案率 slides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slide {
    pub from_ms: i64,
    pub desk: &'static str,
}

/// A burst: one category reported again and again around one place for some hours (a burst
/// pipe, a festival's litter), on top of the usual reports. Seeded from the run's seed on a
/// stream of its own: when and where bursts come does not depend on the rest of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub start_ms: i64,
    pub end_ms: i64,
    pub category: IncidentCategory,
    pub at: [f64; 2],
    /// Reports per hour while it lasts.
    pub per_hour: f64,
}

/// Metres around a burst's place its reports fall within.
const BURST_RADIUS_M: f64 = 120.0;

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            patrols: 60,
            incidents_per_hour: 30.0,
            report_ms: 1000,
            utc_offset_ms: 8 * 3_600_000,
            burst_every_hours: 0.0,
            desk_slide_hours: 0.0,
        }
    }
}

/// A running simulation.
#[derive(Debug)]
pub struct Simulator {
    graph: RoadGraph,
    rng: ChaCha8Rng,
    config: SimConfig,
    limits: TimeLimits,
    pub patrols: Vec<SimPatrol>,
    index: MovingIndex,
    pub cases: HashMap<u64, (Case, [f64; 2])>,
    /// Incidents not yet given to a patrol, oldest first, with the time they came in.
    queue: Vec<(u64, i64)>,
    reviewers: Desk,
    callers: Desk,
    /// Workflow steps waiting for their time: (due, incident, action, actor).
    pending: Vec<(i64, u64, Action, String)>,
    next_incident: u64,
    /// Cases that take hours more to fix.
    hard: HashSet<u64>,
    now_ms: i64,
    next_report_ms: i64,
    /// The bursts so far (the newest may be still to come), and their own random stream.
    pub bursts: Vec<Burst>,
    burst_rng: ChaCha8Rng,
    /// The department that slows down, if any.
    pub slide: Option<Slide>,
    /// Per node, the running total of the streets' length at its nodes (reports are placed
    /// evenly along the streets).
    street_m: Vec<f64>,
}

impl Simulator {
    /// Starts a simulation at `start_ms` on a road graph (which needs at least one edge).
    pub fn new(graph: RoadGraph, config: SimConfig, limits: TimeLimits, start_ms: i64) -> Option<Self> {
        let usable: Vec<u32> = (0..graph.nodes.len() as u32).filter(|&i| !graph.edges[i as usize].is_empty()).collect();
        if usable.is_empty() {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut index = MovingIndex::new(100.0);
        let patrols = (0..config.patrols as u32)
            .map(|id| {
                let role = pick(
                    &mut rng,
                    &[(PatrolRole::GridWorker, 0.6), (PatrolRole::Police, 0.25), (PatrolRole::Volunteer, 0.15)],
                );
                let speed = match role {
                    PatrolRole::GridWorker => {
                        if rng.random_bool(0.3) {
                            4.5
                        } else {
                            1.4
                        }
                    }
                    PatrolRole::Police => 8.0,
                    PatrolRole::Volunteer => 1.2,
                };
                let at = usable[rng.random_range(0..usable.len())];
                let pos = graph.nodes[at as usize];
                index.upsert(id, pos);
                SimPatrol { id, role, speed, pos, target: at, route: Vec::new(), last: at, task: Task::Patrol }
            })
            .collect();
        let (reviewers, callers) =
            (Desk::staffed(config.incidents_per_hour, 7.5), Desk::staffed(config.incidents_per_hour, 6.5));
        let street_m: Vec<f64> = graph
            .edges
            .iter()
            .scan(0.0, |sum, e| {
                *sum += e.iter().map(|x| x.1).sum::<f64>();
                Some(*sum)
            })
            .collect();
        let mut burst_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6275_7273_7473);
        let slide = (config.desk_slide_hours > 0.0).then(|| {
            // Departments that take cases when no patrol is free (not the patrols themselves).
            let category = CATEGORY_MIX[burst_rng.random_range(0..CATEGORY_MIX.len())].0;
            Slide { from_ms: start_ms + (config.desk_slide_hours * 3_600_000.0) as i64, desk: department(category) }
        });
        Some(Self {
            graph,
            rng,
            reviewers,
            callers,
            config,
            limits,
            patrols,
            index,
            cases: HashMap::new(),
            queue: Vec::new(),
            pending: Vec::new(),
            next_incident: 1,
            hard: HashSet::new(),
            now_ms: start_ms,
            next_report_ms: start_ms,
            bursts: Vec::new(),
            burst_rng,
            slide,
            street_m,
        })
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Advances the world by `dt_ms` and returns what happened.
    pub fn step(&mut self, dt_ms: i64) -> Vec<SimEvent> {
        let mut events = Vec::new();
        self.now_ms += dt_ms;
        let now = self.now_ms;
        self.spawn_incidents(dt_ms, &mut events);
        self.dispatch_queue(&mut events);
        self.move_patrols(dt_ms as f64 / 1000.0, &mut events);
        // Due workflow steps (resolve after handling, review, revisit).
        self.pending.sort_by_key(|p| (p.0, p.1));
        let due: Vec<_> = self.pending.iter().take_while(|p| p.0 <= now).cloned().collect();
        self.pending.drain(..due.len());
        for (t, incident, action, actor) in due {
            self.apply(incident, &action, &actor, t, &mut events);
        }
        // Only open cases can run late; closed ones stay out of the per-step scan.
        let mut ids: Vec<u64> = self.cases.iter().filter(|(_, (c, _))| c.is_open()).map(|(&id, _)| id).collect();
        ids.sort_unstable();
        for id in ids {
            let (case, _) = self.cases.get_mut(&id).expect("listed");
            if case.escalate_if_overdue(now, &self.limits).is_some() {
                events.push(SimEvent::Escalated { incident: id, t_ms: now });
            }
        }
        if now >= self.next_report_ms {
            self.next_report_ms = now + self.config.report_ms;
            events.extend(self.patrols.iter().map(|p| SimEvent::Position {
                patrol: p.id,
                x: p.pos[0],
                y: p.pos[1],
                t_ms: now,
            }));
        }
        events
    }

    fn apply(&mut self, incident: u64, action: &Action, actor: &str, t: i64, events: &mut Vec<SimEvent>) {
        let Some((case, _)) = self.cases.get_mut(&incident) else { return };
        if case.apply(action, actor, "", t, &self.limits).is_err() {
            return;
        }
        events.push(SimEvent::Step { incident, action: action.clone(), actor: actor.to_owned(), t_ms: t });
        if !case.is_open() {
            // Closed cases take no more steps: the simulator's memory is its open work.
            self.cases.remove(&incident);
            return;
        }
        let minutes = |m: i64| t + m * 60_000;
        match action {
            Action::Resolve => {
                // The review desk checks the photos and notes: 3 to 12 minutes, when someone is free.
                let at = self.reviewers.book(t, self.rng.random_range(3..12) * 60_000);
                let verdict = if self.rng.random_bool(0.1) { Action::ReviewReject } else { Action::ReviewPass };
                self.pending.push((at, incident, verdict, "审核员".into()));
            }
            Action::ReviewReject => {
                // Rework: the handler goes back and fixes it.
                let at = minutes(self.rng.random_range(20..90));
                self.pending.push((at, incident, Action::Resolve, "rework".into()));
            }
            Action::ReviewPass => {
                // The resident is called back a quarter to one hour later (a 3 to 10 minute call).
                let ready = minutes(self.rng.random_range(15..60));
                let at = self.callers.book(ready, self.rng.random_range(3..10) * 60_000);
                let satisfaction = if self.rng.random_bool(0.93) {
                    self.rng.random_range(4..=5)
                } else {
                    self.rng.random_range(1..=3)
                };
                self.pending.push((at, incident, Action::Close { satisfaction }, "回访员".into()));
            }
            _ => {}
        }
    }

    /// How much later a department that slowed down fixes a case it takes at `t` (on the
    /// bursts' random stream: the rest of the run draws the same numbers).
    fn slid(&mut self, desk: &str, t: i64) -> i64 {
        match self.slide {
            Some(s) if s.desk == desk && t >= s.from_ms => self.burst_rng.random_range(4 * 60..10 * 60) * 60_000,
            _ => 0,
        }
    }

    /// Plans the next burst once the last one is over: an exponential wait of mean
    /// `burst_every_hours`, two to four hours long, at a road node, 3 to 6 reports an hour.
    fn plan_burst(&mut self) {
        let every = self.config.burst_every_hours;
        if every <= 0.0 || self.bursts.last().is_some_and(|b| b.end_ms > self.now_ms) {
            return;
        }
        let r = &mut self.burst_rng;
        let wait = -every * r.random::<f64>().max(1e-12).ln();
        let start_ms = self.now_ms + (wait * 3_600_000.0) as i64;
        let hours = r.random_range(2.0..4.0);
        let node = r.random_range(0..self.graph.nodes.len());
        let category = CATEGORY_MIX[r.random_range(0..CATEGORY_MIX.len())].0;
        let per_hour = r.random_range(3.0..6.0);
        let at = self.graph.nodes[node];
        self.bursts.push(Burst { start_ms, end_ms: start_ms + (hours * 3_600_000.0) as i64, category, at, per_hour });
    }

    /// The reports of the burst under way in this step.
    fn burst_reports(&mut self, dt_ms: i64, events: &mut Vec<SimEvent>) {
        self.plan_burst();
        let Some(b) = self.bursts.last().copied().filter(|b| b.start_ms <= self.now_ms && self.now_ms < b.end_ms)
        else {
            return;
        };
        let expected = b.per_hour * dt_ms as f64 / 3_600_000.0;
        let mut t = -self.burst_rng.random::<f64>().max(1e-12).ln();
        while t <= expected {
            let (a, d) = (
                self.burst_rng.random_range(0.0..std::f64::consts::TAU),
                self.burst_rng.random_range(0.0..BURST_RADIUS_M),
            );
            let pos = [b.at[0] + d * a.cos(), b.at[1] + d * a.sin()];
            let source = pick(&mut self.burst_rng, &SOURCE_MIX);
            self.open_case(b.category, source, pos, events);
            t -= self.burst_rng.random::<f64>().max(1e-12).ln();
        }
    }

    fn open_case(
        &mut self,
        category: IncidentCategory,
        source: IncidentSource,
        pos: [f64; 2],
        events: &mut Vec<SimEvent>,
    ) -> u64 {
        let id = self.next_incident;
        self.next_incident += 1;
        self.cases.insert(id, (Case::accept(category, self.now_ms, source.name_zh(), &self.limits), pos));
        self.queue.push((id, self.now_ms));
        events.push(SimEvent::IncidentOpened {
            incident: id,
            category,
            source,
            x: pos[0],
            y: pos[1],
            t_ms: self.now_ms,
        });
        id
    }

    fn spawn_incidents(&mut self, dt_ms: i64, events: &mut Vec<SimEvent>) {
        self.burst_reports(dt_ms, events);
        let hour = ((self.now_ms + self.config.utc_offset_ms).div_euclid(3_600_000).rem_euclid(24)) as usize;
        let expected = self.config.incidents_per_hour * DAILY_RHYTHM[hour] * dt_ms as f64 / 3_600_000.0;
        // Poisson arrivals: count events of an exponential clock within this step.
        let mut t = 0.0;
        loop {
            t += -self.rng.random::<f64>().max(1e-12).ln();
            if t > expected {
                break;
            }
            // Anywhere along the streets, evenly by length, a few metres off them: a node drawn
            // by the length of its streets (OSM packs nodes into curves and corners, and drawing
            // nodes evenly made those places 重复投诉), then one of its streets by length.
            let total = self.street_m.last().copied().unwrap_or(0.0);
            let at = self.rng.random::<f64>() * total;
            let node = self.street_m.partition_point(|&m| m <= at).min(self.graph.nodes.len() - 1);
            if self.graph.edges[node].is_empty() {
                continue;
            }
            let base = self.graph.nodes[node];
            let edges = &self.graph.edges[node];
            let mut pick_m = self.rng.random::<f64>() * edges.iter().map(|e| e.1).sum::<f64>();
            let edge = edges.iter().position(|e| {
                pick_m -= e.1;
                pick_m <= 0.0
            });
            let next = self.graph.nodes[edges[edge.unwrap_or(edges.len() - 1)].0 as usize];
            let along = self.rng.random::<f64>();
            let pos = [
                base[0] + (next[0] - base[0]) * along + self.rng.random_range(-8.0..8.0),
                base[1] + (next[1] - base[1]) * along + self.rng.random_range(-8.0..8.0),
            ];
            let category = pick(&mut self.rng, &CATEGORY_MIX.map(|c| (c.0, c.1)));
            let source = pick(&mut self.rng, &SOURCE_MIX);
            let id = self.open_case(category, source, pos, events);
            if self.rng.random_bool(HARD_SHARE) {
                self.hard.insert(id);
            }
        }
    }

    fn dispatch_queue(&mut self, events: &mut Vec<SimEvent>) {
        let mut waiting = Vec::new();
        let mut free: Vec<bool> = self.patrols.iter().map(|p| p.task == Task::Patrol).collect();
        // Searching for a free patrol when none is free would scan the whole index per case.
        let mut free_count = free.iter().filter(|&&f| f).count();
        let now = self.now_ms;
        for (incident, since) in std::mem::take(&mut self.queue) {
            let (case, pos) = &self.cases[&incident];
            let (category, pos) = (case.category, *pos);
            let patrol = if free_count == 0 {
                None
            } else {
                self.index.nearest(pos, 1, |id| free[id as usize]).first().map(|p| p.0)
            };
            let route = patrol.and_then(|patrol| {
                let p = &self.patrols[patrol as usize];
                self.graph.route(p.target, self.graph.nearest_node(pos).unwrap_or(p.target))
            });
            let (Some(patrol), Some(route)) = (patrol, route) else {
                if now - since < PATROL_WAIT_MS {
                    waiting.push((incident, since));
                    continue;
                }
                // No patrol in time: the department takes it and reports back when done.
                let dept = department(category);
                self.apply(incident, &Action::Dispatch { assignee: dept.into() }, "指挥中心", now, events);
                let on_site = on_site_min(category).map_or(30, i64::from);
                let mut done = now + (on_site + self.rng.random_range(30..150)) * 60_000;
                if self.hard.contains(&incident) {
                    done += hard_delay_ms(&mut self.rng);
                }
                done += self.slid(dept, now);
                self.pending.push((done, incident, Action::Resolve, dept.into()));
                continue;
            };
            let p = &mut self.patrols[patrol as usize];
            p.route = route[1..].to_vec();
            p.task = Task::Respond { incident };
            free[patrol as usize] = false;
            free_count -= 1;
            let actor = format!("P{patrol}");
            self.apply(incident, &Action::Dispatch { assignee: actor }, "指挥中心", self.now_ms, events);
        }
        self.queue = waiting;
    }

    fn move_patrols(&mut self, dt_s: f64, events: &mut Vec<SimEvent>) {
        let now = self.now_ms;
        let mut arrivals = Vec::new();
        for i in 0..self.patrols.len() {
            if let Task::Handle { incident, until_ms } = self.patrols[i].task {
                if now >= until_ms {
                    self.patrols[i].task = Task::Patrol;
                    arrivals.push((incident, format!("P{i}"), until_ms));
                }
                continue;
            }
            let mut budget = self.patrols[i].speed * dt_s;
            while budget > 0.0 {
                let p = &self.patrols[i];
                let goal = self.graph.nodes[p.target as usize];
                let (dx, dy) = (goal[0] - p.pos[0], goal[1] - p.pos[1]);
                let d = dx.hypot(dy);
                if d > budget {
                    let p = &mut self.patrols[i];
                    p.pos = [p.pos[0] + dx / d * budget, p.pos[1] + dy / d * budget];
                    break;
                }
                budget -= d;
                self.patrols[i].pos = goal;
                let reached = self.patrols[i].target;
                if let Some(next) = (!self.patrols[i].route.is_empty()).then(|| self.patrols[i].route.remove(0)) {
                    self.patrols[i].last = reached;
                    self.patrols[i].target = next;
                } else if let Task::Respond { incident } = self.patrols[i].task {
                    let minutes = self.cases.get(&incident).and_then(|c| on_site_min(c.0.category)).unwrap_or(20);
                    self.patrols[i].task = Task::Handle { incident, until_ms: now + i64::from(minutes) * 60_000 };
                    break;
                } else {
                    // Wander: any neighbour but the one we came from, when there is a choice.
                    let options: Vec<u32> = self.graph.edges[reached as usize]
                        .iter()
                        .map(|e| e.0)
                        .filter(|&n| n != self.patrols[i].last)
                        .collect();
                    let next = if options.is_empty() {
                        self.patrols[i].last
                    } else {
                        options[self.rng.random_range(0..options.len())]
                    };
                    self.patrols[i].last = reached;
                    self.patrols[i].target = next;
                }
            }
            self.index.upsert(self.patrols[i].id, self.patrols[i].pos);
        }
        for (incident, actor, t) in arrivals {
            if self.hard.remove(&incident) {
                // The patrol made it safe and hands it to the department (转办), which reports
                // the fix once done.
                let Some(category) = self.cases.get(&incident).map(|c| c.0.category) else { continue };
                let dept = department(category);
                self.apply(incident, &Action::Dispatch { assignee: dept.into() }, &actor, t, events);
                let done = t + hard_delay_ms(&mut self.rng) + self.slid(dept, t);
                self.pending.push((done, incident, Action::Resolve, dept.into()));
                continue;
            }
            self.apply(incident, &Action::Resolve, &actor, t, events);
        }
    }
}

#[cfg(test)]
mod tests;
