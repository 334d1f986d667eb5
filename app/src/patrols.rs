//! Patrols: one marker per patrol in view, coloured by role, moving smoothly between server
//! ticks (each new position is approached over one tick interval), with a fading trail of its
//! recent track (one ribbon mesh for all, faded by `shaders/trail.wgsl`).

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{PatrolRole, PatrolState, PatrolStatus, ServerMessage};

use crate::materials::TrailMaterial;
use crate::net::ServerFrame;
use crate::select::{Pickable, Target};

/// Local metres (x east, y north) → Bevy (+X east, +Y up, −Z north), `up` metres above ground.
pub fn to_world(x: f64, y: f64, up: f32) -> Vec3 {
    Vec3::new(x as f32, up, -(y as f32))
}

/// Marker height above the ground (metres).
const MARKER_Y: f32 = 6.0;

#[derive(Component, Debug, Clone, PartialEq)]
pub struct PatrolMarker {
    pub id: u32,
    pub name: String,
    pub role: PatrolRole,
    pub status: PatrolStatus,
    pub grid: String,
}

/// Smooth movement towards the last reported position.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub from: Vec3,
    pub to: Vec3,
    /// When the move started (seconds of `Time`).
    pub start: f32,
    pub duration: f32,
}

impl Motion {
    pub fn at(&self, now: f32) -> Vec3 {
        let t = if self.duration <= 0.0 { 1.0 } else { ((now - self.start) / self.duration).clamp(0.0, 1.0) };
        self.from.lerp(self.to, t)
    }
}

/// Marker entities by patrol id, and the time one server tick takes.
#[derive(Resource, Debug)]
pub struct Patrols {
    pub by_id: HashMap<u32, Entity>,
    pub tick_s: f32,
}

impl Default for Patrols {
    fn default() -> Self {
        Self { by_id: HashMap::new(), tick_s: 0.1 }
    }
}

/// One mesh, one material per role.
#[derive(Resource)]
struct PatrolLook {
    mesh: Handle<Mesh>,
    materials: HashMap<PatrolRole, Handle<StandardMaterial>>,
}

pub fn role_color(role: PatrolRole) -> Color {
    match role {
        PatrolRole::GridWorker => Color::srgb(0.2, 0.95, 1.0),
        PatrolRole::Police => Color::srgb(0.35, 0.55, 1.0),
        PatrolRole::Volunteer => Color::srgb(1.0, 0.6, 0.15),
    }
}

/// How long a trail point lasts (seconds); the shader fades it over that time.
pub const TRAIL_SECONDS: f32 = 45.0;
/// Width of a trail ribbon (metres).
const TRAIL_WIDTH: f32 = 5.0;
/// A jump longer than this between two reports breaks the trail (a teleport, not a walk).
const TRAIL_BREAK_M: f32 = 200.0;
/// How often the trail mesh is rebuilt (seconds); fading in between is the shader's.
const TRAIL_REBUILD_S: f32 = 0.25;

/// Recent positions of each patrol with the (wrapped) time they were reached, for the trails.
#[derive(Resource, Debug, Default)]
pub struct Trails {
    pub points: HashMap<u32, std::collections::VecDeque<(Vec3, f32)>>,
    built_at: f32,
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

    /// Drops points older than [`TRAIL_SECONDS`] (on a clock that wraps every `wrap` seconds).
    pub fn prune(&mut self, now: f32, wrap: f32) {
        self.points.retain(|_, trail| {
            while trail.front().is_some_and(|&(_, t)| (now - t).rem_euclid(wrap) > TRAIL_SECONDS) {
                trail.pop_front();
            }
            !trail.is_empty()
        });
    }
}

/// The single entity drawing every trail.
#[derive(Component)]
struct TrailMesh;

pub struct PatrolsPlugin;

impl Plugin for PatrolsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Patrols>()
            .init_resource::<Trails>()
            .add_systems(Startup, make_patrol_look.run_if(resource_exists::<Assets<Mesh>>.and_then(resource_exists::<Assets<TrailMaterial>>)))
            .add_systems(Update, (apply_patrol_frames, move_patrols, build_trails).chain());
    }
}

