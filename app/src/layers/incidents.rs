//! Incidents: a marker per open incident, coloured by its workflow stage, kept current from
//! snapshots and from the numbered events (opened, changed, escalated). Closed incidents leave
//! the map. Incidents that are new, urgent or overdue pulse (rings from `shaders/pulse.wgsl`);
//! a label over each marker counts down to its time limit and shows the escalation level.

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{EventKind, GridLevel, IncidentStage, IncidentState, ServerMessage};

use crate::AppSystems;
use crate::map::{FloatingLabel, IncidentMarker, Incidents, OrbitCamera, Pickable, Target, marker_scale, to_world};
use crate::materials::PulseMaterial;
use crate::net::{ServerClock, ServerFrame};
use crate::theme::prelude::*;

/// Height of the marker's centre above the ground (metres).
const MARKER_Y: f32 = 15.0;

#[derive(Resource)]
struct IncidentLook {
    mesh: Handle<Mesh>,
    materials: HashMap<IncidentStage, Handle<StandardMaterial>>,
    ring: Handle<Mesh>,
    pulses: HashMap<Attention, Handle<PulseMaterial>>,
}

/// Why an incident pulses (the strongest reason wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attention {
    /// Reported in the last [`NEW_FOR_MS`].
    New,
    /// Priority 1.
    Urgent,
    /// Past the current stage's time limit.
    Overdue,
}

/// How long an incident counts as new.
pub const NEW_FOR_MS: i64 = 10 * 60_000;

impl Attention {
    pub fn of(i: &IncidentState, now_ms: i64) -> Option<Self> {
        if i.stage == IncidentStage::Closed {
            None
        } else if i.deadline_ms > 0 && now_ms > i.deadline_ms {
            Some(Self::Overdue)
        } else if i.priority <= 1 {
            Some(Self::Urgent)
        } else if now_ms - i.created_ms < NEW_FOR_MS {
            Some(Self::New)
        } else {
            None
        }
    }
}

/// The pulsing ring under a marker, and why.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulsing {
    pub attention: Attention,
    pub ring: Entity,
}

/// Incidents farther than this from the camera (metres) show no countdown unless overdue.
pub const LABEL_RANGE_M: f32 = 1_100.0;

/// The countdown label of an incident marker (a UI text following it on screen).
#[derive(Component, Debug)]
pub struct IncidentLabel(pub Entity);

pub struct IncidentsPlugin;

impl Plugin for IncidentsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Incidents>()
            .init_resource::<ServerClock>()
            .init_resource::<Lang>()
            .add_message::<ServerFrame>()
            .add_systems(
                Startup,
                make_incident_look
                    .run_if(resource_exists::<Assets<Mesh>>.and_then(resource_exists::<Assets<PulseMaterial>>)),
            )
            .add_systems(Update, apply_incident_frames.in_set(AppSystems::Apply))
            .add_systems(
                Update,
                (pulse_incidents, scale_incidents, sync_incident_labels, update_incident_labels)
                    .chain()
                    .in_set(AppSystems::Present),
            );
    }
}

fn make_incident_look(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut pulse_materials: ResMut<Assets<PulseMaterial>>,
) {
    let mesh = meshes.add(Cylinder::new(7.0, 30.0));
    let materials = IncidentStage::ALL.into_iter().map(|s| (s, materials.add(glow(stage_color(s))))).collect();
    let ring = meshes.add(Plane3d::default().mesh().size(70.0, 70.0));
    let pulses = [
        (Attention::New, PulseMaterial::new(Color::srgba(0.4, 0.9, 1.0, 0.8), 2.0, 0.5)),
        (Attention::Urgent, PulseMaterial::new(Color::srgba(1.0, 0.45, 0.1, 0.9), 3.0, 0.9)),
        (Attention::Overdue, PulseMaterial::new(Color::srgba(1.0, 0.1, 0.1, 1.0), 4.0, 1.4)),
    ]
    .into_iter()
    .map(|(a, m)| (a, pulse_materials.add(m)))
    .collect();
    commands.insert_resource(IncidentLook { mesh, materials, ring, pulses });
}

