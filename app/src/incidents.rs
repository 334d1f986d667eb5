//! Incidents: a marker per open incident, coloured by its workflow stage, kept current from
//! snapshots and from the numbered events (opened, changed, escalated). Closed incidents leave
//! the map.

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{EventKind, IncidentStage, IncidentState, ServerMessage};

use crate::net::ServerFrame;
use crate::patrols::to_world;
use crate::select::{Pickable, Target};

/// Height of the marker's centre above the ground (metres).
const MARKER_Y: f32 = 15.0;

#[derive(Component, Debug, Clone, PartialEq)]
pub struct IncidentMarker(pub IncidentState);

/// Marker entities by incident id.
#[derive(Resource, Debug, Default)]
pub struct Incidents {
    pub by_id: HashMap<u64, Entity>,
}

/// The colour of a workflow stage (the legend uses the same).
pub fn stage_color(stage: IncidentStage) -> Color {
    match stage {
        IncidentStage::Accepted => Color::srgb(1.0, 0.12, 0.1),
        IncidentStage::Dispatched => Color::srgb(1.0, 0.55, 0.0),
        IncidentStage::Resolved => Color::srgb(1.0, 0.9, 0.1),
        IncidentStage::Reviewed => Color::srgb(0.3, 1.0, 0.4),
        IncidentStage::Closed => Color::srgb(0.5, 0.5, 0.55),
    }
}

#[derive(Resource)]
struct IncidentLook {
    mesh: Handle<Mesh>,
    materials: HashMap<IncidentStage, Handle<StandardMaterial>>,
}

pub struct IncidentsPlugin;

impl Plugin for IncidentsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Incidents>()
            .add_systems(Startup, make_incident_look.run_if(resource_exists::<Assets<Mesh>>.and_then(resource_exists::<Assets<StandardMaterial>>)))
            .add_systems(Update, apply_incident_frames);
    }
}

fn make_incident_look(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>) {
    let mesh = meshes.add(Cylinder::new(7.0, 30.0));
    let materials = IncidentStage::ALL
        .into_iter()
        .map(|s| (s, materials.add(crate::city::glow(stage_color(s)))))
        .collect();
    commands.insert_resource(IncidentLook { mesh, materials });
}

/// Applies snapshots and incident events to the markers.
fn apply_incident_frames(mut commands: Commands, mut frames: MessageReader<ServerFrame>, mut incidents: ResMut<Incidents>, mut markers: Query<&mut IncidentMarker>, look: Option<Res<IncidentLook>>) {
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
                        EventKind::IncidentOpened { incident } | EventKind::IncidentChanged { incident, .. } => upsert(&mut commands, &mut incidents, &mut markers, incident, look),
                        EventKind::IncidentEscalated { incident, level } => {
                            if let Some(mut m) = incidents.by_id.get(incident).and_then(|&e| markers.get_mut(e).ok()) {
                                m.0.level = *level;
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

fn upsert(commands: &mut Commands, incidents: &mut Incidents, markers: &mut Query<&mut IncidentMarker>, i: &IncidentState, look: Option<&IncidentLook>) {
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
    use gridwall_protocol::{Event, GridLevel, IncidentCategory, IncidentSource};

    fn incident(id: u64, stage: IncidentStage) -> IncidentState {
        IncidentState {
            id,
            category: IncidentCategory::Garbage,
            source: IncidentSource::Hotline,
            stage,
            priority: 4,
            x: 1.0,
            y: 2.0,
            lon: None,
            lat: None,
            grid: "g".into(),
            level: GridLevel::Cell,
            created_ms: 0,
            deadline_ms: 0,
            assignee: None,
            description: String::new(),
        }
    }

    fn events(kinds: Vec<EventKind>) -> ServerMessage {
        ServerMessage::Delta { tick: 1, time_ms: 0, moved: vec![], entered: vec![], left: vec![], events: kinds.into_iter().enumerate().map(|(i, kind)| Event { seq: i as u64 + 1, time_ms: 0, kind }).collect() }
    }

    fn stages(app: &mut App) -> Vec<(u64, IncidentStage, GridLevel)> {
        let mut v: Vec<_> = app.world_mut().query::<&IncidentMarker>().iter(app.world()).map(|m| (m.0.id, m.0.stage, m.0.level)).collect();
        v.sort_by_key(|s| s.0);
        v
    }

    #[test]
    fn events_open_change_escalate_and_close_markers() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_message::<ServerFrame>().add_plugins(IncidentsPlugin);
        let send = |app: &mut App, m| {
            app.world_mut().write_message(ServerFrame(m));
            app.update();
        };
        send(&mut app, ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols: vec![], incidents: vec![incident(1, IncidentStage::Dispatched)], components: vec![] });
        send(&mut app, events(vec![EventKind::IncidentOpened { incident: incident(2, IncidentStage::Accepted) }]));
        assert_eq!(stages(&mut app), [(1, IncidentStage::Dispatched, GridLevel::Cell), (2, IncidentStage::Accepted, GridLevel::Cell)]);
        send(&mut app, events(vec![
            EventKind::IncidentChanged { incident: incident(1, IncidentStage::Resolved), actor: "a".into(), note: String::new() },
            EventKind::IncidentEscalated { incident: 2, level: GridLevel::Community },
        ]));
        assert_eq!(stages(&mut app), [(1, IncidentStage::Resolved, GridLevel::Cell), (2, IncidentStage::Accepted, GridLevel::Community)]);
        send(&mut app, events(vec![EventKind::IncidentChanged { incident: incident(1, IncidentStage::Closed), actor: "a".into(), note: String::new() }]));
        assert_eq!(stages(&mut app), [(2, IncidentStage::Accepted, GridLevel::Community)]);
        let t = app.world_mut().query::<(&IncidentMarker, &Transform)>().iter(app.world()).next().unwrap().1.translation;
        assert_eq!(t, Vec3::new(1.0, MARKER_Y, -2.0));
    }
}