/// The markers' mesh and materials (only with a renderer: headless tests have no assets).
fn make_patrol_look(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>, mut trail_materials: ResMut<Assets<TrailMaterial>>) {
    let mesh = meshes.add(Sphere::new(5.0).mesh().ico(2).expect("a small icosphere"));
    let materials = PatrolRole::ALL
        .into_iter()
        .map(|r| (r, materials.add(crate::city::glow(role_color(r)))))
        .collect();
    commands.insert_resource(PatrolLook { mesh, materials });
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
fn build_trails(
    time: Res<Time>,
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

/// Applies snapshots and deltas: spawn, retarget or despawn markers.
fn apply_patrol_frames(
    mut commands: Commands,
    mut frames: MessageReader<ServerFrame>,
    mut patrols: ResMut<Patrols>,
    mut markers: Query<(&mut PatrolMarker, &mut Motion, &Transform)>,
    time: Res<Time>,
    look: Option<Res<PatrolLook>>,
    mut trails: ResMut<Trails>,
) {
    let look = look.as_deref();
    let now = time.elapsed_secs();
    let wrapped = time.elapsed_secs_wrapped();
    for ServerFrame(msg) in frames.read() {
        match msg {
            ServerMessage::Welcome { tick_hz, .. } => patrols.tick_s = 1.0 / f32::from((*tick_hz).max(1)),
            ServerMessage::Snapshot { patrols: all, .. } => {
                for (_, e) in patrols.by_id.drain() {
                    commands.entity(e).despawn();
                }
                trails.points.clear();
                for p in all {
                    spawn(&mut commands, &mut patrols, p, look, now);
                    trails.push(p.pos.id, to_world(p.pos.x, p.pos.y, MARKER_Y), wrapped);
                }
            }
            ServerMessage::Delta { moved, entered, left, .. } => {
                let tick = patrols.tick_s;
                for m in moved {
                    if let Some(&e) = patrols.by_id.get(&m.id)
                        && let Ok((_, mut motion, tf)) = markers.get_mut(e)
                    {
                        *motion = Motion { from: tf.translation, to: to_world(m.x, m.y, MARKER_Y), start: now, duration: tick };
                        trails.push(m.id, motion.to, wrapped);
                    }
                }
                for p in entered {
                    let to = to_world(p.pos.x, p.pos.y, MARKER_Y);
                    trails.push(p.pos.id, to, wrapped);
                    if let Some((e, (mut marker, mut motion, tf))) = patrols.by_id.get(&p.pos.id).copied().and_then(|e| markers.get_mut(e).ok().map(|m| (e, m))) {
                        *motion = Motion { from: tf.translation, to, start: now, duration: tick };
                        if marker.role != p.role
                            && let Some(l) = look
                        {
                            commands.entity(e).insert(MeshMaterial3d(l.materials[&p.role].clone()));
                        }
                        *marker = PatrolMarker { id: p.pos.id, name: p.name.clone(), role: p.role, status: p.status, grid: p.grid.clone() };
                    } else {
                        spawn(&mut commands, &mut patrols, p, look, now);
                    }
                }
                for id in left {
                    if let Some(e) = patrols.by_id.remove(id) {
                        commands.entity(e).despawn();
                    }
                    trails.points.remove(id);
                }
            }
            _ => {}
        }
    }
}

fn spawn(commands: &mut Commands, patrols: &mut Patrols, p: &PatrolState, look: Option<&PatrolLook>, now: f32) {
    let at = to_world(p.pos.x, p.pos.y, MARKER_Y);
    let mut e = commands.spawn((
        PatrolMarker { id: p.pos.id, name: p.name.clone(), role: p.role, status: p.status, grid: p.grid.clone() },
        Motion { from: at, to: at, start: now, duration: 0.0 },
        Pickable(Target::Patrol(p.pos.id)),
        Transform::from_translation(at),
        Visibility::default(),
        Name::new(format!("patrol {}", p.name)),
    ));
    if let Some(l) = look {
        e.insert((Mesh3d(l.mesh.clone()), MeshMaterial3d(l.materials[&p.role].clone())));
    }
    if let Some(old) = patrols.by_id.insert(p.pos.id, e.id()) {
        commands.entity(old).despawn();
    }
}

/// Moves every marker along its motion.
fn move_patrols(time: Res<Time>, cameras: Query<&crate::camera::OrbitCamera>, mut markers: Query<(&Motion, &mut Transform), With<PatrolMarker>>) {
    let now = time.elapsed_secs();
    let scale = Vec3::splat(cameras.iter().next().map_or(1.0, |o| crate::camera::marker_scale(o.distance)));
    for (m, mut tf) in &mut markers {
        tf.translation = m.at(now);
        tf.scale = scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwall_protocol::PatrolPos;
    use std::time::Duration;

    fn state(id: u32, x: f64, y: f64) -> PatrolState {
        PatrolState { pos: PatrolPos { id, x, y, lon: None, lat: None }, name: format!("P-{id}"), role: PatrolRole::Police, status: PatrolStatus::Patrolling, grid: "g".into() }
    }

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_message::<ServerFrame>().add_plugins(PatrolsPlugin);
        app.insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(Duration::from_millis(25)));
        app.update();
        app
    }

    fn positions(app: &mut App) -> Vec<(u32, Vec3)> {
        let mut v: Vec<_> = app.world_mut().query::<(&PatrolMarker, &Transform)>().iter(app.world()).map(|(m, t)| (m.id, t.translation)).collect();
        v.sort_by_key(|p| p.0);
        v
    }

    fn send(app: &mut App, m: ServerMessage) {
        app.world_mut().write_message(ServerFrame(m));
        app.update();
    }

    fn delta(moved: Vec<PatrolPos>, entered: Vec<PatrolState>, left: Vec<u32>) -> ServerMessage {
        ServerMessage::Delta { tick: 1, time_ms: 0, moved, entered, left, events: vec![] }
    }

    #[test]
    fn snapshots_and_deltas_map_to_markers() {
        let mut app = app();
        send(&mut app, ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols: vec![state(1, 10.0, 20.0), state(2, 0.0, 0.0)], incidents: vec![], components: vec![] });
        assert_eq!(positions(&mut app), vec![(1, Vec3::new(10.0, MARKER_Y, -20.0)), (2, Vec3::new(0.0, MARKER_Y, 0.0))]);
        send(&mut app, delta(vec![], vec![state(3, 5.0, 5.0)], vec![2]));
        let ids: Vec<u32> = positions(&mut app).into_iter().map(|p| p.0).collect();
        assert_eq!(ids, [1, 3]);
        // A new snapshot replaces everything.
        send(&mut app, ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols: vec![state(7, 1.0, 1.0)], incidents: vec![], components: vec![] });
        let ids: Vec<u32> = positions(&mut app).into_iter().map(|p| p.0).collect();
        assert_eq!(ids, [7]);
        assert_eq!(app.world().resource::<Patrols>().by_id.len(), 1);
    }

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
        // Two points make one ribbon quad carrying their times.
        let mesh = trail_mesh([(Color::WHITE, &[(Vec3::ZERO, 1.0), (Vec3::new(10.0, 6.0, 0.0), 2.0)][..])].into_iter());
        assert_eq!((mesh.count_vertices(), mesh.indices().unwrap().len()), (4, 6));
        let Some(bevy::mesh::VertexAttributeValues::Float32x2(uv)) = mesh.attribute(Mesh::ATTRIBUTE_UV_0) else { panic!() };
        assert_eq!(uv.iter().map(|u| u[0]).collect::<Vec<_>>(), [1.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn moves_are_interpolated_over_one_tick() {
        let mut app = app();
        send(&mut app, ServerMessage::Welcome { version: 1, scene: "s".into(), tick_hz: 10, resumed: false });
        send(&mut app, ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols: vec![state(1, 0.0, 0.0)], incidents: vec![], components: vec![] });
        send(&mut app, delta(vec![PatrolPos { id: 1, x: 10.0, y: 0.0, lon: None, lat: None }], vec![], vec![]));
        // 25 ms into a 100 ms tick: a quarter of the way (the update that applied it counts 0).
        app.update();
        let x = positions(&mut app)[0].1.x;
        assert!((x - 2.5).abs() < 0.01, "x = {x}");
        for _ in 0..5 {
            app.update();
        }
        assert_eq!(positions(&mut app)[0].1, Vec3::new(10.0, MARKER_Y, 0.0));
    }
}
