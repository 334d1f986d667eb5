//! gridwall's display client: the 3D city of a scene, in the dark command-center theme.
//!
//! One plugin per feature, gathered by [`AppPlugin`]: the baked city (`city.glb`), the orbit
//! camera, the link to the server ([`net`], the only module that touches the socket), live
//! patrols and incidents, the HUD, and screenshot capture. [`remote`] fetches a scene from a server.

pub mod camera;
pub mod capture;
pub mod city;
pub mod components;
pub mod filters;
pub mod grids;
pub mod heatmap;
pub mod hud;
pub mod incidents;
pub mod materials;
pub mod net;
pub mod patrols;
pub mod remote;
pub mod scene;
pub mod select;

use bevy::prelude::*;

/// Every feature plugin of the display.
pub struct AppPlugin;

impl Plugin for AppPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(materials::MaterialsPlugin);
        app.add_plugins((city::CityPlugin, camera::CameraPlugin, net::NetPlugin, patrols::PatrolsPlugin, incidents::IncidentsPlugin, grids::GridsPlugin, hud::HudPlugin, capture::CapturePlugin));
        app.add_plugins((components::ComponentsPlugin, select::SelectPlugin, filters::FiltersPlugin, heatmap::HeatmapPlugin));
    }
}
