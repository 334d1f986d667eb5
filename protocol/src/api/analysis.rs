//! The answers of 研判 and 预警 (`/api/v1/analysis/…`, `/api/v1/warnings`): indicators per grid
//! unit with 环比 and 同比, the quarterly ranking (一季一排名), trends with their expected band,
//! early warnings and the emerging hot spot layer. The formulas are in the README ("研判").

use serde::{Deserialize, Serialize};

use crate::model::{AnalysisPeriod, GridLevel, HotspotClass, IncidentCategory, WarningKind, WarningLevel};

/// The indicators of the incidents accepted in one period by one grid unit (or desk). Rates are
/// 0..1 and `None` where their denominator is zero (no closed case: no 按期结案率).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Indicators {
    /// 受理: accepted in the period.
    pub total: u64,
    /// 结案: of those, closed.
    pub closed: u64,
    /// 按期结案: closed with no stage past its deadline.
    pub on_time: u64,
    /// 返工: closed after at least one rejected review.
    pub reworked: u64,
    /// 超期: ran past a deadline, open or closed.
    pub overdue: u64,
    /// Closed with a satisfaction rating, and of those rated 4 or 5.
    pub rated: u64,
    pub satisfied: u64,
    /// 结案率 = closed / total.
    pub closure_rate: Option<f64>,
    /// 按期结案率 = `on_time` / closed.
    pub on_time_rate: Option<f64>,
    /// 返工率 = reworked / closed.
    pub rework_rate: Option<f64>,
    /// 超期率 = overdue / total.
    pub overdue_rate: Option<f64>,
    /// 满意率 = satisfied / rated.
    pub satisfaction_rate: Option<f64>,
    /// 平均处置时长: mean minutes from acceptance to closing, over the closed.
    pub mean_handling_min: Option<f64>,
    /// 综合指标, 0–100: the weighted mean of the parts that are defined (README).
    pub score: Option<f64>,
}

/// One grid unit's indicators in a period, the previous period (环比) and the same period a
/// year before (同比), where the store holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitIndicators {
    pub code: String,
    pub name: String,
    pub level: GridLevel,
    pub now: Indicators,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Indicators>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year_before: Option<Indicators>,
    /// 超期未办结: open and past a deadline now (the current period only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_open: Option<u64>,
}

/// The days a period covers: `from` inclusive, `to` exclusive (`YYYY-MM-DD`, operators' time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodSpan {
    pub period: AnalysisPeriod,
    pub from: String,
    pub to: String,
    /// Chinese label, e.g. `2026年第4季度`.
    pub label: String,
}

/// `GET /api/v1/analysis/indicators?level=&period=&at=&scope=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorsAnswer {
    pub span: PeriodSpan,
    pub previous: PeriodSpan,
    pub year_before: PeriodSpan,
    pub units: Vec<UnitIndicators>,
}

/// One row of a ranking: a unit's place by 综合指标, and its place in the previous period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankEntry {
    /// 1 is best.
    pub rank: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_rank: Option<u32>,
    /// Places gained since the previous period (positive: up, 上升).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<i64>,
    pub code: String,
    pub name: String,
    pub score: f64,
    pub indicators: Indicators,
}

/// `GET /api/v1/analysis/ranking?level=&period=&at=&top=`: 一季一排名 (红黑榜). Units with fewer
/// than `min_cases` accepted in the period are not ranked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingAnswer {
    pub span: PeriodSpan,
    pub previous: PeriodSpan,
    pub level: GridLevel,
    /// How many units were ranked.
    pub ranked: u32,
    pub min_cases: u64,
    /// The best `top` (红榜), in rank order.
    pub best: Vec<RankEntry>,
    /// The worst `top` (黑榜), worst last.
    pub worst: Vec<RankEntry>,
}

/// `GET /api/v1/analysis/desks?period=&at=&top=&format=json\|csv`: the desks (the patrols and
/// departments cases were assigned to; `（未分派）` for cases nobody took) ranked by the
/// 综合指标 of the cases accepted in the period, like grid units (a desk's `code` and `name` are
/// its name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeskRankingAnswer {
    pub span: PeriodSpan,
    pub previous: PeriodSpan,
    pub ranked: u32,
    pub min_cases: u64,
    pub best: Vec<RankEntry>,
    pub worst: Vec<RankEntry>,
}

/// One bucket of a trend: what was counted and what was expected, with the band's upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The bucket's start (ms since the Unix epoch).
    pub t_ms: i64,
    pub observed: u32,
    pub expected: f64,
    pub upper: f64,
}

