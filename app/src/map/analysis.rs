//! What 研判 shares with the rest of the map: the open warnings (the outlines and the ticker
//! show them), each unit's deviation from its normal count (the overview tints by it), the hot
//! spot layer when shown, and which warning the panel has open.

use std::collections::{BTreeMap, HashMap};

use bevy::prelude::*;
use gridwall_protocol::api::analysis::{HotspotAnswer, UnitDeviation, Warning};

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

/// The 研判 panel's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisTab {
    /// The trend with its band, the breakdowns and the weekday × hour calendar.
    #[default]
    Trend,
    /// 一季一排名: the best and worst units with their rank changes.
    Ranking,
    /// The open warnings, one opened with its figures, incidents and 确认.
    Warnings,
}

impl std::str::FromStr for AnalysisTab {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trend" => Ok(Self::Trend),
            "ranking" => Ok(Self::Ranking),
            "warnings" => Ok(Self::Warnings),
            _ => Err(format!("{s:?}: use trend, ranking or warnings")),
        }
    }
}

/// Whether the 研判 panel is shown, and which page (`J`, the panel's own tabs, `--analysis`, a
/// tour step).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnalysisShown {
    pub open: bool,
    pub tab: AnalysisTab,
}