/// Adds, changes or removes each marker's pulsing ring as its incident becomes new, urgent or
/// overdue (checked against the server's clock).
fn pulse_incidents(
    mut commands: Commands,
    look: Option<Res<IncidentLook>>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    markers: Query<(Entity, &IncidentMarker, Option<&Pulsing>)>,
) {
    let Some(now) = clock.shown_ms(time.elapsed_secs()) else { return };
    for (e, m, pulsing) in &markers {
        let want = Attention::of(&m.0, now);
        if want == pulsing.map(|p| p.attention) {
            continue;
        }
        if let Some(p) = pulsing {
            commands.entity(p.ring).despawn();
            commands.entity(e).remove::<Pulsing>();
        }
        if let Some(attention) = want {
            let mut ring =
                commands.spawn((Transform::from_xyz(0.0, 0.6 - MARKER_Y, 0.0), ChildOf(e), Name::new("pulse")));
            if let Some(l) = &look {
                ring.insert((Mesh3d(l.ring.clone()), MeshMaterial3d(l.pulses[&attention].clone())));
            }
            let ring = ring.id();
            commands.entity(e).insert(Pulsing { attention, ring });
        }
    }
}

/// Markers grow with the camera's distance (see [`marker_scale`]); they stand on the ground
/// whatever their size.
fn scale_incidents(cameras: Query<&OrbitCamera>, mut markers: Query<&mut Transform, With<IncidentMarker>>) {
    let s = cameras.iter().next().map_or(1.0, |o| marker_scale(o.distance));
    for mut tf in &mut markers {
        if tf.scale.x != s {
            tf.scale = Vec3::splat(s);
            tf.translation.y = MARKER_Y * s;
        }
    }
}

/// The label text: time left (or overdue) and, once escalated, who handles it now.
pub fn label_text(i: &IncidentState, now_ms: i64, lang: Lang) -> String {
    let left = i.deadline_ms - now_ms;
    let time = if left >= 0 {
        format!("{}{}", lang.pick("剩", "left "), hms(left))
    } else {
        format!("{}{}", lang.pick("超期", "late "), hms(left))
    };
    match i.level {
        GridLevel::Cell => time,
        l => format!("{time} ↑{}", lang.pick(l.name_zh(), l.name_en())),
    }
}

/// One countdown label per marker; labels of markers that are gone go too.
fn sync_incident_labels(
    mut commands: Commands,
    markers: Query<Entity, (With<IncidentMarker>, Without<Labelled>)>,
    labels: Query<(Entity, &IncidentLabel)>,
    exists: Query<(), With<IncidentMarker>>,
    ui: Option<Res<UiFont>>,
) {
    for (label, of) in &labels {
        if exists.get(of.0).is_err() {
            commands.entity(label).despawn();
        }
    }
    for e in &markers {
        commands.entity(e).insert(Labelled);
        commands.spawn((
            Text::new(""),
            font(ui.as_deref(), 16.2),
            TextColor(Color::WHITE),
            Node { position_type: PositionType::Absolute, ..default() },
            Visibility::Hidden,
            IncidentLabel(e),
            FloatingLabel { at: Vec3::ZERO, rank: 3, wanted: false },
        ));
    }
}

#[derive(Component)]
struct Labelled;

/// Keeps each countdown running and says where its label would go: near incidents and every
/// overdue one want theirs shown (overdue ones first); the labels feature places those that fit.
fn update_incident_labels(
    cameras: Query<&GlobalTransform, With<OrbitCamera>>,
    markers: Query<(&IncidentMarker, &GlobalTransform, &InheritedVisibility)>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    lang: Res<Lang>,
    mut labels: Query<(&IncidentLabel, &mut Text, &mut TextColor, &mut FloatingLabel)>,
) {
    let Some(cam_tf) = cameras.iter().next() else { return };
    let now = clock.shown_ms(time.elapsed_secs());
    for (of, mut text, mut color, mut label) in &mut labels {
        let Ok((m, tf, shown)) = markers.get(of.0) else { continue };
        let Some(now) = now else { continue };
        // Near ones only (overdue ones always), so a city-wide view does not drown in labels.
        let overdue = now > m.0.deadline_ms;
        let near = cam_tf.translation().distance(tf.translation()) < LABEL_RANGE_M;
        let want = FloatingLabel {
            at: tf.translation() + Vec3::Y * 22.0,
            rank: if overdue { 1 } else { 3 },
            wanted: shown.get() && (near || overdue),
        };
        if *label != want {
            *label = want;
        }
        if !want.wanted {
            continue;
        }
        let t = label_text(&m.0, now, *lang);
        if text.0 != t {
            text.0 = t;
        }
        let c = if overdue { palette::OVERDUE } else { Color::WHITE };
        if color.0 != c {
            color.0 = c;
        }
    }
}

