//! Counts per day beyond the hourly weeks ("hourly for recent weeks, daily beyond"): each hour
//! that leaves [`crate::intake::Intake`]'s hourly layer is folded into its day (operators'
//! time), and a start reads the older days from the store already grouped by day, cell,
//! category and source.
//!
//! Memory is bounded by the cases counted, not by the number of cells: one 8-byte row per day,
//! cell, category and source that had a case, and at most [`MAX_ROWS`] rows in all (the oldest
//! days go first past it). BENCHMARKS.md ("研判", a year of days) measures it.

use std::collections::BTreeMap;

use gridwall_protocol::{IncidentCategory, IncidentSource};

use crate::intake::Row;
use crate::units::Units;

/// A store's day count (grid code, category and source as stored) as a row: none for a
/// category or source this build does not know. A grid code not among the units counts for
/// the city alone, as live incidents outside every cell do.
pub fn row_of(units: &Units, grid: &str, category: &str, source: &str, n: i64) -> Option<Row> {
    let category = category.parse::<IncidentCategory>().ok()?.index();
    let source = source.parse::<IncidentSource>().ok()?.index();
    let cell = units.find(grid).unwrap_or(0);
    Some(Row { cell, category, source, n: u16::try_from(n.max(0)).unwrap_or(u16::MAX) })
}

/// The most day rows kept (256 MB): a city reporting far beyond any seed document's volume
/// loses its oldest days, not its memory.
pub const MAX_ROWS: usize = 32 << 20;

pub const DAY_MS: i64 = 86_400_000;

/// The days kept, each sorted by (cell, category, source) with one row per key.
#[derive(Debug, Clone)]
pub struct Days {
    span: i64,
    by_day: BTreeMap<i64, Vec<Row>>,
    rows: usize,
}

fn key(r: Row) -> (u32, u8, u8) {
    (r.cell, r.category, r.source)
}

/// `a` and `b` (each sorted with distinct keys) as one sorted list, counts of a key summed.
fn merge(a: Vec<Row>, b: &[Row]) -> Vec<Row> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && key(a[i]) <= key(b[j]));
        let r = if take_a {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match out.last_mut() {
            Some(last) if key(*last) == key(r) => last.n = last.n.saturating_add(r.n),
            _ => out.push(r),
        }
    }
    out
}

impl Days {
    pub fn new(keep_days: i64) -> Self {
        Self { span: keep_days.clamp(1, 800), by_day: BTreeMap::new(), rows: 0 }
    }

    /// Adds `rows` (any order, keys may repeat) to local day `day`, then drops the days that
    /// fall out of the kept span before the newest day, and the oldest past [`MAX_ROWS`].
    pub fn add(&mut self, day: i64, mut rows: Vec<Row>) {
        if rows.is_empty() || self.newest().is_some_and(|newest| day <= newest - self.span) {
            return;
        }
        rows.sort_unstable_by_key(|r| key(*r));
        let rows = merge(Vec::new(), &rows);
        let slot = self.by_day.entry(day).or_default();
        self.rows -= slot.len();
        *slot = merge(std::mem::take(slot), &rows);
        self.rows += slot.len();
        self.trim();
    }

    fn newest(&self) -> Option<i64> {
        self.by_day.last_key_value().map(|(d, _)| *d)
    }

    fn trim(&mut self) {
        let Some(newest) = self.newest() else { return };
        while let Some((&oldest, _)) = self.by_day.first_key_value() {
            if oldest > newest - self.span && (self.rows <= MAX_ROWS || oldest == newest) {
                break;
            }
            let gone = self.by_day.pop_first().expect("checked");
            self.rows -= gone.1.len();
        }
    }

    /// The first day kept (none: no day yet).
    pub fn first_day(&self) -> Option<i64> {
        self.by_day.first_key_value().map(|(d, _)| *d)
    }

    /// Rows of days `[from_day, to_day)`: (day, row).
    pub fn rows(&self, from_day: i64, to_day: i64) -> impl Iterator<Item = (i64, &Row)> + '_ {
        self.by_day.range(from_day..to_day.max(from_day)).flat_map(|(&d, rows)| rows.iter().map(move |r| (d, r)))
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Bytes the days take.
    pub fn bytes(&self) -> usize {
        self.by_day.values().map(|v| v.capacity() * size_of::<Row>() + size_of::<Vec<Row>>() + 32).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cell: u32, category: u8, n: u16) -> Row {
        Row { cell, category, source: 0, n }
    }

    #[test]
    fn a_day_sums_its_rows_by_key_in_any_order() {
        let mut d = Days::new(10);
        d.add(5, vec![row(2, 1, 1), row(1, 1, 2), row(2, 1, 3)]);
        d.add(5, vec![row(1, 1, 1), row(1, 0, 4)]);
        let got: Vec<_> = d.rows(0, 10).map(|(day, r)| (day, r.cell, r.category, r.n)).collect();
        assert_eq!(got, [(5, 1, 0, 4), (5, 1, 1, 3), (5, 2, 1, 4)]);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn days_past_the_span_are_dropped_and_late_ones_refused() {
        let mut d = Days::new(3);
        d.add(1, vec![row(1, 0, 1)]);
        d.add(2, vec![row(1, 0, 1)]);
        d.add(4, vec![row(1, 0, 1)]);
        // Day 1 is out of the three days up to day 4.
        assert_eq!(d.first_day(), Some(2));
        d.add(1, vec![row(1, 0, 1)]);
        assert_eq!(d.first_day(), Some(2));
        assert_eq!(d.rows(0, 3).count(), 1);
        assert_eq!(d.rows(3, 3).count(), 0);
        assert_eq!(d.len(), 2);
    }
}
