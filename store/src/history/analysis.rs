//! What 研判 asks of the store (`gridwall-analysis`), on a reader's own connection: the recent
//! incidents it rebuilds its counts from at a start, the KPI counters' day rows summed over a
//! period per cell, and the early warnings.

use gridwall_city::records::IncidentRow;
use gridwall_city::tally::Tally;
use gridwall_protocol::api::analysis::Warning;

use super::HistoryError;
use super::incidents::{COLUMNS, sqlite_incident};
use super::source::Source;

/// Most incidents a rebuild reads (a megacity's eight weeks are about 1.7 million).
pub const MAX_RECENT: usize = 5_000_000;
/// Most (day, cell, category, source) counts a rebuild reads (the analysis keeps at most as
/// many; the newest days first).
pub const MAX_DAY_COUNTS: usize = 32 << 20;
/// Most warnings one list answers.
pub const MAX_WARNINGS: usize = 5_000;
/// Most desks one period's indicators keep (the rest are summed under [`OTHER_DESKS`]).
pub const MAX_DESKS: usize = 20_000;
/// Where cases of desks past [`MAX_DESKS`] are counted.
pub const OTHER_DESKS: &str = "（其他）";
/// Where cases nobody was assigned to are counted.
pub const UNASSIGNED: &str = "（未分派）";

