//! The city core's model of a scene at run time: components, grid units, patrols and incidents,
//! each spatially indexed, in local metres, with the queries displays and commanders need.
//!
//! Incidents here are the open ones only: a closed incident never changes again, so it leaves
//! memory when it closes (the store keeps it, and answers for it). What the world holds is
//! bounded by live work, never by the city's age.
//!
//! Grid codes are hierarchical (a cell's code starts with its community's, which starts with its
//! street's), so "everything in this community" is a prefix match on the cell code.

use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::path::Path;

use gridwall_protocol::{
    ComponentCategory, ComponentState, GridLevel, IncidentCategory, IncidentSource, PatrolRole, PatrolStatus,
};
use gridwall_scene::SceneError;
use gridwall_scene::SceneManifest;
use gridwall_scene::components::read_components;
use gridwall_scene::coords::CoordError;
use gridwall_scene::grids::GridUnit;
use gridwall_scene::grids::read_grids;

use crate::area::PreparedArea;
use crate::index::{CellIndex, MovingIndex, PointIndex};
use crate::services::Intake;
use crate::table::PatrolTable;
use crate::workflow::{Case, TimeLimits};

/// How long a patrol's recorded track is kept by default (`[retention] hours`).
pub const TRACK_RETENTION_MS: i64 = 24 * 3_600_000;

