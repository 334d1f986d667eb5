//! The camera: orbit, pan and zoom around a focus point with mouse and keyboard, eased flights
//! to what is selected ([`flight`]), and the view subscription to the server.
//!
//! Mouse: left drag orbits, right (or middle) drag pans, wheel zooms. Keys: W/A/S/D or arrows
//! pan, Q/E rotate, R/F tilt, +/- zoom.

pub mod flight;

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, Layer};

use crate::AppSystems;
use bevy::camera::RenderTarget;
use bevy::window::{PrimaryWindow, WindowPosition, WindowRef, WindowResolution};

use crate::map::{CameraControl, FlyTo, OrbitCamera, OverlayAreas, StartView, Tile, Typing, WallShape};
use crate::net::Outbound;
use crate::scene::SceneInfo;

pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<Outbound>()
            .init_resource::<Typing>()
            .add_systems(Startup, (spawn_camera, subscribe_to_view))
            .add_message::<FlyTo>()
            .init_resource::<CameraControl>()
            .add_systems(Update, steer_camera.in_set(AppSystems::Input).run_if(resource_equals(CameraControl::Local)))
            .add_systems(
                Update,
                (
                    (flight::start_flights, flight::fly_camera).run_if(resource_equals(CameraControl::Local)),
                    place_camera,
                )
                    .chain()
                    .in_set(AppSystems::Present),
            );
    }
}

/// One camera per panel this process shows. On a wall each renders its part of the one logical
/// view (an off-axis sub view); with `--all-tiles` every panel after the first gets a window of
/// its own, placed where the panel is.
fn spawn_camera(
    mut commands: Commands,
    scene: Res<SceneInfo>,
    start: Option<Res<StartView>>,
    shape: Option<Res<WallShape>>,
    primary: Query<&Window, With<PrimaryWindow>>,
) {
    let orbit = start.map_or_else(|| OrbitCamera::overview(&scene), |s| s.0);
    let Some(shape) = shape.filter(|s| s.is_wall()) else {
        commands.spawn((
            Camera3d::default(),
            Msaa::Off,
            orbit.transform(),
            orbit,
            Tile(UVec2::ZERO),
            Name::new("camera"),
        ));
        return;
    };
    let title = primary.single().ok().map(|w| w.title.clone());
    for (i, &tile) in shape.tiles.iter().enumerate() {
        let camera = Camera { sub_camera_view: Some(shape.sub_view(tile)), ..default() };
        let mut e = commands.spawn((
            Camera3d::default(),
            camera,
            Msaa::Off,
            orbit.transform(),
            orbit,
            Tile(tile),
            Name::new(format!("camera {},{}", tile.x, tile.y)),
        ));
        if let (Some(title), true) = (&title, i > 0) {
            let at = (tile * shape.panel).as_ivec2();
            let window = Window {
                title: format!("{title} [{},{}]", tile.x, tile.y),
                resolution: WindowResolution::new(shape.panel.x, shape.panel.y),
                position: WindowPosition::At(at),
                ..default()
            };
            let window = e.commands().spawn(window).id();
            e.insert(RenderTarget::Window(WindowRef::Entity(window)));
        }
    }
}

/// Asks the server for what the display shows: the whole scene (with a margin), patrols,
/// incidents and components. (The link repeats it after every reconnection.)
fn subscribe_to_view(scene: Res<SceneInfo>, mut outbound: MessageWriter<Outbound>) {
    let b = scene.bounds();
    let m = 200.0;
    outbound.write(Outbound(ClientMessage::Subscribe {
        bbox: Bbox([b[0] - m, b[1] - m, b[2] + m, b[3] + m]),
        crs: BboxCrs::Local,
        layers: [Layer::Patrols, Layer::Incidents, Layer::Components].into_iter().collect(),
    }));
}

