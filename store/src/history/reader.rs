//! Queries of the history tables. Each takes a connection: the store's own at start-up, or a
//! read-only one of a replaying display or an export.

use gridwall_protocol::{Event, IncidentState, Kpis, PatrolRole, PatrolStatus};
use rusqlite::{Connection, OptionalExtension as _, params};
use rustc_hash::FxHashMap;

use super::codec::{Fix, decode_chunk, decode_chunk_within, decode_keyframe};
use super::incidents::{COLUMNS, sqlite_incident};
use super::{HistoryError, WINDOW_MS, chunk_key, split_chunk_key, window_of};
use gridwall_city::records::{KeyPatrol, TrackPoint};

/// A keyframe read back.
#[derive(Debug, Clone)]
pub struct Keyframe {
    pub t_ms: i64,
    /// The newest event made before it.
    pub seq: u64,
    pub patrols: Vec<KeyPatrol>,
    /// The open incidents, in the keyframes that hold them.
    pub incidents: Option<Vec<IncidentState>>,
}

type KeyframeRow = (i64, i64, Vec<u8>, Option<String>);

fn keyframe_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyframeRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn keyframe((t_ms, seq, patrols, incidents): KeyframeRow) -> Result<Keyframe, HistoryError> {
    Ok(Keyframe {
        t_ms,
        seq: seq as u64,
        patrols: decode_keyframe(&patrols)?,
        incidents: incidents.map(|j| serde_json::from_str(&j)).transpose()?,
    })
}

/// The newest keyframe at or before `t_ms`.
pub fn keyframe_at_or_before(conn: &Connection, t_ms: i64) -> Result<Option<Keyframe>, HistoryError> {
    conn.prepare_cached(
        "SELECT t_ms, seq, patrols, incidents FROM keyframes WHERE t_ms <= ?1 ORDER BY t_ms DESC LIMIT 1",
    )?
    .query_row([t_ms], keyframe_row)
    .optional()?
    .map(keyframe)
    .transpose()
}

/// The newest keyframe holding the open incidents at or before `t_ms`: (time, seq, incidents).
pub fn incidents_at_or_before(
    conn: &Connection,
    t_ms: i64,
) -> Result<Option<(i64, u64, Vec<IncidentState>)>, HistoryError> {
    let row: Option<(i64, i64, String)> = conn
        .prepare_cached(
            "SELECT t_ms, seq, incidents FROM keyframes WHERE t_ms <= ?1 AND incidents IS NOT NULL \
             ORDER BY t_ms DESC LIMIT 1",
        )?
        .query_row([t_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(t, seq, json)| Ok((t, seq as u64, serde_json::from_str(&json)?))).transpose()
}

/// The time of the oldest keyframe with the incidents: the earliest moment that can be replayed.
pub fn earliest_ms(conn: &Connection) -> Result<Option<i64>, HistoryError> {
    Ok(conn.query_row("SELECT MIN(t_ms) FROM keyframes WHERE incidents IS NOT NULL", [], |r| r.get(0))?)
}

/// Every fix with `after < t <= upto` (of the patrols `only` admits), per patrol in time
/// order; fixes of one time stay in the order they arrived. More than `max` fixes: an error
/// (as soon as they are counted, before the rest is read).
pub fn fixes(
    conn: &Connection,
    after: i64,
    upto: i64,
    only: impl Fn(u32) -> bool,
    max: usize,
) -> Result<FxHashMap<u32, Vec<Fix>>, HistoryError> {
    super::snapshot(conn, || fixes_now(conn, after, upto, only, max))
}

fn fixes_now(
    conn: &Connection,
    after: i64,
    upto: i64,
    only: impl Fn(u32) -> bool,
    max: usize,
) -> Result<FxHashMap<u32, Vec<Fix>>, HistoryError> {
    let mut out: FxHashMap<u32, Vec<Fix>> = FxHashMap::default();
    let mut n = 0usize;
    if upto <= after {
        return Ok(out);
    }
    let mut st = conn.prepare_cached("SELECT id, data FROM track_chunks WHERE id >= ?1 AND id < ?2 ORDER BY id")?;
    let (lo, hi) = (chunk_key(window_of(after), 0, 0), chunk_key(window_of(upto).saturating_add(WINDOW_MS), 0, 0));
    let mut rows = st.query(params![lo, hi.max(lo)])?;
    while let Some(r) = rows.next()? {
        let (w, patrol, _) = split_chunk_key(r.get(0)?);
        if !only(patrol) {
            continue;
        }
        let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        n += decode_chunk_within(w, data, (after, upto), out.entry(patrol).or_default())?;
        if n > max {
            return Err(HistoryError::TooMany { max });
        }
    }
    let mut st = conn.prepare_cached("SELECT points FROM journal WHERE t_max > ?1 AND t_min <= ?2 ORDER BY id")?;
    let mut rows = st.query(params![after, upto])?;
    while let Some(r) = rows.next()? {
        let blob = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        let points = crate::sqlite_points(blob)
            .ok_or(super::codec::Damaged { what: "journal entry", why: "it is not whole points" })?;
        for p in points {
            if p.t_ms > after && p.t_ms <= upto && only(p.patrol) {
                out.entry(p.patrol).or_default().push(Fix::from_metres(p.t_ms, p.x, p.y));
                n += 1;
                if n > max {
                    return Err(HistoryError::TooMany { max });
                }
            }
        }
    }
    for v in out.values_mut() {
        if !v.is_sorted_by_key(|f| f.t_ms) {
            v.sort_by_key(|f| f.t_ms);
        }
    }
    Ok(out)
}

/// What the history holds, for reports: fixes and bytes in track chunks (and chunks), fixes
/// still in the journal, keyframes and their bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub chunk_fixes: u64,
    pub chunk_bytes: u64,
    pub chunks: u64,
    pub journal_fixes: u64,
    pub keyframes: u64,
    pub keyframe_bytes: u64,
}

