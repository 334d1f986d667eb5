//! Answers of the server's HTTP API that the display reads (`GET /api/v1/incidents/{id}`,
//! `GET /api/v1/nearest`), so both sides agree on their shape.

use serde::{Deserialize, Serialize};

use crate::messages::{IncidentState, PatrolId};
use crate::model::{IncidentStage, PatrolRole, PatrolStatus};

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
    #[serde(default)]
    pub reworks: u32,
    #[serde(default)]
    pub satisfaction: Option<u8>,
    pub timeline: Vec<TimelineStep>,
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
