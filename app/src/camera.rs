//! The orbit camera: orbit, pan and zoom around a focus point with mouse and keyboard.
//!
//! Mouse: left drag orbits, right (or middle) drag pans, wheel zooms. Keys: W/A/S/D or arrows
//! pan, Q/E rotate, R/F tilt, +/- zoom.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;

use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, Layer};

use crate::net::Command;
use crate::scene::SceneInfo;

/// Where the camera looks from: a focus on the ground, a heading, a tilt and a distance.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    pub focus: Vec3,
    /// Heading in radians; 0 looks north.
    pub yaw: f32,
    /// Angle above the horizon in radians.
    pub pitch: f32,
    pub distance: f32,
}

impl OrbitCamera {
    pub const MIN_PITCH: f32 = 0.12;
    pub const MAX_PITCH: f32 = 1.54;

    /// A view of the whole scene from the south-east.
    pub fn overview(scene: &SceneInfo) -> Self {
        let size = scene.size();
        Self { focus: scene.centre(), yaw: -0.6, pitch: 0.85, distance: size.x.max(size.y) * 0.95 }
    }

    /// The camera transform this orbit describes.
    pub fn transform(&self) -> Transform {
        // yaw 0 puts the camera south of the focus (+Z), looking north (-Z).
        let dir = Vec3::new(self.yaw.sin() * self.pitch.cos(), self.pitch.sin(), self.yaw.cos() * self.pitch.cos());
        Transform::from_translation(self.focus + dir * self.distance).looking_at(self.focus, Vec3::Y)
    }

    /// Pans by a screen-relative offset in metres (x right, y forward).
    pub fn pan(&mut self, right: f32, forward: f32) {
        let (s, c) = self.yaw.sin_cos();
        self.focus += Vec3::new(c, 0.0, -s) * right + Vec3::new(-s, 0.0, -c) * forward;
    }

    pub fn zoom(&mut self, factor: f32) {
        self.distance = (self.distance * factor).clamp(20.0, 60_000.0);
    }

    pub fn tilt(&mut self, delta: f32) {
        self.pitch = (self.pitch + delta).clamp(Self::MIN_PITCH, Self::MAX_PITCH);
    }
}

/// How much live markers grow with the camera's distance so they stay readable on a wall seen
/// from afar: life size up to 900 m, then in proportion, at most six times.
pub fn marker_scale(distance: f32) -> f32 {
    (distance / 900.0).clamp(1.0, 6.0)
}

pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<Command>().add_systems(Startup, (spawn_camera, subscribe_to_view)).add_systems(Update, (steer_camera, place_camera).chain());
    }
}

/// A start view other than the overview (`--camera`).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct StartView(pub OrbitCamera);

impl OrbitCamera {
    /// Parses `--camera X,Y,HEADING,PITCH,DISTANCE`: the focus in local metres (x east, y north),
    /// heading and pitch in degrees (heading 0 looks north, 90 east), distance in metres.
    pub fn parse(s: &str) -> Result<Self, String> {
        let v: Vec<f32> = s.split(',').map(|p| p.trim().parse::<f32>().map_err(|_| format!("{p:?} is not a number"))).collect::<Result<_, _>>()?;
        let [x, y, heading, pitch, distance] = v[..] else {
            return Err(format!("expected X,Y,HEADING,PITCH,DISTANCE (5 numbers), got {}", v.len()));
        };
        if !v.iter().all(|n| n.is_finite()) || !(1.0..=60_000.0).contains(&distance) {
            return Err("numbers must be finite and the distance 1 to 60000 m".into());
        }
        let pitch = pitch.to_radians();
        if !(Self::MIN_PITCH..=Self::MAX_PITCH).contains(&pitch) {
            return Err(format!("pitch must be {:.0} to {:.0} degrees", Self::MIN_PITCH.to_degrees(), Self::MAX_PITCH.to_degrees()));
        }
        Ok(Self { focus: Vec3::new(x, 0.0, -y), yaw: -heading.to_radians(), pitch, distance })
    }
}

fn spawn_camera(mut commands: Commands, scene: Res<SceneInfo>, start: Option<Res<StartView>>) {
    let orbit = start.map_or_else(|| OrbitCamera::overview(&scene), |s| s.0);
    commands.spawn((Camera3d::default(), Msaa::Off, orbit.transform(), orbit, Name::new("camera")));
}

/// Asks the server for what the display shows: the whole scene (with a margin), patrols,
/// incidents and components. (The link repeats it after every reconnection.)
fn subscribe_to_view(scene: Res<SceneInfo>, mut commands: MessageWriter<Command>) {
    let b = scene.bounds.local;
    let m = 200.0;
    commands.write(Command(ClientMessage::Subscribe {
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
    search: Option<Res<crate::filters::SearchBox>>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    let dt = time.delta_secs();
    // Keys typed into the search box do not move the camera.
    let keys = keys.filter(|_| !search.is_some_and(|s| s.editing));
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
        if let (Some(buttons), Some(motion)) = (&buttons, &motion) {
            let d = motion.delta;
            if buttons.pressed(MouseButton::Left) {
                orbit.yaw -= d.x * 0.005;
                orbit.tilt(d.y * 0.005);
            } else if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
                let per_pixel = orbit.distance * 0.0015;
                orbit.pan(-d.x * per_pixel, d.y * per_pixel);
            }
        }
        if let Some(scroll) = &scroll {
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

    fn orbit() -> OrbitCamera {
        OrbitCamera { focus: Vec3::new(100.0, 0.0, -50.0), yaw: 0.0, pitch: 0.7, distance: 500.0 }
    }

    #[test]
    fn the_camera_looks_at_its_focus_from_the_south_at_yaw_zero() {
        let t = orbit().transform();
        assert!((t.translation.distance(Vec3::new(100.0, 0.0, -50.0)) - 500.0).abs() < 1e-3);
        assert!(t.translation.z > -50.0, "south of the focus is +Z");
        let forward = t.forward();
        let to_focus = (Vec3::new(100.0, 0.0, -50.0) - t.translation).normalize();
        assert!(forward.dot(to_focus) > 0.9999);
    }

    #[test]
    fn panning_forward_moves_north_at_yaw_zero_and_tilt_is_clamped() {
        let mut o = orbit();
        o.pan(0.0, 10.0);
        assert!((o.focus - Vec3::new(100.0, 0.0, -60.0)).length() < 1e-4);
        o.pan(5.0, 0.0);
        assert!((o.focus.x - 105.0).abs() < 1e-4);
        o.tilt(10.0);
        assert_eq!(o.pitch, OrbitCamera::MAX_PITCH);
        o.zoom(1e-9);
        assert_eq!(o.distance, 20.0);
    }

    #[test]
    fn keyboard_pans_through_the_system() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).init_resource::<ButtonInput<KeyCode>>().add_systems(Update, (steer_camera, place_camera).chain());
        let cam = app.world_mut().spawn((orbit(), Transform::default())).id();
        app.update();
        app.world_mut().resource_mut::<ButtonInput<KeyCode>>().press(KeyCode::KeyW);
        std::thread::sleep(std::time::Duration::from_millis(20));
        app.update();
        let o = *app.world().get::<OrbitCamera>(cam).unwrap();
        assert!(o.focus.z < -50.0, "W moves the focus north: {:?}", o.focus);
        let t = app.world().get::<Transform>(cam).unwrap();
        assert_eq!(*t, o.transform());
    }
}