/// Applies snapshots and incident events to the markers.
fn apply_incident_frames(
    mut commands: Commands,
    mut frames: MessageReader<ServerFrame>,
    mut incidents: ResMut<Incidents>,
    mut markers: Query<&mut IncidentMarker>,
    look: Option<Res<IncidentLook>>,
) {
    let look = look.as_deref();
    for ServerFrame(msg) in frames.read() {
        match msg {
            ServerMessage::Snapshot { incidents: all, .. } => {
                for (_, e) in incidents.by_id.drain() {
                    commands.entity(e).despawn();
                }
                for i in all {
                    upsert(&mut commands, &mut incidents, &mut markers, i, look);
                }
            }
            ServerMessage::Delta { events, .. } => {
                for e in events {
                    match &e.kind {
                        EventKind::IncidentOpened { incident } | EventKind::IncidentChanged { incident, .. } => {
                            upsert(&mut commands, &mut incidents, &mut markers, incident, look);
                        }
                        EventKind::IncidentEscalated { incident, level, deadline_ms } => {
                            if let Some(mut m) = incidents.by_id.get(incident).and_then(|&e| markers.get_mut(e).ok()) {
                                m.0.level = *level;
                                if *deadline_ms > 0 {
                                    m.0.deadline_ms = *deadline_ms;
                                }
                            }
                        }
                        EventKind::PatrolLeftGrid { .. } => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn upsert(
    commands: &mut Commands,
    incidents: &mut Incidents,
    markers: &mut Query<&mut IncidentMarker>,
    i: &IncidentState,
    look: Option<&IncidentLook>,
) {
    if i.stage == IncidentStage::Closed {
        if let Some(e) = incidents.by_id.remove(&i.id) {
            commands.entity(e).despawn();
        }
        return;
    }
    if let Some(&e) = incidents.by_id.get(&i.id)
        && let Ok(mut m) = markers.get_mut(e)
    {
        if m.0.stage != i.stage
            && let Some(l) = look
        {
            commands.entity(e).insert(MeshMaterial3d(l.materials[&i.stage].clone()));
        }
        m.0 = i.clone();
        return;
    }
    let mut e = commands.spawn((
        IncidentMarker(i.clone()),
        Pickable(Target::Incident(i.id)),
        Transform::from_translation(to_world(i.x, i.y, MARKER_Y)),
        Visibility::default(),
        Name::new(format!("incident {}", i.id)),
    ));
    if let Some(l) = look {
        e.insert((Mesh3d(l.mesh.clone()), MeshMaterial3d(l.materials[&i.stage].clone())));
    }
    if let Some(old) = incidents.by_id.insert(i.id, e.id()) {
        commands.entity(old).despawn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;
    use gridwall_testkit::fixtures::{events, incident, snapshot};

    fn stages(app: &mut App) -> Vec<(u64, IncidentStage, GridLevel)> {
        let mut v: Vec<_> = app
            .world_mut()
            .query::<&IncidentMarker>()
            .iter(app.world())
            .map(|m| (m.0.id, m.0.stage, m.0.level))
            .collect();
        v.sort_by_key(|s| s.0);
        v
    }

    #[test]
    fn events_open_change_escalate_and_close_markers() {
        let mut app = app_with(IncidentsPlugin);
        let send = |app: &mut App, m| {
            app.world_mut().write_message(ServerFrame(m));
            app.update();
        };
        send(&mut app, snapshot(vec![], vec![incident(1, IncidentStage::Dispatched)], vec![]));
        send(&mut app, events(vec![EventKind::IncidentOpened { incident: incident(2, IncidentStage::Accepted) }]));
        assert_eq!(
            stages(&mut app),
            [(1, IncidentStage::Dispatched, GridLevel::Cell), (2, IncidentStage::Accepted, GridLevel::Cell)]
        );
        send(
            &mut app,
            events(vec![
                EventKind::IncidentChanged {
                    incident: incident(1, IncidentStage::Resolved),
                    actor: "a".into(),
                    note: String::new(),
                },
                EventKind::IncidentEscalated { incident: 2, level: GridLevel::Community, deadline_ms: 77 },
            ]),
        );
        assert_eq!(
            stages(&mut app),
            [(1, IncidentStage::Resolved, GridLevel::Cell), (2, IncidentStage::Accepted, GridLevel::Community)]
        );
        let deadline = |app: &mut App| {
            app.world_mut().query::<&IncidentMarker>().iter(app.world()).find(|m| m.0.id == 2).unwrap().0.deadline_ms
        };
        assert_eq!(deadline(&mut app), 77, "the escalation's new deadline");
        send(
            &mut app,
            events(vec![EventKind::IncidentChanged {
                incident: incident(1, IncidentStage::Closed),
                actor: "a".into(),
                note: String::new(),
            }]),
        );
        assert_eq!(stages(&mut app), [(2, IncidentStage::Accepted, GridLevel::Community)]);
        let t =
            app.world_mut().query::<(&IncidentMarker, &Transform)>().iter(app.world()).next().unwrap().1.translation;
        assert_eq!(t, Vec3::new(1.0, MARKER_Y, -2.0));
    }
}
