//! Picking: a left click that did not drag (from the mouse, or a script's [`Click`]) selects the
//! pickable marker nearest on screen (incidents before patrols before components), else the grid
//! cell under it, else nothing.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use gridwall_protocol::GridLevel;

use crate::AppSystems;
use crate::map::{Click, GridMap, OrbitCamera, Pickable, Select, Target};

/// Screen distance (logical pixels) within which a click hits a marker.
const HIT_PX: f32 = 18.0;

/// Where the left button went down (a click is a press and release close together).
#[derive(Resource, Default)]
struct ClickStart(Option<Vec2>);

pub struct PickingPlugin;

impl Plugin for PickingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ClickStart>()
            .init_resource::<GridMap>()
            .add_message::<Click>()
            .add_message::<Select>()
            .add_systems(
                Update,
                click_with_mouse.run_if(resource_exists::<ButtonInput<MouseButton>>).in_set(AppSystems::Input),
            )
            .add_systems(Update, pick_clicked.in_set(AppSystems::Select).before(super::select_target));
    }
}

/// A left click that did not drag (a drag orbits the camera) and is not on a panel's button.
fn click_with_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    ui: Query<&Interaction>,
    mut start: ResMut<ClickStart>,
    mut clicks: MessageWriter<Click>,
) {
    let Some(cursor) = windows.single().ok().and_then(Window::cursor_position) else { return };
    if buttons.just_pressed(MouseButton::Left) {
        start.0 = Some(cursor);
    }
    if buttons.just_released(MouseButton::Left)
        && let Some(from) = start.0.take()
        && from.distance(cursor) < 5.0
        && ui.iter().all(|i| *i == Interaction::None)
    {
        clicks.write(Click(cursor));
    }
}

/// The pickable marker on screen within [`HIT_PX`] (incidents first, then patrols, then
/// components; the nearest within a kind), else the grid cell under the cursor, else nothing.
pub fn pick(
    camera: &Camera,
    cam_tf: &GlobalTransform,
    at: Vec2,
    markers: impl Iterator<Item = (Target, Vec3)>,
    grids: &GridMap,
) -> Option<Target> {
    // Incidents before patrols before components (a commander clicking near an incident means
    // the incident, not the manhole cover under it); the nearest on screen within a kind.
    let rank = |t: &Target| match t {
        Target::Incident(_) => 0,
        Target::Patrol(_) => 1,
        Target::Component(_) | Target::Grid(_) => 2,
    };
    let hit = markers
        .filter_map(|(t, p)| camera.world_to_viewport(cam_tf, p).ok().map(|s| (t, s.distance(at))))
        .filter(|(_, d)| *d <= HIT_PX)
        .min_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.1.total_cmp(&b.1)))
        .map(|(t, _)| t);
    hit.or_else(|| {
        let ray = camera.viewport_to_world(cam_tf, at).ok()?;
        let d = ray.intersect_plane(Vec3::ZERO, InfinitePlane3d::new(Vec3::Y))?;
        let p = ray.get_point(d);
        grids.unit_at(GridLevel::Cell, f64::from(p.x), f64::from(-p.z)).map(|u| Target::Grid(u.code.clone()))
    })
}

fn pick_clicked(
    mut clicks: MessageReader<Click>,
    cameras: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    markers: Query<(&Pickable, &GlobalTransform, &InheritedVisibility)>,
    grids: Res<GridMap>,
    mut select: MessageWriter<Select>,
) {
    let Ok((camera, cam_tf)) = cameras.single() else { return };
    for Click(at) in clicks.read() {
        let visible = markers.iter().filter(|(_, _, v)| v.get()).map(|(p, tf, _)| (p.0.clone(), tf.translation()));
        select.write(Select(pick(camera, cam_tf, *at, visible, &grids)));
    }
}
