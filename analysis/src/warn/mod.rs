//! The early-warning engine (预警): it takes each committed incident, and every few seconds
//! proposes what changed among the warnings: raised, updated, closed (back within the band).
//! The caller commits the proposals and then [`Engine::apply`]s them: a warning exists in
//! memory only once the store has it.
//!
//! * Volume (数量异常): per grid unit at the configured levels and category, the count of the
//!   last hour and the last three hours (sliding) against the band of [`crate::baseline`]. A
//!   unit's warning stands for its parents (a street is not warned for what one of its
//!   communities already is).
//! * 按期结案率下滑: the CUSUM charts of [`crate::ontime`] per unit and per desk.
//! * 重复投诉: the same category reported `repeat_count` times within `repeat_radius_m` in
//!   `repeat_days` days, unlikely by chance ([`repeat`]).

use std::sync::Arc;

use gridwall_city::records::IncidentRow;
use gridwall_protocol::api::analysis::Warning;
use gridwall_protocol::{GridLevel, IncidentCategory, IncidentSource, WarningKind, WarningLevel};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::Config;
use crate::baseline::HOUR_MS;
use crate::intake::{Intake, Intaken, Seasonal};
use crate::ontime::OnTime;
use crate::units::Units;

mod repeat;

const DAY_MS: i64 = 86_400_000;
/// Incidents named behind one warning.
const IDS: usize = 50;

/// What a warning is about: one of these is open at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Volume(u32, IncidentCategory),
    OnTime(String),
    Repeat(u32, IncidentCategory),
}

/// Why a warning cannot be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("no open warning {0}: it closed, or never was")]
    NotOpen(u64),
}

/// The engine's state: counts, charts and the open warnings.
#[derive(Debug)]
pub struct Engine {
    pub config: Config,
    /// The grid units (shared with whoever serves indicators over the same units).
    pub units: Arc<Units>,
    pub intake: Intake,
    /// The fit, the hour it was made in and the incidents counted then.
    fit: Option<(i64, u64, Arc<Seasonal>)>,
    ontime: OnTime,
    /// Closed cases already charted (rows come again; a closing counts once).
    charted: FxHashSet<u64>,
    charted_order: std::collections::VecDeque<(i64, u64)>,
    /// Incidents taken since the last evaluation (checked for repeated places), and those the
    /// last evaluation checked (checked again if its proposals were not committed).
    fresh: Vec<Intaken>,
    checked: Vec<Intaken>,
    open: FxHashMap<Key, Warning>,
    pub next_id: u64,
    utc_offset_ms: i64,
}

fn category_of(row: &IncidentRow) -> Option<(IncidentCategory, IncidentSource)> {
    Some((row.category.parse().ok()?, row.source.parse().ok()?))
}

