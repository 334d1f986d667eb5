//! What clients and the simulator do to the live state: register patrols, report positions,
//! open incidents and move them through the workflow, and the time limits' escalation. Each
//! operation checks everything before it changes anything and returns the records that make it
//! durable.

use gridwall_protocol::api::PatrolRegistration;
use gridwall_protocol::{EventKind, GridLevel, IncidentCategory, IncidentSource, PatrolRole, PatrolStatus, UnknownKey};

use super::{Live, Refusal, RefusalKind};
use crate::access::MAX_NAME;
use crate::records::{IncidentRow, Record, TrackPoint};
use crate::services::Intake;
use crate::workflow::{Action, WorkflowError};
use crate::world::{IncidentRec, WorldEvent};

/// Most patrols one registration request may name.
pub const MAX_REGISTRATIONS: usize = 10_000;

/// Longest note of a workflow step (characters).
pub const MAX_NOTE_CHARS: usize = 2_000;

impl Live {
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
        // Internal ids are dense (the patrol table is a vector): the city's size is bounded.
        let new = regs.iter().filter(|r| !self.by_ext.contains_key(&r.patrol_id)).count();
        if self.ext_ids.len() + new > crate::table::MAX_PATROL_ID as usize {
            return Err(Refusal::conflict(
                "patrol_id",
                format!("a city holds at most {} patrols", crate::table::MAX_PATROL_ID),
            ));
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
    pub fn ingest(&mut self, positions: &[crate::ingest::Position<'_>]) -> Result<Vec<Record>, Refusal> {
        let now = self.now_ms();
        let mut points = Vec::with_capacity(positions.len());
        for (i, p) in positions.iter().enumerate() {
            let refuse = |field: &str, message: String| Refusal {
                kind: RefusalKind::Invalid,
                index: Some(i),
                field: field.into(),
                message,
            };
            let id = self.by_ext.get(&*p.patrol_id).copied().ok_or_else(|| {
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

    /// Opens an incident (受理) at a local point; returns its id.
    pub fn open_incident(
        &mut self,
        category: IncidentCategory,
        source: IncidentSource,
        p: [f64; 2],
        description: &str,
        intake: Intake,
    ) -> (u64, Vec<Record>) {
        let id = self.next_incident;
        self.next_incident += 1;
        let now = self.now_ms();
        let rec = self.world.new_incident(id, category, source, p, description, intake, now);
        let state = self.incident_state(&rec);
        let mut records = vec![Record::Incident(incident_row(&rec))];
        records.extend(tally(self.book.count(&rec.grid, None, &rec.case, now)));
        self.world.put_incident(rec);
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
        let limits = &self.world.limits;
        let mut rec = self.world.incident(id).cloned().ok_or_else(|| self.not_open(id))?;
        let before = rec.case.clone();
        let before_assignee = rec.case.assignee.clone();
        rec.case.apply(action, actor, note, now, limits).map_err(|e| match e {
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
        let state = self.incident_state(&rec);
        records.push(Record::Incident(incident_row(&rec)));
        records.extend(tally(self.book.count(&rec.grid, Some(&before), &rec.case, now)));
        // A closed incident leaves memory here (the store keeps it).
        self.world.put_incident(rec);
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

    /// Hands overdue incidents one level up; one event each. Only the overdue are looked at
    /// (the open incidents by deadline).
    pub fn escalate(&mut self) -> Vec<Record> {
        let now = self.now_ms();
        let mut records = Vec::new();
        for id in self.world.overdue_ids(now) {
            let mut rec = self.world.incident(id).expect("listed").clone();
            let (before, deadline) = (rec.case.clone(), rec.case.deadline_ms);
            // One level up, or (at the top already) the same level with its deadline restarted:
            // either way displays learn the new deadline.
            let escalated = rec.case.escalate_if_overdue(now, &self.world.limits);
            // Now 超期在办 (an open case's tally does not change: nothing to store).
            records.extend(tally(self.book.count(&rec.grid, Some(&before), &rec.case, now)));
            // An overdue case always gets a new deadline (or a level up): stored and shown.
            if escalated.is_some() || rec.case.deadline_ms != deadline {
                let (level, deadline_ms) = (rec.case.level, rec.case.deadline_ms.unwrap_or_default());
                records.push(Record::Incident(incident_row(&rec)));
                records.push(self.event(EventKind::IncidentEscalated { incident: id, level, deadline_ms }));
            }
            self.world.put_incident(rec);
        }
        records
    }

    /// The refusal for a step on an incident that is not open: closed (the store has it), or
    /// never opened.
    fn not_open(&self, id: u64) -> Refusal {
        if id > 0 && id < self.next_incident {
            Refusal::conflict("action", format!("incident {id} is closed (回访结案): it takes no more steps"))
        } else {
            Refusal::not_found("incident", format!("no incident {id}"))
        }
    }
}

/// The record of what a step changed in the KPI day rows, if it changed any (most steps of an
/// open case change none).
fn tally(rows: Vec<crate::tally::DayTally>) -> Option<Record> {
    (!rows.is_empty()).then_some(Record::Tally(rows))
}

/// The stored form of an incident.
pub fn incident_row(r: &IncidentRec) -> IncidentRow {
    IncidentRow {
        id: r.id,
        category: r.category.key().into(),
        source: r.source.key().into(),
        x: r.pos[0],
        y: r.pos[1],
        grid: r.grid.clone(),
        description: r.description.clone(),
        case: r.case.clone(),
    }
}
