//! 重复投诉: the same place reported again and again, warned when that many is unlikely by
//! chance both by the community's usual count spread over its area and by the place's own
//! reports of every kind (README, "Warnings").

use gridwall_protocol::api::analysis::Warning;
use gridwall_protocol::{IncidentCategory, WarningKind, WarningLevel};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{DAY_MS, Engine, IDS, Key};
use crate::intake::{Intake, Seasonal};
use crate::units::Units;

/// The share of `category` in the reports of unit `area` over `[from_ms, to_ms)`: from its
/// baseline where fitted, else from the reports kept; one category in twenty when nothing is
/// known.
fn category_share(
    fit: &Seasonal,
    intake: &Intake,
    units: &Units,
    area: u32,
    category: IncidentCategory,
    from_ms: i64,
    to_ms: i64,
) -> f64 {
    let fitted: f64 = IncidentCategory::ALL.iter().map(|&c| fit.expected(area, c, from_ms, to_ms)).sum();
    let (of, all) = if fit.days > 0.0 && fitted > 0.0 {
        (fit.expected(area, category, from_ms, to_ms), fitted)
    } else {
        let mut counted = (0.0, 0.0);
        for i in intake.since(from_ms).filter(|i| units.chain(i.cell).contains(&area)) {
            counted.1 += 1.0;
            if i.category == category {
                counted.0 += 1.0;
            }
        }
        counted
    };
    if all > 0.0 { (of / all).clamp(1e-6, 1.0) } else { 1.0 / IncidentCategory::ALL.len() as f64 }
}

impl Engine {
    pub(super) fn repeats(&mut self, now_ms: i64) -> Vec<Warning> {
        let (r, n, span) = (self.config.repeat_radius_m, self.config.repeat_count, self.config.repeat_days * DAY_MS);
        let alpha = self.config.repeat_alpha;
        let fit = self.fit(now_ms);
        let mut out = Vec::new();
        // Open ones: still repeated within the days?
        let open: Vec<(Key, Warning)> = self
            .open
            .iter()
            .filter(|(k, _)| matches!(k, Key::Repeat(..)))
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect();
        for (key, w) in open {
            let (Some(place), Some(c)) = (w.place, w.category) else { continue };
            if self.intake.near(c, place, r, now_ms - span).len() < n {
                out.extend(self.close(&key, now_ms));
            }
        }
        let fresh = std::mem::take(&mut self.fresh);
        let closing: FxHashSet<u64> = out.iter().map(|w| w.id).collect();
        // This round's raised ones: a burst of reports at one place raises one warning.
        let mut round: FxHashMap<Key, Warning> = FxHashMap::default();
        for f in &fresh {
            let key = Key::Repeat(f.cell, f.category);
            if f.cell == 0 || f.t_ms < now_ms - span || self.open.get(&key).is_some_and(|o| closing.contains(&o.id)) {
                continue;
            }
            let place = round.get(&key).or_else(|| self.open.get(&key)).and_then(|w| w.place).unwrap_or(f.place);
            let same = self.intake.near(f.category, place, r, now_ms - span);
            if same.len() < n {
                continue;
            }
            let unit = self.units.get(f.cell).clone();
            // As many by chance? What the community usually has of the category in the days
            // (its baseline; counted when it is not watched), spread evenly over its area: a
            // busy community has places reported thrice by chance.
            let area = unit.parent.filter(|&p| p != 0).unwrap_or(f.cell);
            let in_area = if self.watches(self.units.get(area).level) && fit.days > 0.0 {
                fit.expected(area, f.category, now_ms - span, now_ms)
            } else {
                self.intake
                    .since(now_ms - span)
                    .filter(|i| i.category == f.category && self.units.chain(i.cell).contains(&area))
                    .count() as f64
            };
            let share = (std::f64::consts::PI * r * r / self.units.get(area).area_m2.max(1.0)).min(1.0);
            let chance = crate::baseline::Band::new(in_area * share, 1.0);
            if chance.p_at_least(same.len() as u64) >= self.config.repeat_alpha {
                continue;
            }
            // And more of this category than the place's own reports of every kind would give:
            // reports gather on streets and squares, so a busy street has each category many
            // times over by the area's measure; a place reported again and again for one
            // problem stands out from its other reports.
            let here = self.intake.count_near_any(place, r, now_ms - span);
            let of_category = category_share(&fit, &self.intake, &self.units, area, f.category, now_ms - span, now_ms);
            if crate::baseline::binomial_at_least(here as u64, of_category, same.len() as u64) >= alpha {
                continue;
            }
            let level = if same.len() >= 3 * n {
                WarningLevel::Red
            } else if same.len() >= 2 * n {
                WarningLevel::Orange
            } else {
                WarningLevel::Yellow
            };
            let sentence = format!(
                "{} · {} · 同一地点（{r:.0}米内）{}日内报告 {} 次",
                unit.name,
                f.category.name_zh(),
                self.config.repeat_days,
                same.len()
            );
            let window = format!("近{}日", self.config.repeat_days);
            let fill = |w: &mut Warning, _: bool| {
                w.kind = WarningKind::Repeat;
                w.level = w.level.max(level);
                w.scope.clone_from(&unit.code);
                w.scope_name.clone_from(&unit.name);
                w.scope_level = Some(unit.level);
                w.category = Some(f.category);
                w.window = window;
                w.observed = same.len() as f64;
                w.expected = chance.mean;
                w.upper = chance.upper(alpha).max(n as u64 - 1) as f64;
                w.sentence = sentence;
                w.place = Some(place);
                w.incidents = same.iter().rev().take(IDS).copied().collect();
            };
            match round.get_mut(&key) {
                Some(w) => fill(w, false),
                None => {
                    if let Some(w) = self.raise(&key, now_ms, fill) {
                        round.insert(key, w);
                    }
                }
            }
        }
        self.checked = fresh;
        let mut raised: Vec<Warning> = round.into_values().collect();
        raised.sort_unstable_by_key(|w| w.id);
        out.extend(raised);
        out
    }
}