/// Most patrols a nearest-patrols question may ask for.
pub const MAX_NEAREST: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error("the scene's coordinate system: {0}")]
    Coord(#[from] CoordError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComponentRec {
    pub id: u32,
    pub code: String,
    pub category: ComponentCategory,
    pub state: ComponentState,
    pub pos: [f64; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatrolRec {
    pub id: u32,
    pub name: String,
    pub role: PatrolRole,
    pub status: PatrolStatus,
    /// Assigned cell code.
    pub grid: String,
    /// The assigned cell's index in [`World::grids`] (looked up once, at registration).
    pub cell: Option<usize>,
    pub pos: Option<[f64; 2]>,
    /// The time of the newest fix (its track is in the store's history).
    pub last_ms: Option<i64>,
    /// Whether the last position was outside the assigned cell (to raise the event once).
    pub outside: bool,
}

impl PatrolRec {
    /// A patrolling patrol of no cell, not yet placed.
    pub fn new(id: u32, role: PatrolRole) -> Self {
        Self {
            id,
            name: String::new(),
            role,
            status: PatrolStatus::Patrolling,
            grid: String::new(),
            cell: None,
            pos: None,
            last_ms: None,
            outside: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IncidentRec {
    pub id: u64,
    pub category: IncidentCategory,
    pub source: IncidentSource,
    pub pos: [f64; 2],
    /// Cell code, empty if the point lies in no cell.
    pub grid: String,
    pub description: String,
    pub case: Case,
}

/// Something the world noticed while ingesting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorldEvent {
    PatrolLeftGrid { patrol: u32, grid: String },
}

/// The live state of one scene.
#[derive(Debug)]
pub struct World {
    /// The scene's manifest (its CRS and origin: build a `SceneFrame` per thread from them).
    pub manifest: SceneManifest,
    pub components: Vec<ComponentRec>,
    component_index: PointIndex,
    pub grids: Vec<GridUnit>,
    grid_by_code: FxHashMap<String, usize>,
    /// Per entry of `grids`: a cell's shape prepared for point tests (`None` above cells).
    prepared: Vec<Option<PreparedArea>>,
    cell_index: CellIndex,
    /// `grids` index of each entry of `cell_index`.
    cell_ids: Vec<usize>,
    pub patrols: PatrolTable,
    patrol_index: MovingIndex,
    /// The open incidents.
    incidents: FxHashMap<u64, IncidentRec>,
    /// The open incidents by the deadline of their stage: escalation looks at the overdue only.
    deadlines: BTreeSet<(i64, u64)>,
    /// Keyed by the low 32 bits of the incident id: ids are issued sequentially from 1, and
    /// [`World::put_incident`] refuses ids that do not fit.
    incident_index: MovingIndex,
    pub limits: TimeLimits,
}

impl World {
    /// Loads a scene folder written by `gridwall-server import`.
    pub fn load(dir: &Path, limits: TimeLimits) -> Result<Self, WorldError> {
        let manifest = SceneManifest::load(dir)?;
        let frame = manifest.frame()?;
        let components: Vec<ComponentRec> = read_components(dir, &manifest)?
            .into_iter()
            .enumerate()
            .map(|(i, c)| ComponentRec { id: i as u32, code: c.code, category: c.category, state: c.state, pos: c.pos })
            .collect();
        let component_index = PointIndex::new(components.iter().map(|c| (c.id, c.pos)));
        let grids = read_grids(dir, &manifest, &frame)?;
        let grid_by_code = grids.iter().enumerate().map(|(i, g)| (g.code.clone(), i)).collect();
        let cell_ids: Vec<usize> =
            grids.iter().enumerate().filter(|(_, g)| g.level == GridLevel::Cell).map(|(i, _)| i).collect();
        let cell_index = CellIndex::new(cell_ids.iter().map(|&i| grids[i].shape.clone()).collect());
        let prepared =
            grids.iter().map(|g| (g.level == GridLevel::Cell).then(|| PreparedArea::new(g.shape.clone()))).collect();

        Ok(Self {
            manifest,
            components,
            component_index,
            grids,
            grid_by_code,
            prepared,
            cell_index,
            cell_ids,
            patrols: PatrolTable::default(),
            patrol_index: MovingIndex::new(100.0),
            incidents: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            incident_index: MovingIndex::new(100.0),
            limits,
        })
    }

    /// The grid unit with this code.
    pub fn grid(&self, code: &str) -> Option<&GridUnit> {
        self.grid_by_code.get(code).map(|&i| &self.grids[i])
    }

    /// The cell containing a point.
    pub fn cell_at(&self, p: [f64; 2]) -> Option<&GridUnit> {
        self.cell_index.locate(p).map(|i| &self.grids[self.cell_ids[i]])
    }

    /// Components inside a local bbox.
    pub fn components_in(&self, bbox: [f64; 4]) -> impl Iterator<Item = &ComponentRec> {
        self.component_index.locate_in_envelope(bbox).map(|id| &self.components[id as usize])
    }

    /// Adds or replaces a patrol's record (its position stays until the next report).
    pub fn register_patrol(&mut self, id: u32, name: &str, role: PatrolRole, grid: &str) {
        let rec = self.patrols.get_or_insert_with(id, || PatrolRec::new(id, role));
        name.clone_into(&mut rec.name);
        rec.role = role;
        grid.clone_into(&mut rec.grid);
        rec.cell = self.grid_by_code.get(grid).copied();
    }

    /// Records a position report. Raises `PatrolLeftGrid` once when a patrolling patrol leaves its
    /// assigned cell (and again only after it came back). Reports older than the last one do not
    /// move the patrol (they still go into its stored track).
    pub fn report_position(&mut self, id: u32, p: [f64; 2], t_ms: i64) -> Vec<WorldEvent> {
        let mut events = Vec::new();
        let Some(rec) = self.patrols.get_mut(&id) else { return events };
        if rec.last_ms.is_some_and(|last| t_ms < last) {
            return events;
        }
        // Inside or on the boundary of the assigned cell.
        let is_inside = rec.cell.and_then(|i| self.prepared[i].as_ref()).is_none_or(|a| a.contains(p));
        rec.last_ms = Some(t_ms);
        rec.pos = Some(p);
        if rec.status == PatrolStatus::Patrolling && !is_inside && !rec.outside {
            events.push(WorldEvent::PatrolLeftGrid { patrol: id, grid: rec.grid.clone() });
        }
        rec.outside = !is_inside;
        self.patrol_index.upsert(id, p);
        events
    }

    pub fn patrols_in(&self, bbox: [f64; 4]) -> Vec<u32> {
        self.patrol_index.locate_in_envelope(bbox)
    }

    /// The `k` nearest on-duty patrols (not off) to a point, with straight-line distance.
    pub fn nearest_on_duty(&self, p: [f64; 2], k: usize) -> Vec<(u32, f64)> {
        self.patrol_index.nearest(p, k, |id| self.patrols.get(&id).is_some_and(|r| r.status != PatrolStatus::Off))
    }

    /// A new incident at a point, its cell looked up (not yet in the world: [`World::put_incident`]).
    pub fn new_incident(
        &self,
        id: u64,
        category: IncidentCategory,
        source: IncidentSource,
        p: [f64; 2],
        description: &str,
        intake: Intake,
        now_ms: i64,
    ) -> IncidentRec {
        let grid = self.cell_at(p).map(|g| g.code.clone()).unwrap_or_default();
        let mut case = Case::accept(category, now_ms, source.name_zh(), &self.limits);
        case.intake = intake;
        IncidentRec { id, category, source, pos: p, grid, description: description.to_owned(), case }
    }

    /// Takes an incident as it now is: kept while open (indexed by place and deadline), let go
    /// of once closed.
    ///
    /// # Panics
    /// If `id` does not fit in 32 bits (the backend issues ids sequentially).
    pub fn put_incident(&mut self, rec: IncidentRec) {
        let key = u32::try_from(rec.id).expect("incident ids are issued below 2^32");
        if let Some(old) = self.incidents.get(&rec.id)
            && let Some(d) = old.case.deadline_ms
        {
            self.deadlines.remove(&(d, rec.id));
        }
        if rec.case.is_open() {
            if let Some(d) = rec.case.deadline_ms {
                self.deadlines.insert((d, rec.id));
            }
            self.incident_index.upsert(key, rec.pos);
            self.incidents.insert(rec.id, rec);
        } else {
            self.incident_index.remove(key);
            self.incidents.remove(&rec.id);
        }
    }

    /// An open incident.
    pub fn incident(&self, id: u64) -> Option<&IncidentRec> {
        self.incidents.get(&id)
    }

    /// Every open incident, in no order.
    pub fn open_incidents(&self) -> impl Iterator<Item = &IncidentRec> {
        self.incidents.values()
    }

    pub fn open_count(&self) -> usize {
        self.incidents.len()
    }

    /// The open incidents whose deadline passed before `now_ms`, soonest deadline first.
    pub fn overdue_ids(&self, now_ms: i64) -> Vec<u64> {
        self.deadlines.range(..(now_ms, 0)).map(|&(_, id)| id).collect()
    }

    pub fn incidents_in(&self, bbox: [f64; 4]) -> Vec<u32> {
        self.incident_index.locate_in_envelope(bbox)
    }

    /// Everything in a grid unit (any level): its components, patrols and open incidents.
    pub fn in_grid(&self, code: &str) -> (Vec<u32>, Vec<u32>, Vec<u64>) {
        let Some(g) = self.grid(code) else { return Default::default() };
        let r = geo::BoundingRect::bounding_rect(&g.shape)
            .map_or([0.0; 4], |r| [r.min().x, r.min().y, r.max().x, r.max().y]);
        let cell_of = |p: [f64; 2]| self.cell_at(p).is_some_and(|c| c.code.starts_with(code));
        let components = self
            .component_index
            .locate_in_envelope(r)
            .filter(|&id| cell_of(self.components[id as usize].pos))
            .collect();
        let patrols = self
            .patrol_index
            .locate_in_envelope(r)
            .into_iter()
            .filter(|id| self.patrols[id].pos.is_some_and(cell_of))
            .collect();
        let mut incidents: Vec<u64> =
            self.incidents.values().filter(|i| i.grid.starts_with(code) && !i.grid.is_empty()).map(|i| i.id).collect();
        incidents.sort_unstable();
        (components, patrols, incidents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Action;

    fn helsinki() -> World {
        World::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes/helsinki"), TimeLimits::default()).unwrap()
    }

    #[test]
    fn the_shipped_scene_loads_with_its_indexes() {
        let w = helsinki();
        assert_eq!(w.components.len(), w.manifest.counts.components);
        assert_eq!(w.grids.iter().filter(|g| g.level == GridLevel::Cell).count(), w.manifest.counts.cells);
        let b = [-200.0, -300.0, 150.0, 100.0];
        let mut got: Vec<u32> = w.components_in(b).map(|c| c.id).collect();
        got.sort_unstable();
        let want: Vec<u32> = w
            .components
            .iter()
            .filter(|c| c.pos[0] >= b[0] && c.pos[0] <= b[2] && c.pos[1] >= b[1] && c.pos[1] <= b[3])
            .map(|c| c.id)
            .collect();
        assert_eq!(got, want);
        assert!(!got.is_empty());
        // Every component lies in exactly the cell the index says, and that cell's parents nest.
        let c = &w.components[0];
        let cell = w.cell_at(c.pos).unwrap();
        let community = w.grid(cell.parent.as_deref().unwrap()).unwrap();
        assert_eq!(community.level, GridLevel::Community);
        assert!(cell.code.starts_with(&community.code));
    }

    #[test]
    fn patrols_track_leave_their_cell_and_are_found_nearest() {
        let mut w = helsinki();
        let centre = [0.0, 0.0];
        let home = w.cell_at(centre).unwrap().code.clone();
        w.register_patrol(1, "网格员张三", PatrolRole::GridWorker, &home);
        w.register_patrol(2, "巡逻警李四", PatrolRole::Police, &home);
        w.register_patrol(3, "志愿者王五", PatrolRole::Volunteer, &home);
        assert!(w.report_position(1, centre, 1_000).is_empty());
        w.report_position(2, [30.0, 40.0], 1_000);
        w.report_position(3, [5.0, 0.0], 1_000);
        w.patrols.get_mut(&3).unwrap().status = PatrolStatus::Off;
        assert_eq!(w.nearest_on_duty([1.0, 0.0], 2), vec![(1, 1.0), (2, (29.0f64).hypot(40.0))]);

        // Walk far away: one event, not one per report.
        let far = [w.manifest.bounds.local[2] - 5.0, w.manifest.bounds.local[3] - 5.0];
        assert_eq!(
            w.report_position(1, far, 2_000),
            vec![WorldEvent::PatrolLeftGrid { patrol: 1, grid: home.clone() }]
        );
        assert!(w.report_position(1, far, 3_000).is_empty());
        assert!(w.report_position(1, centre, 4_000).is_empty());
        assert_eq!(w.report_position(1, far, 5_000).len(), 1);
        // A late report does not move the patrol.
        w.report_position(1, [7.0, 7.0], 2_500);
        assert_eq!(w.patrols[&1].pos, Some(far));
        assert_eq!(w.patrols[&1].last_ms, Some(5_000));
    }

    #[test]
    fn open_incidents_are_kept_by_cell_and_deadline_and_let_go_of_when_closed() {
        let mut w = helsinki();
        let t0 = 1_790_000_000_000;
        let cells: Vec<String> =
            w.grids.iter().filter(|g| g.level == GridLevel::Cell).map(|g| g.code.clone()).collect();
        let categories = [IncidentCategory::Garbage, IncidentCategory::ManholeDamage, IncidentCategory::RoadDamage];
        for (i, code) in cells.iter().take(3).enumerate() {
            let g = w.grid(code).unwrap();
            let c = geo::InteriorPoint::interior_point(&g.shape).unwrap();
            let rec = w.new_incident(
                i as u64 + 1,
                categories[i],
                IncidentSource::Hotline,
                [c.x(), c.y()],
                "垃圾堆放",
                Intake::default(),
                t0,
            );
            assert_eq!(&rec.grid, code);
            w.put_incident(rec);
        }
        assert_eq!(w.open_count(), 3);
        // Dispatch limits: manhole 30 min, garbage 60, road 120: overdue in deadline order.
        assert_eq!(w.overdue_ids(t0 + 45 * 60_000), vec![2]);
        assert_eq!(w.overdue_ids(t0 + 200 * 60_000), vec![2, 1, 3]);
        let (_, _, incidents) = w.in_grid(&cells[0]);
        assert_eq!(incidents, vec![1]);
        let community = w.grid(&cells[0]).unwrap().parent.clone().unwrap();
        let street = w.grid(&community).unwrap().parent.clone().unwrap();
        assert!(w.in_grid(&street).2.contains(&1));

        // Close the first one: it leaves memory, its index entries with it.
        let limits = w.limits.clone();
        let mut rec = w.incident(1).unwrap().clone();
        for a in [
            Action::Dispatch { assignee: "P1".into() },
            Action::Resolve,
            Action::ReviewPass,
            Action::Close { satisfaction: 5 },
        ] {
            rec.case.apply(&a, "x", "", t0 + 60_000, &limits).unwrap();
        }
        let pos = rec.pos;
        w.put_incident(rec);
        assert!(w.incident(1).is_none());
        assert_eq!(w.open_count(), 2);
        assert_eq!(w.overdue_ids(t0 + 200 * 60_000), vec![2, 3]);
        assert!(!w.incidents_in([pos[0] - 1.0, pos[1] - 1.0, pos[0] + 1.0, pos[1] + 1.0]).contains(&1));
        assert!(w.in_grid(&cells[0]).2.is_empty());
    }
}
