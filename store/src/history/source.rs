//! Where replay and the history exports read the past from: the embedded store's file
//! ([`reader`], on a read-only connection) or PostgreSQL (the same questions asked of its
//! tables: track chunks and the journal's newest fixes, keyframes, the event, patrol and KPI
//! logs).

use std::path::PathBuf;

use gridwall_protocol::{Event, IncidentState, Kpis};
use rustc_hash::FxHashMap;

use super::codec::{Fix, decode_chunk_within, decode_keyframe};
use super::reader::{self, Keyframe, PatrolChange};
use super::{HistoryError, open_reader, window_of};
use gridwall_city::records::IncidentRow;

use crate::CityKey;

/// How to open a [`Source`] (cheap to clone; opened on a blocking thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Opener {
    /// The embedded store's database file.
    Sqlite(PathBuf),
    /// A city in PostgreSQL.
    Postgres { url: String, city: CityKey },
}

impl Opener {
    /// A connection for reading (blocking: call it off the async threads).
    pub fn open(&self) -> Result<Source, HistoryError> {
        match self {
            Self::Sqlite(path) => Ok(Source::Sqlite(open_reader(path)?)),
            Self::Postgres { url, city } => {
                let mut client = url.parse::<postgres::Config>()?.connect(postgres::NoTls)?;
                client.batch_execute("SET TIME ZONE 'UTC'; SET default_transaction_read_only = on")?;
                Ok(Source::Postgres(Box::new(PgHistory { client: Some(client), city: city.clone(), depth: 0 })))
            }
        }
    }
}

/// The history of one PostgreSQL city.
pub struct PgHistory {
    /// Always there until dropped.
    client: Option<postgres::Client>,
    city: CityKey,
    /// Nested [`Source::snapshot`]s open (only the outermost begins and ends the transaction).
    depth: u32,
}

impl PgHistory {
    pub(super) fn c(&mut self) -> &mut postgres::Client {
        self.client.as_mut().expect("open until dropped")
    }

    pub(super) fn city(&self) -> &str {
        &self.city.city
    }
}

impl Drop for PgHistory {
    fn drop(&mut self) {
        // The client blocks on a runtime of its own when it closes: never on one of tokio's
        // threads (a display's session lets go of its replay there).
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new().name("gridwall-history-close".into()).spawn(move || drop(client));
        }
    }
}

impl std::fmt::Debug for PgHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgHistory").field("city", &self.city.city).finish_non_exhaustive()
    }
}

/// A connection to the history.
#[derive(Debug)]
pub enum Source {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgHistory>),
}

fn ms(t: std::time::SystemTime) -> i64 {
    crate::ms_of(t)
}

fn at(ms: i64) -> std::time::SystemTime {
    crate::time_of(ms)
}

