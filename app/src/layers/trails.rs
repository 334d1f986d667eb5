//! Patrol trails: the last [`TRAIL_SECONDS`] of each patrol's reported positions as one ribbon
//! mesh for all patrols, coloured by role and faded by age in `shaders/trail.wgsl`; a jump of
//! more than [`TRAIL_BREAK_M`] starts a new trail.

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::ServerMessage;

use crate::AppSystems;
use crate::map::{PatrolMarker, Patrols, to_world};
use crate::materials::TrailMaterial;
use crate::net::ServerFrame;
use crate::theme::prelude::*;

/// How long a trail point lasts (seconds); the shader fades it over that time.
pub const TRAIL_SECONDS: f32 = 45.0;
/// A trail never covers more of the city's time than this (seconds): on a fast demo clock or in
/// a replay at 600× it is shorter in real time, not a web of hours of walking.
pub const TRAIL_HISTORY_S: f32 = 600.0;
/// Width of a trail ribbon (metres).
const TRAIL_WIDTH: f32 = 5.0;
/// A jump longer than this between two reports breaks the trail (a teleport, not a walk).
pub const TRAIL_BREAK_M: f32 = 200.0;
/// How often the trail mesh is rebuilt (seconds); fading in between is the shader's.
const TRAIL_REBUILD_S: f32 = 0.25;

/// Recent positions of each patrol with the (wrapped) time they were reached, for the trails.
#[derive(Resource, Debug)]
pub struct Trails {
    pub points: HashMap<u32, std::collections::VecDeque<(Vec3, f32)>>,
    built_at: f32,
    /// How long points last now (real seconds; see [`Trails::set_history_rate`]).
    max_age: f32,
}

impl Default for Trails {
    fn default() -> Self {
        Self { points: HashMap::new(), built_at: 0.0, max_age: TRAIL_SECONDS }
    }
}

impl Trails {
    /// Records a reported position; starts over after a jump.
    pub fn push(&mut self, id: u32, at: Vec3, t: f32) {
        let trail = self.points.entry(id).or_default();
        if let Some(&(last, _)) = trail.back() {
            let d = last.distance(at);
            if d > TRAIL_BREAK_M {
                trail.clear();
            } else if d < 1.0 {
                return;
            }
        }
        trail.push_back((at, t));
    }

    /// The city's time runs `rate` times faster than real time (a demo clock, a replay's speed):
    /// trails last [`TRAIL_SECONDS`], or less so they cover at most [`TRAIL_HISTORY_S`] of it.
    /// Whether that changed.
    pub fn set_history_rate(&mut self, rate: f64) -> bool {
        let age = if rate > 0.0 {
            TRAIL_SECONDS.min((f64::from(TRAIL_HISTORY_S) / rate) as f32).max(0.5)
        } else {
            TRAIL_SECONDS
        };
        let changed = (age - self.max_age).abs() > 1e-3;
        self.max_age = age;
        changed
    }

    /// How long points last now (real seconds).
    pub fn max_age(&self) -> f32 {
        self.max_age
    }

    /// Drops points older than [`Trails::max_age`] (on a clock that wraps every `wrap` seconds).
    pub fn prune(&mut self, now: f32, wrap: f32) {
        let max_age = self.max_age;
        self.points.retain(|_, trail| {
            while trail.front().is_some_and(|&(_, t)| (now - t).rem_euclid(wrap) > max_age) {
                trail.pop_front();
            }
            !trail.is_empty()
        });
    }
}

/// The single entity drawing every trail.
#[derive(Component)]
struct TrailMesh;

pub struct TrailsPlugin;

impl Plugin for TrailsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Trails>()
            .init_resource::<Patrols>()
            .add_message::<ServerFrame>()
            .add_systems(Startup, spawn_trail_mesh.run_if(resource_exists::<Assets<TrailMaterial>>))
            .add_systems(Update, (record_trails.in_set(AppSystems::Apply), build_trails.in_set(AppSystems::Present)));
    }
}

