//! Incidents per grid unit at overview distances: where a city-wide view would be a forest of
//! columns, each community (from afar: each street) with several open incidents shows them as
//! one aggregate instead — the unit tinted by how far its last day's reports are from its normal
//! (the server's baseline: quiet blue-green at or under the expectation, red at and past the
//! band's upper bound; by its open load while the analysis has not answered), and a badge with its name, the count,
//! the share overdue and the least advanced stage. Closer in (where community names appear) the
//! aggregates split into the incidents' own markers. Units with one or two incidents keep their
//! markers at any distance.

use std::collections::HashMap;
use std::fmt::Write as _;

use bevy::prelude::*;
use gridwall_protocol::{GridLevel, IncidentStage};

use crate::AppSystems;
use crate::map::grid::{area_mesh, centroid};
use crate::map::{Deviations, Filters, FloatingLabel, FoldedUnits, GridMap, IncidentMarker, OrbitCamera, to_world};
use crate::net::ServerClock;
use crate::theme::prelude::*;
use gridwall_protocol::api::analysis::UnitDeviation;

/// From this camera distance (metres) communities fold their incidents (where their names give
/// way to the aggregates); from [`FOLD_STREETS_M`] streets do.
pub const FOLD_COMMUNITIES_M: f32 = 1_400.0;
pub const FOLD_STREETS_M: f32 = 6_000.0;
/// A unit folds from this many incidents on.
pub const FOLD_FROM: usize = 3;

/// The level whose units fold at a camera distance, if any.
pub fn fold_level(distance: f32) -> Option<GridLevel> {
    if distance >= FOLD_STREETS_M {
        Some(GridLevel::Street)
    } else if distance >= FOLD_COMMUNITIES_M {
        Some(GridLevel::Community)
    } else {
        None
    }
}

/// The open incidents of one grid unit, as shown by its aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitLoad {
    pub count: usize,
    pub overdue: usize,
    /// The least advanced stage (受理 is the most urgent: nobody has it yet).
    pub worst: IncidentStage,
}

impl UnitLoad {
    /// 0 (quiet) to 1 (full): how heavily the unit is tinted. A street holds more than a
    /// community before it is full.
    pub fn tint(&self, level: GridLevel) -> f32 {
        let full = if level == GridLevel::Community { 40.0 } else { 150.0 };
        (self.count as f32 / full).min(1.0)
    }
}

/// The load of each unit of the folding level (every unit with an incident), by code.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct UnitLoads(pub HashMap<String, UnitLoad>);

/// A unit's aggregate: its tinted area or its badge.
#[derive(Component, Debug, Clone)]
pub struct Aggregate {
    pub code: String,
    pub level: GridLevel,
}

/// The badge's two lines.
#[derive(Component)]
struct BadgeStats;

/// Tint materials, quiet to full, and whether the aggregates were made.
#[derive(Resource, Default)]
struct AggregateLook {
    tints: Vec<Handle<StandardMaterial>>,
    made: bool,
}

const TINT_STEPS: usize = 6;

pub struct AggregatesPlugin;

impl Plugin for AggregatesPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FoldedUnits>()
            .init_resource::<UnitLoads>()
            .init_resource::<Deviations>()
            .init_resource::<AggregateLook>()
            .init_resource::<GridMap>()
            .init_resource::<Filters>()
            .init_resource::<ServerClock>()
            .init_resource::<Lang>()
            .add_systems(Update, fold_units.in_set(AppSystems::Filter))
            .add_systems(Update, (make_aggregates, show_aggregates).chain().in_set(AppSystems::Present));
    }
}

/// Decides which units fold at the camera's distance, counting the incidents the filters show.
fn fold_units(
    cameras: Query<&OrbitCamera>,
    markers: Query<&IncidentMarker>,
    grids: Res<GridMap>,
    filters: Res<Filters>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    mut folded: ResMut<FoldedUnits>,
    mut loads: ResMut<UnitLoads>,
) {
    let level = cameras.iter().next().and_then(|o| fold_level(o.distance));
    let mut counted: HashMap<String, UnitLoad> = HashMap::new();
    if let Some(level) = level {
        let lengths = code_lengths(&grids, level);
        let now = clock.shown_ms(time.elapsed_secs()).unwrap_or(i64::MIN);
        for m in &markers {
            let i = &m.0;
            if !filters.shows_incident(i.stage, &i.grid) {
                continue;
            }
            let Some(code) = lengths.iter().filter_map(|&n| i.grid.get(..n)).find(|c| grids.is_unit(c, level)) else {
                continue;
            };
            // Late now, or late before and escalated for it.
            let late = (i.deadline_ms > 0 && now > i.deadline_ms) || i.level != GridLevel::Cell;
            let load = counted.entry(code.to_owned()).or_insert(UnitLoad { count: 0, overdue: 0, worst: i.stage });
            load.count += 1;
            load.overdue += usize::from(late);
            load.worst = load.worst.min(i.stage);
        }
    }
    let codes = counted.iter().filter(|(_, l)| l.count >= FOLD_FROM).map(|(c, _)| c.clone()).collect();
    folded.set_if_neq(FoldedUnits { level, codes });
    loads.set_if_neq(UnitLoads(counted));
}

