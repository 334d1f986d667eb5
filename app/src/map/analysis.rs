//! What 研判 shares with the rest of the map: the open warnings (the outlines and the ticker
//! show them), each unit's deviation from its normal count (the overview tints by it), the hot
//! spot layer when shown, which warning the panel has open, and the panel as a wall group
//! shares it.

use std::collections::{BTreeMap, HashMap};

use bevy::prelude::*;
use gridwall_protocol::api::analysis::{HotspotAnswer, UnitDeviation, Warning};
use gridwall_protocol::wall::WallAnalysis;

/// The open warnings by id, as the server last described them.
#[derive(Resource, Debug, Default)]
pub struct OpenWarnings(pub BTreeMap<u64, Warning>);

/// Each community's and street's count over the last day beside its band, by code (empty
/// until the server's analysis answers; the overview then tints by load instead).
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct Deviations(pub HashMap<String, UnitDeviation>);

/// The emerging hot spot layer on the map, when shown.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct HotspotLayer {
    pub on: bool,
    pub answer: Option<HotspotAnswer>,
}

/// Open a warning in the 研判 panel (from its list, a script or a tour).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenWarning(pub u64);

pub use gridwall_protocol::wall::AnalysisTab;

/// Whether the 研判 panel is shown, and which page (`J`, the panel's own tabs, `--analysis`, a
/// tour step).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnalysisShown {
    pub open: bool,
    pub tab: AnalysisTab,
}

/// The 研判 panel as a wall group shares it (none: closed). On a desk or a leader the panel
/// writes it each frame (the leader publishes it); on a follower the group's view writes it
/// and the panel follows.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct SharedAnalysis(pub Option<WallAnalysis>);
