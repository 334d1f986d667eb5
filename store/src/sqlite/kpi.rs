//! The embedded store's KPI rows (adding a commit's day rows, and counting a store written
//! before them once) and the early warnings of 研判.

use rusqlite::params;

use gridwall_city::tally::{DayRows, DayTally, Tally};
use gridwall_city::workflow::Case;

use super::SqliteStore;
use crate::StoreError;

/// Adds KPI day rows to `kpi_days` and their sums to `kpi_all`.
pub(super) fn write_tally(tx: &rusqlite::Transaction, rows: &[DayTally]) -> rusqlite::Result<()> {
    let cols = Tally::COLUMNS;
    let sums = cols.map(|c| format!("{c} = {c} + excluded.{c}")).join(", ");
    let mut day = tx.prepare_cached(&format!(
        "INSERT INTO kpi_days (day, grid, closed_in, {}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (day, grid) DO UPDATE SET closed_in = closed_in + excluded.closed_in, {sums}",
        cols.join(", ")
    ))?;
    let mut all = tx.prepare_cached(&format!(
        "INSERT INTO kpi_all (grid, {}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (grid) DO UPDATE SET {sums}",
        cols.join(", ")
    ))?;
    for r in rows {
        let c = r.tally.counters();
        day.execute(params![r.day, r.grid, r.closed_in, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])?;
        if !r.tally.is_zero() {
            all.execute(params![r.grid, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])?;
        }
    }
    Ok(())
}

/// Inserts or replaces a warning.
pub(super) fn write_warning(
    tx: &rusqlite::Transaction,
    w: &gridwall_protocol::api::analysis::Warning,
) -> rusqlite::Result<()> {
    let json = serde_json::to_string(w).expect("a warning serialises");
    tx.prepare_cached(
        "INSERT OR REPLACE INTO warnings (id, kind, level, scope, category, since_ms, closed_ms, acked_by, json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        w.id as i64,
        w.kind.key(),
        w.level.key(),
        w.scope,
        w.category.map(gridwall_protocol::IncidentCategory::key),
        w.since_ms,
        w.closed_ms,
        w.acked_by,
        json
    ])?;
    Ok(())
}

/// The tally in the [`Tally::COLUMNS`] of a row, starting at column `at`.
pub(crate) fn tally_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Tally> {
    let mut c = [0; 8];
    for (i, v) in c.iter_mut().enumerate() {
        *v = r.get(at + i)?;
    }
    Ok(Tally::from_counters(c))
}

impl SqliteStore {
    /// A store written before the KPI rows existed: its incidents counted into them once.
    pub(super) fn count_once(&mut self, utc_offset_ms: i64) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite { path: path.clone(), source };
        let done: bool = self
            .conn
            .query_row("SELECT COUNT(*) FROM meta WHERE key = 'kpi_counted'", [], |r| r.get(0))
            .map_err(&sql)?;
        if done {
            return Ok(());
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(&sql)?;
        let mut counted = DayRows::default();
        {
            let mut st = tx.prepare("SELECT id, grid, case_json FROM incidents").map_err(&sql)?;
            let mut rows = st.query([]).map_err(&sql)?;
            while let Some(r) = rows.next().map_err(&sql)? {
                let (id, grid, json): (i64, String, String) =
                    (r.get(0).map_err(&sql)?, r.get(1).map_err(&sql)?, r.get(2).map_err(&sql)?);
                let case: Case = serde_json::from_str(&json).map_err(|source| StoreError::Case {
                    path: self.path.clone(),
                    id,
                    source,
                })?;
                counted.add(&grid, &case, utc_offset_ms);
            }
        }
        write_tally(&tx, &counted.into_rows()).map_err(&sql)?;
        tx.execute("INSERT INTO meta (key, value) VALUES ('kpi_counted', ?1)", [utc_offset_ms.to_string()])
            .map_err(&sql)?;
        tx.commit().map_err(&sql)
    }
}