/// The code lengths of a level's units (unified codes: a unit's code is a prefix of its cells').
fn code_lengths(grids: &GridMap, level: GridLevel) -> Vec<usize> {
    let mut n: Vec<usize> = grids.units.iter().filter(|u| u.level == level).map(|u| u.code.len()).collect();
    n.sort_unstable();
    n.dedup();
    n
}

/// Makes every community's and street's aggregate once the grid is known: a flat tinted copy
/// of its area just above the ground, and a badge over its centre (both hidden until it folds).
fn make_aggregates(
    mut commands: Commands,
    grids: Res<GridMap>,
    mut look: ResMut<AggregateLook>,
    meshes: Option<ResMut<Assets<Mesh>>>,
    materials: Option<ResMut<Assets<StandardMaterial>>>,
    ui: Option<Res<UiFont>>,
) {
    if look.made || grids.units.is_empty() {
        return;
    }
    look.made = true;
    let (mut meshes, mut materials) = (meshes, materials);
    if let Some(materials) = materials.as_mut() {
        look.tints =
            (0..TINT_STEPS).map(|i| materials.add(tint_material(i as f32 / (TINT_STEPS - 1) as f32))).collect();
    }
    for unit in grids.units.iter().filter(|u| matches!(u.level, GridLevel::Community | GridLevel::Street)) {
        let tag = Aggregate { code: unit.code.clone(), level: unit.level };
        let mut area = commands.spawn((tag.clone(), Transform::default(), Visibility::Hidden, Name::new("load")));
        if let (Some(meshes), Some(mesh)) = (meshes.as_mut(), area_mesh(&unit.rings, 0.8)) {
            area.insert(Mesh3d(meshes.add(mesh)));
        }
        let Some(outer) = unit.rings.first() else { continue };
        let c = centroid(outer);
        let font = |px: f32| font(ui.as_deref(), px);
        commands.spawn((
            Node {
                position_type: PositionType::Absolute,
                flex_direction: FlexDirection::Column,
                align_items: AlignItems::Center,
                padding: UiRect::axes(hpx(10.0), hpx(4.0)),
                border: UiRect::all(hpx(2.0)),
                ..default()
            },
            BackgroundColor(palette::PANEL_STRONG),
            BorderColor::all(palette::DIM),
            Visibility::Hidden,
            tag,
            FloatingLabel { at: to_world(c[0], c[1], 10.0), rank: 0, wanted: false },
            Name::new(format!("aggregate {}", unit.code)),
            children![
                (Text::new(unit.name.clone()), font(20.0), TextColor(palette::ACCENT)),
                (Text::new(""), font(18.0), TextColor(Color::WHITE), BadgeStats),
            ],
        ));
    }
}

/// Quiet units barely tinted blue-green, full ones a strong red.
fn tint_material(t: f32) -> StandardMaterial {
    let quiet = Color::srgba(0.1, 0.75, 0.65, 0.1);
    let busy = Color::srgba(1.0, 0.65, 0.1, 0.22);
    let full = Color::srgba(1.0, 0.12, 0.08, 0.36);
    let color = if t < 0.5 { quiet.mix(&busy, t * 2.0) } else { busy.mix(&full, (t - 0.5) * 2.0) };
    StandardMaterial {
        base_color: color,
        unlit: true,
        alpha_mode: AlphaMode::Blend,
        cull_mode: None,
        double_sided: true,
        ..default()
    }
}

