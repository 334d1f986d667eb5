//! The live state behind the server: the [`World`] plus what streaming needs (patrol id
//! mapping, what changed since the last tick, the numbered event log) and the operations that
//! HTTP, WebSocket commands and the simulator perform on it.
//!
//! Everything here is synchronous and runs under one mutex held for microseconds. Each operation
//! validates fully before changing anything (a refused request alters nothing) and returns the
//! [`Record`]s that make it durable; callers commit those before acknowledging.

mod clock;
mod ops;
mod refusal;
mod replica;
mod views;

pub use clock::Clock;
pub use ops::{MAX_NOTE_CHARS, MAX_REGISTRATIONS};
pub use refusal::{Refusal, RefusalKind, RestoreError};

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use gridwall_protocol::{
    Event, EventKind, IncidentCategory, IncidentSource, Kpis, PatrolRole, PatrolState, PatrolStatus,
};

use crate::access::{AUDIT_KEPT, AuditEntry, Caller};
use crate::records::{IncidentRow, KeyPatrol, Loaded, PatrolRow, Record};
use crate::tally::KpiBook;
use crate::world::{IncidentRec, World};

/// Events kept in memory for resuming clients.
pub const EVENT_LOG: usize = 4096;

/// What changed during one tick, shared by every connection.
#[derive(Debug, Default)]
pub struct TickBatch {
    pub tick: u64,
    /// Pushed between ticks as changes were committed (moves and events only; no KPIs, and
    /// nothing for a replay to step on).
    pub flush: bool,
    pub time_ms: i64,
    /// Patrols that only moved.
    pub moved: Vec<(u32, [f64; 2])>,
    /// Patrols whose status, role or assignment changed (with their position).
    pub changed: Vec<PatrolState>,
    pub events: Vec<Arc<Event>>,
    /// The city-wide KPIs, when they changed since the last batch that carried them.
    pub kpis: Option<Kpis>,
    /// Early warnings raised, changed or closed since the last batch (committed).
    pub warnings: Vec<gridwall_protocol::api::analysis::Warning>,
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
    /// The KPI counters of the current periods.
    book: KpiBook,
}

/// An incident as the store has it, as the world keeps it.
pub fn incident_rec(i: &IncidentRow) -> Result<IncidentRec, RestoreError> {
    let category: IncidentCategory =
        i.category.parse().map_err(|source| RestoreError::Incident { id: i.id, source })?;
    let source: IncidentSource = i.source.parse().map_err(|source| RestoreError::Incident { id: i.id, source })?;
    Ok(IncidentRec {
        id: i.id,
        category,
        source,
        pos: [i.x, i.y],
        grid: i.grid.clone(),
        description: i.description.clone(),
        case: i.case.clone(),
    })
}

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
    /// Builds the live state from a world and what the store had (the open incidents, the
    /// counters, the newest positions and events).
    pub fn restore(world: World, loaded: Loaded, clock: Clock, utc_offset_ms: i64) -> Result<Self, RestoreError> {
        let now = clock.now_ms();
        let mut book = KpiBook::new(&world.grids, utc_offset_ms, now);
        book.restore(&loaded.tally_all, &loaded.tally_days, now);
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
            book,
        };
        live.next_incident = loaded.max_incident + 1;
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
            live.put_incident(i, false)?;
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
    /// as the row says (`count`: a change to count in the KPIs, not a restart's open incident).
    fn put_incident(&mut self, i: &IncidentRow, count: bool) -> Result<(), RestoreError> {
        let rec = incident_rec(i)?;
        if count {
            let old = self.world.incident(i.id).map(|r| r.case.clone());
            let now = self.now_ms();
            self.book.count(&rec.grid, old.as_ref(), &rec.case, now);
        } else {
            self.book.note_open(&rec.grid, &rec.case);
        }
        self.world.put_incident(rec);
        self.next_incident = self.next_incident.max(i.id + 1);
        Ok(())
    }

    /// Whether any incident was ever opened in this city.
    pub fn has_incidents(&self) -> bool {
        self.next_incident > 1
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
        let mut patrols: Vec<KeyPatrol> =
            self.world.patrols.values().filter_map(|p| Some(KeyPatrol::at(p.id, p.role, p.status, p.pos?))).collect();
        patrols.sort_unstable_by_key(|p| p.id);
        let incidents = if incidents {
            let mut open: Vec<_> = self.world.open_incidents().map(|i| self.incident_state(i)).collect();
            open.sort_unstable_by_key(|i| i.id);
            Some(serde_json::to_string(&open).expect("incidents serialise"))
        } else {
            None
        };
        Record::Keyframe { t_ms: self.now_ms(), seq: self.next_seq - 1, patrols, incidents }
    }

    /// The KPIs as of now, for the KPI log.
    pub fn kpi_record(&self, kpis: &Kpis) -> Record {
        Record::Kpis { t_ms: self.now_ms(), json: serde_json::to_string(kpis).expect("KPIs serialise") }
    }

    /// Collects what changed since the previous tick.
    pub fn tick(&mut self) -> TickBatch {
        self.tick += 1;
        let now = self.now_ms();
        self.book.roll(now);
        let mut batch = TickBatch { tick: self.tick, time_ms: now, ..TickBatch::default() };
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
