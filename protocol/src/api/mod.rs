//! Every documented answer of the server's HTTP API, its error body, and the request bodies that
//! tools send, so the server, the display and third-party clients share one vocabulary. The
//! Open311 `GeoReport` v2 shapes are in [`open311`].
//!
//! Positions are local metres of the scene (x east, y north) unless a field says otherwise.

pub mod analysis;
pub mod open311;

use serde::{Deserialize, Serialize};

use crate::messages::{IncidentState, Kpis, PatrolId, PatrolState};
use crate::model::{GridLevel, IncidentStage, KpiPeriod, PatrolRole, PatrolStatus};

fn all_time() -> KpiPeriod {
    KpiPeriod::All
}

/// The body of every refused request (4xx/5xx): `{"error":{"field":…,"message":…,"index":…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What was wrong: which field (and, in a batch, which item) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Position of the offending item in a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub message: String,
}

/// `POST /api/v1/patrols`: one patrol to register or update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolRegistration {
    pub patrol_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `grid_worker`, `police` or `volunteer`.
    pub role: String,
    /// Code of the assigned grid cell: required for grid workers (网格员, one per cell); patrol
    /// police and volunteers may have one or none (then no geofence events apply to them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<String>,
    /// `patrolling` (default), `responding` or `off`.
    #[serde(default)]
    pub status: Option<String>,
}

/// The answer to `POST /api/v1/patrols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub registered: usize,
}

/// The answer to `POST /api/v1/positions` (202).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub accepted: usize,
}

/// The answer to each frame on `/ws/ingest`: `{"ok":true,"accepted":N}` once stored, or
/// `{"ok":false,"error":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestAck {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// One fix of a recorded track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackFix {
    /// RFC 3339, UTC.
    pub ts: String,
    pub t_ms: i64,
    pub x: f64,
    pub y: f64,
}

/// `GET /api/v1/patrols/{id}/track?from=&to=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackAnswer {
    pub patrol_id: String,
    pub points: Vec<TrackFix>,
}

/// One step of an incident's workflow timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineStep {
    pub from: IncidentStage,
    pub to: IncidentStage,
    pub action: String,
    pub actor: String,
    pub at_ms: i64,
    #[serde(default)]
    pub note: String,
}

/// `GET /api/v1/incidents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    pub incident: IncidentState,
    pub overdue: bool,
    /// Until the current stage's deadline (negative when overdue); none once closed.
    pub time_left_ms: Option<i64>,
    /// The external id (`patrol_id`) of the patrol or department handling it.
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub reworks: u32,
    #[serde(default)]
    pub satisfaction: Option<u8>,
    pub timeline: Vec<TimelineStep>,
    /// What the request was filed with beyond its description (Open311 attributes), labelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<FiledAttribute>,
    /// Its photos: file names under `/open311/v2/media/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<String>,
}

/// One attribute a request was filed with, as a line to show (`井盖类型：污水`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledAttribute {
    pub code: String,
    pub label_zh: String,
    pub label_en: String,
}

/// The answer to `POST /api/v1/incidents/{id}/transitions`: the incident after the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionAnswer {
    pub incident: IncidentState,
}

/// One on-duty patrol in a `GET /api/v1/nearest` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearPatrol {
    /// The id on the socket (what `assign` takes).
    pub id: PatrolId,
    /// The id the patrol's device registered with.
    pub patrol_id: String,
    pub distance_m: f64,
    pub name: Option<String>,
    pub role: Option<PatrolRole>,
    pub status: Option<PatrolStatus>,
}

/// `GET /api/v1/nearest?incident=ID&k=K` (or `x=…&y=…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearestAnswer {
    pub x: f64,
    pub y: f64,
    pub patrols: Vec<NearPatrol>,
}

/// One grid unit's outline, for displays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridOutline {
    pub code: String,
    pub name: String,
    pub level: GridLevel,
    #[serde(default)]
    pub parent: Option<String>,
    /// Outer rings and holes, local metres (centimetre precision).
    pub rings: Vec<Vec<[f64; 2]>>,
}

/// `GET /api/v1/grids`: every grid unit's outline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridOutlines {
    pub grids: Vec<GridOutline>,
}

/// `GET /api/v1/grids/{code}`: a street, community or cell with what is in it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridSummary {
    pub code: String,
    pub name: String,
    pub level: GridLevel,
    pub parent: Option<String>,
    /// How many city components lie in it.
    pub components: usize,
    pub patrols: Vec<PatrolState>,
    pub incidents: Vec<IncidentState>,
    pub kpis: Kpis,
}

/// `GET /api/v1/kpis?scope=CODE&period=all|year|quarter|month|day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpisAnswer {
    /// The grid code asked for; none for city-wide.
    pub scope: Option<String>,
    /// The period counted (incidents accepted in it); `all` when not asked.
    #[serde(default = "all_time")]
    pub period: KpiPeriod,
    pub time_ms: i64,
    pub kpis: Kpis,
}

/// `GET /api/v1/cluster`: this server's part in its city.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This server's name (`--instance`).
    pub instance: String,
    /// `single` (no bus), `leader` (writes the city) or `follower`.
    pub role: String,
    /// The newest change of the city's shared state this server has.
    pub change: u64,
    /// The newest event seq it shows.
    pub seq: u64,
}

/// One command in the audit trail: who, what, when, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub t_ms: i64,
    /// The token's holder (`local` on a server without tokens, `anonymous` without a token).
    pub actor: String,
    /// Their role (`local`, `anonymous`, or a token's role).
    pub role: String,
    /// The address the command came from (IP and port).
    pub address: String,
    /// The command, e.g. `transition review_pass`, `assign`, `register`, `positions`.
    pub action: String,
    /// What it was applied to, e.g. `incident 17`.
    pub target: String,
    /// `ok`, or `refused: …`.
    pub outcome: String,
}

/// `GET /api/v1/audit?since=&actor=&limit=`: the newest entries first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnswer {
    pub entries: Vec<AuditEntry>,
}
