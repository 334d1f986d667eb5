//! The city: the scene's baked `city.glb` (one node per tile), a ground plane and a light.
//! Readiness waits until the model and everything it uses is loaded.

use bevy::prelude::*;

use crate::AppSystems;
use crate::loading::LoadProgress;
use crate::scene::SceneInfo;
use crate::theme::prelude::*;

const CITY_MODEL: &str = "city model";

/// Handle of the loading city model.
#[derive(Resource)]
pub struct CityModel(pub Handle<WorldAsset>);

pub struct CityPlugin;

impl Plugin for CityPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LoadProgress>()
            .add_systems(Startup, spawn_city)
            .add_systems(Update, watch_city_load.in_set(AppSystems::Apply).run_if(resource_exists::<CityModel>));
    }
}

fn spawn_city(
    mut commands: Commands,
    scene: Res<SceneInfo>,
    assets: Res<AssetServer>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut progress: ResMut<LoadProgress>,
) {
    progress.wait_for(CITY_MODEL);
    let handle: Handle<WorldAsset> =
        assets.load(GltfAssetLabel::Scene(0).from_asset(scene.manifest.files.city.clone()));
    commands.insert_resource(CityModel(handle.clone()));
    commands.spawn((WorldAssetRoot(handle), Transform::default(), Name::new("city")));

    let size = scene.size() * 1.4;
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(size.x, size.y))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: palette::GROUND,
            perceptual_roughness: 1.0,
            ..default()
        })),
        Transform::from_translation(scene.centre() - Vec3::Y * 0.05),
        Name::new("ground"),
    ));
    commands.spawn((
        DirectionalLight {
            color: Color::srgb(0.75, 0.85, 1.0),
            illuminance: 3_500.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(-0.4, 1.0, 0.6).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

fn watch_city_load(city: Res<CityModel>, assets: Res<AssetServer>, mut progress: ResMut<LoadProgress>) {
    if progress.is_pending(CITY_MODEL) && assets.is_loaded_with_dependencies(city.0.id()) {
        progress.done(CITY_MODEL);
    }
}
