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
    /// Last changed (accepted or a workflow step) after this (integrators polling for changes).
    pub updated_after_ms: Option<i64>,
    /// Last changed before this.
    pub updated_before_ms: Option<i64>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The columns [`sqlite_incident`] reads.
pub(super) const COLUMNS: &str = "id, category, source, x, y, grid, description, case_json";

/// An incident from a row of [`COLUMNS`] of the embedded store.
pub(super) fn sqlite_incident(r: &rusqlite::Row) -> Result<IncidentRow, HistoryError> {
    Ok(IncidentRow {
        id: r.get::<_, i64>(0)? as u64,
        category: r.get(1)?,
        source: r.get(2)?,
        x: r.get(3)?,
        y: r.get(4)?,
        grid: r.get(5)?,
        description: r.get(6)?,
        case: serde_json::from_str(r.get_ref(7)?.as_str().map_err(rusqlite::Error::from)?)?,
    })
}

impl Source {
    /// The incident with this id, open or closed long ago.
    pub fn incident(&mut self, id: u64) -> Result<Option<IncidentRow>, HistoryError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        match self {
            Self::Sqlite(c) => {
                let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"))?;
                let mut rows = st.query([id])?;
                rows.next()?.map(sqlite_incident).transpose()
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
        let (after, before) = (
            q.updated_after_ms.map(|t| t.clamp(-FAR_MS, FAR_MS)),
            q.updated_before_ms.map(|t| t.clamp(-FAR_MS, FAR_MS)),
        );
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
                // Changed after: accepted, or a step taken, since (the steps by their time index).
                if let Some(t) = after {
                    sql.push_str(" AND (created_ms > ? OR id IN (SELECT incident FROM transitions WHERE at_ms > ?))");
                    args.extend([Value::from(t), Value::from(t)]);
                }
                // Changed last before: accepted before, and no step since.
                if let Some(t) = before {
                    sql.push_str(
                        " AND created_ms < ? AND NOT EXISTS \
                         (SELECT 1 FROM transitions t WHERE t.incident = incidents.id AND t.at_ms >= ?)",
                    );
                    args.extend([Value::from(t), Value::from(t)]);
                }
                sql.push_str(" ORDER BY created_ms DESC, id DESC LIMIT ?");
                args.push(limit.into());
                let mut st = c.prepare(&sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(args))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(sqlite_incident(r)?);
                }
                Ok(out)
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
                       AND ($8::timestamptz IS NULL OR opened > $8 \
                            OR id IN (SELECT incident FROM transitions WHERE city = $1 AND at > $8)) \
                       AND ($9::timestamptz IS NULL OR (opened < $9 AND NOT EXISTS (SELECT 1 FROM transitions t \
                            WHERE t.city = $1 AND t.incident = incidents.id AND t.at >= $9))) \
                       ORDER BY opened DESC, id DESC LIMIT $7 \
                     ) newest ON i.city = $1 AND i.id = newest.id ORDER BY newest.opened DESC, i.id DESC",
                    &[
                        &city,
                        &crate::time_of(from),
                        &crate::time_of(to),
                        &ids,
                        &q.categories,
                        &closed,
                        &limit,
                        &after.map(crate::time_of),
                        &before.map(crate::time_of),
                    ],
                )?;
                rows.iter().map(|r| Ok(crate::pg_incident_row(r)?)).collect()
            }
        }
    }
}
