//! The closed-loop incident workflow (受理 → 分派 → 办结 → 审核 → 回访), its time limits and
//! escalation (小事不出网格: cell → community → street → city centre).
//!
//! Pure logic over plain data: no I/O, no clock. Callers pass the time in milliseconds since the
//! Unix epoch, so tests and the simulator control it.

use crate::services::Intake;
use std::collections::HashMap;

use gridwall_protocol::api::TimelineStep;
use gridwall_protocol::{GridLevel, IncidentCategory, IncidentStage, Kpis};
use serde::{Deserialize, Serialize};

/// A workflow step a person (or the simulator) asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// 分派: hand the incident to a patrol or a department.
    Dispatch { assignee: String },
    /// 办结: the handler reports it done.
    Resolve,
    /// 审核通过.
    ReviewPass,
    /// 审核不通过: back to the handler (rework).
    ReviewReject,
    /// 回访: the reporter is called back; satisfaction 1–5 closes the case.
    Close { satisfaction: u8 },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Dispatch { .. } => "dispatch",
            Self::Resolve => "resolve",
            Self::ReviewPass => "review_pass",
            Self::ReviewReject => "review_reject",
            Self::Close { .. } => "close",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("cannot {action} an incident that is {stage} ({stage_zh})")]
    InvalidTransition { action: &'static str, stage: &'static str, stage_zh: &'static str },
    #[error("satisfaction must be 1 to 5, got {0}")]
    Satisfaction(u8),
    #[error("assignee must not be empty")]
    NoAssignee,
    #[error("this incident has {MAX_TIMELINE} workflow steps already: refer it to the level above instead")]
    TimelineFull,
}

/// Most workflow steps one incident keeps (reassignments and rework included).
pub const MAX_TIMELINE: usize = 200;

/// Minutes allowed in each stage before escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageLimits {
    /// 受理 → 分派.
    pub dispatch_min: u32,
    /// 分派 → 办结 (on site and repaired).
    pub resolve_min: u32,
    /// 办结 → 审核.
    pub review_min: u32,
    /// 审核 → 回访结案.
    pub close_min: u32,
}

impl StageLimits {
    /// The limit of the stage an incident is in; `None` once closed.
    pub fn for_stage(&self, stage: IncidentStage) -> Option<u32> {
        match stage {
            IncidentStage::Accepted => Some(self.dispatch_min),
            IncidentStage::Dispatched => Some(self.resolve_min),
            IncidentStage::Resolved => Some(self.review_min),
            IncidentStage::Reviewed => Some(self.close_min),
            IncidentStage::Closed => None,
        }
    }
}

/// Time limits per category, with a default. Configurable (TOML); the defaults follow the seeds'
/// practice, e.g. a missing manhole cover: dispatched within 30 min, repaired within 6 h.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeLimits {
    pub default: StageLimits,
    #[serde(default)]
    pub categories: HashMap<IncidentCategory, StageLimits>,
}

impl Default for TimeLimits {
    fn default() -> Self {
        let l = |dispatch_min, resolve_min, review_min, close_min| StageLimits {
            dispatch_min,
            resolve_min,
            review_min,
            close_min,
        };
        let categories = HashMap::from([
            (IncidentCategory::ManholeDamage, l(30, 6 * 60, 60, 24 * 60)),
            (IncidentCategory::SafetyHazard, l(30, 4 * 60, 60, 24 * 60)),
            (IncidentCategory::PipeBlockage, l(60, 8 * 60, 120, 24 * 60)),
            (IncidentCategory::RoadDamage, l(120, 48 * 60, 240, 48 * 60)),
            (IncidentCategory::StreetLightOut, l(120, 24 * 60, 240, 48 * 60)),
            (IncidentCategory::IllegalParking, l(30, 2 * 60, 60, 24 * 60)),
            (IncidentCategory::Garbage, l(60, 4 * 60, 120, 24 * 60)),
            (IncidentCategory::Dispute, l(60, 72 * 60, 240, 72 * 60)),
        ]);
        Self { default: l(120, 24 * 60, 240, 48 * 60), categories }
    }
}