/// The badge's second line: count, share overdue, least advanced stage; and, where the
/// server's baseline is known, the last day's reports against their normal.
pub fn badge_text(load: &UnitLoad, normal: Option<&UnitDeviation>, lang: Lang) -> String {
    let late = (load.overdue * 100 + load.count / 2) / load.count.max(1);
    let mut text = match lang {
        Lang::Zh => format!("{} 件 · 超期 {late}% · 最早 {}", load.count, load.worst.name_zh()),
        Lang::En => format!("{} open · {late}% late · earliest {}", load.count, load.worst.name_en()),
    };
    if let Some(d) = normal {
        let expected = d.expected.round();
        let _ = match lang {
            Lang::Zh => write!(text, "\n近24小时 {} 件 · 常态 {expected} 件", d.observed),
            Lang::En => write!(text, "\nlast 24 h {} · normal {expected}", d.observed),
        };
    }
    text
}

/// How strongly a unit is tinted, 0 to 1: by its deviation from normal where known (1 at the
/// band's upper bound and past it), else by its open load.
pub fn tint_of(load: &UnitLoad, level: GridLevel, normal: Option<&UnitDeviation>) -> f32 {
    normal.map_or_else(|| load.tint(level), |d| d.deviation().clamp(0.0, 1.0) as f32)
}

