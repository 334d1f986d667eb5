//! gridwall's display client: the 3D city of a scene, in the dark command-center theme.
//!
//! One plugin per feature, gathered by [`AppPlugin`]. This first version shows a baked scene
//! (`city.glb`) with an orbit camera and can capture a screenshot; live layers from the server
//! come next.

pub mod camera;
pub mod capture;
pub mod city;
pub mod scene;

use bevy::prelude::*;

/// Every feature plugin of the display.
pub struct AppPlugin;

impl Plugin for AppPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((city::CityPlugin, camera::CameraPlugin, capture::CapturePlugin));
    }
}