/// The one entity that draws every trail (only with a renderer).
fn spawn_trail_mesh(mut commands: Commands, mut trail_materials: ResMut<Assets<TrailMaterial>>) {
    commands.spawn((
        MeshMaterial3d(trail_materials.add(TrailMaterial { params: Vec4::new(TRAIL_SECONDS, 0.85, 0.0, 0.0) })),
        Transform::default(),
        // The mesh changes all the time; its bounds are not worth recomputing.
        bevy::camera::visibility::NoFrustumCulling,
        Visibility::Hidden,
        TrailMesh,
        Name::new("patrol trails"),
    ));
}

/// Records every reported position (snapshots start the trails over).
fn record_trails(mut frames: MessageReader<ServerFrame>, mut trails: ResMut<Trails>, time: Res<Time>) {
    let now = time.elapsed_secs_wrapped();
    for ServerFrame(msg) in frames.read() {
        match msg {
            ServerMessage::Snapshot { patrols, .. } => {
                trails.points.clear();
                for p in patrols {
                    trails.push(p.pos.id, to_world(p.pos.x, p.pos.y, 0.0), now);
                }
            }
            ServerMessage::Delta { moved, entered, left, .. } => {
                for m in moved {
                    trails.push(m.id, to_world(m.x, m.y, 0.0), now);
                }
                for p in entered {
                    trails.push(p.pos.id, to_world(p.pos.x, p.pos.y, 0.0), now);
                }
                for id in left {
                    trails.points.remove(id);
                }
            }
            _ => {}
        }
    }
}

/// Ribbons along trails: `(colour, points with their times)`, the last point being where the
/// marker is now. Flat on the ground, [`TRAIL_WIDTH`] wide; uv.x carries each point's time.
pub fn trail_mesh<'a>(trails: impl Iterator<Item = (Color, &'a [(Vec3, f32)])>) -> Mesh {
    let (mut pos, mut uv, mut col, mut idx) = (Vec::new(), Vec::new(), Vec::new(), Vec::<u32>::new());
    for (color, points) in trails {
        let c = LinearRgba::from(color).to_f32_array();
        for w in points.windows(2) {
            let ((a, ta), (b, tb)) = (w[0], w[1]);
            let d = Vec3::new(b.x - a.x, 0.0, b.z - a.z);
            if d.length_squared() < 1e-6 {
                continue;
            }
            let side = Vec3::new(-d.z, 0.0, d.x).normalize() * (TRAIL_WIDTH / 2.0);
            let base = pos.len() as u32;
            let y = Vec3::Y * 1.0;
            for (p, t, v) in [(a - side, ta, 0.0), (a + side, ta, 1.0), (b - side, tb, 0.0), (b + side, tb, 1.0)] {
                let p = Vec3::new(p.x, 0.0, p.z) + y;
                pos.push(p.to_array());
                uv.push([t, v]);
                col.push(c);
            }
            // Counter-clockwise seen from above: the ribbon faces up.
            idx.extend([base, base + 1, base + 2, base + 1, base + 3, base + 2]);
        }
    }
    let normals = vec![[0.0, 1.0, 0.0]; pos.len()];
    Mesh::new(bevy::mesh::PrimitiveTopology::TriangleList, bevy::asset::RenderAssetUsages::default())
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, pos)
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
        .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, uv)
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, col)
        .with_inserted_indices(bevy::mesh::Indices::U32(idx))
}

