//! The view: the orbit camera's state, eased flights, and how markers grow with distance.

use bevy::prelude::*;

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

    /// Parses `--camera X,Y,HEADING,PITCH,DISTANCE`: the focus in local metres (x east, y north),
    /// heading and pitch in degrees (heading 0 looks north, 90 east), distance in metres.
    pub fn parse(s: &str) -> Result<Self, String> {
        let v: Vec<f32> = s
            .split(',')
            .map(|p| p.trim().parse::<f32>().map_err(|_| format!("{p:?} is not a number")))
            .collect::<Result<_, _>>()?;
        let [x, y, heading, pitch, distance] = v[..] else {
            return Err(format!("expected X,Y,HEADING,PITCH,DISTANCE (5 numbers), got {}", v.len()));
        };
        if !v.iter().all(|n| n.is_finite()) || !(1.0..=60_000.0).contains(&distance) {
            return Err("numbers must be finite and the distance 1 to 60000 m".into());
        }
        let pitch = pitch.to_radians();
        if !(Self::MIN_PITCH..=Self::MAX_PITCH).contains(&pitch) {
            return Err(format!(
                "pitch must be {:.0} to {:.0} degrees",
                Self::MIN_PITCH.to_degrees(),
                Self::MAX_PITCH.to_degrees()
            ));
        }
        Ok(Self { focus: Vec3::new(x, 0.0, -y), yaw: -heading.to_radians(), pitch, distance })
    }
}

/// A start view other than the overview (`--camera`).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct StartView(pub OrbitCamera);

/// How much live markers grow with the camera's distance so they stay readable on a wall seen
/// from afar: life size up to 900 m, then in proportion, at most six times.
pub fn marker_scale(distance: f32) -> f32 {
    (distance / 900.0).clamp(1.0, 6.0)
}

/// Fly the camera to look at a ground point, from at most `max_distance` metres.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub struct FlyTo {
    pub focus: Vec3,
    pub max_distance: f32,
}

/// An eased camera move (on the camera entity while it flies).
#[derive(Component, Debug, Clone, Copy)]
pub struct Flight {
    pub from: OrbitCamera,
    pub to: OrbitCamera,
    pub start: f32,
    pub duration: f32,
}

impl Flight {
    pub const SECONDS: f32 = 1.2;

    /// The view `t` seconds into the flight (ease in and out; the distance changes
    /// geometrically so zooming feels even).
    pub fn at(&self, now: f32) -> OrbitCamera {
        let e = gridwall_protocol::wall::ease_in_out((now - self.start) / self.duration);
        OrbitCamera {
            focus: self.from.focus.lerp(self.to.focus, e),
            yaw: self.from.yaw + (self.to.yaw - self.from.yaw) * e,
            pitch: self.from.pitch + (self.to.pitch - self.from.pitch) * e,
            distance: self.from.distance * (self.to.distance / self.from.distance).powf(e),
        }
    }

    pub fn done(&self, now: f32) -> bool {
        now >= self.start + self.duration
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
    fn flights_ease_in_and_out_and_zoom_geometrically() {
        let from = OrbitCamera { focus: Vec3::ZERO, yaw: 0.0, pitch: 0.8, distance: 1600.0 };
        let to = OrbitCamera { focus: Vec3::new(100.0, 0.0, 0.0), yaw: 0.0, pitch: 0.8, distance: 400.0 };
        let f = Flight { from, to, start: 1.0, duration: 2.0 };
        assert_eq!(f.at(0.0), from);
        assert_eq!(f.at(3.5), to);
        let mid = f.at(2.0);
        assert!((mid.focus.x - 50.0).abs() < 1e-3 && (mid.distance - 800.0).abs() < 0.5, "{mid:?}");
        // Slow at both ends.
        assert!(f.at(1.2).focus.x < 2.0 && f.at(2.8).focus.x > 98.0);
        assert!(f.done(3.0) && !f.done(2.9));
    }
}

/// How one logical view is spread over a video wall: `cols`×`rows` panels of `panel` pixels with
/// `bezel` pixels hidden between neighbours, and which of them this process shows.
#[derive(Resource, Debug, Clone, PartialEq, Eq)]
pub struct WallShape {
    pub cols: u32,
    pub rows: u32,
    pub panel: UVec2,
    pub bezel: UVec2,
    /// The panels this process renders (one with `--tile`, all with `--all-tiles`).
    pub tiles: Vec<UVec2>,
}

impl WallShape {
    /// A single screen: one panel, no wall.
    pub fn single(panel: UVec2) -> Self {
        Self { cols: 1, rows: 1, panel, bezel: UVec2::ZERO, tiles: vec![UVec2::ZERO] }
    }

