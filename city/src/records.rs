//! The records the live state hands to whoever makes it durable, and what it takes back at a
//! restart: the vocabulary shared by the city core (which makes them), the store (which writes
//! and reads them) and the bus (which carries a commit's [`Change`] to the other servers). They
//! live here, at the bottom, so that both sides depend on them and neither on the other.

use gridwall_protocol::{PatrolRole, PatrolStatus};
use serde::{Deserialize, Serialize};

use crate::access::AuditEntry;
use crate::tally::{DayTally, Tally};
use crate::workflow::Case;

/// A registered patrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatrolRow {
    pub id: u32,
    /// The id devices and tools use (`patrol_id` in position reports).
    pub ext_id: String,
    pub name: String,
    pub role: String,
    pub grid: String,
    pub status: String,
    /// When this registration or status took effect (the patrol log keeps each for replay).
    pub at_ms: i64,
}

/// An incident as stored: where and what, plus its whole workflow state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRow {
    pub id: u64,
    pub category: String,
    pub source: String,
    pub x: f64,
    pub y: f64,
    pub grid: String,
    pub description: String,
    pub case: Case,
}

/// One position fix of a track, in local metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    pub patrol: u32,
    pub t_ms: i64,
    pub x: f64,
    pub y: f64,
}

/// One thing to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Patrol(PatrolRow),
    /// Inserts or replaces the incident (its `case` carries the timeline).
    Incident(IncidentRow),
    /// An event of the log, as its JSON form.
    Event {
        seq: u64,
        time_ms: i64,
        json: String,
    },
    Track(Vec<TrackPoint>),
    /// One command of the audit trail.
    Audit(AuditEntry),
    /// Every patrol's position and status and the open incidents at one moment (the start of
    /// a history window): replay starts from the keyframe before the time it shows.
    Keyframe {
        t_ms: i64,
        /// The newest event made before it.
        seq: u64,
        /// Sorted by id (the store encodes them: `gridwall_store::history::codec`).
        patrols: Vec<KeyPatrol>,
        /// The open incidents as JSON (`[IncidentState]`), in every tenth keyframe.
        incidents: Option<String>,
    },
    /// What a workflow event changed in the KPI counters: added to the store's day and
    /// all-time rows (`crate::tally`).
    Tally(Vec<DayTally>),
    /// The city-wide KPIs from this time on (written when they change).
    Kpis {
        t_ms: i64,
        json: String,
    },
    /// What the records of this commit changed in the shared state, for the other servers on
    /// the bus (written to the outbox in the same transaction, then relayed).
    Change(Box<Change>),
    /// An early warning raised, changed, acknowledged or closed (inserts or replaces it).
    Warning(Box<gridwall_protocol::api::analysis::Warning>),
}

/// Everything a restart needs: live work, not the past.
#[derive(Debug, Default)]
pub struct Loaded {
    pub patrols: Vec<PatrolRow>,
    /// The open incidents.
    pub incidents: Vec<IncidentRow>,
    /// The highest incident id ever issued (0: none).
    pub max_incident: u64,
    /// The KPI counters per cell since the start.
    pub tally_all: Vec<(String, Tally)>,
    /// The KPI day rows since the day asked for (the current periods').
    pub tally_days: Vec<DayTally>,
    /// The newest events (seq, time, JSON), oldest first.
    pub events: Vec<(u64, i64, String)>,
    /// Each patrol's newest position fix.
    pub positions: Vec<TrackPoint>,
    /// The newest entries of the audit trail, oldest first.
    pub audit: Vec<AuditEntry>,
    /// The newest change of the shared state (servers on a bus; 0 on the embedded store).
    pub change_id: u64,
}

/// One patrol in a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPatrol {
    pub id: u32,
    pub role: PatrolRole,
    pub status: PatrolStatus,
    pub x_cm: i64,
    pub y_cm: i64,
}

impl KeyPatrol {
    /// A patrol at a point of local metres, kept to the centimetre.
    pub fn at(id: u32, role: PatrolRole, status: PatrolStatus, p: [f64; 2]) -> Self {
        Self { id, role, status, x_cm: centimetres(p[0]), y_cm: centimetres(p[1]) }
    }
}

/// Local metres to the whole centimetres history keeps (keyframes here, track fixes in the
/// store's codec: both round the same way, so a keyframe and a fix of one place agree).
pub fn centimetres(m: f64) -> i64 {
    (m * 100.0).round() as i64
}

/// What one commit of the leader changed in the shared state, numbered without gaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The commit's number (1, 2, …): followers apply them in this order, once each.
    pub id: u64,
    pub patrols: Vec<PatrolRow>,
    pub incidents: Vec<IncidentRow>,
    /// The events it made: seq, time, JSON.
    pub events: Vec<(u64, i64, String)>,
}

impl Change {
    /// The shared part of a group of records, if it has one (position fixes, the audit trail,
    /// keyframes and KPIs stay with the instance that wrote them).
    pub fn of(id: u64, records: &[Record]) -> Option<Self> {
        let mut c = Self { id, ..Self::default() };
        for r in records {
            match r {
                Record::Patrol(p) => c.patrols.push(p.clone()),
                Record::Incident(i) => c.incidents.push(i.clone()),
                Record::Event { seq, time_ms, json } => c.events.push((*seq, *time_ms, json.clone())),
                Record::Track(_)
                | Record::Audit(_)
                | Record::Keyframe { .. }
                | Record::Kpis { .. }
                | Record::Tally(_)
                | Record::Warning(_)
                | Record::Change(_) => {}
            }
        }
        (!c.patrols.is_empty() || !c.incidents.is_empty() || !c.events.is_empty()).then_some(c)
    }
}
