//! Video walls: one logical view spread over `cols`×`rows` panels (the cameras and their
//! off-axis sub views are the camera feature's; see `map::WallShape`), the HUD laid out on the
//! logical wall ([`layout`]), and panels kept in step through the server ([`sync`]).

pub mod layout;
pub mod sync;

use bevy::prelude::*;
use bevy::ui::UiTargetCamera;

use crate::AppSystems;
use crate::map::{Tile, WallShape};
use crate::theme::prelude::*;
pub use layout::WallLayout;

pub struct WallPlugin;

impl Plugin for WallPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<WallLayout>()
            .init_resource::<HudVisible>()
            .add_systems(Update, place_hud.in_set(AppSystems::Present))
            .add_plugins(sync::WallSyncPlugin);
    }
}

/// Puts each piece of the HUD on its panel: drawn by that panel's camera when this process shows
/// it, left out otherwise (and everywhere with `--hud off`). A panel process shows its own
/// lost-link banner, whatever the layout says: its link is its own.
fn place_hud(
    mut commands: Commands,
    shape: Option<Res<WallShape>>,
    layout: Res<WallLayout>,
    hud: Res<HudVisible>,
    cameras: Query<(Entity, &Tile)>,
    mut pieces: Query<(Entity, &Place, &mut Node), Added<Place>>,
) {
    for (e, place, mut node) in &mut pieces {
        if !hud.0 {
            node.display = Display::None;
            continue;
        }
        let Some(shape) = shape.as_deref().filter(|s| s.is_wall()) else { continue };
        let tile =
            if *place == Place::Banner && shape.tiles.len() == 1 { shape.tiles[0] } else { layout.tile(*place, shape) };
        match cameras.iter().find(|(_, t)| t.0 == tile) {
            Some((cam, _)) if shape.tiles.len() > 1 => {
                commands.entity(e).insert(UiTargetCamera(cam));
            }
            Some(_) => {}
            None => node.display = Display::None,
        }
    }
}

/// The camera whose panel shows a world point, and where (logical pixels of that panel): the
/// floating labels of a wall go on the panel their point falls on.
pub fn on_screen<'a>(
    cameras: impl IntoIterator<Item = (Entity, &'a Camera, &'a GlobalTransform)>,
    at: Vec3,
) -> Option<(Entity, Vec2)> {
    cameras.into_iter().find_map(|(e, camera, tf)| {
        let p = camera.world_to_viewport(tf, at).ok()?;
        let size = camera.logical_viewport_size()?;
        (p.x >= 0.0 && p.y >= 0.0 && p.x <= size.x && p.y <= size.y).then_some((e, p))
    })
}