/// A count as a sentence says it: whole when large, one decimal when small.
fn amount(v: f64) -> String {
    if v >= 10.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

impl Engine {
    pub fn new(units: Arc<Units>, config: Config, utc_offset_ms: i64) -> Self {
        let recent_days = config.repeat_days.max(1) + 1;
        Self {
            intake: Intake::new(utc_offset_ms, config.baseline_days, recent_days, config.repeat_radius_m)
                .with_history_days(config.history_days),
            ontime: OnTime::new(config.cusum_odds, config.on_time_days, 50_000),
            units,
            fit: None,
            charted: FxHashSet::default(),
            charted_order: std::collections::VecDeque::new(),
            fresh: Vec::new(),
            checked: Vec::new(),
            open: FxHashMap::default(),
            next_id: 1,
            config,
            utc_offset_ms,
        }
    }

    /// Warnings open at a restart (from the store), and the highest id ever given.
    pub fn restore(&mut self, open: Vec<Warning>, max_id: u64) {
        self.next_id = self.next_id.max(max_id + 1);
        for w in open {
            if let Some(key) = self.key_of(&w) {
                self.open.insert(key, w);
            }
        }
    }

    fn key_of(&self, w: &Warning) -> Option<Key> {
        Some(match w.kind {
            WarningKind::Volume => Key::Volume(self.units.find(&w.scope)?, w.category?),
            WarningKind::Repeat => Key::Repeat(self.units.find(&w.scope)?, w.category?),
            WarningKind::OnTime => Key::OnTime(w.scope.clone()),
        })
    }

    /// A committed incident (new, or changed: each counts once as accepted, once as closed).
    pub fn take(&mut self, row: &IncidentRow) {
        self.take_accepted(row);
        self.take_closed(row);
    }

    /// At a start: the store's recent incidents (any order). Accepted ones are counted in id
    /// order, closings charted in the order they closed; none is checked for a repeated place
    /// (the warnings standing then are restored from the store).
    pub fn rebuild(&mut self, mut rows: Vec<IncidentRow>) {
        rows.sort_unstable_by_key(|r| r.id);
        for r in &rows {
            self.take_accepted(r);
        }
        self.fresh.clear();
        rows.retain(|r| r.case.closed_ms.is_some());
        rows.sort_by_key(|r| (r.case.closed_ms, r.id));
        for r in &rows {
            self.take_closed(r);
        }
    }

    /// At a start, before [`Engine::rebuild`]: the store's counts per day (newest first) of the
    /// incidents older than those it reads one by one.
    pub fn rebuild_days(&mut self, mut rows: Vec<(i64, crate::intake::Row)>) {
        rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
        for day in rows.chunk_by(|a, b| a.0 == b.0) {
            self.intake.add_day(day[0].0, day.iter().map(|r| r.1).collect());
        }
    }

    fn take_accepted(&mut self, row: &IncidentRow) {
        let Some((category, source)) = category_of(row) else { return };
        if row.id > self.intake.max_id {
            let cell = self.units.find(&row.grid).filter(|_| !row.grid.is_empty()).unwrap_or(0);
            let i = Intaken { id: row.id, t_ms: row.case.created_ms, cell, category, source, place: [row.x, row.y] };
            self.intake.add(i);
            self.fresh.push(i);
        }
    }

    fn take_closed(&mut self, row: &IncidentRow) {
        if let Some(closed) = row.case.closed_ms
            && self.charted.insert(row.id)
        {
            self.charted_order.push_back((closed, row.id));
            while self.charted_order.front().is_some_and(|&(t, _)| t < closed - 3 * DAY_MS) {
                let (_, id) = self.charted_order.pop_front().expect("checked");
                self.charted.remove(&id);
            }
            let mut scopes: Vec<String> = self
                .units
                .chain_of(&row.grid)
                .iter()
                .filter(|&&u| self.config.levels.contains(&self.units.get(u).level))
                .map(|&u| self.units.get(u).code.clone())
                .collect();
            if let Some(desk) = row.case.assignee.as_ref().filter(|a| !a.is_empty()) {
                scopes.push(format!("desk:{desk}"));
            }
            let day = (closed + self.utc_offset_ms).div_euclid(DAY_MS);
            self.ontime.observe(&scopes, row.id, day, closed, row.case.ever_overdue);
        }
    }

    /// Days of the past a rebuild reads.
    pub fn memory_days(&self) -> i64 {
        self.config.baseline_days.max(self.config.repeat_days + 1).max(self.config.on_time_days + 3)
    }

    /// The fit of what is normal at `now_ms` (refitted once an hour; shared, not copied, by
    /// the evaluation's parts and the trends).
    pub fn fit(&mut self, now_ms: i64) -> Arc<Seasonal> {
        let hour = now_ms.div_euclid(HOUR_MS);
        self.intake.advance(hour);
        // Refitted each hour, and sooner when a tenth more incidents came in (a warm-up, or a
        // store read after the first fit).
        let counted = self.intake.counted;
        if self.fit.as_ref().is_none_or(|f| f.0 != hour || counted > f.1 + f.1 / 10 + 10) {
            let from = hour - self.config.baseline_days * 24;
            let to = hour - self.config.guard_hours;
            let fit = self.intake.fit(&self.units, &self.config.levels, from, to);
            self.fit = Some((hour, counted, Arc::new(fit)));
        }
        self.fit.as_ref().expect("just fitted").2.clone()
    }

    /// The warnings that change now: raised, updated or closed (not applied: see
    /// [`Engine::apply`]).
    pub fn evaluate(&mut self, now_ms: i64) -> Vec<Warning> {
        let mut out = self.volume(now_ms);
        out.extend(self.on_time(now_ms));
        out.extend(self.repeats(now_ms));
        out
    }

    /// The last evaluation's proposals were not committed: its incidents are checked for
    /// repeated places again next time.
    pub fn uncommitted(&mut self) {
        let mut again = std::mem::take(&mut self.checked);
        again.append(&mut self.fresh);
        self.fresh = again;
    }

    fn level_of(&self, p: f64) -> WarningLevel {
        let a = self.config.alpha;
        if p < a[2] {
            WarningLevel::Red
        } else if p < a[1] {
            WarningLevel::Orange
        } else {
            WarningLevel::Yellow
        }
    }

    /// A change to the warning of `key`: a new one, or the open one with new figures (none when
    /// nothing a display shows changed).
    fn raise(&mut self, key: &Key, now_ms: i64, fill: impl FnOnce(&mut Warning, bool)) -> Option<Warning> {
        let is_new = !self.open.contains_key(key);
        let mut w = if let Some(w) = self.open.get(key) {
            w.clone()
        } else {
            let id = self.next_id;
            self.next_id += 1;
            Warning {
                id,
                kind: WarningKind::Volume,
                level: WarningLevel::Yellow,
                scope: String::new(),
                scope_name: String::new(),
                scope_level: None,
                category: None,
                window: String::new(),
                observed: 0.0,
                expected: 0.0,
                upper: 0.0,
                since_ms: now_ms,
                updated_ms: now_ms,
                closed_ms: None,
                sentence: String::new(),
                place: None,
                incidents: Vec::new(),
                acked_by: None,
                acked_ms: None,
            }
        };
        let before = w.clone();
        fill(&mut w, is_new);
        // An open warning changes when its level does, or its figure moves by a tenth (at
        // least one case, or five points of a share): not with every case that comes in.
        let step = if w.kind == WarningKind::OnTime { 0.05 } else { 1.0 };
        let moved = (w.observed - before.observed).abs() >= (0.1 * before.observed.abs()).max(step);
        if !is_new && before.level == w.level && !moved {
            return None;
        }
        w.updated_ms = now_ms;
        Some(w)
    }

    fn close(&self, key: &Key, now_ms: i64) -> Option<Warning> {
        let mut w = self.open.get(key)?.clone();
        w.closed_ms = Some(now_ms);
        w.updated_ms = now_ms;
        Some(w)
    }

    fn volume(&mut self, now_ms: i64) -> Vec<Warning> {
        let fit = self.fit(now_ms);
        if fit.days < self.config.min_history_days {
            return Vec::new();
        }
        let windows: Vec<i64> = self.config.windows_min.iter().map(|m| m * 60_000).collect();
        let longest = windows.iter().copied().max().unwrap_or(HOUR_MS);
        let midnight = (now_ms + self.utc_offset_ms).div_euclid(DAY_MS) * DAY_MS - self.utc_offset_ms;
        // Per watched unit and category: counts per window, today's, the newest ids.
        let mut seen: FxHashMap<(u32, IncidentCategory), (Vec<u64>, u64, Vec<u64>)> = FxHashMap::default();
        for i in self.intake.since(midnight.min(now_ms - longest)) {
            for &u in self.units.chain(i.cell) {
                if !self.config.levels.contains(&self.units.get(u).level) {
                    continue;
                }
                let e = seen.entry((u, i.category)).or_insert_with(|| (vec![0; windows.len()], 0, Vec::new()));
                for (k, w) in windows.iter().enumerate() {
                    if i.t_ms > now_ms - w && i.t_ms <= now_ms {
                        e.0[k] += 1;
                    }
                }
                if i.t_ms >= midnight {
                    e.1 += 1;
                }
                if i.t_ms >= now_ms - longest {
                    e.2.push(i.id);
                }
            }
        }
        let mut keys: Vec<(u32, IncidentCategory)> =
            seen.iter().filter(|(_, v)| v.0.iter().any(|&n| n >= self.config.min_count)).map(|(k, _)| *k).collect();
        keys.extend(self.open.keys().filter_map(|k| if let Key::Volume(u, c) = k { Some((*u, *c)) } else { None }));
        keys.sort_unstable_by_key(|&(u, c)| (self.units.get(u).level, u, c));
        keys.dedup();
        let mut out = Vec::new();
        // Units (and categories) warned at a lower level this round: their parents are not.
        let mut covered: FxHashSet<(u32, IncidentCategory)> = FxHashSet::default();
        for (u, c) in keys {
            let key = Key::Volume(u, c);
            let unit = self.units.get(u).clone();
            let (counts, today, ids) = seen.get(&(u, c)).cloned().unwrap_or((vec![0; windows.len()], 0, Vec::new()));
            // The most surprising window among those holding at least `min_count`.
            let mut best: Option<(f64, usize, f64, u64)> = None;
            for (k, w) in windows.iter().enumerate() {
                if counts[k] < self.config.min_count {
                    continue;
                }
                let band = fit.band(u, unit.level, c, now_ms - w, now_ms);
                let p = band.p_at_least(counts[k]);
                if best.is_none_or(|b| p < b.0) {
                    best = Some((p, k, band.mean, band.upper(self.config.alpha[0])));
                }
            }
            let alarm = best.is_some_and(|b| b.0 < self.config.alpha[0]);
            let parent_covered = covered.contains(&(u, c));
            let Some((p, k, expected, upper)) = best.filter(|_| alarm && !parent_covered) else {
                out.extend(self.close(&key, now_ms));
                if alarm {
                    covered.extend(self.units.chain(u)[1..].iter().map(|&p| (p, c)));
                }
                continue;
            };
            {
                let level = self.level_of(p);
                let window = format!("近{}", minutes_zh(windows[k] / 60_000));
                let sentence = format!(
                    "{} · {} · {window} {} 件，常态 {} 件（上限 {upper}）；今日 {today} 件",
                    unit.name,
                    c.name_zh(),
                    counts[k],
                    amount(expected)
                );
                let ids: Vec<u64> = ids.iter().rev().take(IDS).copied().collect();
                let change = self.raise(&key, now_ms, |w, _| {
                    w.kind = WarningKind::Volume;
                    w.level = w.level.max(level);
                    w.scope.clone_from(&unit.code);
                    w.scope_name.clone_from(&unit.name);
                    w.scope_level = Some(unit.level);
                    w.category = Some(c);
                    w.window = window;
                    w.observed = counts[k] as f64;
                    w.expected = expected;
                    w.upper = upper as f64;
                    w.sentence = sentence;
                    w.place = Some(unit.centroid);
                    w.incidents = ids;
                });
                out.extend(change);
            }
            // Its parents are not warned for what it is (the chain is bounded: no loop).
            covered.extend(self.units.chain(u)[1..].iter().map(|&p| (p, c)));
        }
        out
    }

    fn on_time(&mut self, now_ms: i64) -> Vec<Warning> {
        let h = self.config.cusum_h;
        let mut out = Vec::new();
        let mut scopes: Vec<String> = self
            .ontime
            .charts
            .iter()
            .filter(|(s, c)| c.s >= h[0] || self.open.contains_key(&Key::OnTime((*s).clone())))
            .map(|(s, _)| s.clone())
            .collect();
        scopes.sort_unstable();
        for scope in scopes {
            let chart = self.ontime.charts[&scope].clone();
            let key = Key::OnTime(scope.clone());
            if chart.s < h[0] / 2.0 {
                out.extend(self.close(&key, now_ms));
                continue;
            }
            // A run is warned when the sum passed the threshold and its late share is at
            // least halfway to what the chart looks for: a share that only creeps (between p0
            // and p1) wanders up without ever coming back to zero.
            let share = f64::from(chart.run_late) / f64::from(chart.run_n.max(1));
            let p1 = self.ontime.p1(chart.p0);
            let clear = share >= f64::midpoint(chart.p0, p1);
            if (chart.s < h[0] || !clear) && !self.open.contains_key(&key) {
                continue;
            }
            let level = if chart.s >= h[2] {
                WarningLevel::Red
            } else if chart.s >= h[1] {
                WarningLevel::Orange
            } else {
                WarningLevel::Yellow
            };
            let (name, level_of_scope, place) = match scope.strip_prefix("desk:") {
                Some(desk) => (desk.to_owned(), None, None),
                None => self.units.find(&scope).map_or((scope.clone(), None, None), |u| {
                    let unit = self.units.get(u);
                    (unit.name.clone(), Some(unit.level), Some(unit.centroid))
                }),
            };
            let sentence = format!(
                "{name} · 按期结案率下滑 · 近期结案 {} 件中超期 {} 件（{:.0}%），常态超期 {:.0}%",
                chart.run_n,
                chart.run_late,
                share * 100.0,
                chart.p0 * 100.0
            );
            let change = self.raise(&key, now_ms, |w, is_new| {
                w.kind = WarningKind::OnTime;
                w.level = w.level.max(level);
                w.scope.clone_from(&scope);
                w.scope_name = name;
                w.scope_level = level_of_scope;
                w.place = place;
                w.category = None;
                w.window = format!("近期结案 {} 件", chart.run_n);
                w.observed = share;
                w.expected = chart.p0;
                w.upper = p1;
                if is_new {
                    w.since_ms = chart.since_ms.min(now_ms);
                }
                w.sentence = sentence;
                w.incidents = chart.late_ids.iter().rev().copied().collect();
            });
            out.extend(change);
        }
        out
    }

    /// Applies committed changes: open ones replace, closed ones leave the open set.
    pub fn apply(&mut self, changes: &[Warning]) {
        for w in changes {
            self.next_id = self.next_id.max(w.id + 1);
            let Some(key) = self.key_of(w) else { continue };
            if w.is_open() {
                self.open.insert(key, w.clone());
            } else if self.open.get(&key).is_some_and(|o| o.id == w.id) {
                self.open.remove(&key);
            }
        }
    }

    /// 确认 by `who` at `now_ms`: the open warning as it will be once committed.
    pub fn ack(&self, id: u64, who: &str, now_ms: i64) -> Result<Warning, AckError> {
        let mut w = self.open.values().find(|w| w.id == id).cloned().ok_or(AckError::NotOpen(id))?;
        if w.acked_by.is_none() {
            w.acked_by = Some(who.to_owned());
            w.acked_ms = Some(now_ms);
            w.updated_ms = now_ms;
        }
        Ok(w)
    }

    /// The open warnings, newest first.
    pub fn open_warnings(&self) -> Vec<Warning> {
        let mut v: Vec<Warning> = self.open.values().cloned().collect();
        v.sort_unstable_by(|a, b| b.since_ms.cmp(&a.since_ms).then(b.id.cmp(&a.id)));
        v
    }

    /// The operators' time zone (ms ahead of UTC).
    pub fn utc_offset(&self) -> i64 {
        self.utc_offset_ms
    }

    /// The unit's level, for the watched levels.
    pub fn watches(&self, level: GridLevel) -> bool {
        self.config.levels.contains(&level)
    }
}

/// `60` → `1小时`, `180` → `3小时`, `30` → `30分钟`.
fn minutes_zh(m: i64) -> String {
    if m % 60 == 0 { format!("{}小时", m / 60) } else { format!("{m}分钟") }
}