impl Source {
    /// Runs `f` on one snapshot of the store (nests).
    pub fn snapshot<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, HistoryError>) -> Result<T, HistoryError> {
        self.begin()?;
        let out = f(self);
        self.end()?;
        out
    }

    /// Starts reading one snapshot (until [`Source::end`]; nests): the maintenance may move a
    /// minute between two statements, and a reader that saw the chunks before and the journal
    /// after would miss it.
    pub fn begin(&mut self) -> Result<(), HistoryError> {
        match self {
            Self::Sqlite(c) => c.execute_batch("SAVEPOINT history_read")?,
            Self::Postgres(p) => {
                if p.depth == 0 {
                    p.c().batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
                }
                p.depth += 1;
            }
        }
        Ok(())
    }

    /// Ends what [`Source::begin`] started.
    pub fn end(&mut self) -> Result<(), HistoryError> {
        match self {
            Self::Sqlite(c) => c.execute_batch("RELEASE history_read")?,
            Self::Postgres(p) => {
                p.depth = p.depth.saturating_sub(1);
                if p.depth == 0 {
                    p.c().batch_execute("COMMIT")?;
                }
            }
        }
        Ok(())
    }

    /// The newest keyframe at or before `t_ms`.
    pub fn keyframe_at_or_before(&mut self, t_ms: i64) -> Result<Option<Keyframe>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::keyframe_at_or_before(c, t_ms),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let row = p.c().query_opt(
                    "SELECT t, seq, patrols, incidents::text FROM keyframes WHERE city = $1 AND t <= $2 \
                     ORDER BY t DESC LIMIT 1",
                    &[&city, &at(t_ms)],
                )?;
                row.map(|r| {
                    let incidents: Option<String> = r.get(3);
                    Ok(Keyframe {
                        t_ms: ms(r.get(0)),
                        seq: r.get::<_, i64>(1) as u64,
                        patrols: decode_keyframe(r.get(2))?,
                        incidents: incidents.map(|j| serde_json::from_str(&j)).transpose()?,
                    })
                })
                .transpose()
            }
        }
    }

    /// The newest keyframe with the open incidents at or before `t_ms`: (time, seq, incidents).
    pub fn incidents_at_or_before(
        &mut self,
        t_ms: i64,
    ) -> Result<Option<(i64, u64, Vec<IncidentState>)>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::incidents_at_or_before(c, t_ms),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let row = p.c().query_opt(
                    "SELECT t, seq, incidents::text FROM keyframes WHERE city = $1 AND t <= $2 \
                     AND incidents IS NOT NULL ORDER BY t DESC LIMIT 1",
                    &[&city, &at(t_ms)],
                )?;
                row.map(|r| {
                    let json: String = r.get(2);
                    Ok((ms(r.get(0)), r.get::<_, i64>(1) as u64, serde_json::from_str(&json)?))
                })
                .transpose()
            }
        }
    }

    /// The earliest moment that can be replayed.
    pub fn earliest_ms(&mut self) -> Result<Option<i64>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::earliest_ms(c),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let t: Option<std::time::SystemTime> = p
                    .c()
                    .query_one("SELECT min(t) FROM keyframes WHERE city = $1 AND incidents IS NOT NULL", &[&city])?
                    .get(0);
                Ok(t.map(ms))
            }
        }
    }

    /// Every fix with `after < t <= upto` of the patrols `only` admits, per patrol in time order
    /// (fixes of one time in the order they arrived); more than `max`: an error.
    pub fn fixes(
        &mut self,
        after: i64,
        upto: i64,
        only: impl Fn(u32) -> bool,
        max: usize,
    ) -> Result<FxHashMap<u32, Vec<Fix>>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::fixes(c, after, upto, only, max),
            // Chunks and journal in one snapshot: a minute the maintenance moves in between is
            // in one of them, never in neither.
            Self::Postgres(_) => self.snapshot(|s| s.pg_fixes(after, upto, only, max)),
        }
    }

    fn pg_fixes(
        &mut self,
        after: i64,
        upto: i64,
        only: impl Fn(u32) -> bool,
        max: usize,
    ) -> Result<FxHashMap<u32, Vec<Fix>>, HistoryError> {
        match self {
            Self::Sqlite(_) => unreachable!("PostgreSQL only"),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let mut out: FxHashMap<u32, Vec<Fix>> = FxHashMap::default();
                if upto <= after {
                    return Ok(out);
                }
                let [ox, oy] = p.city.origin;
                let mut n = 0usize;
                // The minutes moved into chunks (a chunk at either end may reach past the range)…
                let rows = p.c().query(
                    "SELECT patrol, t, data FROM track_chunks WHERE city = $1 AND t >= $2 AND t <= $3 \
                     ORDER BY patrol, t, part",
                    &[&city, &at(window_of(after)), &at(upto)],
                )?;
                for r in rows {
                    let patrol = r.get::<_, i32>(0) as u32;
                    if !only(patrol) {
                        continue;
                    }
                    n += decode_chunk_within(ms(r.get(1)), r.get(2), (after, upto), out.entry(patrol).or_default())?;
                    if n > max {
                        return Err(HistoryError::TooMany { max });
                    }
                }
                // …and the journal's newest minutes.
                let rows = p.c().query(
                    "SELECT patrol, t, ST_X(geom), ST_Y(geom) FROM fixes WHERE city = $1 AND t > $2 AND t <= $3 \
                     ORDER BY patrol, t, n",
                    &[&city, &at(after), &at(upto)],
                )?;
                for r in rows {
                    let patrol = r.get::<_, i32>(0) as u32;
                    if !only(patrol) {
                        continue;
                    }
                    n += 1;
                    if n > max {
                        return Err(HistoryError::TooMany { max });
                    }
                    let (x, y): (f64, f64) = (r.get(2), r.get(3));
                    out.entry(patrol).or_default().push(Fix::from_metres(ms(r.get(1)), x - ox, y - oy));
                }
                for v in out.values_mut() {
                    if !v.is_sorted_by_key(|f| f.t_ms) {
                        v.sort_by_key(|f| f.t_ms);
                    }
                }
                Ok(out)
            }
        }
    }

    fn pg_events(
        p: &mut PgHistory,
        sql: &str,
        a: &(dyn postgres::types::ToSql + Sync),
        b: std::time::SystemTime,
    ) -> Result<Vec<Event>, HistoryError> {
        let city = p.city.city.clone();
        let rows = p.c().query(sql, &[&city, a, &b])?;
        rows.iter().map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?)).collect()
    }

    /// Events after `seq` up to the time `upto_ms`, in order.
    pub fn events_after(&mut self, seq: u64, upto_ms: i64) -> Result<Vec<Event>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::events_after(c, seq, upto_ms),
            Self::Postgres(p) => Self::pg_events(
                p,
                "SELECT body::text FROM events WHERE city = $1 AND seq > $2 AND at <= $3 ORDER BY seq",
                &(seq as i64),
                at(upto_ms),
            ),
        }
    }

    /// At most `limit` events after `seq`, in order: a reader catching up page by page.
    pub fn events_page(&mut self, seq: u64, limit: u32) -> Result<Vec<Event>, HistoryError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        match self {
            Self::Sqlite(c) => reader::events_page(c, seq, i64::from(limit)),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let rows = p.c().query(
                    "SELECT body::text FROM events WHERE city = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &[&city, &seq, &i64::from(limit)],
                )?;
                rows.iter().map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?)).collect()
            }
        }
    }

    /// Events with `after < time <= upto`, in order.
    pub fn events_between(&mut self, after: i64, upto: i64) -> Result<Vec<Event>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::events_between(c, after, upto),
            Self::Postgres(p) => Self::pg_events(
                p,
                "SELECT body::text FROM events WHERE city = $1 AND at > $2 AND at <= $3 ORDER BY seq",
                &at(after),
                at(upto),
            ),
        }
    }

    /// The KPIs shown at `t_ms`.
    pub fn kpis_at(&mut self, t_ms: i64) -> Result<Option<Kpis>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::kpis_at(c, t_ms),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let row = p.c().query_opt(
                    "SELECT body::text FROM kpi_log WHERE city = $1 AND t <= $2 ORDER BY t DESC LIMIT 1",
                    &[&city, &at(t_ms)],
                )?;
                Ok(row.map(|r| serde_json::from_str(r.get::<_, &str>(0))).transpose()?)
            }
        }
    }

    /// The newest KPIs written with `after < t <= upto`.
    pub fn kpis_between(&mut self, after: i64, upto: i64) -> Result<Option<Kpis>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::kpis_between(c, after, upto),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let row = p.c().query_opt(
                    "SELECT body::text FROM kpi_log WHERE city = $1 AND t > $2 AND t <= $3 ORDER BY t DESC LIMIT 1",
                    &[&city, &at(after), &at(upto)],
                )?;
                Ok(row.map(|r| serde_json::from_str(r.get::<_, &str>(0))).transpose()?)
            }
        }
    }

    /// Registrations and status changes with `after < t <= upto`, in order.
    pub fn patrol_changes(&mut self, after: i64, upto: i64) -> Result<Vec<PatrolChange>, HistoryError> {
        match self {
            Self::Sqlite(c) => reader::patrol_changes(c, after, upto),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let rows = p.c().query(
                    "SELECT t, id, role, status FROM patrol_log WHERE city = $1 AND t > $2 AND t <= $3 ORDER BY t, n",
                    &[&city, &at(after), &at(upto)],
                )?;
                rows.iter()
                    .map(|r| {
                        let bad = super::codec::Damaged { what: "patrol log entry", why: "an unknown role or status" };
                        Ok(PatrolChange {
                            t_ms: ms(r.get(0)),
                            id: r.get::<_, i32>(1) as u32,
                            role: r.get::<_, &str>(2).parse().map_err(|_| bad.clone())?,
                            status: r.get::<_, &str>(3).parse().map_err(|_| bad)?,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Incidents with anything in `from <= t <= to`, oldest first, at most `limit` (whether
    /// more were left out).
    pub fn incidents_between(
        &mut self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<(Vec<IncidentRow>, bool), HistoryError> {
        match self {
            Self::Sqlite(c) => reader::incidents_between(c, from, to, limit),
            Self::Postgres(p) => {
                let city = p.city.city.clone();
                let rows = p.c().query(
                    "SELECT id, category, source, x, y, grid, description, case_json::text FROM incidents \
                     WHERE city = $1 AND id IN (SELECT DISTINCT incident FROM transitions WHERE city = $1 \
                     AND at >= $2 AND at <= $3) ORDER BY id LIMIT $4",
                    &[&city, &at(from), &at(to), &(limit as i64 + 1)],
                )?;
                let mut out = Vec::new();
                for r in rows {
                    out.push(crate::pg_incident_row(&r)?);
                }
                let more = out.len() > limit;
                out.truncate(limit);
                Ok((out, more))
            }
        }
    }
}
