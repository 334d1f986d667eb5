//! The live layers over the city, each kept current from the server's snapshots and deltas:
//! [`patrols`] (with [`trails`]), [`incidents`] (folded per grid unit at overview distances:
//! [`aggregates`]), [`components`], and the incident [`heatmap`].

pub mod aggregates;
pub mod components;
pub mod heatmap;
pub mod incidents;
pub mod patrols;
pub mod trails;

use bevy::prelude::*;

pub struct LayersPlugin;

impl Plugin for LayersPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            patrols::PatrolsPlugin,
            trails::TrailsPlugin,
            incidents::IncidentsPlugin,
            aggregates::AggregatesPlugin,
            components::ComponentsPlugin,
            heatmap::HeatmapPlugin,
        ));
    }
}
