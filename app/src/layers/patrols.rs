//! Patrols: one marker per patrol in view, coloured by role, moving smoothly between server
//! ticks (each new position is approached over one tick interval) and growing with the camera's
//! distance. Their fading trails are [`super::trails`].

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{PatrolRole, PatrolState, ServerMessage};

use crate::AppSystems;
use crate::map::{OrbitCamera, PatrolMarker, Patrols, Pickable, Target, marker_scale, to_world};
use crate::net::ServerFrame;
use crate::theme::prelude::*;

/// Marker height above the ground (metres).
pub const MARKER_Y: f32 = 6.0;

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

/// How long one server tick takes (a move is spread over it).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct TickLength(pub f32);

impl Default for TickLength {
    fn default() -> Self {
        Self(0.1)
    }
}

/// One mesh, one material per role.
#[derive(Resource)]
struct PatrolLook {
    mesh: Handle<Mesh>,
    materials: HashMap<PatrolRole, Handle<StandardMaterial>>,
}

pub struct PatrolsPlugin;

impl Plugin for PatrolsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Patrols>()
            .init_resource::<TickLength>()
            .add_message::<ServerFrame>()
            .add_systems(
                Startup,
                make_patrol_look
                    .run_if(resource_exists::<Assets<Mesh>>.and_then(resource_exists::<Assets<StandardMaterial>>)),
            )
            .add_systems(
                Update,
                (apply_patrol_frames.in_set(AppSystems::Apply), move_patrols.in_set(AppSystems::Present)),
            );
    }
}

/// The markers' mesh and materials (only with a renderer: headless tests have no assets).
fn make_patrol_look(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let mesh = meshes.add(Sphere::new(5.0).mesh().ico(2).expect("a small icosphere"));
    let materials = PatrolRole::ALL.into_iter().map(|r| (r, materials.add(glow(role_color(r))))).collect();
    commands.insert_resource(PatrolLook { mesh, materials });
}

fn marker(p: &PatrolState) -> PatrolMarker {
    PatrolMarker {
        id: p.pos.id,
        patrol_id: p.patrol_id.clone(),
        name: p.name.clone(),
        role: p.role,
        status: p.status,
        grid: p.grid.clone(),
    }
}

/// Applies snapshots and deltas: spawn, retarget or despawn markers.
fn apply_patrol_frames(
    mut commands: Commands,
    mut frames: MessageReader<ServerFrame>,
    mut patrols: ResMut<Patrols>,
    mut tick: ResMut<TickLength>,
    mut markers: Query<(&mut PatrolMarker, &mut Motion, &Transform)>,
    time: Res<Time>,
    look: Option<Res<PatrolLook>>,
) {
    let look = look.as_deref();
    let now = time.elapsed_secs();
    for ServerFrame(msg) in frames.read() {
        match msg {
            ServerMessage::Welcome { tick_hz, .. } => tick.0 = 1.0 / f32::from((*tick_hz).max(1)),
            ServerMessage::Snapshot { patrols: all, .. } => {
                for (_, e) in patrols.by_id.drain() {
                    commands.entity(e).despawn();
                }
                for p in all {
                    spawn(&mut commands, &mut patrols, p, look, now);
                }
            }
            ServerMessage::Delta { moved, entered, left, .. } => {
                for m in moved {
                    if let Some(&e) = patrols.by_id.get(&m.id)
                        && let Ok((_, mut motion, tf)) = markers.get_mut(e)
                    {
                        *motion = Motion {
                            from: tf.translation,
                            to: to_world(m.x, m.y, MARKER_Y),
                            start: now,
                            duration: tick.0,
                        };
                    }
                }
                for p in entered {
                    let to = to_world(p.pos.x, p.pos.y, MARKER_Y);
                    if let Some((e, (mut m, mut motion, tf))) =
                        patrols.by_id.get(&p.pos.id).copied().and_then(|e| markers.get_mut(e).ok().map(|m| (e, m)))
                    {
                        *motion = Motion { from: tf.translation, to, start: now, duration: tick.0 };
                        if m.role != p.role
                            && let Some(l) = look
                        {
                            commands.entity(e).insert(MeshMaterial3d(l.materials[&p.role].clone()));
                        }
                        *m = marker(p);
                    } else {
                        spawn(&mut commands, &mut patrols, p, look, now);
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
        marker(p),
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

/// Moves every marker along its motion, at the size the camera's distance calls for.
/// Patrols grow faster with distance than other markers: at a wall's overview (2 to 3 km) each
/// stays about 20 pixels across on a 1080p panel (40 on 4K), readable from the back of the room.
pub fn patrol_scale(distance: f32) -> f32 {
    (distance / 600.0).clamp(1.0, 8.0).max(marker_scale(distance))
}

fn move_patrols(
    time: Res<Time>,
    cameras: Query<&OrbitCamera>,
    mut markers: Query<(&Motion, &mut Transform), With<PatrolMarker>>,
) {
    let now = time.elapsed_secs();
    let scale = Vec3::splat(cameras.iter().next().map_or(1.0, |o| patrol_scale(o.distance)));
    for (m, mut tf) in &mut markers {
        tf.translation = m.at(now);
        tf.scale = scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;
    use gridwall_protocol::PatrolPos;
    use gridwall_testkit::fixtures::{delta, patrol, snapshot};
    use std::time::Duration;

    fn app() -> App {
        let mut app = app_with(PatrolsPlugin);
        app.insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(Duration::from_millis(25)));
        app.update();
        app
    }

    fn positions(app: &mut App) -> Vec<(u32, Vec3)> {
        let mut v: Vec<_> = app
            .world_mut()
            .query::<(&PatrolMarker, &Transform)>()
            .iter(app.world())
            .map(|(m, t)| (m.id, t.translation))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    }

    fn send(app: &mut App, m: ServerMessage) {
        app.world_mut().write_message(ServerFrame(m));
        app.update();
    }

    #[test]
    fn snapshots_and_deltas_map_to_markers() {
        let mut app = app();
        send(&mut app, snapshot(vec![patrol(1, 10.0, 20.0), patrol(2, 0.0, 0.0)], vec![], vec![]));
        assert_eq!(
            positions(&mut app),
            vec![(1, Vec3::new(10.0, MARKER_Y, -20.0)), (2, Vec3::new(0.0, MARKER_Y, 0.0))]
        );
        send(&mut app, delta(vec![], vec![patrol(3, 5.0, 5.0)], vec![2]));
        let ids: Vec<u32> = positions(&mut app).into_iter().map(|p| p.0).collect();
        assert_eq!(ids, [1, 3]);
        // A new snapshot replaces everything.
        send(&mut app, snapshot(vec![patrol(7, 1.0, 1.0)], vec![], vec![]));
        let ids: Vec<u32> = positions(&mut app).into_iter().map(|p| p.0).collect();
        assert_eq!(ids, [7]);
        assert_eq!(app.world().resource::<Patrols>().by_id.len(), 1);
        let m = app.world_mut().query::<&PatrolMarker>().single(app.world()).unwrap().clone();
        assert_eq!(m.patrol_id, "P-7", "the device's id comes along");
    }

    #[test]
    fn moves_are_interpolated_over_one_tick() {
        let mut app = app();
        send(
            &mut app,
            ServerMessage::Welcome {
                version: 1,
                scene: "s".into(),
                tick_hz: 10,
                resumed: false,
                clock_rate: 1.0,
                may_command: false,
            },
        );
        send(&mut app, snapshot(vec![patrol(1, 0.0, 0.0)], vec![], vec![]));
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
