//! gridwall's 研判 and 预警: what the centres in the seed documents do with their records beyond
//! watching them. Pure computation over what the store and the live state hand it (committed
//! incidents, the KPI counters' day rows); the backend feeds it, commits what it proposes and
//! serves its answers.
//!
//! * [`units`]: the grid units analysed and which cells touch.
//! * [`periods`]: day, week, month, quarter and year spans, with 环比 and 同比.
//! * [`indicators`]: 结案率, 按期结案率, 返工率, 超期率, 满意率, 平均处置时长 and the weighted
//!   综合指标, and the ranking by it (一季一排名).
//! * [`baseline`] and [`intake`]: counts per cell × category × source × hour for the recent
//!   weeks, and what is normal (a seasonal Poisson / negative binomial baseline); [`daily`]:
//!   the same counts per day beyond those weeks, for a year.
//! * [`ontime`]: CUSUM charts of the late share per unit and desk.
//! * [`warn`]: the warnings engine (volume, on-time rate, repeated places).
//! * [`trend`]: hourly counts with their expected band, and the breakdowns beside them.
//! * [`hotspot`]: emerging hot spots (Gi* per day, Mann-Kendall, `ArcGIS`'s categories).

pub mod baseline;
pub mod daily;
pub mod hotspot;
pub mod indicators;
pub mod intake;
pub mod ontime;
pub mod periods;
pub mod trend;
pub mod units;
pub mod warn;

use gridwall_protocol::GridLevel;
use serde::{Deserialize, Serialize};

pub use indicators::Weights;
pub use warn::Engine;

/// `[analysis]`: how warnings are decided and indicators weighed (README, "研判").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The grid levels watched for volume and on-time warnings.
    pub levels: Vec<GridLevel>,
    /// Days of history the baseline is fitted on (and hourly counts kept for).
    pub baseline_days: i64,
    /// The newest hours left out of the baseline (a burst under way is not its own normal).
    pub guard_hours: i64,
    /// No volume warning before the baseline covers this many days.
    pub min_history_days: f64,
    /// The sliding windows counted (minutes).
    pub windows_min: Vec<i64>,
    /// Tail probabilities for yellow, orange and red (each smaller than the one before).
    pub alpha: [f64; 3],
    /// Fewer cases than this in a window never warn.
    pub min_count: u64,
    pub repeat_radius_m: f64,
    pub repeat_days: i64,
    pub repeat_count: usize,
    /// A place's reports must also be unlikely by chance: the tail probability of that many
    /// within the radius if the community's reports of the category fell anywhere in it.
    pub repeat_alpha: f64,
    /// Days of closings a scope's usual late share is taken from.
    pub on_time_days: i64,
    /// The odds ratio of being late the on-time chart looks for.
    pub cusum_odds: f64,
    /// CUSUM thresholds for yellow, orange and red.
    pub cusum_h: [f64; 3],
    /// Seconds between evaluations.
    pub every_s: f64,
    /// The 综合指标's weights.
    pub weights: Weights,
    /// Units with fewer incidents accepted in a period are not ranked.
    pub min_cases: u64,
    /// Days of the emerging hot spot layer (at most `baseline_days`).
    pub hotspot_days: i64,
    /// Days of counts kept for trends: hourly for `baseline_days`, daily beyond.
    pub history_days: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            levels: vec![GridLevel::Community, GridLevel::Street],
            baseline_days: 28,
            guard_hours: 24,
            min_history_days: 1.0,
            windows_min: vec![60, 180],
            alpha: [1e-5, 1e-6, 1e-7],
            min_count: 4,
            repeat_radius_m: 30.0,
            repeat_days: 7,
            repeat_count: 3,
            repeat_alpha: 1e-5,
            on_time_days: 28,
            cusum_odds: 2.0,
            cusum_h: [4.0, 6.0, 8.0],
            every_s: 10.0,
            weights: Weights::default(),
            min_cases: 5,
            hotspot_days: 28,
            history_days: 400,
        }
    }
}

