//! Incidents of any age, answered from the store (the live state holds the open ones only):
//! one by id, and the Open311 list's filters, each an indexed query on either store, on the
//! reader's own connection (never the live state's lock).

use std::fmt::Write as _;

use gridwall_city::records::IncidentRow;
use rusqlite::types::Value;

use super::HistoryError;
use super::source::Source;

/// Outermost times a query takes (about the years 855 and 3085): PostgreSQL's timestamps and
/// the system clock's arithmetic both hold them.
const FAR_MS: i64 = 1 << 45;

/// What an Open311 request list asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestQuery {
    /// Only these ids.
    pub ids: Option<Vec<u64>>,
    /// Only these categories (keys).
    pub categories: Option<Vec<String>>,
    /// Only the closed ones (`true`) or the open ones (`false`).
    pub closed: Option<bool>,
    /// Accepted at or after.
    pub from_ms: i64,
    /// Accepted at or before.
    pub to_ms: i64,
    /// At most this many, newest first.
    pub limit: usize,
}

const COLUMNS: &str = "id, category, source, x, y, grid, description, case_json";

fn sqlite_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, [String; 5], f64, f64, String)> {
    Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(5)?, r.get(6)?, String::new()], r.get(3)?, r.get(4)?, r.get(7)?))
}

fn incident_of(row: (i64, [String; 5], f64, f64, String)) -> Result<IncidentRow, HistoryError> {
    let (id, [category, source, grid, description, _], x, y, json) = row;
    Ok(IncidentRow { id: id as u64, category, source, x, y, grid, description, case: serde_json::from_str(&json)? })
}

impl Source {
    /// The incident with this id, open or closed long ago.
    pub fn incident(&mut self, id: u64) -> Result<Option<IncidentRow>, HistoryError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        match self {
            Self::Sqlite(c) => {
                let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"))?;
                let mut rows = st.query([id])?;
                rows.next()?.map(|r| incident_of(sqlite_row(r)?)).transpose()
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let row = p.c().query_opt(
                    "SELECT id, category, source, x, y, grid, description, case_json::text FROM incidents \
                     WHERE city = $1 AND id = $2",
                    &[&city, &id],
                )?;
                Ok(row.map(|r| crate::pg_incident_row(&r)).transpose()?)
            }
        }
    }

    /// Incidents as an Open311 list asks for them, newest accepted first.
    pub fn requests(&mut self, q: &RequestQuery) -> Result<Vec<IncidentRow>, HistoryError> {
        let (from, to) = (q.from_ms.clamp(-FAR_MS, FAR_MS), q.to_ms.clamp(-FAR_MS, FAR_MS));
        let limit = q.limit.min(100_000) as i64;
        let ids: Option<Vec<i64>> =
            q.ids.as_ref().map(|ids| ids.iter().map(|&i| i64::try_from(i).unwrap_or(i64::MAX)).collect());
        match self {
            Self::Sqlite(c) => {
                let mut sql = format!("SELECT {COLUMNS} FROM incidents WHERE created_ms >= ? AND created_ms <= ?");
                let mut args: Vec<Value> = vec![from.into(), to.into()];
                let mut one_of = |sql: &mut String, column: &str, values: Vec<Value>| {
                    let _ = write!(sql, " AND {column} IN ({})", vec!["?"; values.len()].join(", "));
                    args.extend(values);
                };
                if let Some(ids) = ids {
                    one_of(&mut sql, "id", ids.into_iter().map(Value::from).collect());
                }
                if let Some(cats) = &q.categories {
                    one_of(&mut sql, "category", cats.iter().cloned().map(Value::from).collect());
                }
                match q.closed {
                    Some(true) => sql.push_str(" AND stage = 'closed'"),
                    Some(false) => sql.push_str(" AND stage <> 'closed'"),
                    None => {}
                }
                sql.push_str(" ORDER BY created_ms DESC, id DESC LIMIT ?");
                args.push(limit.into());
                let mut st = c.prepare(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(args), sqlite_row)?;
                rows.map(|r| incident_of(r?)).collect()
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let closed = q.closed.map(|c| if c { "closed" } else { "open" });
                // The newest ids first, then their rows: only the answer's cases are turned into
                // text (every open one of a megacity was: 18,000 of them, 90 ms).
                let rows = p.c().query(
                    "SELECT i.id, i.category, i.source, i.x, i.y, i.grid, i.description, i.case_json::text \
                     FROM incidents i JOIN ( \
                       SELECT id, opened FROM incidents WHERE city = $1 AND opened >= $2 AND opened <= $3 \
                       AND ($4::bigint[] IS NULL OR id = ANY($4)) AND ($5::text[] IS NULL OR category = ANY($5)) \
                       AND ($6::text IS NULL OR (stage = 'closed') = ($6 = 'closed')) \
                       ORDER BY opened DESC, id DESC LIMIT $7 \
                     ) newest ON i.city = $1 AND i.id = newest.id ORDER BY newest.opened DESC, i.id DESC",
                    &[&city, &crate::time_of(from), &crate::time_of(to), &ids, &q.categories, &closed, &limit],
                )?;
                rows.iter().map(|r| Ok(crate::pg_incident_row(r)?)).collect()
            }
        }
    }
}
