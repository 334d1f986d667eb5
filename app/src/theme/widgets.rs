//! Sizes in viewport units, where panels go on a wall, and the pieces panels are built from.

use std::sync::atomic::{AtomicU32, Ordering};

use bevy::prelude::*;

/// How much larger than on a desk everything on screen is drawn (a wall is read from 10 m).
static UI_SCALE: AtomicU32 = AtomicU32::new(0x3f80_0000); // 1.0

/// Sets the size of the HUD for the whole process (once, before the app starts: one display per
/// process).
pub fn set_ui_scale(scale: f32) {
    UI_SCALE.store(scale.clamp(0.25, 8.0).to_bits(), Ordering::Relaxed);
}

/// The size of the HUD relative to a desk.
pub fn ui_scale() -> f32 {
    f32::from_bits(UI_SCALE.load(Ordering::Relaxed))
}

/// `px` pixels of a 1080-pixel-high screen, as a share of the window's height (times the HUD's
/// scale).
pub fn hpx(px: f32) -> Val {
    Val::Vh(px * ui_scale() / 10.8)
}

/// Panels (HUD, ticker, filter bar, detail panel, banner) draw over the labels that float on
/// the map.
pub const OVER_MAP: GlobalZIndex = GlobalZIndex(10);

/// A panel's box: absolutely placed, a column with padding and gaps (sizes at 1080 p).
pub fn panel_node(padding: f32, gap: f32) -> Node {
    Node {
        position_type: PositionType::Absolute,
        flex_direction: FlexDirection::Column,
        row_gap: hpx(gap),
        padding: UiRect::all(hpx(padding)),
        ..default()
    }
}

/// Which panel of a wall a piece of the HUD goes on (see the wall's layout).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// Title, clock, link state, KPIs, legend.
    Title,
    /// The event ticker.
    Ticker,
    /// The filter bar and search line.
    Filters,
    /// The detail panel (and a cast's large panel).
    Detail,
    /// The lost-link banner.
    Banner,
    /// A tour's caption.
    Caption,
    /// The time bar (replay).
    Timebar,
    /// The 研判 panel (charts, ranking, warnings).
    Analysis,
}

/// Whether the HUD and the map's labels are drawn (`--hud off`: a clean picture).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HudVisible(pub bool);

impl Default for HudVisible {
    fn default() -> Self {
        Self(true)
    }
}