impl Source {
    /// The incidents accepted at or after `since_ms`, by id: the newest [`MAX_RECENT`].
    pub fn recent_incidents(&mut self, since_ms: i64) -> Result<Vec<IncidentRow>, HistoryError> {
        let limit = MAX_RECENT as i64;
        match self {
            Self::Sqlite(c) => {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM incidents WHERE created_ms >= ?1 ORDER BY id DESC LIMIT ?2"
                ))?;
                let mut rows = st.query(rusqlite::params![since_ms, limit])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(sqlite_incident(r)?);
                }
                out.reverse();
                Ok(out)
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let rows = p.c().query(
                    "SELECT id, category, source, x, y, grid, description, case_json::text FROM incidents \
                     WHERE city = $1 AND opened >= $2 ORDER BY id DESC LIMIT $3",
                    &[&city, &crate::time_of(since_ms), &limit],
                )?;
                rows.iter().rev().map(|r| Ok(crate::pg_incident_row(r)?)).collect()
            }
        }
    }

    /// The incidents accepted in `[from_ms, to_ms)` counted per operators' day (days since the
    /// Unix epoch at `utc_offset_ms`), cell, category and source, newest days first, at most
    /// [`MAX_DAY_COUNTS`]: each handed to `f(day, grid, category, source, count)` as it is read
    /// (memory bounded by what `f` keeps). The daily counts 研判 keeps beyond its hourly weeks.
    pub fn day_counts(
        &mut self,
        from_ms: i64,
        to_ms: i64,
        utc_offset_ms: i64,
        mut f: impl FnMut(i64, &str, &str, &str, i64),
    ) -> Result<(), HistoryError> {
        let limit = MAX_DAY_COUNTS as i64;
        match self {
            Self::Sqlite(c) => {
                // created_ms is positive (a time after 1970): integer division is the floor.
                let mut st = c.prepare_cached(
                    "SELECT (created_ms + ?3) / 86400000 AS day, grid, category, source, count(*) FROM incidents \
                     WHERE created_ms >= ?1 AND created_ms < ?2 \
                     GROUP BY day, grid, category, source ORDER BY day DESC LIMIT ?4",
                )?;
                let mut rows = st.query(rusqlite::params![from_ms, to_ms, utc_offset_ms, limit])?;
                while let Some(r) = rows.next()? {
                    let text = |k| r.get_ref(k).and_then(|v| v.as_str().map_err(rusqlite::Error::from));
                    f(r.get(0)?, text(1)?, text(2)?, text(3)?, r.get(4)?);
                }
            }
            Self::Postgres(p) => {
                use postgres::fallible_iterator::FallibleIterator as _;
                let city = p.city().to_owned();
                let (from, to) = (crate::time_of(from_ms), crate::time_of(to_ms));
                let params: [&(dyn postgres::types::ToSql + Sync); 5] = [&city, &from, &to, &utc_offset_ms, &limit];
                let mut rows = p.c().query_raw(
                    "SELECT floor((extract(epoch FROM opened) * 1000 + $4::bigint) / 86400000)::bigint AS day, \
                     grid, category, source, count(*) FROM incidents \
                     WHERE city = $1 AND opened >= $2 AND opened < $3 \
                     GROUP BY 1, 2, 3, 4 ORDER BY 1 DESC LIMIT $5",
                    params,
                )?;
                while let Some(r) = rows.next()? {
                    f(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
                }
            }
        }
        Ok(())
    }

    /// The KPI counters of the incidents accepted on days `[from_day, to_day)`, per cell.
    pub fn kpi_range(&mut self, from_day: i64, to_day: i64) -> Result<Vec<(String, Tally)>, HistoryError> {
        let sums = Tally::COLUMNS.map(|c| format!("sum({c})")).join(", ");
        match self {
            Self::Sqlite(c) => {
                let mut st = c.prepare_cached(&format!(
                    "SELECT grid, {sums} FROM kpi_days WHERE day >= ?1 AND day < ?2 GROUP BY grid"
                ))?;
                let rows = st.query_map([from_day, to_day], |r| Ok((r.get(0)?, crate::sqlite_tally(r, 1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let (from, to) = (day32(from_day), day32(to_day));
                let casts = Tally::COLUMNS.map(|c| format!("sum({c})::bigint")).join(", ");
                let rows = p.c().query(
                    &format!(
                        "SELECT grid, {casts} FROM kpi_days WHERE city = $1 AND day >= $2 AND day < $3 GROUP BY grid"
                    ),
                    &[&city, &from, &to],
                )?;
                Ok(rows.iter().map(|r| (r.get(0), crate::pg_tally(r, 1))).collect())
            }
        }
    }

    /// The KPI counters of the incidents accepted in `[from_ms, to_ms)` per desk (the patrol or
    /// department a case is assigned to, the one that closed it), read row by row: memory is
    /// bounded by [`MAX_DESKS`], not by the period's incidents.
    pub fn desk_tallies(&mut self, from_ms: i64, to_ms: i64) -> Result<Vec<(String, Tally)>, HistoryError> {
        let mut desks: std::collections::HashMap<String, Tally> = std::collections::HashMap::new();
        let mut count = |case_json: &str| -> Result<(), HistoryError> {
            let case: gridwall_city::workflow::Case = serde_json::from_str(case_json)?;
            let desk = case.assignee.as_deref().filter(|a| !a.is_empty()).unwrap_or(UNASSIGNED);
            let key = if desks.contains_key(desk) || desks.len() < MAX_DESKS { desk } else { OTHER_DESKS };
            desks.entry(key.to_owned()).or_default().add(&Tally::of(&case), 1);
            Ok(())
        };
        match self {
            Self::Sqlite(c) => {
                let mut st =
                    c.prepare_cached("SELECT case_json FROM incidents WHERE created_ms >= ?1 AND created_ms < ?2")?;
                let mut rows = st.query([from_ms, to_ms])?;
                while let Some(r) = rows.next()? {
                    count(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?)?;
                }
            }
            Self::Postgres(p) => {
                use postgres::fallible_iterator::FallibleIterator as _;
                let city = p.city().to_owned();
                let (from, to) = (crate::time_of(from_ms), crate::time_of(to_ms));
                let params: [&(dyn postgres::types::ToSql + Sync); 3] = [&city, &from, &to];
                let mut rows = p.c().query_raw(
                    "SELECT case_json::text FROM incidents WHERE city = $1 AND opened >= $2 AND opened < $3",
                    params,
                )?;
                while let Some(r) = rows.next()? {
                    count(r.get(0))?;
                }
            }
        }
        let mut out: Vec<(String, Tally)> = desks.into_iter().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The first day any KPI row was counted on (none: nothing yet).
    pub fn first_kpi_day(&mut self) -> Result<Option<i64>, HistoryError> {
        match self {
            Self::Sqlite(c) => Ok(c.query_row("SELECT min(day) FROM kpi_days", [], |r| r.get(0))?),
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let d: Option<i32> = p.c().query_one("SELECT min(day) FROM kpi_days WHERE city = $1", &[&city])?.get(0);
                Ok(d.map(i64::from))
            }
        }
    }

    /// Warnings: the open ones (`open_only`), or those raised at or after `since_ms` and those
    /// still open; newest first, at most `limit` (≤ [`MAX_WARNINGS`]).
    pub fn warnings(&mut self, open_only: bool, since_ms: i64, limit: usize) -> Result<Vec<Warning>, HistoryError> {
        let limit = limit.min(MAX_WARNINGS) as i64;
        let texts: Vec<String> = match self {
            Self::Sqlite(c) => {
                let sql = if open_only {
                    "SELECT json FROM warnings WHERE closed_ms IS NULL AND ?1 = ?1 ORDER BY id DESC LIMIT ?2"
                } else {
                    "SELECT json FROM warnings WHERE since_ms >= ?1 OR closed_ms IS NULL ORDER BY id DESC LIMIT ?2"
                };
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map(rusqlite::params![since_ms, limit], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let rows = p.c().query(
                    "SELECT body::text FROM warnings WHERE city = $1 AND (closed IS NULL OR (NOT $2 AND since >= $3)) \
                     ORDER BY id DESC LIMIT $4",
                    &[&city, &open_only, &crate::time_of(since_ms), &limit],
                )?;
                rows.iter().map(|r| r.get(0)).collect()
            }
        };
        texts.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    /// One warning, open or closed.
    pub fn warning(&mut self, id: u64) -> Result<Option<Warning>, HistoryError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        let text: Option<String> = match self {
            Self::Sqlite(c) => {
                use rusqlite::OptionalExtension as _;
                c.query_row("SELECT json FROM warnings WHERE id = ?1", [id], |r| r.get(0)).optional()?
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                p.c()
                    .query_opt("SELECT body::text FROM warnings WHERE city = $1 AND id = $2", &[&city, &id])?
                    .map(|r| r.get(0))
            }
        };
        text.map(|t| Ok(serde_json::from_str(&t)?)).transpose()
    }

    /// The highest warning id ever given (0: none).
    pub fn max_warning_id(&mut self) -> Result<u64, HistoryError> {
        let max: Option<i64> = match self {
            Self::Sqlite(c) => c.query_row("SELECT max(id) FROM warnings", [], |r| r.get(0))?,
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                p.c().query_one("SELECT max(id) FROM warnings WHERE city = $1", &[&city])?.get(0)
            }
        };
        Ok(max.unwrap_or(0).max(0) as u64)
    }
}

fn day32(day: i64) -> i32 {
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}