/// Shows the aggregates of the folded units, tinted by load, with their numbers.
#[allow(clippy::type_complexity)]
fn show_aggregates(
    folded: Res<FoldedUnits>,
    loads: Res<UnitLoads>,
    deviations: Res<Deviations>,
    look: Res<AggregateLook>,
    lang: Res<Lang>,
    mut areas: Query<
        (Entity, &Aggregate, &mut Visibility, Option<&MeshMaterial3d<StandardMaterial>>),
        Without<FloatingLabel>,
    >,
    mut commands: Commands,
    mut badges: Query<(&Aggregate, &mut FloatingLabel, &mut BorderColor, &Children)>,
    mut stats: Query<(&mut Text, &mut TextColor), With<BadgeStats>>,
) {
    if !folded.is_changed() && !loads.is_changed() && !look.is_changed() && !deviations.is_changed() {
        return;
    }
    let shown =
        |a: &Aggregate| (folded.level == Some(a.level) && folded.codes.contains(&a.code)).then(|| &loads.0[&a.code]);
    for (e, a, mut vis, material) in &mut areas {
        let load = shown(a);
        vis.set_if_neq(if load.is_some() { Visibility::Inherited } else { Visibility::Hidden });
        if let Some(load) = load
            && !look.tints.is_empty()
        {
            let step = (tint_of(load, a.level, deviations.0.get(&a.code)) * (TINT_STEPS - 1) as f32).round() as usize;
            let tint = &look.tints[step.min(TINT_STEPS - 1)];
            if material.is_none_or(|m| m.0 != *tint) {
                commands.entity(e).insert(MeshMaterial3d(tint.clone()));
            }
        }
    }
    for (a, mut label, mut border, children) in &mut badges {
        let load = shown(a);
        if label.wanted != load.is_some() {
            label.wanted = load.is_some();
        }
        let Some(load) = load else { continue };
        border.set_all(stage_color(load.worst));
        if let Some((mut text, mut color)) = children.get(1).and_then(|&c| stats.get_mut(c).ok()) {
            let t = badge_text(load, deviations.0.get(&a.code), *lang);
            if text.0 != t {
                text.0 = t;
            }
            let c = if load.overdue * 5 > load.count { palette::OVERDUE } else { Color::WHITE };
            color.set_if_neq(TextColor(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::FiltersPlugin;
    use crate::filters::search::tests::unit;
    use crate::layers::incidents::IncidentsPlugin;
    use crate::net::ServerFrame;
    use crate::testing::app_with;
    use gridwall_protocol::IncidentState;
    use gridwall_testkit::fixtures::{incident, snapshot};

    fn shown(app: &mut App) -> Vec<u64> {
        let mut v: Vec<u64> = app
            .world_mut()
            .query::<(&IncidentMarker, &Visibility)>()
            .iter(app.world())
            .filter(|(_, v)| **v != Visibility::Hidden)
            .map(|(m, _)| m.0.id)
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn crowded_units_fold_at_overview_distances_and_split_closer_in() {
        let mut app = app_with((IncidentsPlugin, AggregatesPlugin, FiltersPlugin));
        app.world_mut().resource_mut::<GridMap>().units = vec![
            unit("370783001", "第1街道", GridLevel::Street),
            unit("370783001001", "第1街道第1社区", GridLevel::Community),
            unit("370783001002", "第1街道第2社区", GridLevel::Community),
        ];
        let at = |id: u64, stage, cell: &str| IncidentState { grid: cell.into(), ..incident(id, stage) };
        let mut crowded: Vec<IncidentState> =
            (1..=4).map(|id| at(id, IncidentStage::Dispatched, "370783001001003")).collect();
        crowded
            .push(IncidentState { level: GridLevel::Community, ..at(5, IncidentStage::Accepted, "370783001001004") });
        crowded.push(at(6, IncidentStage::Resolved, "370783001002001"));
        app.world_mut().write_message(ServerFrame(snapshot(vec![], crowded, vec![])));
        let cam =
            app.world_mut().spawn(OrbitCamera { focus: Vec3::ZERO, yaw: 0.0, pitch: 0.8, distance: 2_000.0 }).id();
        for _ in 0..3 {
            app.update();
        }
        // Community 1 has five: one aggregate; community 2 has one: its marker.
        assert_eq!(shown(&mut app), [6]);
        let folded = app.world().resource::<FoldedUnits>().clone();
        assert_eq!(folded.level, Some(GridLevel::Community));
        assert_eq!(folded.codes.iter().collect::<Vec<_>>(), ["370783001001"]);
        let load = app.world().resource::<UnitLoads>().0["370783001001"].clone();
        assert_eq!(load, UnitLoad { count: 5, overdue: 1, worst: IncidentStage::Accepted });
        assert_eq!(badge_text(&load, None, Lang::Zh), "5 件 · 超期 20% · 最早 受理");
        // With the baseline known the tint follows the deviation from normal, not the load: a
        // unit at its expectation is quiet however many are open, one past its band is full.
        let normal = |observed| UnitDeviation { code: "x".into(), observed, expected: 10.0, upper: 16.0 };
        assert_eq!(tint_of(&load, GridLevel::Community, Some(&normal(10))), 0.0);
        assert_eq!(tint_of(&load, GridLevel::Community, Some(&normal(13))), 0.5);
        assert_eq!(tint_of(&load, GridLevel::Community, Some(&normal(40))), 1.0);
        // A busy unit a tenth above its normal is past its narrow band, but barely tinted.
        let busy = UnitDeviation { code: "y".into(), observed: 2_100, expected: 1_920.0, upper: 2_030.0 };
        assert!(tint_of(&load, GridLevel::Community, Some(&busy)) < 0.2);
        assert_eq!(tint_of(&load, GridLevel::Community, None), load.tint(GridLevel::Community));
        assert_eq!(
            badge_text(&load, Some(&normal(13)), Lang::Zh),
            "5 件 · 超期 20% · 最早 受理\n近24小时 13 件 · 常态 10 件"
        );
        let badges: Vec<(String, bool)> = app
            .world_mut()
            .query::<(&Aggregate, &FloatingLabel)>()
            .iter(app.world())
            .map(|(a, l)| (a.code.clone(), l.wanted))
            .filter(|(_, wanted)| *wanted)
            .collect();
        assert_eq!(badges, [("370783001001".to_owned(), true)], "only the folded unit's badge");
        // From afar the street folds all six; closer in, every marker shows.
        app.world_mut().get_mut::<OrbitCamera>(cam).unwrap().distance = 8_000.0;
        app.update();
        app.update();
        assert_eq!(shown(&mut app), Vec::<u64>::new());
        assert_eq!(app.world().resource::<FoldedUnits>().level, Some(GridLevel::Street));
        app.world_mut().get_mut::<OrbitCamera>(cam).unwrap().distance = 900.0;
        app.update();
        app.update();
        assert_eq!(shown(&mut app), [1, 2, 3, 4, 5, 6]);
        assert!(app.world().resource::<FoldedUnits>().codes.is_empty());
    }

    #[test]
    fn a_units_area_is_triangulated_with_its_holes() {
        let square = vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0], [0.0, 0.0]];
        let hole = vec![[40.0, 40.0], [60.0, 40.0], [60.0, 60.0], [40.0, 60.0], [40.0, 40.0]];
        let mesh = area_mesh(&[square, hole], 0.8).unwrap();
        // 8 corners; (10,000 - 400) m² in triangles.
        let Some(bevy::mesh::VertexAttributeValues::Float32x3(p)) = mesh.attribute(Mesh::ATTRIBUTE_POSITION) else {
            panic!()
        };
        assert_eq!(p.len(), 8);
        let idx: Vec<usize> = mesh.indices().unwrap().iter().collect();
        let area: f32 = idx
            .chunks(3)
            .map(|t| {
                let (a, b, c) = (Vec3::from(p[t[0]]), Vec3::from(p[t[1]]), Vec3::from(p[t[2]]));
                (b - a).cross(c - a).length() / 2.0
            })
            .sum();
        assert!((area - 9_600.0).abs() < 1.0, "{area}");
    }
}