    pub fn is_wall(&self) -> bool {
        self.cols * self.rows > 1
    }

    /// The whole wall in pixels, hidden bezels included.
    pub fn full_size(&self) -> UVec2 {
        UVec2::new(
            self.cols * self.panel.x + (self.cols - 1) * self.bezel.x,
            self.rows * self.panel.y + (self.rows - 1) * self.bezel.y,
        )
    }

    /// Where a panel's top-left pixel lies on the wall.
    pub fn offset(&self, tile: UVec2) -> UVec2 {
        tile * (self.panel + self.bezel)
    }

    /// The part of the one logical view a panel shows: an off-axis frustum.
    pub fn sub_view(&self, tile: UVec2) -> bevy::camera::SubCameraView {
        bevy::camera::SubCameraView {
            full_size: self.full_size(),
            offset: self.offset(tile).as_vec2(),
            size: self.panel,
        }
    }

    /// A panel given with negative indices counted from the right or bottom (`-1` is the last).
    pub fn resolve(&self, col: i32, row: i32) -> UVec2 {
        let pick = |i: i32, n: u32| if i < 0 { (n as i32 + i).max(0) as u32 } else { (i as u32).min(n - 1) };
        UVec2::new(pick(col, self.cols), pick(row, self.rows))
    }
}

/// The panel of a wall a camera renders.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile(pub UVec2);

/// Who moves the camera: this display's user (mouse, keys, flights, a tour it plays), or its wall
/// group (a panel shows the group's view, whoever leads it).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CameraControl {
    #[default]
    Local,
    Wall,
}

#[cfg(test)]
mod wall_tests {
    use super::*;

    #[test]
    fn panels_cover_the_wall_with_bezels_hidden_between_them() {
        let w = WallShape { cols: 3, rows: 2, panel: UVec2::new(1920, 1080), bezel: UVec2::new(40, 30), tiles: vec![] };
        assert_eq!(w.full_size(), UVec2::new(3 * 1920 + 2 * 40, 2 * 1080 + 30));
        let v = w.sub_view(UVec2::new(2, 1));
        assert_eq!(v.offset, Vec2::new(2.0 * 1960.0, 1110.0));
        assert_eq!(v.size, UVec2::new(1920, 1080));
        assert_eq!(w.resolve(-1, -1), UVec2::new(2, 1));
        assert_eq!(w.resolve(0, -2), UVec2::new(0, 0));
        assert_eq!(w.resolve(7, 0), UVec2::new(2, 0), "clamped to the wall");
        assert!(!WallShape::single(UVec2::new(800, 600)).is_wall());
    }
}

impl OrbitCamera {
    /// The orbit as the wall protocol carries it (local metres: x east, y north).
    pub fn to_wire(&self) -> gridwall_protocol::wall::Orbit {
        gridwall_protocol::wall::Orbit {
            x: f64::from(self.focus.x),
            y: f64::from(-self.focus.z),
            heading: self.yaw,
            pitch: self.pitch,
            distance: self.distance,
        }
    }

    pub fn from_wire(o: &gridwall_protocol::wall::Orbit) -> Self {
        Self { focus: Vec3::new(o.x as f32, 0.0, -(o.y as f32)), yaw: o.heading, pitch: o.pitch, distance: o.distance }
    }
}
