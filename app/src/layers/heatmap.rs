//! A heatmap of incident density over the scene, toggled with `H`, the filter bar's button or
//! `--heatmap`. A kernel density (Gaussian, σ = 80 m) of the incidents on the map (after the
//! filters) is recomputed every second into a texture on a ground plane, scaled to the hottest
//! spot.

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

use crate::AppSystems;
use crate::map::{Filters, HeatmapOn, IncidentMarker, Typing};
use crate::scene::SceneInfo;

/// Kernel width (metres).
pub const SIGMA_M: f32 = 80.0;
/// Texture cells along the longer side of the scene.
const CELLS: u32 = 256;
const EVERY_S: f32 = 1.0;

#[derive(Component)]
struct HeatmapPlane {
    image: Handle<Image>,
    /// Local metres: min x, min y, max x, max y.
    bounds: [f32; 4],
    size: UVec2,
}

pub struct HeatmapPlugin;

impl Plugin for HeatmapPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<HeatmapOn>()
            .init_resource::<Filters>()
            .init_resource::<Typing>()
            .add_systems(
                Startup,
                spawn_heatmap.run_if(resource_exists::<Assets<Image>>.and_then(resource_exists::<SceneInfo>)),
            )
            .add_systems(
                Update,
                (
                    toggle_heatmap.run_if(resource_exists::<ButtonInput<KeyCode>>).in_set(AppSystems::Input),
                    paint_heatmap.in_set(AppSystems::Filter),
                ),
            );
    }
}

/// Density per cell (row 0 = north), each point adding a Gaussian of `sigma` metres.
pub fn density(points: &[Vec2], bounds: [f32; 4], size: UVec2, sigma: f32) -> Vec<f32> {
    let (w, h) = (size.x as usize, size.y as usize);
    let mut d = vec![0.0f32; w * h];
    let cell = Vec2::new((bounds[2] - bounds[0]) / w as f32, (bounds[3] - bounds[1]) / h as f32);
    let reach = 3.0 * sigma;
    for p in points {
        let col = |x: f32| ((x - bounds[0]) / cell.x).floor();
        let row = |y: f32| ((bounds[3] - y) / cell.y).floor();
        let (c0, c1) = (col(p.x - reach).max(0.0) as usize, (col(p.x + reach).max(-1.0) as usize + 1).min(w));
        let (r0, r1) = (row(p.y + reach).max(0.0) as usize, (row(p.y - reach).max(-1.0) as usize + 1).min(h));
        for r in r0..r1 {
            let y = bounds[3] - (r as f32 + 0.5) * cell.y;
            for c in c0..c1 {
                let x = bounds[0] + (c as f32 + 0.5) * cell.x;
                let q = (Vec2::new(x, y) - *p).length_squared() / (2.0 * sigma * sigma);
                if q < 4.5 {
                    d[r * w + c] += (-q).exp();
                }
            }
        }
    }
    d
}

/// Transparent → blue → yellow → red as `v` goes 0 → 1 (sRGB bytes, alpha last).
pub fn colormap(v: f32) -> [u8; 4] {
    let v = v.clamp(0.0, 1.0);
    let stops = [
        (0.0, [0.0, 0.2, 1.0, 0.0]),
        (0.25, [0.0, 0.5, 1.0, 0.45]),
        (0.6, [1.0, 0.85, 0.1, 0.7]),
        (1.0, [1.0, 0.1, 0.05, 0.85]),
    ];
    let i = stops.iter().rposition(|s| s.0 <= v).unwrap_or(0).min(stops.len() - 2);
    let (a, b) = (stops[i], stops[i + 1]);
    let t = (v - a.0) / (b.0 - a.0);
    std::array::from_fn(|k| ((a.1[k] + (b.1[k] - a.1[k]) * t) * 255.0).round() as u8)
}

