//! What a video wall shares: the view of a wall group (camera, selection, filters, captions),
//! which a leader publishes and every panel shows at the same server time.
//!
//! The camera travels as a [`CameraMotion`]: an eased move between two orbits over an interval of
//! server time (a still view has no duration). Every panel evaluates the same motion at its own
//! estimate of the server's clock, so panels stay in step however late a message arrives.

use serde::{Deserialize, Serialize};

use crate::model::{AnalysisPeriod, ComponentCategory, GridLevel, IncidentCategory, IncidentStage};

/// Longest wall name.
pub const MAX_WALL_NAME: usize = 64;
/// Longest caption text (characters, per language).
pub const MAX_CAPTION_CHARS: usize = 400;
/// Longest camera motion (ms): a minute is more than any flight or tour leg.
pub const MAX_MOTION_MS: u32 = 60_000;

/// A camera orbit: a focus on the ground (local metres, x east, y north), a heading (radians,
/// 0 looks north), a pitch above the horizon (radians) and a distance (metres).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Orbit {
    pub x: f64,
    pub y: f64,
    pub heading: f32,
    pub pitch: f32,
    pub distance: f32,
}

impl Orbit {
    pub const MIN_PITCH: f32 = 0.12;
    pub const MAX_PITCH: f32 = 1.54;
    pub const MIN_DISTANCE: f32 = 1.0;
    pub const MAX_DISTANCE: f32 = 60_000.0;

    /// The orbit `t` (0..1, already eased) of the way from `self` to `to`; the distance changes
    /// geometrically so zooming feels even.
    #[must_use]
    pub fn lerp(&self, to: &Self, t: f32) -> Self {
        let td = f64::from(t);
        Self {
            x: self.x + (to.x - self.x) * td,
            y: self.y + (to.y - self.y) * td,
            heading: self.heading + (to.heading - self.heading) * t,
            pitch: self.pitch + (to.pitch - self.pitch) * t,
            distance: self.distance * (to.distance / self.distance).powf(t),
        }
    }

    /// Whether every number is finite and in range (input from a socket is checked with this).
    pub fn is_valid(&self) -> bool {
        self.x.is_finite()
            && self.y.is_finite()
            && self.x.abs() < 1e7
            && self.y.abs() < 1e7
            && self.heading.is_finite()
            && self.heading.abs() < 1e4
            && (Self::MIN_PITCH..=Self::MAX_PITCH).contains(&self.pitch)
            && (Self::MIN_DISTANCE..=Self::MAX_DISTANCE).contains(&self.distance)
    }
}

/// Ease in and out (cubic): 0 → 0, 1 → 1, slow at both ends.
pub fn ease_in_out(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    if t < 0.5 { 4.0 * t * t * t } else { 1.0 - (-2.0 * t + 2.0).powi(3) / 2.0 }
}

/// How the camera moves between two orbits over server time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CameraMotion {
    pub from: Orbit,
    pub to: Orbit,
    /// When the move starts (server time, ms since the Unix epoch).
    pub start_ms: i64,
    pub duration_ms: u32,
    /// Eased (flights, tours) or linear (following a hand on the mouse).
    #[serde(default)]
    pub eased: bool,
}

impl CameraMotion {
    /// A view that does not move.
    pub fn still(at: Orbit, time_ms: i64) -> Self {
        Self { from: at, to: at, start_ms: time_ms, duration_ms: 0, eased: false }
    }

    /// The orbit at a server time.
    pub fn at(&self, time_ms: i64) -> Orbit {
        if self.duration_ms == 0 || time_ms >= self.end_ms() {
            return self.to;
        }
        if time_ms <= self.start_ms {
            return self.from;
        }
        let t = (time_ms - self.start_ms) as f32 / self.duration_ms as f32;
        self.from.lerp(&self.to, if self.eased { ease_in_out(t) } else { t })
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms + i64::from(self.duration_ms)
    }

