//! The live state behind the server: the [`World`] plus what streaming needs (patrol id
//! mapping, what changed since the last tick, the numbered event log) and the operations that
//! HTTP, WebSocket commands and the simulator perform on it.
//!
//! Everything here is synchronous and runs under one mutex held for microseconds. Each operation
//! validates fully before changing anything (a refused request alters nothing) and returns the
//! [`Record`]s that make it durable; callers commit those before acknowledging.

mod clock;
mod refusal;
mod replica;
mod views;

pub use clock::Clock;
pub use refusal::{Refusal, RefusalKind, RestoreError};
pub use replica::Change;

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use gridwall_protocol::api::PatrolRegistration;
use gridwall_protocol::{
    Event, EventKind, GridLevel, IncidentCategory, IncidentSource, Kpis, PatrolRole, PatrolState, PatrolStatus,
    UnknownKey,
};

use crate::access::{AUDIT_KEPT, AuditEntry, Caller, MAX_NAME};
use crate::store::{IncidentRow, Loaded, PatrolRow, Record, TrackPoint};
use crate::workflow::{Action, WorkflowError};
use crate::world::{World, WorldEvent};

/// Events kept in memory for resuming clients.
pub const EVENT_LOG: usize = 4096;

/// What changed during one tick, shared by every connection.
#[derive(Debug, Default)]
pub struct TickBatch {
    pub tick: u64,
    pub time_ms: i64,
    /// Patrols that only moved.
    pub moved: Vec<(u32, [f64; 2])>,
    /// Patrols whose status, role or assignment changed (with their position).
    pub changed: Vec<PatrolState>,
    pub events: Vec<Arc<Event>>,
    /// The city-wide KPIs, when they changed since the last batch that carried them.
    pub kpis: Option<Kpis>,
}

/// The live state.
#[derive(Debug)]
pub struct Live {
    pub world: World,
    pub clock: Clock,
    ext_ids: Vec<String>,
    by_ext: FxHashMap<String, u32>,
    moved: Vec<u32>,
    changed: Vec<u32>,
    /// Per patrol: 1 = in `moved`, 2 = in `changed`.
    dirty: Vec<u8>,
    log: VecDeque<Arc<Event>>,
    pending: Vec<Arc<Event>>,
    next_seq: u64,
    next_incident: u64,
    tick: u64,
    /// Offset of the operators' time zone (for "closed today").
    pub utc_offset_ms: i64,
    /// While history is written (the simulator's warm-up), the time operations happen at.
    history_ms: Option<i64>,
    /// How far ahead of the server's clock a device's timestamp may be (its clock runs fast):
    /// such a fix counts as taken now; one further ahead is refused.
    pub clock_tolerance_ms: i64,
    /// The newest entries of the audit trail (all of them are in the store).
    audit: VecDeque<AuditEntry>,
    /// The newest event known to be on disk, where a store says so ([`Live::track_durability`]):
    /// displays are shown events up to it only, so an event a crash loses was never seen and
    /// its seq is never shown twice. `None`: every event counts as durable.
    durable_seq: Option<u64>,
    /// The newest event handed to the displays by [`Live::tick`].
    ticked_seq: u64,
    /// How far back history is kept: older position fixes are refused.
    pub retention_ms: i64,
    /// While the simulator writes the past (its warm-up): the tick writes no keyframes then.
    pub warming_up: bool,
    /// A follower's copy of the city (servers on a bus): it makes no events or ids itself.
    replica: bool,
    /// The newest change of the shared state this state includes (servers on a bus).
    change_id: u64,
}

/// Most patrols one registration request may name.
pub const MAX_REGISTRATIONS: usize = 10_000;

/// Longest note of a workflow step (characters).
pub const MAX_NOTE_CHARS: usize = 2_000;

/// The default of [`Live::clock_tolerance_ms`].
pub const CLOCK_TOLERANCE_MS: i64 = 30_000;

/// Priority 1 (highest) to 4 by category.
pub fn priority(category: IncidentCategory) -> u8 {
    match category {
        IncidentCategory::ManholeDamage | IncidentCategory::SafetyHazard => 1,
        IncidentCategory::RoadDamage | IncidentCategory::PipeBlockage | IncidentCategory::Dispute => 2,
        IncidentCategory::StreetLightOut | IncidentCategory::Noise => 3,
        _ => 4,
    }
}