fn spawn_heatmap(
    mut commands: Commands,
    scene: Res<SceneInfo>,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    materials: Option<ResMut<Assets<StandardMaterial>>>,
) {
    let Some(mut materials) = materials else { return };
    let b = scene.bounds().map(|v| v as f32);
    let (sx, sy) = (b[2] - b[0], b[3] - b[1]);
    let size = if sx >= sy {
        UVec2::new(CELLS, ((CELLS as f32 * sy / sx).round() as u32).max(1))
    } else {
        UVec2::new(((CELLS as f32 * sx / sy).round() as u32).max(1), CELLS)
    };
    let image = Image::new_fill(
        Extent3d { width: size.x, height: size.y, depth_or_array_layers: 1 },
        TextureDimension::D2,
        &[0, 0, 0, 0],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    let image = images.add(image);
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(sx, sy))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color_texture: Some(image.clone()),
            unlit: true,
            alpha_mode: AlphaMode::Blend,
            ..default()
        })),
        Transform::from_translation(scene.centre() + Vec3::Y * 2.0),
        Visibility::Hidden,
        HeatmapPlane { image, bounds: b, size },
        Name::new("heatmap"),
    ));
}

fn toggle_heatmap(keys: Res<ButtonInput<KeyCode>>, typing: Res<Typing>, mut on: ResMut<HeatmapOn>) {
    if keys.just_pressed(KeyCode::KeyH) && !typing.0 {
        on.0 = !on.0;
    }
}

fn paint_heatmap(
    on: Res<HeatmapOn>,
    filters: Res<Filters>,
    time: Res<Time>,
    mut last: Local<Option<f32>>,
    markers: Query<&IncidentMarker>,
    mut planes: Query<(&HeatmapPlane, &mut Visibility)>,
    images: Option<ResMut<Assets<Image>>>,
) {
    let Ok((plane, mut vis)) = planes.single_mut() else { return };
    vis.set_if_neq(if on.0 { Visibility::Inherited } else { Visibility::Hidden });
    let now = time.elapsed_secs();
    let filtered = filters.is_changed();
    if !on.0 || (!on.is_changed() && !filtered && last.is_some_and(|t| now - t < EVERY_S)) {
        return;
    }
    *last = Some(now);
    let Some(mut images) = images else { return };
    let points: Vec<Vec2> = markers
        .iter()
        .filter(|m| filters.shows_incident(m.0.stage, &m.0.grid))
        .map(|m| Vec2::new(m.0.x as f32, m.0.y as f32))
        .collect();
    let d = density(&points, plane.bounds, plane.size, SIGMA_M);
    // Scaled to the hottest spot (but at least two incidents close together), so hot spots
    // stand out in a busy city and a lone incident stays cool.
    let top = d.iter().copied().fold(2.0f32, f32::max);
    if let Some(mut image) = images.get_mut(&plane.image)
        && let Some(data) = image.data.as_mut()
    {
        for (px, v) in data.chunks_exact_mut(4).zip(&d) {
            px.copy_from_slice(&colormap(v / top));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_peaks_at_the_points_and_rows_run_north_to_south() {
        let bounds = [0.0, 0.0, 1000.0, 500.0];
        let size = UVec2::new(100, 50);
        let d = density(&[Vec2::new(205.0, 405.0), Vec2::new(205.0, 405.0)], bounds, size, 50.0);
        let (i, &max) = d.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        // The cell holding (205, 405): column 20, row (500 - 405) / 10 = 9 from the north.
        assert_eq!((i % 100, i / 100), (20, 9));
        assert!((max - 2.0).abs() < 0.05, "two points add up: {max}");
        // Far away: nothing.
        assert_eq!(d[49 * 100 + 99], 0.0);
        // A point outside the scene still warms the edge without panicking.
        let d = density(&[Vec2::new(-30.0, -30.0)], bounds, size, 50.0);
        assert!(d[49 * 100] > 0.1);
    }

    #[test]
    fn the_colour_scale_goes_from_clear_to_red() {
        assert_eq!(colormap(0.0)[3], 0);
        assert_eq!(colormap(2.0), colormap(1.0));
        let hot = colormap(1.0);
        assert!(hot[0] > 200 && hot[1] < 60 && hot[3] > 200);
        assert!(colormap(0.6)[1] > 180, "yellow in the middle");
    }
}
