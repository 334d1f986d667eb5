//! What the commander does to the map: clicks, searches, the selection and what the server said
//! about it, filters, the heatmap switch, and whether the keyboard is typing into a box.

use std::collections::HashSet;

use bevy::prelude::*;
use gridwall_protocol::api::{IncidentDetail, NearestAnswer};
use gridwall_protocol::{ComponentCategory, IncidentStage};

use super::markers::Target;

/// A click at a point of the main camera's viewport (logical pixels), from the mouse or a script.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub struct Click(pub Vec2);

/// Where egui panels are drawn over the map (logical window pixels), as the last frame drew
/// them: a click there is the panel's, not the map's, even when the pointer reached it within
/// the frame (a fast hand, a script, a display at one frame a second).
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct OverlayAreas(pub Vec<Rect>);

impl OverlayAreas {
    pub fn contains(&self, p: Vec2) -> bool {
        self.0.iter().any(|r| r.contains(p))
    }
}

/// Select something (or nothing): from a click, a search, or a script.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct Select(pub Option<Target>);

/// Run a search (as typed after `/`, or `--search`).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct Search(pub String);

/// What is selected and what the server said about it.
#[derive(Resource, Debug, Default)]
pub struct Selection {
    pub target: Option<Target>,
    pub detail: Option<IncidentDetail>,
    pub nearest: Option<NearestAnswer>,
    /// Questions sent and not yet answered.
    pub asked: u32,
    /// The assignment sent and not yet replied to: (request, patrol).
    pub assigning: Option<(u64, u32)>,
    /// The last outcome or error to show.
    pub note: Option<String>,
    /// The incident's photos as loaded so far (`select::photos`), and whether they were asked for.
    pub photos: Vec<Handle<Image>>,
    pub photos_asked: bool,
}

/// What the map shows.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub hidden_stages: HashSet<IncidentStage>,
    pub hidden_categories: HashSet<ComponentCategory>,
    /// Only incidents and patrols whose cell code starts with this grid code.
    pub grid: Option<String>,
}

impl Filters {
    pub fn shows_incident(&self, stage: IncidentStage, grid: &str) -> bool {
        !self.hidden_stages.contains(&stage) && self.grid.as_deref().is_none_or(|g| grid.starts_with(g))
    }

    pub fn shows_patrol(&self, grid: &str) -> bool {
        self.grid.as_deref().is_none_or(|g| grid.starts_with(g))
    }

    pub fn shows_component(&self, category: ComponentCategory) -> bool {
        !self.hidden_categories.contains(&category)
    }
}

/// Whether the incident heatmap is shown.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeatmapOn(pub bool);

/// Whether keys go into a text box (the search) rather than to the map's shortcuts.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Typing(pub bool);

/// What the display presents beyond the map: a tour's caption and highlight, and whether the
/// selection is cast from a commander's desk (its panel shows large). A tour or the wall group
/// sets it; the HUD shows it.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct Presentation {
    pub caption: Option<gridwall_protocol::wall::Caption>,
    pub highlight: Option<gridwall_protocol::wall::Highlight>,
    pub cast: bool,
}

/// Cast the selection onto a wall (投屏到大屏) or take it back (收回), from a key or a button.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastRequest {
    Cast,
    TakeBack,
}

/// A change of the time the display shows, from the time bar, its keys, an incident's panel
/// (回放此事件) or a wall's leader.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub enum TimeRequest {
    /// Show the city at `at_ms` and play on at `speed` (0: paused).
    Replay { at_ms: i64, speed: f64 },
    /// Back to live.
    Live,
    /// Play an incident's life, from before it was accepted to after its last step, then
    /// return to live.
    Incident { from_ms: i64, to_ms: i64 },
}

/// Grid units whose open incidents show as one aggregate (count, share overdue, least advanced
/// stage) instead of one marker each, at overview distances where markers would pile up: the
/// units of `level` with these codes. Their incidents' markers are hidden.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldedUnits {
    pub level: Option<gridwall_protocol::GridLevel>,
    pub codes: HashSet<String>,
}

impl FoldedUnits {
    /// Whether the incidents of a cell (by code) are folded into their unit's aggregate (unified
    /// codes: a unit's code is a prefix of its cells').
    pub fn folds(&self, cell: &str) -> bool {
        self.level.is_some() && self.codes.iter().any(|c| cell.starts_with(c.as_str()))
    }
}