impl Config {
    /// What is wrong with the numbers, if anything (each is bounded before it reaches a loop or
    /// an allocation).
    pub fn problem(&self) -> Option<String> {
        let ordered = |a: [f64; 3]| a.iter().all(|v| v.is_finite() && *v > 0.0);
        let distinct = GridLevel::ALL.iter().filter(|l| self.levels.contains(l)).count();
        if self.levels.is_empty() || distinct != self.levels.len() {
            return Some("levels: one to four different levels of cell, community, street, city".into());
        }
        if !(7..=400).contains(&self.baseline_days) {
            return Some("baseline_days: 7 to 400".into());
        }
        if !(0..=48).contains(&self.guard_hours) {
            return Some("guard_hours: 0 to 48".into());
        }
        if !(self.min_history_days.is_finite() && (0.0..=400.0).contains(&self.min_history_days)) {
            return Some("min_history_days: 0 to 400".into());
        }
        if self.windows_min.is_empty()
            || self.windows_min.len() > 4
            || self.windows_min.iter().any(|m| !(10..=1440).contains(m))
        {
            return Some("windows_min: one to four windows of 10 to 1440 minutes".into());
        }
        if !(ordered(self.alpha)
            && self.alpha[0] < 0.5
            && self.alpha[1] < self.alpha[0]
            && self.alpha[2] < self.alpha[1])
        {
            return Some("alpha: three probabilities under 0.5, each smaller than the one before".into());
        }
        if !(1..=1000).contains(&self.min_count) || !(2..=1000).contains(&self.repeat_count) {
            return Some("min_count: 1 to 1000; repeat_count: 2 to 1000".into());
        }
        if !(self.repeat_alpha.is_finite() && self.repeat_alpha > 0.0 && self.repeat_alpha < 0.5) {
            return Some("repeat_alpha: a probability over 0 and under 0.5".into());
        }
        if !(self.repeat_radius_m.is_finite() && (1.0..=1000.0).contains(&self.repeat_radius_m)) {
            return Some("repeat_radius_m: 1 to 1000".into());
        }
        if !(1..=30).contains(&self.repeat_days) || !(1..=400).contains(&self.on_time_days) {
            return Some("repeat_days: 1 to 30; on_time_days: 1 to 400".into());
        }
        if !(self.cusum_odds.is_finite() && (1.1..=100.0).contains(&self.cusum_odds)) {
            return Some("cusum_odds: 1.1 to 100".into());
        }
        if !(ordered(self.cusum_h) && self.cusum_h[0] < self.cusum_h[1] && self.cusum_h[1] < self.cusum_h[2]) {
            return Some("cusum_h: three thresholds > 0, each larger than the one before".into());
        }
        if !(self.every_s.is_finite() && (0.1..=3600.0).contains(&self.every_s)) {
            return Some("every_s: 0.1 to 3600".into());
        }
        if !(10..=self.baseline_days).contains(&self.hotspot_days) {
            return Some("hotspot_days: 10 to baseline_days".into());
        }
        if !(self.baseline_days..=800).contains(&self.history_days) {
            return Some("history_days: baseline_days to 800".into());
        }
        if !self.weights.is_valid() {
            return Some("weights: numbers ≥ 0, not all 0, and handling_target_min > 0".into());
        }
        None
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_impossible_settings_are_named() {
        assert_eq!(Config::default().problem(), None);
        let twice = Config { levels: vec![GridLevel::Community, GridLevel::Community], ..Config::default() };
        assert!(twice.problem().unwrap().starts_with("levels"));
        let none = Config { levels: vec![], ..Config::default() };
        assert!(none.problem().unwrap().starts_with("levels"));
        let alpha = Config { alpha: [1e-5, 1e-4, 1e-7], ..Config::default() };
        assert!(alpha.problem().unwrap().starts_with("alpha"));
    }
}
