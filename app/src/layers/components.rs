//! City components (城市部件) from the server's snapshots: one mesh and one material per
//! category, so the renderer batches each category into a few instanced draws. Shapes are simple
//! symbols scaled up to read on a wall (a 1 m manhole cover would be sub-pixel in a city view);
//! damaged, missing or occupied components get a red ring so they stand out.

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{ComponentCategory, ComponentItem, ComponentState, ServerMessage};

use crate::AppSystems;
use crate::map::{ComponentMarker, Pickable, Target, to_world};
use crate::net::ServerFrame;
use crate::theme::prelude::*;

/// Marker entities by component id.
#[derive(Resource, Debug, Default)]
pub struct Components {
    pub by_id: HashMap<u32, Entity>,
}

/// The symbol of a category: a mesh and the height of its centre above the ground (metres).
fn category_mesh(c: ComponentCategory) -> (Mesh, f32) {
    match c {
        ComponentCategory::Manhole => (Cylinder::new(3.0, 0.6).into(), 0.3),
        ComponentCategory::StreetLight => (Cylinder::new(0.5, 12.0).into(), 6.0),
        ComponentCategory::FireHydrant => (Cylinder::new(1.4, 3.5).into(), 1.75),
        ComponentCategory::TrashBin => (Cuboid::new(2.2, 3.0, 2.2).into(), 1.5),
        ComponentCategory::RecyclingBin => (Cuboid::new(3.5, 3.0, 2.0).into(), 1.5),
        ComponentCategory::BusStop => (Cuboid::new(7.0, 3.5, 2.5).into(), 1.75),
        ComponentCategory::TrafficSignal => (Cuboid::new(1.0, 9.0, 1.0).into(), 4.5),
        ComponentCategory::Camera => (Cone { radius: 1.6, height: 4.0 }.into(), 8.0),
        ComponentCategory::ElectricalBox => (Cuboid::new(2.5, 2.5, 1.5).into(), 1.25),
        ComponentCategory::Bench => (Cuboid::new(4.0, 1.2, 1.4).into(), 0.6),
        ComponentCategory::PublicToilet => (Cuboid::new(5.0, 4.0, 5.0).into(), 2.0),
    }
}

#[derive(Resource)]
struct ComponentLook {
    shapes: HashMap<ComponentCategory, (Handle<Mesh>, Handle<StandardMaterial>, f32)>,
    alarm: (Handle<Mesh>, Handle<StandardMaterial>),
}

pub struct ComponentsPlugin;

impl Plugin for ComponentsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Components>()
            .add_message::<ServerFrame>()
            .add_systems(
                Startup,
                make_component_look
                    .run_if(resource_exists::<Assets<Mesh>>.and_then(resource_exists::<Assets<StandardMaterial>>)),
            )
            .add_systems(Update, apply_component_frames.in_set(AppSystems::Apply));
    }
}

fn make_component_look(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let shapes = ComponentCategory::ALL
        .into_iter()
        .map(|c| {
            let (mesh, up) = category_mesh(c);
            let color = category_color(c);
            let material = StandardMaterial {
                base_color: color,
                emissive: LinearRgba::from(color) * 0.6,
                perceptual_roughness: 0.8,
                ..default()
            };
            (c, (meshes.add(mesh), materials.add(material), up))
        })
        .collect();
    let alarm = (
        meshes.add(Annulus::new(4.0, 5.5).mesh().resolution(24)),
        materials.add(StandardMaterial {
            base_color: Color::srgb(1.0, 0.15, 0.1),
            unlit: true,
            double_sided: true,
            cull_mode: None,
            ..default()
        }),
    );
    commands.insert_resource(ComponentLook { shapes, alarm });
}

/// A snapshot's components replace the ones shown (unchanged ones are kept, not respawned).
fn apply_component_frames(
    mut commands: Commands,
    mut frames: MessageReader<ServerFrame>,
    mut components: ResMut<Components>,
    markers: Query<&ComponentMarker>,
    look: Option<Res<ComponentLook>>,
) {
    for ServerFrame(msg) in frames.read() {
        let ServerMessage::Snapshot { components: all, .. } = msg else { continue };
        let mut keep: HashMap<u32, Entity> = HashMap::with_capacity(all.len());
        for c in all {
            match components.by_id.remove(&c.id) {
                Some(e) if markers.get(e).is_ok_and(|m| m.category == c.category && m.state == c.state) => {
                    keep.insert(c.id, e);
                }
                old => {
                    if let Some(e) = old {
                        commands.entity(e).despawn();
                    }
                    keep.insert(c.id, spawn(&mut commands, c, look.as_deref()));
                }
            }
        }
        for (_, e) in components.by_id.drain() {
            commands.entity(e).despawn();
        }
        components.by_id = keep;
    }
}

/// One entity per component: its symbol's mesh sits on the component's spot (the alarm ring of a
/// damaged one is a child).
fn spawn(commands: &mut Commands, c: &ComponentItem, look: Option<&ComponentLook>) -> Entity {
    let up = look.map_or(0.0, |l| l.shapes[&c.category].2);
    let mut e = commands.spawn((
        ComponentMarker { id: c.id, code: c.code.clone(), category: c.category, state: c.state },
        Pickable(Target::Component(c.id)),
        Transform::from_translation(to_world(c.x, c.y, up)),
        Visibility::default(),
    ));
    if let Some(l) = look {
        let (mesh, material, _) = &l.shapes[&c.category];
        e.insert((Mesh3d(mesh.clone()), MeshMaterial3d(material.clone())));
        if c.state != ComponentState::Intact {
            e.with_child((
                Mesh3d(l.alarm.0.clone()),
                MeshMaterial3d(l.alarm.1.clone()),
                Transform::from_xyz(0.0, 0.4 - up, 0.0)
                    .with_rotation(Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)),
            ));
        }
    }
    e.id()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;
    use gridwall_testkit::fixtures::component as item;

    fn snapshot(components: Vec<ComponentItem>) -> ServerFrame {
        ServerFrame(gridwall_testkit::fixtures::snapshot(vec![], vec![], components))
    }

    #[test]
    fn snapshots_replace_components_keeping_unchanged_entities() {
        let mut app = app_with(ComponentsPlugin);
        app.world_mut().write_message(snapshot(vec![
            item(1, ComponentCategory::Manhole, ComponentState::Intact),
            item(2, ComponentCategory::Bench, ComponentState::Intact),
        ]));
        app.update();
        let first = app.world().resource::<Components>().by_id.clone();
        assert_eq!(first.len(), 2);
        app.world_mut().write_message(snapshot(vec![
            item(1, ComponentCategory::Manhole, ComponentState::Intact),
            item(2, ComponentCategory::Bench, ComponentState::Damaged),
            item(3, ComponentCategory::Camera, ComponentState::Intact),
        ]));
        app.update();
        let second = app.world().resource::<Components>().by_id.clone();
        assert_eq!(second[&1], first[&1], "unchanged component kept");
        assert_ne!(second[&2], first[&2], "changed state respawned");
        let mut states: Vec<_> =
            app.world_mut().query::<&ComponentMarker>().iter(app.world()).map(|m| (m.id, m.state)).collect();
        states.sort_by_key(|s| s.0);
        assert_eq!(states, [(1, ComponentState::Intact), (2, ComponentState::Damaged), (3, ComponentState::Intact)]);
        app.world_mut().write_message(snapshot(vec![]));
        app.update();
        assert_eq!(app.world_mut().query::<&ComponentMarker>().iter(app.world()).count(), 0);
    }
}