    pub fn is_valid(&self) -> bool {
        self.from.is_valid() && self.to.is_valid() && self.duration_ms <= MAX_MOTION_MS
    }
}

/// What is selected on a wall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Selected {
    Incident(u64),
    Patrol(u32),
    Component(u32),
    /// A grid unit, by code.
    Grid(String),
}

/// A tour's caption, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caption {
    pub zh: String,
    pub en: String,
}

/// What a tour points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Highlight {
    /// The boundaries of one grid level light up.
    GridLevel(GridLevel),
    /// The patrols of one grid unit (by code) stand out; others dim.
    Patrols(String),
    /// The KPI block.
    Kpis,
}

/// Everything a wall group shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallView {
    pub camera: CameraMotion,
    #[serde(default)]
    pub selection: Option<Selected>,
    /// The selection is cast from a commander's desk: its panel shows large.
    #[serde(default)]
    pub cast: bool,
    #[serde(default)]
    pub hidden_stages: Vec<IncidentStage>,
    #[serde(default)]
    pub hidden_categories: Vec<ComponentCategory>,
    /// Only the incidents and patrols of this grid unit.
    #[serde(default)]
    pub grid_filter: Option<String>,
    #[serde(default)]
    pub heatmap: bool,
    #[serde(default)]
    pub caption: Option<Caption>,
    #[serde(default)]
    pub highlight: Option<Highlight>,
    /// The leader is replaying the past: followers replay the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<WallReplay>,
    /// The leader's 研判 panel (none: closed): followers show the same page and question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<WallAnalysis>,
}

/// The 研判 panel's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
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

/// Most hours a shared trend spans (400 days, as the trend endpoint allows).
pub const MAX_TREND_HOURS: u32 = 24 * 400;

/// The 研判 panel as a wall group shows it: its page, the trend's scope, category and span,
/// the ranking's level, period and whether it lists desks, and the warning opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallAnalysis {
    pub tab: AnalysisTab,
    /// A grid code; none for the city.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub category: Option<IncidentCategory>,
    pub hours: u32,
    pub level: GridLevel,
    #[serde(default)]
    pub desks: bool,
    pub period: AnalysisPeriod,
    #[serde(default)]
    pub focus: Option<u64>,
}

/// A leader's replay: replay time `at_ms` at server time `server_ms`, running at `speed`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WallReplay {
    pub at_ms: i64,
    pub server_ms: i64,
    pub speed: f64,
}

impl WallReplay {
    /// Replay time at server time `server_ms`.
    pub fn at(&self, server_ms: i64) -> i64 {
        self.at_ms.saturating_add(((server_ms - self.server_ms) as f64 * self.speed) as i64)
    }
}

impl WallView {
    /// A still view of an orbit with nothing else on.
    pub fn at(orbit: Orbit, time_ms: i64) -> Self {
        Self {
            camera: CameraMotion::still(orbit, time_ms),
            selection: None,
            cast: false,
            hidden_stages: Vec::new(),
            hidden_categories: Vec::new(),
            grid_filter: None,
            heatmap: false,
            caption: None,
            highlight: None,
            replay: None,
            analysis: None,
        }
    }

