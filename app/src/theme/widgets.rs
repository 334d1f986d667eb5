//! Sizes in viewport units and the pieces panels are built from.

use bevy::prelude::*;

/// `px` pixels of a 1080-pixel-high screen, as a share of the window's height.
pub fn hpx(px: f32) -> Val {
    Val::Vh(px / 10.8)
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
