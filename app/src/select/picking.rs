//! Picking: a left click that did not drag (from the mouse, or a script's [`Click`]) selects the
//! pickable marker nearest on screen (incidents before patrols before components), else the grid
//! cell under it, else nothing.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use gridwall_protocol::GridLevel;

use crate::AppSystems;
use crate::map::{Click, GridMap, OrbitCamera, OverlayAreas, Pickable, Select, Target};

/// Screen distance (logical pixels) within which a click hits a marker.
const HIT_PX: f32 = 18.0;

/// Where the left button went down, and whether over a panel (a click is a press and release
/// close together, both on the map).
#[derive(Resource, Default)]
struct ClickStart(Option<(Vec2, bool)>);

pub struct PickingPlugin;

impl Plugin for PickingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ClickStart>()
            .init_resource::<GridMap>()
            .init_resource::<OverlayAreas>()
            .add_message::<Click>()
            .add_message::<Select>()
            .add_systems(
                Update,
                (click_with_mouse.run_if(resource_exists::<ButtonInput<MouseButton>>), pick_clicked)
                    .chain()
                    .in_set(AppSystems::Input),
            );
    }
}

/// A left click that did not drag (a drag orbits the camera) and neither began nor ended on a
/// panel's button or an egui panel. Where it began counts: a busy city rebuilds the detail panel while the
/// button is held, and the release must not fall through to the map.
fn click_with_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    ui: Query<&Interaction>,
    overlays: Res<OverlayAreas>,
    mut start: ResMut<ClickStart>,
    mut clicks: MessageWriter<Click>,
) {
    let Some(cursor) = windows.single().ok().and_then(Window::cursor_position) else { return };
    let on_ui = ui.iter().any(|i| *i != Interaction::None) || overlays.contains(cursor);
    if buttons.just_pressed(MouseButton::Left) {
        start.0 = Some((cursor, on_ui));
    }
    if buttons.just_released(MouseButton::Left)
        && let Some((from, began_on_ui)) = start.0.take()
        && !began_on_ui
        && !on_ui
        && from.distance(cursor) < 5.0
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;

    /// Presses and releases the left button at a window point; the clicks that came of it.
    fn click(
        app: &mut App,
        window: Entity,
        at: Vec2,
        ui_during: Option<(Entity, Interaction, Interaction)>,
    ) -> Vec<Click> {
        app.world_mut().get_mut::<Window>(window).unwrap().set_physical_cursor_position(Some(at.as_dvec2()));
        if let Some((e, down, _)) = ui_during {
            *app.world_mut().get_mut::<Interaction>(e).unwrap() = down;
        }
        app.world_mut().resource_mut::<ButtonInput<MouseButton>>().press(MouseButton::Left);
        app.update();
        if let Some((e, _, up)) = ui_during {
            *app.world_mut().get_mut::<Interaction>(e).unwrap() = up;
        }
        let mut buttons = app.world_mut().resource_mut::<ButtonInput<MouseButton>>();
        buttons.clear();
        buttons.release(MouseButton::Left);
        app.update();
        app.world_mut().resource_mut::<ButtonInput<MouseButton>>().clear();
        app.world_mut().resource_mut::<Messages<Click>>().drain().collect()
    }

    #[test]
    fn clicks_on_the_map_count_and_clicks_that_begin_on_a_button_do_not() {
        let mut app = app_with(PickingPlugin);
        app.init_resource::<ButtonInput<MouseButton>>();
        let window = app.world_mut().spawn((Window::default(), PrimaryWindow)).id();
        let button = app.world_mut().spawn(Interaction::None).id();
        app.update();
        let at = Vec2::new(400.0, 300.0);
        assert_eq!(click(&mut app, window, at, None), [Click(at)]);
        // Pressed on a button that was rebuilt (new buttons start at None) before the release.
        assert!(click(&mut app, window, at, Some((button, Interaction::Pressed, Interaction::None))).is_empty());
        // Released over a button.
        assert!(click(&mut app, window, at, Some((button, Interaction::None, Interaction::Hovered))).is_empty());
        *app.world_mut().get_mut::<Interaction>(button).unwrap() = Interaction::None;
        assert_eq!(click(&mut app, window, at, None), [Click(at)], "the map takes clicks again");
        // Over the 研判 panel (egui), even when the pointer only just got there.
        app.world_mut().resource_mut::<OverlayAreas>().0 = vec![Rect::new(350.0, 250.0, 450.0, 350.0)];
        assert!(click(&mut app, window, at, None).is_empty(), "a click on the panel is the panel's");
        assert_eq!(click(&mut app, window, Vec2::new(500.0, 300.0), None), [Click(Vec2::new(500.0, 300.0))]);
    }
}
