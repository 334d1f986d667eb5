//! The commands that change the city's shared state (patrol registrations, incidents and their
//! workflow): run on the live state of whichever instance writes the city (the others send them
//! there over the bus, `gridwall-bus`).

use gridwall_protocol::api::PatrolRegistration;
use gridwall_protocol::{IncidentCategory, IncidentSource};
use serde::{Deserialize, Serialize};

use crate::records::Record;
use crate::services::Intake;
use crate::state::{Live, Refusal};
use crate::workflow::Action;

/// A change to the shared state a client asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Register or update patrols (all or nothing).
    Register { patrols: Vec<PatrolRegistration> },
    /// Open an incident (受理) at a local point.
    Open {
        category: IncidentCategory,
        source: IncidentSource,
        x: f64,
        y: f64,
        description: String,
        /// Attributes and photos (the photos already stored by the server that took them).
        #[serde(default, skip_serializing_if = "Intake::is_empty")]
        intake: Intake,
    },
    /// A workflow step.
    Apply { incident: u64, action: Action, actor: String, note: String },
    /// The commander's one click: dispatch to an on-duty patrol.
    Assign { incident: u64, patrol: u32, actor: String },
}

/// What a command made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Done {
    /// The incident it opened.
    pub incident: Option<u64>,
    /// The change that carries it to every instance (0: it changed nothing shared).
    pub change: u64,
}

impl Command {
    /// Runs on the live state: the records to commit and the incident it opened, if any. What
    /// came over the bus is checked again (`area`: where points may lie): the leader trusts no
    /// message more than a request.
    pub fn run(&self, live: &mut Live, area: [f64; 4]) -> Result<(Vec<Record>, Option<u64>), Refusal> {
        match self {
            Self::Register { patrols } => Ok((live.register(patrols)?, None)),
            Self::Open { category, source, x, y, description, intake } => {
                let inside =
                    x.is_finite() && y.is_finite() && *x >= area[0] && *x <= area[2] && *y >= area[1] && *y <= area[3];
                if !inside {
                    return Err(Refusal::invalid("lat", "not a point of this scene"));
                }
                if description.chars().count() > crate::ingest::MAX_DESCRIPTION_CHARS {
                    return Err(Refusal::invalid(
                        "description",
                        format!("longer than {} characters", crate::ingest::MAX_DESCRIPTION_CHARS),
                    ));
                }
                // The same checks as at intake: a message on the bus is no more trusted.
                let checked = intake.recheck(*category).map_err(Refusal::from)?;
                let (id, records) = live.open_incident(*category, *source, [*x, *y], description, checked);
                Ok((records, Some(id)))
            }
            Self::Apply { incident, action, actor, note } => Ok((live.apply(*incident, action, actor, note)?, None)),
            Self::Assign { incident, patrol, actor } => Ok((live.assign(*incident, *patrol, actor)?, None)),
        }
    }

    /// What the audit trail calls it.
    pub fn name(&self) -> String {
        match self {
            Self::Register { .. } => "register".into(),
            Self::Open { .. } => "open311 request".into(),
            Self::Apply { action, .. } => format!("transition {}", action.name()),
            Self::Assign { .. } => "assign".into(),
        }
    }
}
