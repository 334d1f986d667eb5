//! Counting a store written before the KPI rows existed: every incident's [`Tally`] once, into
//! the day and all-time rows the live state's counters are read back from (a one-time upgrade;
//! from then on each workflow event adds its own `Record::Tally`).

use gridwall_city::tally::{DayTally, Tally, local_day};
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
        let t = Tally::of(case);
        let day = local_day(case.created_ms, utc_offset_ms);
        self.days.entry((day, grid.to_owned())).or_default().0.add(&t, 1);
        if let Some(closed) = case.closed_ms {
            self.days.entry((local_day(closed, utc_offset_ms), grid.to_owned())).or_default().1 += 1;
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