/// Counts what the history holds (decodes every chunk: a report, not a request path).
pub fn sizes(conn: &Connection) -> Result<Sizes, HistoryError> {
    super::snapshot(conn, || sizes_now(conn))
}

fn sizes_now(conn: &Connection) -> Result<Sizes, HistoryError> {
    let mut out = Sizes::default();
    let mut st = conn.prepare("SELECT id, data FROM track_chunks")?;
    let mut rows = st.query([])?;
    let mut buf = Vec::new();
    while let Some(r) = rows.next()? {
        let (w, _, _) = split_chunk_key(r.get(0)?);
        let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        buf.clear();
        decode_chunk(w, data, &mut buf)?;
        out.chunk_fixes += buf.len() as u64;
        out.chunk_bytes += data.len() as u64;
        out.chunks += 1;
    }
    let (journal, keyframes, keyframe_bytes): (Option<i64>, i64, Option<i64>) = conn.query_row(
        "SELECT (SELECT SUM(length(points)) FROM journal), (SELECT COUNT(*) FROM keyframes), \
         (SELECT SUM(length(patrols)) + SUM(COALESCE(length(incidents), 0)) FROM keyframes)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    out.journal_fixes = journal.unwrap_or(0) as u64 / 20;
    out.keyframes = keyframes as u64;
    out.keyframe_bytes = keyframe_bytes.unwrap_or(0) as u64;
    Ok(out)
}

/// Each patrol's newest fix: the last keyframe, then every fix after it (and of the window
/// before it: a fix stamped before the keyframe may have arrived after it was written).
pub fn latest_positions(conn: &Connection) -> Result<Vec<TrackPoint>, HistoryError> {
    super::snapshot(conn, || latest_positions_now(conn))
}

fn latest_positions_now(conn: &Connection) -> Result<Vec<TrackPoint>, HistoryError> {
    let kf = conn
        .query_row("SELECT t_ms, seq, patrols, incidents FROM keyframes ORDER BY t_ms DESC LIMIT 1", [], keyframe_row)
        .optional()?
        .map(keyframe)
        .transpose()?;
    let mut latest: FxHashMap<u32, TrackPoint> = FxHashMap::default();
    let after = kf.as_ref().map_or(i64::MIN, |k| k.t_ms.saturating_sub(WINDOW_MS));
    if let Some(k) = kf {
        for p in k.patrols {
            let [x, y] = Fix { t_ms: after, x_cm: p.x_cm, y_cm: p.y_cm }.metres();
            latest.insert(p.id, TrackPoint { patrol: p.id, t_ms: after, x, y });
        }
    }
    for (patrol, v) in fixes_now(conn, after, i64::MAX, |_| true, usize::MAX)? {
        if let Some(f) = v.last()
            && latest.get(&patrol).is_none_or(|l| l.t_ms <= f.t_ms)
        {
            let [x, y] = f.metres();
            latest.insert(patrol, TrackPoint { patrol, t_ms: f.t_ms, x, y });
        }
    }
    let mut out: Vec<TrackPoint> = latest.into_values().collect();
    out.sort_by_key(|p| p.patrol);
    Ok(out)
}

fn events(conn: &Connection, sql: &str, a: i64, b: i64) -> Result<Vec<Event>, HistoryError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params![a, b], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

/// Events after `seq` up to the time `upto_ms`, in order.
pub fn events_after(conn: &Connection, seq: u64, upto_ms: i64) -> Result<Vec<Event>, HistoryError> {
    events(conn, "SELECT json FROM events WHERE seq > ?1 AND time_ms <= ?2 ORDER BY seq", seq as i64, upto_ms)
}

/// At most `limit` events after `seq`, in order.
pub fn events_page(conn: &Connection, seq: i64, limit: i64) -> Result<Vec<Event>, HistoryError> {
    events(conn, "SELECT json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2", seq, limit)
}

/// Events with `after < time <= upto`, in order.
pub fn events_between(conn: &Connection, after: i64, upto: i64) -> Result<Vec<Event>, HistoryError> {
    events(conn, "SELECT json FROM events WHERE time_ms > ?1 AND time_ms <= ?2 ORDER BY seq", after, upto)
}

/// The KPIs shown at `t_ms` (the newest written at or before it).
pub fn kpis_at(conn: &Connection, t_ms: i64) -> Result<Option<Kpis>, HistoryError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM kpi_log WHERE t_ms <= ?1 ORDER BY t_ms DESC LIMIT 1")?
        .query_row([t_ms], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// The newest KPIs written with `after < t <= upto`, if any changed.
pub fn kpis_between(conn: &Connection, after: i64, upto: i64) -> Result<Option<Kpis>, HistoryError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM kpi_log WHERE t_ms > ?1 AND t_ms <= ?2 ORDER BY t_ms DESC LIMIT 1")?
        .query_row([after, upto], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// A patrol's role and status from a time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatrolChange {
    pub t_ms: i64,
    pub id: u32,
    pub role: PatrolRole,
    pub status: PatrolStatus,
}

/// Registrations and status changes with `after < t <= upto`, in order.
pub fn patrol_changes(conn: &Connection, after: i64, upto: i64) -> Result<Vec<PatrolChange>, HistoryError> {
    let mut st = conn.prepare_cached(
        "SELECT t_ms, id, role, status FROM patrol_log WHERE t_ms > ?1 AND t_ms <= ?2 ORDER BY t_ms, rowid",
    )?;
    let rows = st.query_map(params![after, upto], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (t_ms, id, role, status) = row?;
        let bad = super::codec::Damaged { what: "patrol log entry", why: "an unknown role or status" };
        out.push(PatrolChange {
            t_ms,
            id,
            role: role.parse().map_err(|_| bad.clone())?,
            status: status.parse().map_err(|_| bad)?,
        });
    }
    Ok(out)
}

/// Incidents with anything (opening or a step) in `from <= t <= to`, oldest first, at most
/// `limit` (whether more were left out).
pub fn incidents_between(
    conn: &Connection,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<(Vec<gridwall_city::records::IncidentRow>, bool), HistoryError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM incidents WHERE id IN \
         (SELECT DISTINCT incident FROM transitions WHERE at_ms >= ?1 AND at_ms <= ?2) ORDER BY id LIMIT ?3"
    ))?;
    let mut rows = st.query(params![from, to, limit as i64 + 1])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(sqlite_incident(r)?);
    }
    let more = out.len() > limit;
    out.truncate(limit);
    Ok((out, more))
}
