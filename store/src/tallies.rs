//! Counting a store written before the KPI rows existed: every incident's [`Tally`] once, into
//! the day and all-time rows the live state's counters are read back from (a one-time upgrade;
//! from then on each workflow event adds its own `Record::Tally`).

use gridwall_city::tally::{DayTally, Tally, day_rows};
use gridwall_city::workflow::Case;
use rustc_hash::FxHashMap;

/// The day rows of a set of incidents (their sum is the all-time rows: each incident's tally
/// lies in the row of the day it was accepted).
#[derive(Debug, Default)]
pub(crate) struct Counted {
    days: FxHashMap<(i64, String), (Tally, i64)>,
}

impl Counted {
    pub fn add(&mut self, grid: &str, case: &Case, utc_offset_ms: i64) {
        for r in day_rows(grid, case, utc_offset_ms) {
            let e = self.days.entry((r.day, r.grid)).or_default();
            e.0.add(&r.tally, 1);
            e.1 += r.closed_in;
        }
    }

    /// As the records a commit would carry.
    pub fn rows(self) -> Vec<DayTally> {
        self.days
            .into_iter()
            .map(|((day, grid), (tally, closed_in))| DayTally { day, grid, tally, closed_in })
            .collect()
    }
}
