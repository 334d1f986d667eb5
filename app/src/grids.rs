//! Grid boundaries at three levels (街道 street, 社区 community, 网格 cell) with distinct line
//! weights, and their Chinese names as labels that appear by zoom level: streets from afar,
//! communities closer, cells closest (placed by the labels feature: never over each other or over
//! a panel). Outlines come from
//! the server (`GET /api/v1/grids`, in local metres), saved next to the fetched scene; they fill
//! the shared [`GridMap`].

use bevy::prelude::*;
use gridwall_protocol::GridLevel;
use gridwall_protocol::api::GridOutlines;

use crate::AppSystems;
use crate::map::grid::centroid;
use crate::map::{FloatingLabel, GridMap, OrbitCamera, Presentation, to_world};
use crate::scene::{GRIDS_FILE, GridsText, SceneInfo};
use crate::theme::prelude::*;
use gridwall_protocol::wall::Highlight;

/// A grid unit's name floating over it.
#[derive(Component, Debug)]
pub struct GridLabel {
    pub level: GridLevel,
}

/// Streets' names matter most, then overdue incidents (theirs), communities, near incidents,
/// cells.
fn rank(level: GridLevel) -> u8 {
    match level {
        GridLevel::Street | GridLevel::City => 0,
        GridLevel::Community => 2,
        GridLevel::Cell => 4,
    }
}

#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct StreetLines;
#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct CommunityLines;
#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct CellLines;

pub struct GridsPlugin;

impl Plugin for GridsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<GridMap>()
            .init_resource::<Presentation>()
            .init_gizmo_group::<StreetLines>()
            .init_gizmo_group::<CommunityLines>()
            .init_gizmo_group::<CellLines>()
            .add_systems(Startup, (set_line_weights, load_grids))
            .add_systems(Update, (draw_grids, want_labels).in_set(AppSystems::Present));
    }
}

fn set_line_weights(mut store: ResMut<GizmoConfigStore>) {
    store.config_mut::<StreetLines>().0.line.width = 5.0;
    store.config_mut::<CommunityLines>().0.line.width = 3.0;
    store.config_mut::<CellLines>().0.line.width = 1.5;
}

fn load_grids(
    mut commands: Commands,
    scene: Res<SceneInfo>,
    fetched: Option<Res<GridsText>>,
    mut outlines: ResMut<GridMap>,
    ui: Option<Res<UiFont>>,
) {
    let path = scene.dir.join(GRIDS_FILE);
    let text = if let Some(t) = fetched {
        t.0.clone()
    } else {
        let Ok(text) = std::fs::read_to_string(&path) else { return };
        text
    };
    let file: GridOutlines = match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            error!("{}: {e}", path.display());
            return;
        }
    };
    for unit in file.grids {
        // Streets draw a little higher than communities, communities than cells, so shared
        // edges show the heavier line.
        let up = match unit.level {
            GridLevel::Street | GridLevel::City => 1.6,
            GridLevel::Community => 1.3,
            GridLevel::Cell => 1.0,
        };
        let lines = unit.rings.iter().map(|r| r.iter().map(|p| to_world(p[0], p[1], up)).collect()).collect();
        if let Some(outer) = unit.rings.first() {
            let c = centroid(outer);
            // Pixels at 1080 p: 2.4 %, 1.9 % and 1.5 % of the screen's height.
            let px = match unit.level {
                GridLevel::Street | GridLevel::City => 25.92,
                GridLevel::Community => 20.52,
                GridLevel::Cell => 16.2,
            };
            commands.spawn((
                Text::new(unit.name.clone()),
                font(ui.as_deref(), px),
                TextColor(level_color(unit.level).with_alpha(0.95)),
                Node { position_type: PositionType::Absolute, ..default() },
                Visibility::Hidden,
                GridLabel { level: unit.level },
                FloatingLabel { at: to_world(c[0], c[1], 10.0), rank: rank(unit.level), wanted: false },
                Name::new(format!("label {}", unit.code)),
            ));
        }
        outlines.lines.push((unit.level, lines));
        outlines.units.push(unit);
    }
}

fn draw_grids(
    outlines: Res<GridMap>,
    presentation: Res<Presentation>,
    mut street: Gizmos<StreetLines>,
    mut community: Gizmos<CommunityLines>,
    mut cell: Gizmos<CellLines>,
) {
    // A tour lighting up one level: that level bright, the others faint.
    let lit = match presentation.highlight {
        Some(Highlight::GridLevel(l)) => Some(l),
        _ => None,
    };
    let tone = |level: GridLevel, alpha: f32| {
        let same = |a: GridLevel, b: GridLevel| a == b || (a == GridLevel::City && b == GridLevel::Street);
        match lit {
            Some(l) if same(level, l) || same(l, level) => Color::WHITE.mix(&level_color(level), 0.4),
            Some(_) => level_color(level).with_alpha(alpha * 0.25),
            None => level_color(level).with_alpha(alpha),
        }
    };
    for (level, rings) in &outlines.lines {
        for ring in rings {
            let points = ring.iter().copied();
            match level {
                GridLevel::Street | GridLevel::City => street.linestrip(points, tone(*level, 1.0)),
                GridLevel::Community => community.linestrip(points, tone(*level, 1.0)),
                GridLevel::Cell => cell.linestrip(points, tone(*level, 0.6)),
            }
        }
    }
}

/// Which levels are labelled at a camera distance (metres): streets always, communities below
/// 1,400 m, cells below 600 m.
pub fn labelled(level: GridLevel, distance: f32) -> bool {
    match level {
        GridLevel::Street | GridLevel::City => true,
        GridLevel::Community => distance < 1_400.0,
        GridLevel::Cell => distance < 600.0,
    }
}

/// Wants each unit's label shown at the zoom level its level calls for (the labels feature
/// places the ones that fit).
fn want_labels(cameras: Query<&OrbitCamera>, mut labels: Query<(&GridLabel, &mut FloatingLabel)>) {
    let Some(orbit) = cameras.iter().next() else { return };
    for (grid, mut label) in &mut labels {
        let wanted = labelled(grid.level, orbit.distance);
        if label.wanted != wanted {
            label.wanted = wanted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_levels_decide_which_labels_show() {
        assert!(
            labelled(GridLevel::Street, 5_000.0)
                && !labelled(GridLevel::Community, 1_600.0)
                && labelled(GridLevel::Cell, 300.0)
        );
        assert!(labelled(GridLevel::Community, 1_000.0) && !labelled(GridLevel::Cell, 700.0));
    }
}