impl Live {
    /// Builds the live state from a world and what the store had.
    pub fn restore(world: World, loaded: Loaded, clock: Clock, utc_offset_ms: i64) -> Result<Self, RestoreError> {
        let mut live = Self {
            world,
            clock,
            ext_ids: Vec::new(),
            by_ext: FxHashMap::default(),
            moved: Vec::new(),
            changed: Vec::new(),
            dirty: Vec::new(),
            log: VecDeque::new(),
            pending: Vec::new(),
            next_seq: 1,
            next_incident: 1,
            tick: 0,
            utc_offset_ms,
            clock_tolerance_ms: CLOCK_TOLERANCE_MS,
            history_ms: None,
            audit: loaded.audit.into(),
            durable_seq: None,
            ticked_seq: 0,
            retention_ms: crate::world::TRACK_RETENTION_MS,
            warming_up: false,
            replica: false,
            change_id: loaded.change_id,
        };
        for p in &loaded.patrols {
            if p.id as usize != live.ext_ids.len() {
                return Err(RestoreError::SparseIds(p.id));
            }
            live.put_patrol(p)?;
        }
        for t in &loaded.positions {
            live.world.report_position(t.patrol, [t.x, t.y], t.t_ms);
        }
        for i in &loaded.incidents {
            live.put_incident(i)?;
        }
        for (seq, _, json) in loaded.events {
            let e: Event = serde_json::from_str(&json).map_err(|source| RestoreError::Event { seq, source })?;
            live.log.push_back(Arc::new(e));
            live.next_seq = seq + 1;
        }
        while live.log.len() > EVENT_LOG {
            live.log.pop_front();
        }
        live.ticked_seq = live.next_seq - 1;
        Ok(live)
    }

