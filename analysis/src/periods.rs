//! The periods 研判 compares: a day, a week (from Monday), a month, a quarter or a year in the
//! operators' time zone, as ranges of day numbers (days since 1970-01-01), with the previous
//! period (环比) and the same period a year before (同比).

use gridwall_city::tally::{civil_from_days, days_from_civil};
use gridwall_protocol::AnalysisPeriod;
use gridwall_protocol::api::analysis::PeriodSpan;

/// Days `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub period: AnalysisPeriod,
    pub from: i64,
    pub to: i64,
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// The first day of a civil month `m0` months after January of year `y` (`m0` may exceed 11).
fn month_start(y: i64, m0: i64) -> i64 {
    days_from_civil(y + m0.div_euclid(12), (m0.rem_euclid(12) + 1) as u32, 1)
}

impl Span {
    /// The period of kind `period` holding `day`.
    pub fn of(period: AnalysisPeriod, day: i64) -> Self {
        let (y, m, _) = civil_from_days(day);
        let m0 = i64::from(m) - 1;
        let (from, to) = match period {
            AnalysisPeriod::Day => (day, day + 1),
            AnalysisPeriod::Week => {
                let from = day - weekday(day);
                (from, from + 7)
            }
            AnalysisPeriod::Month => (month_start(y, m0), month_start(y, m0 + 1)),
            AnalysisPeriod::Quarter => (month_start(y, m0 / 3 * 3), month_start(y, m0 / 3 * 3 + 3)),
            AnalysisPeriod::Year => (month_start(y, 0), month_start(y + 1, 0)),
        };
        Self { period, from, to }
    }

    /// The period before (环比).
    #[must_use]
    pub fn previous(&self) -> Self {
        Self::of(self.period, self.from - 1)
    }

    /// The same period a year before (同比): the same dates (a week: 52 weeks before, so it
    /// starts on a Monday too; 29 February: the 28th).
    #[must_use]
    pub fn year_before(&self) -> Self {
        if self.period == AnalysisPeriod::Week {
            return Self::of(self.period, self.from - 364);
        }
        let (y, m, d) = civil_from_days(self.from);
        let d = if m == 2 && d == 29 { 28 } else { d };
        Self::of(self.period, days_from_civil(y - 1, m, d))
    }

    pub fn days(&self) -> i64 {
        self.to - self.from
    }

    /// As the API says it.
    pub fn answer(&self) -> PeriodSpan {
        let (y, m, d) = civil_from_days(self.from);
        let label = match self.period {
            AnalysisPeriod::Day => format!("{y}年{m}月{d}日"),
            AnalysisPeriod::Week => format!("{y}年{m}月{d}日起一周"),
            AnalysisPeriod::Month => format!("{y}年{m}月"),
            AnalysisPeriod::Quarter => format!("{y}年第{}季度", (m - 1) / 3 + 1),
            AnalysisPeriod::Year => format!("{y}年"),
        };
        PeriodSpan { period: self.period, from: iso(self.from), to: iso(self.to), label }
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn iso(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD` (a real date, years 1970–9999), or none.
pub fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let day = days_from_civil(i64::from(y), m, d);
    (civil_from_days(day) == (i64::from(y), m, d)).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_their_predecessors_and_last_year() {
        let d = days_from_civil(2026, 12, 6); // a Sunday
        assert_eq!(weekday(d), 6);
        let w = Span::of(AnalysisPeriod::Week, d);
        assert_eq!((iso(w.from), iso(w.to)), ("2026-11-30".into(), "2026-12-07".into()));
        assert_eq!(weekday(w.year_before().from), 0);
        let q = Span::of(AnalysisPeriod::Quarter, d);
        assert_eq!((iso(q.from), iso(q.to)), ("2026-10-01".into(), "2027-01-01".into()));
        assert_eq!(iso(q.previous().from), "2026-07-01");
        assert_eq!(iso(q.year_before().from), "2025-10-01");
        assert_eq!(q.answer().label, "2026年第4季度");
        let m = Span::of(AnalysisPeriod::Month, days_from_civil(2024, 3, 15));
        assert_eq!((m.previous().days(), m.days()), (29, 31), "February of a leap year");
        let leap = Span::of(AnalysisPeriod::Day, days_from_civil(2024, 2, 29));
        assert_eq!(iso(leap.year_before().from), "2023-02-28");
        assert_eq!(Span::of(AnalysisPeriod::Year, d).days(), 365);
        assert_eq!(parse_iso("2026-02-29"), None);
        assert_eq!(parse_iso("2026-12-06"), Some(d));
        assert_eq!(parse_iso("2026-1-06"), None);
    }
}