fn steer_camera(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    buttons: Option<Res<ButtonInput<MouseButton>>>,
    motion: Option<Res<AccumulatedMouseMotion>>,
    scroll: Option<Res<AccumulatedMouseScroll>>,
    time: Res<Time>,
    typing: Res<Typing>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
    overlays: Option<Res<OverlayAreas>>,
    mut held_on_panel: Local<bool>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    let dt = time.delta_secs();
    // A drag or a wheel over the 研判 panel is the panel's (a brush, a scroll), not the map's.
    let cursor = windows.single().ok().and_then(Window::cursor_position);
    let over_panel = overlays.is_some_and(|o| cursor.is_some_and(|c| o.contains(c)));
    if buttons.as_ref().is_some_and(|b| b.get_just_pressed().next().is_some()) {
        *held_on_panel = over_panel;
    }
    // Keys typed into the search box do not move the camera.
    let keys = keys.filter(|_| !typing.0);
    for mut orbit in &mut cameras {
        let speed = orbit.distance * 0.8 * dt;
        if let Some(keys) = &keys {
            let key = |a: KeyCode, b: KeyCode| f32::from(u8::from(keys.pressed(a) || keys.pressed(b)));
            orbit.pan(
                speed * (key(KeyCode::KeyD, KeyCode::ArrowRight) - key(KeyCode::KeyA, KeyCode::ArrowLeft)),
                speed * (key(KeyCode::KeyW, KeyCode::ArrowUp) - key(KeyCode::KeyS, KeyCode::ArrowDown)),
            );
            orbit.yaw += 1.2 * dt * (key(KeyCode::KeyE, KeyCode::KeyE) - key(KeyCode::KeyQ, KeyCode::KeyQ));
            let tilt = 0.8 * dt * (key(KeyCode::KeyR, KeyCode::KeyR) - key(KeyCode::KeyF, KeyCode::KeyF));
            orbit.tilt(tilt);
            let zoom = key(KeyCode::Minus, KeyCode::NumpadSubtract) - key(KeyCode::Equal, KeyCode::NumpadAdd);
            orbit.zoom(1.0 + 1.5 * dt * zoom);
        }
        if let (Some(buttons), Some(motion), false) = (&buttons, &motion, *held_on_panel) {
            let d = motion.delta;
            if buttons.pressed(MouseButton::Left) {
                orbit.yaw -= d.x * 0.005;
                orbit.tilt(d.y * 0.005);
            } else if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
                let per_pixel = orbit.distance * 0.0015;
                orbit.pan(-d.x * per_pixel, d.y * per_pixel);
            }
        }
        if let (Some(scroll), false) = (&scroll, over_panel) {
            let lines = match scroll.unit {
                MouseScrollUnit::Line => scroll.delta.y,
                MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
            };
            if lines != 0.0 {
                orbit.zoom(0.9f32.powf(lines));
            }
        }
    }
}

fn place_camera(mut cameras: Query<(&OrbitCamera, &mut Transform), Changed<OrbitCamera>>) {
    for (orbit, mut transform) in &mut cameras {
        *transform = orbit.transform();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyboard_pans_through_the_system() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<Typing>()
            .add_systems(Update, (steer_camera, place_camera).chain());
        let cam = app
            .world_mut()
            .spawn((
                OrbitCamera { focus: Vec3::new(100.0, 0.0, -50.0), yaw: 0.0, pitch: 0.7, distance: 500.0 },
                Transform::default(),
            ))
            .id();
        app.update();
        app.world_mut().resource_mut::<ButtonInput<KeyCode>>().press(KeyCode::KeyW);
        std::thread::sleep(std::time::Duration::from_millis(20));
        app.update();
        let o = *app.world().get::<OrbitCamera>(cam).unwrap();
        assert!(o.focus.z < -50.0, "W moves the focus north: {:?}", o.focus);
        let t = app.world().get::<Transform>(cam).unwrap();
        assert_eq!(*t, o.transform());
        // Keys that go into the search box leave the camera alone.
        app.world_mut().resource_mut::<Typing>().0 = true;
        app.update();
        assert_eq!(*app.world().get::<OrbitCamera>(cam).unwrap(), o);
    }
}
