//! The city at one moment of the past, rebuilt from the keyframe before it and the logs after.

use std::collections::BTreeMap;

use gridwall_protocol::{Event, EventKind, IncidentStage, IncidentState, Kpis, PatrolRole, PatrolStatus};
use rustc_hash::FxHashMap;

use super::codec::Fix;
use super::source::Source;
use super::{HistoryError, reader};

/// A patrol as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatrolAt {
    pub role: PatrolRole,
    pub status: PatrolStatus,
    /// Its newest fix (none yet: not on the map).
    pub fix: Option<Fix>,
}

/// What displays showed at `t_ms`: every patrol's position and status, the open incidents, the
/// KPIs, and the newest event.
#[derive(Debug, Clone)]
pub struct City {
    pub t_ms: i64,
    pub seq: u64,
    pub patrols: FxHashMap<u32, PatrolAt>,
    pub incidents: BTreeMap<u64, IncidentState>,
    pub kpis: Kpis,
}

impl City {
    /// The city at `t_ms`: the keyframe at or before it, then the fixes, status changes, events
    /// and KPIs up to it; the open incidents from the keyframe before it that holds them, and
    /// the events since. A time before the first such keyframe is refused.
    pub fn at(src: &mut Source, t_ms: i64) -> Result<Self, HistoryError> {
        src.snapshot(|src| Self::at_now(src, t_ms))
    }

    fn at_now(src: &mut Source, t_ms: i64) -> Result<Self, HistoryError> {
        let Some((_, incidents_seq, incidents)) = src.incidents_at_or_before(t_ms)? else {
            return Err(HistoryError::BeforeHistory { at_ms: t_ms, earliest_ms: src.earliest_ms().ok().flatten() });
        };
        let Some(kf) = src.keyframe_at_or_before(t_ms)? else {
            return Err(HistoryError::BeforeHistory { at_ms: t_ms, earliest_ms: src.earliest_ms().ok().flatten() });
        };
        let mut city = Self {
            t_ms: kf.t_ms,
            seq: incidents_seq,
            patrols: kf
                .patrols
                .iter()
                .map(|p| {
                    // The keyframe's position is from a fix at or before it: fixes of the window
                    // before, which may have arrived after it was written, may be newer.
                    let fix = Fix { t_ms: kf.t_ms - super::WINDOW_MS, x_cm: p.x_cm, y_cm: p.y_cm };
                    (p.id, PatrolAt { role: p.role, status: p.status, fix: Some(fix) })
                })
                .collect(),
            incidents: incidents.into_iter().map(|i| (i.id, i)).collect(),
            kpis: src.kpis_at(t_ms)?.unwrap_or_default(),
        };
        for c in src.patrol_changes(kf.t_ms, t_ms)? {
            city.change_patrol(&c);
        }
        for (id, fixes) in src.fixes(kf.t_ms - super::WINDOW_MS, t_ms, |_| true, usize::MAX)? {
            if let Some(f) = fixes.last() {
                city.move_patrol(id, *f);
            }
        }
        for e in src.events_after(incidents_seq, t_ms)? {
            city.apply(&e);
        }
        city.t_ms = t_ms;
        Ok(city)
    }

    /// A registration or status change (a patrol registered after the keyframe appears).
    pub fn change_patrol(&mut self, c: &reader::PatrolChange) {
        let p = self.patrols.entry(c.id).or_insert(PatrolAt { role: c.role, status: c.status, fix: None });
        p.role = c.role;
        p.status = c.status;
    }

    /// A fix: the patrol is there from now on (an older fix than the one it has does not move it).
    pub fn move_patrol(&mut self, id: u32, f: Fix) {
        if let Some(p) = self.patrols.get_mut(&id)
            && p.fix.is_none_or(|old| old.t_ms <= f.t_ms)
        {
            p.fix = Some(f);
        }
    }

    /// An event as displays applied it: incidents open, change stage, close, escalate.
    pub fn apply(&mut self, e: &Event) {
        self.seq = self.seq.max(e.seq);
        match &e.kind {
            EventKind::IncidentOpened { incident } | EventKind::IncidentChanged { incident, .. } => {
                if incident.stage == IncidentStage::Closed {
                    self.incidents.remove(&incident.id);
                } else {
                    self.incidents.insert(incident.id, incident.clone());
                }
            }
            EventKind::IncidentEscalated { incident, level, deadline_ms } => {
                if let Some(i) = self.incidents.get_mut(incident) {
                    i.level = *level;
                    if *deadline_ms != 0 {
                        i.deadline_ms = *deadline_ms;
                    }
                }
            }
            EventKind::PatrolLeftGrid { .. } => {}
        }
    }
}
