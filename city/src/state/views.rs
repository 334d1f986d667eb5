//! What clients see of the live state: incidents and patrols as the protocol describes them,
//! snapshots of a viewport, missed events, KPIs.

use std::sync::Arc;

use gridwall_protocol::{
    Bbox, ComponentItem, Event, IncidentState, KpiPeriod, Kpis, Layer, LayerSet, PatrolPos, PatrolState, ServerMessage,
};

use super::{Live, priority};
use crate::world::IncidentRec;

impl Live {
    pub fn incident_state(&self, rec: &IncidentRec) -> IncidentState {
        let case = &rec.case;
        IncidentState {
            id: rec.id,
            category: rec.category,
            source: rec.source,
            stage: case.stage,
            priority: priority(rec.category),
            x: rec.pos[0],
            y: rec.pos[1],
            lon: None,
            lat: None,
            grid: rec.grid.clone(),
            level: case.level,
            created_ms: case.created_ms,
            deadline_ms: case.deadline_ms.unwrap_or(0),
            assignee: case.assignee.as_deref().and_then(|a| self.patrol_id(a)),
            description: rec.description.clone(),
        }
    }

    pub fn patrol_state(&self, id: u32) -> Option<PatrolState> {
        let p = self.world.patrols.get(&id)?;
        let pos = p.pos?;
        Some(PatrolState {
            pos: PatrolPos { id, x: pos[0], y: pos[1], lon: None, lat: None },
            patrol_id: self.ext_ids.get(id as usize).cloned().unwrap_or_default(),
            name: p.name.clone(),
            role: p.role,
            status: p.status,
            grid: p.grid.clone(),
        })
    }

    /// A patrol as it was (its role, status and position then; its name, device id and cell as
    /// registered now).
    pub fn patrol_state_as(
        &self,
        id: u32,
        role: gridwall_protocol::PatrolRole,
        status: gridwall_protocol::PatrolStatus,
        pos: [f64; 2],
    ) -> Option<PatrolState> {
        let p = self.world.patrols.get(&id)?;
        Some(PatrolState {
            pos: PatrolPos { id, x: pos[0], y: pos[1], lon: None, lat: None },
            patrol_id: self.ext_ids.get(id as usize).cloned().unwrap_or_default(),
            name: p.name.clone(),
            role,
            status,
            grid: p.grid.clone(),
        })
    }

    /// The events after `seq`, if the log still holds all of them.
    pub fn events_after(&self, seq: u64) -> Option<Vec<Arc<Event>>> {
        if seq >= self.last_seq() {
            return Some(Vec::new());
        }
        let first = self.log.front()?.seq;
        let last = self.last_seq();
        (first <= seq + 1).then(|| self.log.iter().filter(|e| e.seq > seq && e.seq <= last).cloned().collect())
    }

    /// Every grid unit's outline in local metres (centimetre precision), for displays.
    pub fn grid_outlines(&self) -> gridwall_protocol::api::GridOutlines {
        use gridwall_protocol::api::{GridOutline, GridOutlines};
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let grids = self
            .world
            .grids
            .iter()
            .map(|g| GridOutline {
                code: g.code.clone(),
                name: g.name.clone(),
                level: g.level,
                parent: g.parent.clone(),
                rings: g
                    .shape
                    .iter()
                    .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                    .map(|ls| ls.coords().map(|c| [round(c.x), round(c.y)]).collect())
                    .collect(),
            })
            .collect();
        GridOutlines { grids }
    }

    /// Patrols inside a local bbox.
    pub fn patrols_in(&self, bbox: Bbox) -> Vec<u32> {
        self.world.patrols_in(bbox.0)
    }

    /// Everything inside a viewport now.
    pub fn snapshot(&self, bbox: Bbox, layers: LayerSet) -> ServerMessage {
        let mut patrols = Vec::new();
        if layers.contains(Layer::Patrols) {
            let mut ids = self.world.patrols_in(bbox.0);
            ids.sort_unstable();
            patrols = ids.into_iter().filter_map(|id| self.patrol_state(id)).collect();
        }
        let mut incidents = Vec::new();
        if layers.contains(Layer::Incidents) {
            let mut ids = self.world.incidents_in(bbox.0);
            ids.sort_unstable();
            incidents = ids
                .into_iter()
                .filter_map(|id| self.world.incident(u64::from(id)))
                .map(|r| self.incident_state(r))
                .collect();
        }
        let mut components = Vec::new();
        if layers.contains(Layer::Components) {
            components = self
                .world
                .components_in(bbox.0)
                .map(|c| ComponentItem {
                    id: c.id,
                    code: c.code.clone(),
                    category: c.category,
                    state: c.state,
                    x: c.pos[0],
                    y: c.pos[1],
                })
                .collect();
            components.sort_unstable_by_key(|c| c.id);
        }
        ServerMessage::Snapshot {
            seq: self.last_seq(),
            tick: self.tick,
            time_ms: self.now_ms(),
            patrols,
            incidents,
            components,
        }
    }

    /// KPIs city-wide or for a grid code over a period, with "today" in the operators' time
    /// zone: from the counters (O(1) whatever the city's age or its open work).
    /// `None` for a code that is no grid unit.
    pub fn kpis_for(&self, scope: Option<&str>, period: KpiPeriod) -> Option<Kpis> {
        let now = self.now_ms();
        let sums = self.book.sums(scope, period, now)?;
        // Late ones the escalation has not seen yet (it runs every second): the overdue few.
        let unseen = self
            .world
            .overdue_ids(now)
            .into_iter()
            .filter_map(|id| self.world.incident(id))
            .filter(|i| !i.case.ever_overdue)
            .filter(|i| scope.is_none_or(|s| !i.grid.is_empty() && i.grid.starts_with(s)))
            .filter(|i| period == KpiPeriod::All || self.book.in_period(period, i.case.created_ms, now))
            .count();
        Some(sums.tally.kpis(sums.closed_today, sums.late + unseen as u64))
    }

    /// The city-wide KPIs since the start (what displays show).
    pub fn kpis(&self) -> Kpis {
        self.kpis_for(None, KpiPeriod::All).expect("the city is always a scope")
    }
}
