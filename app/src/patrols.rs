//! Patrols: one marker per patrol in view, coloured by role, moving smoothly between server
//! ticks (each new position is approached over one tick interval).

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{PatrolRole, PatrolState, PatrolStatus, ServerMessage};

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

pub struct PatrolsPlugin;

impl Plugin for PatrolsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Patrols>()
            .add_systems(Startup, make_patrol_look.run_if(resource_exists::<Assets<Mesh>>.and_then(resource_exists::<Assets<StandardMaterial>>)))
            .add_systems(Update, (apply_patrol_frames, move_patrols).chain());
    }
}

/// The markers' mesh and materials (only with a renderer: headless tests have no assets).
fn make_patrol_look(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>) {
    let mesh = meshes.add(Sphere::new(5.0).mesh().ico(2).expect("a small icosphere"));
    let materials = PatrolRole::ALL
        .into_iter()
        .map(|r| (r, materials.add(crate::city::glow(role_color(r)))))
        .collect();
    commands.insert_resource(PatrolLook { mesh, materials });
}

/// Applies snapshots and deltas: spawn, retarget or despawn markers.
fn apply_patrol_frames(
    mut commands: Commands,
    mut frames: MessageReader<ServerFrame>,
    mut patrols: ResMut<Patrols>,
    mut markers: Query<(&mut PatrolMarker, &mut Motion, &Transform)>,
    time: Res<Time>,
    look: Option<Res<PatrolLook>>,
) {
    let look = look.as_deref();
    let now = time.elapsed_secs();
    for ServerFrame(msg) in frames.read() {
        match msg {
            ServerMessage::Welcome { tick_hz, .. } => patrols.tick_s = 1.0 / f32::from((*tick_hz).max(1)),
            ServerMessage::Snapshot { patrols: all, .. } => {
                for (_, e) in patrols.by_id.drain() {
                    commands.entity(e).despawn();
                }
                for p in all {
                    spawn(&mut commands, &mut patrols, p, look, now);
                }
            }
            ServerMessage::Delta { moved, entered, left, .. } => {
                let tick = patrols.tick_s;
                for m in moved {
                    if let Some(&e) = patrols.by_id.get(&m.id)
                        && let Ok((_, mut motion, tf)) = markers.get_mut(e)
                    {
                        *motion = Motion { from: tf.translation, to: to_world(m.x, m.y, MARKER_Y), start: now, duration: tick };
                    }
                }
                for p in entered {
                    match patrols.by_id.get(&p.pos.id).copied().and_then(|e| markers.get_mut(e).ok().map(|m| (e, m))) {
                        Some((e, (mut marker, mut motion, tf))) => {
                            *motion = Motion { from: tf.translation, to: to_world(p.pos.x, p.pos.y, MARKER_Y), start: now, duration: tick };
                            if marker.role != p.role
                                && let Some(l) = look
                            {
                                commands.entity(e).insert(MeshMaterial3d(l.materials[&p.role].clone()));
                            }
                            *marker = PatrolMarker { id: p.pos.id, name: p.name.clone(), role: p.role, status: p.status, grid: p.grid.clone() };
                        }
                        None => spawn(&mut commands, &mut patrols, p, look, now),
                    }
                }
                for id in left {
                    if let Some(e) = patrols.by_id.remove(id) {
                        commands.entity(e).despawn();
                    }
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
fn move_patrols(time: Res<Time>, mut markers: Query<(&Motion, &mut Transform), With<PatrolMarker>>) {
    let now = time.elapsed_secs();
    for (m, mut tf) in &mut markers {
        tf.translation = m.at(now);
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
