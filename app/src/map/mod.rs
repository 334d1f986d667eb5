//! The shared vocabulary of the map: the components, resources and messages that more than one
//! feature reads or writes — markers and what can be picked, the camera's orbit and flights, the
//! grid outlines, the selection, filters and input. Data only; the systems belong to the
//! features. Features depend on this, the theme, `net`, `scene` and `loading`, never on each
//! other.

pub mod analysis;
pub mod grid;
pub mod interaction;
pub mod markers;
pub mod view;

use bevy::prelude::*;

pub use analysis::{AnalysisShown, AnalysisTab, Deviations, HotspotLayer, OpenWarning, OpenWarnings, SharedAnalysis};
pub use grid::GridMap;
pub use interaction::{
    CastRequest, Click, Filters, FoldedUnits, HeatmapOn, OverlayAreas, Presentation, Search, Select, Selection,
    TimeRequest, Typing,
};
pub use markers::{ComponentMarker, FloatingLabel, IncidentMarker, Incidents, PatrolMarker, Patrols, Pickable, Target};
pub use view::{CameraControl, Flight, FlyTo, OrbitCamera, StartView, Tile, WallShape, marker_scale};

/// Local metres (x east, y north) → Bevy (+X east, +Y up, −Z north), `up` metres above ground.
pub fn to_world(x: f64, y: f64, up: f32) -> Vec3 {
    Vec3::new(x as f32, up, -(y as f32))
}

/// Registers the shared resources and messages, so that any set of features can run together
/// (or alone, in tests).
pub struct MapPlugin;

impl Plugin for MapPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<GridMap>()
            .init_resource::<Incidents>()
            .init_resource::<Patrols>()
            .init_resource::<Selection>()
            .init_resource::<Filters>()
            .init_resource::<HeatmapOn>()
            .init_resource::<Typing>()
            .init_resource::<Presentation>()
            .init_resource::<FoldedUnits>()
            .init_resource::<CameraControl>()
            .init_resource::<OpenWarnings>()
            .init_resource::<AnalysisShown>()
            .init_resource::<Deviations>()
            .init_resource::<HotspotLayer>()
            .add_message::<OpenWarning>()
            .add_message::<Click>()
            .add_message::<Select>()
            .add_message::<Search>()
            .add_message::<FlyTo>()
            .add_message::<CastRequest>()
            .add_message::<TimeRequest>();
    }
}
