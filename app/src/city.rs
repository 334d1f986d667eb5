//! The city: the scene's baked `city.glb` (one node per tile), a ground plane and lights, in the
//! dark "big screen" theme.

use bevy::prelude::*;

use crate::scene::SceneInfo;

/// Deep blue of the big-screen theme.
pub const BACKGROUND: Color = Color::srgb(0.012, 0.027, 0.07);

pub struct CityPlugin;

impl Plugin for CityPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ClearColor(BACKGROUND))
            .insert_resource(GlobalAmbientLight { color: Color::srgb(0.55, 0.65, 1.0), brightness: 120.0, ..default() })
            .add_systems(Startup, spawn_city);
    }
}

/// The unlit, glowing material of live markers (patrols, incidents) in a colour.
pub fn glow(color: Color) -> StandardMaterial {
    StandardMaterial { base_color: color, emissive: LinearRgba::from(color) * 4.0, unlit: true, ..default() }
}

/// Handle of the loading city model, so readiness can be checked.
#[derive(Resource)]
pub struct CityModel(pub Handle<WorldAsset>);

fn spawn_city(mut commands: Commands, scene: Res<SceneInfo>, assets: Res<AssetServer>, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>) {
    let handle: Handle<WorldAsset> = assets.load(GltfAssetLabel::Scene(0).from_asset(scene.files.city.clone()));
    commands.insert_resource(CityModel(handle.clone()));
    commands.spawn((WorldAssetRoot(handle), Transform::default(), Name::new("city")));

    let size = scene.size() * 1.4;
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(size.x, size.y))),
        MeshMaterial3d(materials.add(StandardMaterial { base_color: Color::srgb(0.012, 0.03, 0.07), perceptual_roughness: 1.0, ..default() })),
        Transform::from_translation(scene.centre() - Vec3::Y * 0.05),
        Name::new("ground"),
    ));
    commands.spawn((
        DirectionalLight { color: Color::srgb(0.75, 0.85, 1.0), illuminance: 3_500.0, shadow_maps_enabled: false, ..default() },
        Transform::from_xyz(-0.4, 1.0, 0.6).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}