    /// Why a view from a socket is refused, if it is.
    pub fn check(&self) -> Result<(), &'static str> {
        let short = |s: &str| s.len() <= 64;
        if !self.camera.is_valid() {
            return Err("camera: numbers out of range (finite, pitch 0.12–1.54 rad, distance 1–60000 m, ≤ 60 s)");
        }
        if self.hidden_stages.len() > IncidentStage::ALL.len()
            || self.hidden_categories.len() > ComponentCategory::ALL.len()
        {
            return Err("filters: too many entries");
        }
        if self.grid_filter.as_deref().is_some_and(|g| !short(g)) {
            return Err("grid_filter: longer than 64 bytes");
        }
        if let Some(Selected::Grid(code)) = &self.selection
            && !short(code)
        {
            return Err("selection: grid code longer than 64 bytes");
        }
        if let Some(Highlight::Patrols(code)) = &self.highlight
            && !short(code)
        {
            return Err("highlight: grid code longer than 64 bytes");
        }
        if let Some(c) = &self.caption
            && (c.zh.chars().count() > MAX_CAPTION_CHARS || c.en.chars().count() > MAX_CAPTION_CHARS)
        {
            return Err("caption: longer than 400 characters");
        }
        if let Some(r) = &self.replay
            && !(r.speed.is_finite() && (0.0..=3_600.0).contains(&r.speed))
        {
            return Err("replay: speed must be 0 to 3600");
        }
        if let Some(a) = &self.analysis {
            if a.scope.as_deref().is_some_and(|g| !short(g)) {
                return Err("analysis: scope longer than 64 bytes");
            }
            if !(1..=MAX_TREND_HOURS).contains(&a.hours) {
                return Err("analysis: hours must be 1 to 9600");
            }
        }
        Ok(())
    }
}

/// A wall group's name: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn valid_wall_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_WALL_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orbit(x: f64, d: f32) -> Orbit {
        Orbit { x, y: 0.0, heading: 0.0, pitch: 0.8, distance: d }
    }

    #[test]
    fn motions_ease_between_orbits_over_server_time() {
        let m = CameraMotion {
            from: orbit(0.0, 1600.0),
            to: orbit(100.0, 400.0),
            start_ms: 1_000,
            duration_ms: 2_000,
            eased: true,
        };
        assert_eq!(m.at(0), m.from);
        assert_eq!(m.at(3_500), m.to);
        let mid = m.at(2_000);
        assert!((mid.x - 50.0).abs() < 1e-3 && (mid.distance - 800.0).abs() < 0.5, "{mid:?}");
        assert!(m.at(1_200).x < 2.0 && m.at(2_800).x > 98.0, "slow at both ends");
        let linear = CameraMotion { eased: false, ..m };
        assert!((linear.at(1_500).x - 25.0).abs() < 1e-3);
        assert_eq!(CameraMotion::still(orbit(5.0, 300.0), 7).at(i64::MAX).x, 5.0);
    }

    #[test]
    fn hostile_views_are_refused() {
        let good = WallView::at(orbit(0.0, 500.0), 0);
        assert!(good.check().is_ok());
        let mut bad = good.clone();
        bad.camera.to.distance = f32::NAN;
        assert!(bad.check().is_err());
        let mut bad = good.clone();
        bad.camera.duration_ms = u32::MAX;
        assert!(bad.check().is_err());
        let mut bad = good.clone();
        bad.caption = Some(Caption { zh: "字".repeat(401), en: String::new() });
        assert!(bad.check().is_err());
        let mut bad = good.clone();
        bad.grid_filter = Some("9".repeat(65));
        assert!(bad.check().is_err());
        let panel = WallAnalysis {
            tab: AnalysisTab::Trend,
            scope: Some("370783001".into()),
            category: None,
            hours: 72,
            level: GridLevel::Community,
            desks: false,
            period: AnalysisPeriod::Quarter,
            focus: None,
        };
        let mut shared = good.clone();
        shared.analysis = Some(panel.clone());
        assert!(shared.check().is_ok());
        let mut bad = good.clone();
        bad.analysis = Some(WallAnalysis { hours: 0, ..panel.clone() });
        assert_eq!(bad.check(), Err("analysis: hours must be 1 to 9600"));
        let mut bad = good;
        bad.analysis = Some(WallAnalysis { scope: Some("9".repeat(65)), ..panel });
        assert!(bad.check().is_err());
        assert!(
            valid_wall_name("main")
                && valid_wall_name("floor-2.west")
                && !valid_wall_name("")
                && !valid_wall_name("a b")
        );
    }
}