/// `GET /api/v1/analysis/trend?scope=&category=&hours=`: hourly (or daily) counts of accepted
/// incidents with the baseline's expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendAnswer {
    /// The grid code; none for the city.
    pub scope: Option<String>,
    pub name: String,
    pub category: Option<IncidentCategory>,
    /// An hour (3,600,000) while the hours kept cover the span, else a day (86,400,000: the
    /// points start at the operators' midnights).
    pub bucket_ms: i64,
    pub points: Vec<TrendPoint>,
    /// Counts per category and per source over the same span.
    pub by_category: Vec<(IncidentCategory, u32)>,
    pub by_source: Vec<(crate::model::IncidentSource, u32)>,
    /// Weekday (0 = Monday) × hour of day counts over the span's hours still kept hourly (日历热力).
    pub weekday_hour: Vec<[u32; 24]>,
}

/// One grid unit's accepted incidents over the last hours beside what its baseline expected:
/// the overview tints units by this deviation, not by their raw count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitDeviation {
    pub code: String,
    pub observed: u32,
    pub expected: f64,
    /// The band's upper bound at the yellow level.
    pub upper: f64,
}

impl UnitDeviation {
    /// How unusual the count is, for the overview's tint: 0 at the expectation, 1 once it is
    /// both past the band's upper bound and half as much again as expected (a busy unit's band
    /// is narrow: a tenth above its normal is beyond chance, not a matter for the wall),
    /// negative below the expectation.
    pub fn deviation(&self) -> f64 {
        let excess = f64::from(self.observed) - self.expected;
        let beyond_chance = excess / (self.upper - self.expected).max(1.0);
        let in_proportion = excess / (0.5 * self.expected.max(1.0));
        beyond_chance.min(in_proportion)
    }
}

/// `GET /api/v1/analysis/deviation?level=&hours=`: every unit of a level with its count and
/// band over the last `hours` (units with nothing expected and nothing counted are left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviationAnswer {
    pub level: GridLevel,
    pub hours: u32,
    /// The end of the hours counted (ms since the Unix epoch).
    pub to_ms: i64,
    pub units: Vec<UnitDeviation>,
}

/// An early warning (预警): what is unusual, where, how far from normal, and who saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub id: u64,
    pub kind: WarningKind,
    pub level: WarningLevel,
    /// The grid code (or, for a desk's on-time rate, the desk's name).
    pub scope: String,
    pub scope_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_level: Option<GridLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<IncidentCategory>,
    /// The window observed, e.g. `近1小时`.
    pub window: String,
    pub observed: f64,
    pub expected: f64,
    /// The band's upper bound: more than this is unusual at the yellow level.
    pub upper: f64,
    /// When it was first raised.
    pub since_ms: i64,
    /// When its figures last changed.
    pub updated_ms: i64,
    /// When it closed by itself (back within its band).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<i64>,
    /// A sentence a street leader reads, e.g. `第1街道第3社区 · 管道堵塞 · 近1小时 9 件，常态 2 件（上限 5）`.
    pub sentence: String,
    /// Where, local metres: the place reported again and again, or the grid unit's centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<[f64; 2]>,
    /// The incidents behind it (the newest 50).
    #[serde(default)]
    pub incidents: Vec<u64>,
    /// 确认: the commander who acknowledged it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_ms: Option<i64>,
}

impl Warning {
    pub fn is_open(&self) -> bool {
        self.closed_ms.is_none()
    }
}

/// `GET /api/v1/warnings?state=open|all&hours=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningsAnswer {
    pub time_ms: i64,
    pub warnings: Vec<Warning>,
}

/// One cell of the emerging hot spot layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotspotCell {
    pub code: String,
    pub class: HotspotClass,
    /// Gi* z-score of the last day.
    pub z: f64,
    /// Mann-Kendall trend of the daily z-scores: its z and two-sided p.
    pub trend_z: f64,
    pub trend_p: f64,
    /// Days hot (z ≥ 1.96) and cold (z ≤ −1.96) out of `days`.
    pub hot_days: u32,
    pub cold_days: u32,
}

/// `GET /api/v1/analysis/hotspots?category=`: computed nightly over the last `days` days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotspotAnswer {
    pub category: Option<IncidentCategory>,
    /// The days analysed: `[first, last]` as `YYYY-MM-DD`.
    pub first_day: String,
    pub last_day: String,
    pub days: u32,
    pub computed_ms: i64,
    /// The cells in a category other than `none`.
    pub cells: Vec<HotspotCell>,
}