    /// Takes a stored or replicated patrol row: a new patrol (the next id: ids are dense) or a
    /// known one, registered with its status.
    fn put_patrol(&mut self, p: &PatrolRow) -> Result<(), RestoreError> {
        let role: PatrolRole = p.role.parse().map_err(|source| RestoreError::Patrol { id: p.id, source })?;
        let status: PatrolStatus = p.status.parse().map_err(|source| RestoreError::Patrol { id: p.id, source })?;
        match (p.id as usize).cmp(&self.ext_ids.len()) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                self.ext_ids.push(p.ext_id.clone());
                self.by_ext.insert(p.ext_id.clone(), p.id);
                self.dirty.push(0);
            }
            std::cmp::Ordering::Greater => return Err(RestoreError::SparseIds(p.id)),
        }
        self.world.register_patrol(p.id, &p.name, role, &p.grid);
        self.world.patrols.get_mut(&p.id).expect("registered").status = status;
        Ok(())
    }

    /// Takes a stored or replicated incident row: opened if new, its cell and workflow state
    /// as the row says.
    fn put_incident(&mut self, i: &IncidentRow) -> Result<(), RestoreError> {
        let category: IncidentCategory =
            i.category.parse().map_err(|source| RestoreError::Incident { id: i.id, source })?;
        let source: IncidentSource = i.source.parse().map_err(|source| RestoreError::Incident { id: i.id, source })?;
        if !self.world.incidents.contains_key(&i.id) {
            self.world.open_incident(i.id, category, source, [i.x, i.y], &i.description, i.case.created_ms);
        }
        let rec = self.world.incidents.get_mut(&i.id).expect("opened");
        rec.grid.clone_from(&i.grid);
        rec.case = i.case.clone();
        self.next_incident = self.next_incident.max(i.id + 1);
        Ok(())
    }

    /// The newest event a tick has handed to the displays.
    pub fn ticked_seq(&self) -> u64 {
        self.ticked_seq
    }

    /// Hands the logged events after `seq` to the next ticks again (after the state was
    /// rebuilt from the store: what was committed but not yet shown).
    pub fn replay_after(&mut self, seq: u64) {
        self.pending = self.log.iter().filter(|e| e.seq > seq).cloned().collect();
        self.ticked_seq = self.ticked_seq.min(seq);
    }

    /// From now on, shows displays only the events a store has committed ([`Live::set_durable`]).
    pub fn track_durability(&mut self) {
        self.durable_seq = Some(self.next_seq - 1);
    }

    /// The store has committed every event up to `seq`.
    pub fn set_durable(&mut self, seq: u64) {
        if let Some(d) = &mut self.durable_seq {
            *d = (*d).max(seq);
        }
    }

    /// Adds a command to the audit trail: the record to commit with it.
    pub fn audit(
        &mut self,
        caller: &Caller,
        action: &str,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Record {
        let entry = crate::access::audit_entry(self.now_ms(), caller, action, target.into(), outcome.into());
        if self.audit.len() == AUDIT_KEPT {
            self.audit.pop_front();
        }
        self.audit.push_back(entry.clone());
        Record::Audit(entry)
    }

    /// The newest audit entries at or after `since_ms` (of `actor`, if given), newest first, at
    /// most `limit`.
    pub fn audit_trail(&self, since_ms: i64, actor: Option<&str>, limit: usize) -> Vec<AuditEntry> {
        self.audit
            .iter()
            .rev()
            .take_while(|a| a.t_ms >= since_ms)
            .filter(|a| actor.is_none_or(|n| a.actor == n))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The server's time (or, while history is written, the time of the history).
    pub fn now_ms(&self) -> i64 {
        self.history_ms.unwrap_or_else(|| self.clock.now_ms())
    }

    /// Writes history: until called with `None`, every operation happens at `t_ms` (a time
    /// before now; the simulator's warm-up replays the hours before the server started).
    pub fn write_history_at(&mut self, t_ms: Option<i64>) {
        self.history_ms = t_ms.map(|t| t.min(self.clock.now_ms()));
    }

    /// Seq of the newest event.
    /// The newest event displays may see.
    pub fn last_seq(&self) -> u64 {
        let made = self.next_seq - 1;
        self.durable_seq.map_or(made, |d| d.min(made))
    }

    pub fn patrol_id(&self, ext: &str) -> Option<u32> {
        self.by_ext.get(ext).copied()
    }

    pub fn patrol_ext(&self, id: u32) -> Option<&str> {
        self.ext_ids.get(id as usize).map(String::as_str)
    }

    fn mark(&mut self, id: u32, changed: bool) {
        let d = &mut self.dirty[id as usize];
        if changed && *d < 2 {
            *d = 2;
            self.changed.push(id);
        } else if *d == 0 {
            *d = 1;
            self.moved.push(id);
        }
    }

    fn event(&mut self, kind: EventKind) -> Record {
        let e = Arc::new(Event { seq: self.next_seq, time_ms: self.now_ms(), kind });
        self.next_seq += 1;
        self.log.push_back(e.clone());
        if self.log.len() > EVENT_LOG {
            self.log.pop_front();
        }
        let json = serde_json::to_string(&*e).expect("events serialise");
        let record = Record::Event { seq: e.seq, time_ms: e.time_ms, json };
        self.pending.push(e);
        record
    }

    fn patrol_row(&self, id: u32) -> PatrolRow {
        let p = &self.world.patrols[&id];
        PatrolRow {
            id,
            ext_id: self.ext_ids[id as usize].clone(),
            name: p.name.clone(),
            role: p.role.key().into(),
            grid: p.grid.clone(),
            status: p.status.key().into(),
            at_ms: self.now_ms(),
        }
    }

    /// A keyframe of now: every placed patrol's position, role and status, and (`incidents`) the
    /// open incidents (replay starts from the newest keyframes before the time it shows).
    pub fn keyframe(&self, incidents: bool) -> Record {
        let mut patrols: Vec<crate::history::codec::KeyPatrol> = self
            .world
            .patrols
            .values()
            .filter_map(|p| {
                let f = crate::history::codec::Fix::from_metres(0, p.pos?[0], p.pos?[1]);
                Some(crate::history::codec::KeyPatrol {
                    id: p.id,
                    role: p.role,
                    status: p.status,
                    x_cm: f.x_cm,
                    y_cm: f.y_cm,
                })
            })
            .collect();
        patrols.sort_unstable_by_key(|p| p.id);
        let incidents = if incidents {
            let mut open: Vec<_> =
                self.world.incidents.values().filter(|i| i.case.is_open()).map(|i| self.incident_state(i)).collect();
            open.sort_unstable_by_key(|i| i.id);
            Some(serde_json::to_string(&open).expect("incidents serialise"))
        } else {
            None
        };
        Record::Keyframe {
            t_ms: self.now_ms(),
            seq: self.next_seq - 1,
            patrols: crate::history::codec::encode_keyframe(&patrols),
            incidents,
        }
    }

    /// The KPIs as of now, for the KPI log.
    pub fn kpi_record(&self, kpis: &Kpis) -> Record {
        Record::Kpis { t_ms: self.now_ms(), json: serde_json::to_string(kpis).expect("KPIs serialise") }
    }

    /// Registers or updates patrols (all or nothing).
    pub fn register(&mut self, regs: &[PatrolRegistration]) -> Result<Vec<Record>, Refusal> {
        if regs.len() > MAX_REGISTRATIONS {
            return Err(Refusal::invalid("body", format!("at most {MAX_REGISTRATIONS} patrols a request")));
        }
        let mut parsed = Vec::with_capacity(regs.len());
        for (i, r) in regs.iter().enumerate() {
            let at = |mut e: Refusal| {
                e.index = Some(i);
                e
            };
            if r.patrol_id.trim().is_empty() || r.patrol_id.len() > 64 {
                return Err(at(Refusal::invalid("patrol_id", "must be 1 to 64 bytes")));
            }
            let role: PatrolRole =
                r.role.parse().map_err(|e: UnknownKey| at(Refusal::invalid("role", e.to_string())))?;
            let status: PatrolStatus = r
                .status
                .as_deref()
                .unwrap_or("patrolling")
                .parse()
                .map_err(|e: UnknownKey| at(Refusal::invalid("status", e.to_string())))?;
            if r.name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME || n.chars().any(char::is_control)) {
                return Err(at(Refusal::invalid(
                    "name",
                    format!("at most {MAX_NAME} characters, no control characters"),
                )));
            }
            let grid = match (&r.grid, role) {
                (None, PatrolRole::GridWorker) => {
                    return Err(at(Refusal::invalid("grid", "a grid worker needs the code of their grid cell")));
                }
                (None, _) => String::new(),
                (Some(g), _) if self.world.grid(g).is_none_or(|g| g.level != GridLevel::Cell) => {
                    return Err(at(Refusal::invalid("grid", format!("{g:?} is not a grid cell of this scene"))));
                }
                (Some(g), _) => g.clone(),
            };
            parsed.push((role, status, grid));
        }
        let mut records = Vec::new();
        for (r, (role, status, grid)) in regs.iter().zip(parsed) {
            let id = if let Some(&id) = self.by_ext.get(&r.patrol_id) {
                id
            } else {
                let id = self.ext_ids.len() as u32;
                self.ext_ids.push(r.patrol_id.clone());
                self.by_ext.insert(r.patrol_id.clone(), id);
                self.dirty.push(0);
                id
            };
            self.world.register_patrol(id, r.name.as_deref().unwrap_or(&r.patrol_id), role, &grid);
            self.world.patrols.get_mut(&id).expect("registered").status = status;
            self.mark(id, true);
            records.push(Record::Patrol(self.patrol_row(id)));
        }
        Ok(records)
    }

    /// Applies validated position reports (local metres). Unknown patrol ids refuse the batch.
    pub fn ingest(&mut self, positions: &[crate::ingest::Position]) -> Result<Vec<Record>, Refusal> {
        let now = self.now_ms();
        let mut points = Vec::with_capacity(positions.len());
        for (i, p) in positions.iter().enumerate() {
            let refuse = |field: &str, message: String| Refusal {
                kind: RefusalKind::Invalid,
                index: Some(i),
                field: field.into(),
                message,
            };
            let id = self.by_ext.get(&p.patrol_id).copied().ok_or_else(|| {
                refuse(
                    "patrol_id",
                    format!("{:?} is not a registered patrol (POST /api/v1/patrols first)", p.patrol_id),
                )
            })?;
            // A device's clock is not trusted: a fix from the future would freeze the patrol
            // there (every real fix after it would count as late).
            if p.t_ms > now + self.clock_tolerance_ms {
                return Err(refuse(
                    "ts",
                    format!(
                        "{} is {:.0} s ahead of the server's clock {} (at most {:.0} s)",
                        crate::ingest::format_time(p.t_ms),
                        (p.t_ms - now) as f64 / 1000.0,
                        crate::ingest::format_time(now),
                        self.clock_tolerance_ms as f64 / 1000.0
                    ),
                ));
            }
            if p.t_ms < now - self.retention_ms {
                return Err(refuse(
                    "ts",
                    format!(
                        "{} is older than the {:.0} h of tracks the server keeps",
                        crate::ingest::format_time(p.t_ms),
                        self.retention_ms as f64 / 3_600_000.0
                    ),
                ));
            }
            points.push(TrackPoint { patrol: id, t_ms: p.t_ms.min(now), x: p.x, y: p.y });
        }
        Ok(self.ingest_points(points))
    }

    /// Applies position fixes of known patrols (the simulator's path, already in local metres).
    pub fn ingest_points(&mut self, points: Vec<TrackPoint>) -> Vec<Record> {
        let mut records = Vec::new();
        for p in &points {
            // Fixes from the bus may name a patrol whose registration has not arrived yet.
            if p.patrol as usize >= self.ext_ids.len() {
                continue;
            }
            for e in self.world.report_position(p.patrol, [p.x, p.y], p.t_ms) {
                // Only the leader makes events (it sees every fix over the bus).
                if !self.replica {
                    let WorldEvent::PatrolLeftGrid { patrol, grid } = e;
                    records.push(self.event(EventKind::PatrolLeftGrid { patrol, grid }));
                }
            }
            self.mark(p.patrol, false);
        }
        if !points.is_empty() {
            records.insert(0, Record::Track(points));
        }
        records
    }

    fn incident_row(&self, id: u64) -> IncidentRow {
        let r = &self.world.incidents[&id];
        IncidentRow {
            id,
            category: r.category.key().into(),
            source: r.source.key().into(),
            x: r.pos[0],
            y: r.pos[1],
            grid: r.grid.clone(),
            description: r.description.clone(),
            case: r.case.clone(),
        }
    }

    /// Opens an incident (受理) at a local point; returns its id.
    pub fn open_incident(
        &mut self,
        category: IncidentCategory,
        source: IncidentSource,
        p: [f64; 2],
        description: &str,
    ) -> (u64, Vec<Record>) {
        let id = self.next_incident;
        self.next_incident += 1;
        let now = self.now_ms();
        self.world.open_incident(id, category, source, p, description, now);
        let state = self.incident_state(&self.world.incidents[&id]);
        let mut records = vec![Record::Incident(self.incident_row(id))];
        records.push(self.event(EventKind::IncidentOpened { incident: state }));
        (id, records)
    }

    /// Applies a workflow step. Dispatching to a registered patrol makes it `responding`; the
    /// patrol's resolve sets it back to `patrolling`.
    pub fn apply(&mut self, id: u64, action: &Action, actor: &str, note: &str) -> Result<Vec<Record>, Refusal> {
        if actor.trim().is_empty() {
            return Err(Refusal::invalid("actor", "missing or empty"));
        }
        // Texts from outside end up in every display's timeline and in the store.
        for (field, text, max) in [("actor", actor, MAX_NAME), ("note", note, MAX_NOTE_CHARS)] {
            if text.chars().count() > max {
                return Err(Refusal::invalid(field, format!("at most {max} characters")));
            }
        }
        if let Action::Dispatch { assignee } = action
            && assignee.chars().count() > MAX_NAME
        {
            return Err(Refusal::invalid("assignee", format!("at most {MAX_NAME} characters")));
        }
        let now = self.now_ms();
        let limits = self.world.limits.clone();
        let rec = self
            .world
            .incidents
            .get_mut(&id)
            .ok_or_else(|| Refusal::not_found("incident", format!("no incident {id}")))?;
        let before_assignee = rec.case.assignee.clone();
        rec.case.apply(action, actor, note, now, &limits).map_err(|e| match e {
            WorkflowError::InvalidTransition { .. } | WorkflowError::TimelineFull => {
                Refusal::conflict("action", e.to_string())
            }
            WorkflowError::Satisfaction(_) => Refusal::invalid("satisfaction", e.to_string()),
            WorkflowError::NoAssignee => Refusal::invalid("assignee", e.to_string()),
        })?;
        let mut records = Vec::new();
        let status_change = match action {
            Action::Dispatch { assignee } => {
                let mut v = vec![(assignee.clone(), PatrolStatus::Responding)];
                if let Some(old) = before_assignee.filter(|o| o != assignee) {
                    v.push((old, PatrolStatus::Patrolling));
                }
                v
            }
            Action::Resolve => before_assignee.map(|a| vec![(a, PatrolStatus::Patrolling)]).unwrap_or_default(),
            _ => Vec::new(),
        };
        for (ext, status) in status_change {
            if let Some(pid) = self.patrol_id(&ext) {
                let p = self.world.patrols.get_mut(&pid).expect("registered");
                if p.status != PatrolStatus::Off && p.status != status {
                    p.status = status;
                    self.mark(pid, true);
                    records.push(Record::Patrol(self.patrol_row(pid)));
                }
            }
        }
        let state = self.incident_state(&self.world.incidents[&id]);
        records.push(Record::Incident(self.incident_row(id)));
        records.push(self.event(EventKind::IncidentChanged {
            incident: state,
            actor: actor.to_owned(),
            note: note.to_owned(),
        }));
        Ok(records)
    }

    /// The commander's one click: dispatch an incident to an on-duty patrol.
    pub fn assign(&mut self, incident: u64, patrol: u32, actor: &str) -> Result<Vec<Record>, Refusal> {
        let p = self
            .world
            .patrols
            .get(&patrol)
            .ok_or_else(|| Refusal::not_found("patrol", format!("no patrol {patrol}")))?;
        if p.status == PatrolStatus::Off {
            return Err(Refusal::conflict("patrol", format!("patrol {} is off duty", self.ext_ids[patrol as usize])));
        }
        let ext = self.ext_ids[patrol as usize].clone();
        self.apply(incident, &Action::Dispatch { assignee: ext }, actor, "")
    }

    /// Hands overdue incidents one level up; one event each.
    pub fn escalate(&mut self) -> Vec<Record> {
        let now = self.now_ms();
        let limits = self.world.limits.clone();
        let mut ids: Vec<u64> = self
            .world
            .incidents
            .values()
            .filter(|i| i.case.is_open() && i.case.is_overdue(now))
            .map(|i| i.id)
            .collect();
        ids.sort_unstable();
        let mut records = Vec::new();
        for id in ids {
            let rec = self.world.incidents.get_mut(&id).expect("listed");
            let deadline = rec.case.deadline_ms;
            // One level up, or (at the top already) the same level with its deadline restarted:
            // either way displays learn the new deadline.
            let escalated = rec.case.escalate_if_overdue(now, &limits);
            if escalated.is_some() || rec.case.deadline_ms != deadline {
                let (level, deadline_ms) = (rec.case.level, rec.case.deadline_ms.unwrap_or_default());
                records.push(Record::Incident(self.incident_row(id)));
                records.push(self.event(EventKind::IncidentEscalated { incident: id, level, deadline_ms }));
            }
        }
        records
    }

    /// Collects what changed since the previous tick.
    pub fn tick(&mut self) -> TickBatch {
        self.tick += 1;
        let mut batch = TickBatch { tick: self.tick, time_ms: self.now_ms(), ..TickBatch::default() };
        for id in std::mem::take(&mut self.moved) {
            if self.dirty[id as usize] == 1
                && let Some(p) = self.world.patrols.get(&id).and_then(|p| p.pos)
            {
                batch.moved.push((id, p));
            }
            self.dirty[id as usize] = 0;
        }
        for id in std::mem::take(&mut self.changed) {
            if let Some(s) = self.patrol_state(id) {
                batch.changed.push(s);
            }
            self.dirty[id as usize] = 0;
        }
        let shown = self.last_seq();
        let later = self.pending.iter().position(|e| e.seq > shown).unwrap_or(self.pending.len());
        batch.events = self.pending.drain(..later).collect();
        if let Some(e) = batch.events.last() {
            self.ticked_seq = e.seq;
        }
        batch
    }
}
