//! gridwall's display client: the 3D city of a scene in the dark command-center theme, with the
//! live layers a server streams.
//!
//! The house, bottom up:
//! * infrastructure: [`theme`] (the look), [`scene`] (the scene shown), [`net`] (the only
//!   module that touches the network: frames in, commands out), [`loading`] (readiness as a
//!   state), [`materials`] (the WGSL materials);
//! * [`map`]: the shared vocabulary of the map (markers, camera orbit, grid outlines, selection,
//!   filters);
//! * features, one plugin each, depending only on the two layers above: [`city`], [`camera`],
//!   [`grids`], [`layers`] (patrols, incidents, components, heatmap), [`hud`], [`labels`]
//!   (where floating labels fit), [`filters`]
//!   (with the search), [`select`] (picking, detail panel), [`wall`] (panels of a video wall,
//!   the HUD's layout on it, keeping panels in step), [`timebar`] (replay of the past),
//!   [`tour`] (the delegation tour), [`warnings`] (预警 on the map), [`analysis`] (the 研判
//!   panel and the hot spot layer) and
//!   [`automation`] (scripted actions and captures).
//!
//! Every `Update` system joins one set of the chain [`AppSystems`], declared here once.
//! Natively, `remote` fetches a scene from a server before the app starts; in a browser, `web`
//! fetches it from the page's own server and starts the same app on the page's canvas.

pub mod analysis;
pub mod automation;
pub mod camera;
pub mod city;
pub mod filters;
pub mod grids;
pub mod hud;
pub mod labels;
pub mod layers;
pub mod loading;
pub mod map;
pub mod materials;
pub mod net;
#[cfg(not(target_arch = "wasm32"))]
pub mod remote;
pub mod scene;
pub mod select;
pub mod theme;
pub mod timebar;
pub mod tour;
pub mod wall;
pub mod warnings;
#[cfg(target_arch = "wasm32")]
pub mod web;

use bevy::prelude::*;

/// The order of a frame's work in `Update`: what the server sent is applied before input is
/// read, selection follows input, filters decide visibility, then everything is presented and
/// what is to go out is sent.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppSystems {
    /// Network frames and answers become messages (`net`).
    Receive,
    /// Snapshots, deltas and events change markers and state.
    Apply,
    /// Keyboard, mouse and scripted input.
    Input,
    /// Picking, selection, questions for the server, camera flights.
    Select,
    /// Filters and search decide what is shown.
    Filter,
    /// Markers move, panels and HUD text follow, captures are taken; labels say where they would go.
    Present,
    /// Floating labels are placed where they fit, once everything else has moved.
    Label,
    /// Commands and questions go out (`net`).
    Send,
}

/// Declares the [`AppSystems`] chain (feature plugins and tests that run a few plugins alone
/// add this first).
pub struct AppSystemsPlugin;

impl Plugin for AppSystemsPlugin {
    fn build(&self, app: &mut App) {
        use AppSystems::{Apply, Filter, Input, Label, Present, Receive, Select, Send};
        app.configure_sets(Update, (Receive, Apply, Input, Select, Filter, Present, Label, Send).chain());
    }
}

/// Every plugin of the display.
pub struct AppPlugin;

impl Plugin for AppPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            AppSystemsPlugin,
            theme::ThemePlugin,
            loading::LoadingPlugin,
            materials::MaterialsPlugin,
            net::NetPlugin,
            map::MapPlugin,
        ));
        app.add_plugins((
            city::CityPlugin,
            camera::CameraPlugin,
            grids::GridsPlugin,
            layers::LayersPlugin,
            hud::HudPlugin,
            labels::LabelsPlugin,
        ));
        app.add_plugins((
            filters::FiltersPlugin,
            select::SelectPlugin,
            wall::WallPlugin,
            timebar::TimebarPlugin,
            tour::TourPlugin,
            automation::AutomationPlugin,
            warnings::WarningsPlugin,
            analysis::AnalysisPlugin,
        ));
    }
}

/// Unit tests of feature plugins: a headless app with the system chain and the shared map
/// vocabulary, plus the plugins under test.
#[cfg(test)]
pub(crate) mod testing {
    use bevy::prelude::*;

    pub fn app_with<M>(plugins: impl bevy::app::Plugins<M>) -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, super::AppSystemsPlugin, super::map::MapPlugin)).add_plugins(plugins);
        app
    }
}