impl TimeLimits {
    pub fn for_category(&self, category: IncidentCategory) -> StageLimits {
        self.categories.get(&category).copied().unwrap_or(self.default)
    }
}

/// The workflow state of one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub category: IncidentCategory,
    pub stage: IncidentStage,
    pub level: GridLevel,
    pub created_ms: i64,
    /// When the current stage began.
    pub stage_since_ms: i64,
    /// Deadline of the current stage; `None` once closed.
    pub deadline_ms: Option<i64>,
    pub assignee: Option<String>,
    pub satisfaction: Option<u8>,
    /// Whether any stage ran past its deadline.
    pub ever_overdue: bool,
    pub reworks: u32,
    pub closed_ms: Option<i64>,
    pub timeline: Vec<TimelineStep>,
    /// What the request was filed with (attributes, photos), kept with the case in both stores.
    #[serde(default, skip_serializing_if = "Intake::is_empty")]
    pub intake: Intake,
}

const MINUTE_MS: i64 = 60_000;

impl Case {
    /// A newly accepted (受理) incident, handled at grid-cell level.
    pub fn accept(category: IncidentCategory, now_ms: i64, actor: &str, limits: &TimeLimits) -> Self {
        let limit = limits.for_category(category).dispatch_min;
        Self {
            category,
            stage: IncidentStage::Accepted,
            level: GridLevel::Cell,
            created_ms: now_ms,
            stage_since_ms: now_ms,
            deadline_ms: Some(now_ms + i64::from(limit) * MINUTE_MS),
            assignee: None,
            satisfaction: None,
            ever_overdue: false,
            reworks: 0,
            closed_ms: None,
            timeline: vec![TimelineStep {
                from: IncidentStage::Accepted,
                to: IncidentStage::Accepted,
                action: "accept".into(),
                actor: actor.to_owned(),
                at_ms: now_ms,
                note: String::new(),
            }],
            intake: Intake::default(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.stage != IncidentStage::Closed
    }

    pub fn is_overdue(&self, now_ms: i64) -> bool {
        self.deadline_ms.is_some_and(|d| now_ms > d)
    }

    /// Applies a step; an invalid one leaves the case untouched.
    pub fn apply(
        &mut self,
        action: &Action,
        actor: &str,
        note: &str,
        now_ms: i64,
        limits: &TimeLimits,
    ) -> Result<&TimelineStep, WorkflowError> {
        use IncidentStage as S;
        if self.timeline.len() >= MAX_TIMELINE {
            return Err(WorkflowError::TimelineFull);
        }
        let to = match (self.stage, action) {
            (S::Accepted | S::Dispatched, Action::Dispatch { assignee }) => {
                if assignee.trim().is_empty() {
                    return Err(WorkflowError::NoAssignee);
                }
                S::Dispatched
            }
            (S::Dispatched, Action::Resolve) => S::Resolved,
            (S::Resolved, Action::ReviewPass) => S::Reviewed,
            (S::Resolved, Action::ReviewReject) => S::Dispatched,
            (S::Reviewed, Action::Close { satisfaction }) => {
                if !(1..=5).contains(satisfaction) {
                    return Err(WorkflowError::Satisfaction(*satisfaction));
                }
                S::Closed
            }
            (stage, action) => {
                return Err(WorkflowError::InvalidTransition {
                    action: action.name(),
                    stage: stage.key(),
                    stage_zh: stage.name_zh(),
                });
            }
        };
        if self.is_overdue(now_ms) {
            self.ever_overdue = true;
        }
        match action {
            Action::Dispatch { assignee } => self.assignee = Some(assignee.clone()),
            Action::ReviewReject => self.reworks += 1,
            Action::Close { satisfaction } => {
                self.satisfaction = Some(*satisfaction);
                self.closed_ms = Some(now_ms);
            }
            _ => {}
        }
        let from = self.stage;
        self.stage = to;
        self.stage_since_ms = now_ms;
        self.deadline_ms = limits.for_category(self.category).for_stage(to).map(|m| now_ms + i64::from(m) * MINUTE_MS);
        self.timeline.push(TimelineStep {
            from,
            to,
            action: action.name().to_owned(),
            actor: actor.to_owned(),
            at_ms: now_ms,
            note: note.to_owned(),
        });
        Ok(self.timeline.last().expect("just pushed"))
    }

    /// If the current stage is past its deadline, hands the case one level up (with a fresh
    /// deadline for the same stage) and returns the new level. The city centre is the top.
    pub fn escalate_if_overdue(&mut self, now_ms: i64, limits: &TimeLimits) -> Option<GridLevel> {
        if !self.is_overdue(now_ms) {
            return None;
        }
        self.ever_overdue = true;
        let next = match self.level {
            GridLevel::Cell => GridLevel::Community,
            GridLevel::Community => GridLevel::Street,
            GridLevel::Street | GridLevel::City => GridLevel::City,
        };
        let limit = limits.for_category(self.category).for_stage(self.stage)?;
        self.deadline_ms = Some(now_ms + i64::from(limit) * MINUTE_MS);
        if next == self.level {
            return None; // already at the top: the deadline restarts, no new escalation event
        }
        self.level = next;
        Some(next)
    }
}

/// KPIs over a set of cases, computed from scratch (the live state keeps them as counters,
/// [`crate::tally::KpiBook`]); `day_start_ms`: start of "today" in the operators' time zone.
pub fn compute_kpis<'a>(cases: impl IntoIterator<Item = &'a Case>, now_ms: i64, day_start_ms: i64) -> Kpis {
    let mut sum = crate::tally::Tally::default();
    let (mut closed_today, mut overdue) = (0, 0);
    for c in cases {
        sum.add(&crate::tally::Tally::of(c), 1);
        match c.closed_ms {
            Some(closed) => closed_today += u64::from(closed >= day_start_ms),
            // 超期在办: late now, or late before and escalated for it.
            None => overdue += u64::from(c.ever_overdue || c.is_overdue(now_ms)),
        }
    }
    sum.kpis(closed_today, overdue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_keeps_a_bounded_timeline() {
        let limits = TimeLimits::default();
        let mut c = Case::accept(IncidentCategory::Garbage, T0, "12345", &limits);
        let mut refused = None;
        for k in 0..MAX_TIMELINE + 5 {
            let step = Action::Dispatch { assignee: format!("P-{}", k % 3) };
            if let Err(e) = c.apply(&step, "指挥长", "", T0 + k as i64, &limits) {
                refused = Some((k, e));
                break;
            }
        }
        let (_, e) = refused.expect("reassigning forever is refused");
        assert_eq!(e, WorkflowError::TimelineFull);
        assert_eq!(c.timeline.len(), MAX_TIMELINE);
    }

    const T0: i64 = 1_790_000_000_000;

    fn dispatch(to: &str) -> Action {
        Action::Dispatch { assignee: to.into() }
    }

    #[test]
    fn the_whole_loop_with_rework() {
        let limits = TimeLimits::default();
        let mut c = Case::accept(IncidentCategory::ManholeDamage, T0, "12345", &limits);
        assert_eq!(c.deadline_ms, Some(T0 + 30 * MINUTE_MS), "manhole: dispatched within 30 min");
        c.apply(&dispatch("P-7"), "指挥长", "", T0 + 5 * MINUTE_MS, &limits).unwrap();
        assert_eq!(c.deadline_ms, Some(T0 + 5 * MINUTE_MS + 6 * 60 * MINUTE_MS), "repaired within 6 h");
        c.apply(&Action::Resolve, "P-7", "盖板已更换", T0 + 60 * MINUTE_MS, &limits).unwrap();
        c.apply(&Action::ReviewReject, "审核员", "照片不清", T0 + 70 * MINUTE_MS, &limits).unwrap();
        assert_eq!((c.stage, c.reworks), (IncidentStage::Dispatched, 1));
        c.apply(&Action::Resolve, "P-7", "", T0 + 80 * MINUTE_MS, &limits).unwrap();
        c.apply(&Action::ReviewPass, "审核员", "", T0 + 90 * MINUTE_MS, &limits).unwrap();
        c.apply(&Action::Close { satisfaction: 5 }, "回访员", "满意", T0 + 100 * MINUTE_MS, &limits).unwrap();
        assert!(!c.is_open());
        assert_eq!(c.deadline_ms, None);
        let stages: Vec<_> = c.timeline.iter().map(|t| t.to).collect();
        use IncidentStage as S;
        assert_eq!(
            stages,
            [S::Accepted, S::Dispatched, S::Resolved, S::Dispatched, S::Resolved, S::Reviewed, S::Closed]
        );
        let k = compute_kpis([&c], T0 + 101 * MINUTE_MS, T0);
        assert_eq!(
            (k.closed, k.closed_today, k.closure_rate, k.on_time_rate, k.satisfaction_rate),
            (1, 1, 1.0, 1.0, 1.0)
        );
        assert!((k.mean_handling_min - 100.0).abs() < 1e-9);
    }

    #[test]
    fn invalid_steps_are_refused_and_change_nothing() {
        let limits = TimeLimits::default();
        let mut c = Case::accept(IncidentCategory::Garbage, T0, "app", &limits);
        let before = c.clone();
        let err = c.apply(&Action::Resolve, "x", "", T0, &limits).unwrap_err();
        assert_eq!(err.to_string(), "cannot resolve an incident that is accepted (受理)");
        assert_eq!(c, before);
        assert_eq!(c.apply(&dispatch(" "), "x", "", T0, &limits).unwrap_err(), WorkflowError::NoAssignee);
        c.apply(&dispatch("P-1"), "x", "", T0, &limits).unwrap();
        c.apply(&Action::Resolve, "x", "", T0, &limits).unwrap();
        c.apply(&Action::ReviewPass, "x", "", T0, &limits).unwrap();
        assert_eq!(
            c.apply(&Action::Close { satisfaction: 9 }, "x", "", T0, &limits).unwrap_err(),
            WorkflowError::Satisfaction(9)
        );
        assert!(c.is_open());
    }

    #[test]
    fn overdue_cases_escalate_one_level_at_a_time_up_to_the_city() {
        let limits = TimeLimits::default();
        let mut c = Case::accept(IncidentCategory::ManholeDamage, T0, "12345", &limits);
        assert_eq!(c.escalate_if_overdue(T0 + 29 * MINUTE_MS, &limits), None);
        assert_eq!(c.escalate_if_overdue(T0 + 31 * MINUTE_MS, &limits), Some(GridLevel::Community));
        assert_eq!(c.escalate_if_overdue(T0 + 32 * MINUTE_MS, &limits), None, "fresh deadline after escalating");
        assert_eq!(c.escalate_if_overdue(T0 + 62 * MINUTE_MS, &limits), Some(GridLevel::Street));
        assert_eq!(c.escalate_if_overdue(T0 + 93 * MINUTE_MS, &limits), Some(GridLevel::City));
        assert_eq!(c.escalate_if_overdue(T0 + 124 * MINUTE_MS, &limits), None, "the city centre is the top");
        assert!(c.ever_overdue);
        c.apply(&dispatch("P-2"), "x", "", T0 + 125 * MINUTE_MS, &limits).unwrap();
        // Dispatched in time for its new deadline, it still counts as 超期 (late once, still open).
        let k = compute_kpis([&c], T0 + 126 * MINUTE_MS, T0);
        assert_eq!((k.open, k.overdue, k.closed), (1, 1, 0));
        let fresh = Case::accept(IncidentCategory::ManholeDamage, T0, "12345", &limits);
        assert_eq!(compute_kpis([&fresh], T0 + MINUTE_MS, T0).overdue, 0);
    }

    #[test]
    fn limits_load_from_toml() {
        let text = "[default]\ndispatch_min = 10\nresolve_min = 20\nreview_min = 30\nclose_min = 40\n\n[categories.noise]\ndispatch_min = 1\nresolve_min = 2\nreview_min = 3\nclose_min = 4\n";
        let limits: TimeLimits = toml::from_str(text).unwrap();
        assert_eq!(limits.for_category(IncidentCategory::Noise).resolve_min, 2);
        assert_eq!(limits.for_category(IncidentCategory::Garbage).close_min, 40);
    }
}