/// Rebuilds the trail mesh a few times a second from the recorded points and where each marker
/// is now.
#[allow(clippy::too_many_arguments)]
fn build_trails(
    time: Res<Time>,
    clock: Option<Res<crate::net::ServerClock>>,
    mut materials: Option<ResMut<Assets<TrailMaterial>>>,
    handles: Query<&MeshMaterial3d<TrailMaterial>, With<TrailMesh>>,
    mut trails: ResMut<Trails>,
    patrols: Res<Patrols>,
    markers: Query<(&PatrolMarker, &Transform, &InheritedVisibility)>,
    mut commands: Commands,
    mut target: Query<(Entity, &mut Visibility), With<TrailMesh>>,
    meshes: Option<ResMut<Assets<Mesh>>>,
) {
    let now = time.elapsed_secs_wrapped();
    if (now - trails.built_at).abs() < TRAIL_REBUILD_S {
        return;
    }
    trails.built_at = now;
    if let Some(c) = &clock {
        let rate = c.rate() * c.replay().map_or(1.0, |r| r.speed);
        if trails.set_history_rate(rate)
            && let (Some(materials), Ok(h)) = (materials.as_deref_mut(), handles.single())
            && let Some(mut m) = materials.get_mut(&h.0)
        {
            m.params.x = trails.max_age();
        }
    }
    trails.prune(now, time.wrap_period().as_secs_f32());
    let (Ok((entity, mut vis)), Some(mut meshes)) = (target.single_mut(), meshes) else { return };
    let mut lines: Vec<(Color, Vec<(Vec3, f32)>)> = Vec::with_capacity(trails.points.len());
    for (id, points) in &trails.points {
        let Some((m, tf, shown)) = patrols.by_id.get(id).and_then(|&e| markers.get(e).ok()) else { continue };
        if !shown.get() {
            continue;
        }
        let mut line: Vec<(Vec3, f32)> = points.iter().copied().collect();
        line.push((tf.translation, now));
        lines.push((role_color(m.role), line));
    }
    let built = trail_mesh(lines.iter().map(|(c, l)| (*c, l.as_slice())));
    if built.count_vertices() == 0 {
        vis.set_if_neq(Visibility::Hidden);
        return;
    }
    // A new mesh asset each time (the old one is freed): Bevy 0.19's mesh allocator mishandles
    // a mesh whose data is replaced in place ("use-after-free … unallocated key").
    commands.entity(entity).insert(Mesh3d(meshes.add(built)));
    vis.set_if_neq(Visibility::Inherited);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trails_record_moves_break_on_jumps_and_expire() {
        let mut t = Trails::default();
        t.push(1, Vec3::ZERO, 10.0);
        t.push(1, Vec3::new(0.5, 0.0, 0.0), 10.1); // under a metre: not a new point
        t.push(1, Vec3::new(20.0, 0.0, 0.0), 11.0);
        assert_eq!(t.points[&1].len(), 2);
        t.push(1, Vec3::new(500.0, 0.0, 0.0), 12.0); // a jump starts over
        assert_eq!(t.points[&1].iter().map(|p| p.0.x).collect::<Vec<_>>(), [500.0]);
        t.push(1, Vec3::new(510.0, 0.0, 0.0), 3590.0);
        // Later, on a clock that wrapped at 3600 s: the point from 3590 is 15 s old, the one
        // from 12 s is ancient.
        t.prune(5.0, 3600.0);
        assert_eq!(t.points[&1].iter().map(|p| p.1).collect::<Vec<_>>(), [3590.0]);
        t.prune(3590.0 + TRAIL_SECONDS + 1.0 - 3600.0, 3600.0);
        assert!(t.points.is_empty());
        // At 600× city time, trails cover ten minutes of it: a second of real time.
        assert!(t.set_history_rate(600.0) && (t.max_age() - 1.0).abs() < 1e-6);
        assert!(!t.set_history_rate(600.0));
        t.set_history_rate(1.0);
        assert!((t.max_age() - TRAIL_SECONDS).abs() < 1e-6);
        // Two points make one ribbon quad carrying their times.
        let mesh = trail_mesh([(Color::WHITE, &[(Vec3::ZERO, 1.0), (Vec3::new(10.0, 6.0, 0.0), 2.0)][..])].into_iter());
        assert_eq!((mesh.count_vertices(), mesh.indices().unwrap().len()), (4, 6));
        let Some(bevy::mesh::VertexAttributeValues::Float32x2(uv)) = mesh.attribute(Mesh::ATTRIBUTE_UV_0) else {
            panic!()
        };
        assert_eq!(uv.iter().map(|u| u[0]).collect::<Vec<_>>(), [1.0, 1.0, 2.0, 2.0]);
    }
}
