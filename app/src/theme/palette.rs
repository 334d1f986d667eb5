//! Colours of the dark "big screen" theme: background, panels, text, and the colours that mean
//! something (workflow stages, patrol roles, component categories, grid levels, warning levels).

use bevy::prelude::*;
use gridwall_protocol::{ComponentCategory, GridLevel, IncidentStage, PatrolRole, WarningLevel};

/// Deep blue behind the city.
pub const BACKGROUND: Color = Color::srgb(0.012, 0.027, 0.07);
/// The ground under the city.
pub const GROUND: Color = Color::srgb(0.012, 0.03, 0.07);
/// Panels over the map (HUD, ticker, filter bar).
pub const PANEL: Color = Color::srgba(0.01, 0.04, 0.12, 0.78);
/// The detail panel, a little more opaque.
pub const PANEL_STRONG: Color = Color::srgba(0.01, 0.04, 0.12, 0.86);
/// Titles and headings.
pub const ACCENT: Color = Color::srgb(0.55, 0.85, 1.0);
/// Body text.
pub const BODY: Color = Color::srgb(0.85, 0.92, 1.0);
/// Secondary text.
pub const DIM: Color = Color::srgb(0.6, 0.7, 0.85);
/// Notes and warnings (a reply, "connecting…").
pub const NOTE: Color = Color::srgb(1.0, 0.8, 0.3);
/// Overdue countdowns.
pub const OVERDUE: Color = Color::srgb(1.0, 0.3, 0.25);
/// The lost-link banner.
/// The replay badge: the past, unmistakably not live.
pub const REPLAY: Color = Color::srgba(0.85, 0.45, 0.02, 0.94);
pub const ALARM: Color = Color::srgba(0.75, 0.05, 0.05, 0.92);
/// A toggle that is on / off.
pub const TOGGLE_ON: Color = Color::srgba(0.08, 0.2, 0.42, 0.95);
pub const TOGGLE_OFF: Color = Color::srgba(0.02, 0.03, 0.06, 0.6);
/// A button's face.
pub const BUTTON: Color = Color::srgba(0.02, 0.06, 0.16, 0.9);
/// The one-click 派遣 (assign) button.
pub const ACTION: Color = Color::srgb(0.9, 0.35, 0.1);

/// The colour of a workflow stage (markers, legend, panel).
pub fn stage_color(stage: IncidentStage) -> Color {
    match stage {
        IncidentStage::Accepted => Color::srgb(1.0, 0.12, 0.1),
        IncidentStage::Dispatched => Color::srgb(1.0, 0.55, 0.0),
        IncidentStage::Resolved => Color::srgb(1.0, 0.9, 0.1),
        IncidentStage::Reviewed => Color::srgb(0.3, 1.0, 0.4),
        IncidentStage::Closed => Color::srgb(0.5, 0.5, 0.55),
    }
}

/// The colour of a patrol's role.
pub fn role_color(role: PatrolRole) -> Color {
    match role {
        PatrolRole::GridWorker => Color::srgb(0.2, 0.95, 1.0),
        PatrolRole::Police => Color::srgb(0.35, 0.55, 1.0),
        PatrolRole::Volunteer => Color::srgb(1.0, 0.6, 0.15),
    }
}

/// The colour of a component category's symbol.
pub fn category_color(c: ComponentCategory) -> Color {
    match c {
        ComponentCategory::Manhole => Color::srgb(0.75, 0.75, 0.8),
        ComponentCategory::StreetLight => Color::srgb(1.0, 0.95, 0.55),
        ComponentCategory::FireHydrant => Color::srgb(1.0, 0.25, 0.3),
        ComponentCategory::TrashBin => Color::srgb(0.35, 0.85, 0.35),
        ComponentCategory::RecyclingBin => Color::srgb(0.25, 0.6, 1.0),
        ComponentCategory::BusStop => Color::srgb(0.3, 1.0, 0.9),
        ComponentCategory::TrafficSignal => Color::srgb(1.0, 0.6, 0.2),
        ComponentCategory::Camera => Color::srgb(0.85, 0.45, 1.0),
        ComponentCategory::ElectricalBox => Color::srgb(0.95, 0.85, 0.3),
        ComponentCategory::Bench => Color::srgb(0.75, 0.55, 0.35),
        ComponentCategory::PublicToilet => Color::srgb(0.6, 0.75, 1.0),
    }
}

/// The colour of a grid level's boundaries and labels.
pub fn level_color(level: GridLevel) -> Color {
    match level {
        GridLevel::Street | GridLevel::City => Color::srgb(1.0, 0.85, 0.35),
        GridLevel::Community => Color::srgb(0.4, 1.0, 0.85),
        GridLevel::Cell => Color::srgb(0.55, 0.7, 1.0),
    }
}

/// A warning level's colour (黄 yellow, 橙 orange, 红 red): its outline and sentence on the map,
/// its chip in the 研判 panel.
pub fn warning_color(level: WarningLevel) -> Color {
    match level {
        WarningLevel::Yellow => Color::srgb(1.0, 0.92, 0.1),
        WarningLevel::Orange => Color::srgb(1.0, 0.5, 0.05),
        WarningLevel::Red => Color::srgb(1.0, 0.12, 0.1),
    }
}

/// The unlit, glowing material of live markers (patrols, incidents) in a colour.
pub fn glow(color: Color) -> StandardMaterial {
    StandardMaterial { base_color: color, emissive: LinearRgba::from(color) * 4.0, unlit: true, ..default() }
}
