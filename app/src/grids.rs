//! Grid boundaries at three levels (街道 street, 社区 community, 网格 cell) with distinct line
//! weights, and their Chinese names as labels that appear by zoom level: streets from afar,
//! communities closer, cells closest, never over each other or over a panel. Outlines come from
//! the server (`GET /api/v1/grids`, in local metres), saved next to the fetched scene; they fill
//! the shared [`GridMap`].

use bevy::prelude::*;
use gridwall_protocol::GridLevel;
use gridwall_protocol::api::GridOutlines;

use crate::AppSystems;
use crate::map::grid::centroid;
use crate::map::{GridMap, OrbitCamera, to_world};
use crate::scene::{GRIDS_FILE, SceneInfo};
use crate::theme::prelude::*;

/// A label floating over a grid unit.
#[derive(Component, Debug)]
pub struct GridLabel {
    pub level: GridLevel,
    pub at: Vec3,
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
            .init_gizmo_group::<StreetLines>()
            .init_gizmo_group::<CommunityLines>()
            .init_gizmo_group::<CellLines>()
            .add_systems(Startup, (set_line_weights, load_grids))
            .add_systems(Update, (draw_grids, place_labels).in_set(AppSystems::Present));
    }
}

fn set_line_weights(mut store: ResMut<GizmoConfigStore>) {
    store.config_mut::<StreetLines>().0.line.width = 5.0;
    store.config_mut::<CommunityLines>().0.line.width = 3.0;
    store.config_mut::<CellLines>().0.line.width = 1.5;
}

fn load_grids(mut commands: Commands, scene: Res<SceneInfo>, mut outlines: ResMut<GridMap>, ui: Option<Res<UiFont>>) {
    let path = scene.dir.join(GRIDS_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else { return };
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
                GridLabel { level: unit.level, at: to_world(c[0], c[1], 10.0) },
                Name::new(format!("label {}", unit.code)),
            ));
        }
        outlines.lines.push((unit.level, lines));
        outlines.units.push(unit);
    }
}

fn draw_grids(
    outlines: Res<GridMap>,
    mut street: Gizmos<StreetLines>,
    mut community: Gizmos<CommunityLines>,
    mut cell: Gizmos<CellLines>,
) {
    for (level, rings) in &outlines.lines {
        for ring in rings {
            let points = ring.iter().copied();
            match level {
                GridLevel::Street | GridLevel::City => street.linestrip(points, level_color(*level)),
                GridLevel::Community => community.linestrip(points, level_color(*level)),
                GridLevel::Cell => cell.linestrip(points, level_color(*level).with_alpha(0.6)),
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

/// Screen rectangles already taken by labels, bucketed in 64-pixel cells so a new label is only
/// checked against its neighbours.
#[derive(Debug, Default)]
pub struct Declutter {
    cells: std::collections::HashMap<(i32, i32), Vec<Rect>>,
}

impl Declutter {
    const CELL: f32 = 64.0;

    /// Takes `r` if it overlaps nothing taken before; says whether it did.
    pub fn place(&mut self, r: Rect) -> bool {
        let span = |a: f32, b: f32| (a / Self::CELL).floor() as i32..=(b / Self::CELL).floor() as i32;
        let cells: Vec<(i32, i32)> =
            span(r.min.x, r.max.x).flat_map(|x| span(r.min.y, r.max.y).map(move |y| (x, y))).collect();
        if cells.iter().any(|c| self.cells.get(c).is_some_and(|taken| taken.iter().any(|t| !t.intersect(r).is_empty())))
        {
            return false;
        }
        for c in cells {
            self.cells.entry(c).or_default().push(r);
        }
        true
    }
}

/// Places the labels the zoom level calls for over their units, streets first, then
/// communities, then cells; a label that would overlap one already placed, or a panel over the
/// map (HUD, ticker, filter bar, detail panel), stays hidden.
fn place_labels(
    cameras: Query<(&Camera, &GlobalTransform, &OrbitCamera)>,
    panels: Query<(&ComputedNode, &bevy::ui::UiGlobalTransform, &InheritedVisibility), With<GlobalZIndex>>,
    mut labels: Query<(&GridLabel, &mut Node, &mut Visibility, &ComputedNode)>,
) {
    let Ok((camera, cam_tf, orbit)) = cameras.single() else { return };
    let mut taken = Declutter::default();
    for (node, tf, shown) in &panels {
        if shown.get() {
            let k = node.inverse_scale_factor();
            taken.place(Rect::from_center_size(tf.translation * k, node.size() * k));
        }
    }
    let mut order: Vec<_> = labels.iter_mut().collect();
    order.sort_by_key(|(l, ..)| std::cmp::Reverse(l.level.index()));
    for (label, mut node, mut vis, computed) in order {
        let shown =
            labelled(label.level, orbit.distance).then(|| camera.world_to_viewport(cam_tf, label.at).ok()).flatten();
        let half = computed.size() * computed.inverse_scale_factor() / 2.0;
        match shown.filter(|p| taken.place(Rect::from_center_half_size(*p, half))) {
            Some(p) => {
                node.left = Val::Px(p.x - half.x);
                node.top = Val::Px(p.y - half.y);
                vis.set_if_neq(Visibility::Inherited);
            }
            None => {
                vis.set_if_neq(Visibility::Hidden);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_would_overlap_are_refused() {
        let mut d = Declutter::default();
        assert!(d.place(Rect::new(0.0, 0.0, 100.0, 20.0)));
        assert!(!d.place(Rect::new(90.0, 10.0, 150.0, 30.0)), "overlaps the first");
        assert!(d.place(Rect::new(100.5, 0.0, 200.0, 20.0)), "beside it");
        assert!(d.place(Rect::new(-300.0, -50.0, -200.0, -30.0)), "off screen to the top left");
        assert!(!d.place(Rect::new(150.0, 5.0, 160.0, 15.0)), "inside the third, across bucket borders");
    }

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
