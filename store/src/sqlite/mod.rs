//! The embedded default store: one `SQLite` file in WAL mode with `synchronous = FULL`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension as _, params};

use gridwall_city::records::{IncidentRow, Loaded, PatrolRow, Record, TrackPoint};
use gridwall_city::workflow::Case;

use crate::history::codec::encode_keyframe;
use crate::{LoadFrom, Store, StoreError};
use gridwall_city::tally::{DayTally, Tally};
use kpi::write_tally;

mod kpi;

pub(crate) use kpi::tally_at;

/// The embedded store: one `SQLite` file in WAL mode.
pub struct SqliteStore {
    path: PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS patrols (
    id INTEGER PRIMARY KEY, ext_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    role TEXT NOT NULL, grid TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY, category TEXT NOT NULL, source TEXT NOT NULL,
    x REAL NOT NULL, y REAL NOT NULL, grid TEXT NOT NULL, description TEXT NOT NULL,
    stage TEXT NOT NULL, case_json TEXT NOT NULL, created_ms INTEGER);
CREATE TABLE IF NOT EXISTS transitions (
    incident INTEGER NOT NULL, n INTEGER NOT NULL, from_stage TEXT NOT NULL, to_stage TEXT NOT NULL,
    action TEXT NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL, at_ms INTEGER NOT NULL,
    PRIMARY KEY (incident, n));
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY, t_min INTEGER NOT NULL, t_max INTEGER NOT NULL, points BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS journal_t_max ON journal (t_max);
CREATE TABLE IF NOT EXISTS track_chunks (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keyframes (
    t_ms INTEGER PRIMARY KEY, seq INTEGER NOT NULL, patrols BLOB NOT NULL, incidents TEXT);
CREATE INDEX IF NOT EXISTS keyframes_incidents ON keyframes (t_ms) WHERE incidents IS NOT NULL;
CREATE TABLE IF NOT EXISTS kpi_log (t_ms INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patrol_log (
    t_ms INTEGER NOT NULL, id INTEGER NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS patrol_log_t ON patrol_log (t_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kpi_days (
    day INTEGER NOT NULL, grid TEXT NOT NULL, total INTEGER NOT NULL, closed INTEGER NOT NULL,
    on_time INTEGER NOT NULL, rated INTEGER NOT NULL, satisfied INTEGER NOT NULL,
    handling_ms INTEGER NOT NULL, closed_in INTEGER NOT NULL, reworked INTEGER NOT NULL DEFAULT 0,
    overdue INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, grid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kpi_all (
    grid TEXT PRIMARY KEY, total INTEGER NOT NULL, closed INTEGER NOT NULL, on_time INTEGER NOT NULL,
    rated INTEGER NOT NULL, satisfied INTEGER NOT NULL, handling_ms INTEGER NOT NULL,
    reworked INTEGER NOT NULL DEFAULT 0, overdue INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, level TEXT NOT NULL, scope TEXT NOT NULL,
    category TEXT, since_ms INTEGER NOT NULL, closed_ms INTEGER, acked_by TEXT, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS warnings_open ON warnings (id) WHERE closed_ms IS NULL;
CREATE INDEX IF NOT EXISTS warnings_since ON warnings (since_ms);
CREATE TABLE IF NOT EXISTS photos (
    id TEXT PRIMARY KEY, mime TEXT NOT NULL, bytes BLOB NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
    address TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL);
";

/// Beside the database: the id of the store created in this folder.
const ID_FILE: &str = "gridwall.id";

fn write_id(path: &Path, id: &str) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: path.to_owned(), source };
    let mut f = std::fs::File::create(path).map_err(io)?;
    std::io::Write::write_all(&mut f, format!("{id}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Indexes of the incidents' columns that a store written before them gains at its next start.
const INCIDENT_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS incidents_created ON incidents (created_ms);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (id) WHERE stage <> 'closed';
CREATE INDEX IF NOT EXISTS transitions_at ON transitions (at_ms);
";

/// A store written before incidents had their acceptance time as a column.
const UPGRADE_INCIDENTS: &str = "
ALTER TABLE incidents ADD COLUMN created_ms INTEGER;
UPDATE incidents SET created_ms = json_extract(case_json, '$.created_ms');
";

/// A store whose KPI rows lack the rework and lateness counters: the rows are counted again
/// from the incidents at its next load (`count_once`).
const UPGRADE_KPI: &str = "
ALTER TABLE kpi_days ADD COLUMN reworked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kpi_days ADD COLUMN overdue INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kpi_all ADD COLUMN reworked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kpi_all ADD COLUMN overdue INTEGER NOT NULL DEFAULT 0;
DELETE FROM kpi_days;
DELETE FROM kpi_all;
DELETE FROM meta WHERE key = 'kpi_counted';
";

/// A store written before the track history kept its journal as `tracks` (no `t_min`).
const UPGRADE_TRACKS: &str = "
INSERT INTO journal (t_min, t_max, points) SELECT 0, t_max, points FROM tracks ORDER BY id;
DROP TABLE tracks;
";

/// Bytes per track point in a `journal.points` blob: patrol u32, t i64, x and y as i32 cm.
const POINT_BYTES: usize = 20;

pub(crate) fn encode_points(points: &[TrackPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * POINT_BYTES);
    for p in points {
        out.extend_from_slice(&p.patrol.to_le_bytes());
        out.extend_from_slice(&p.t_ms.to_le_bytes());
        out.extend_from_slice(&((p.x * 100.0).round() as i32).to_le_bytes());
        out.extend_from_slice(&((p.y * 100.0).round() as i32).to_le_bytes());
    }
    out
}

pub(crate) fn decode_points(blob: &[u8]) -> Option<Vec<TrackPoint>> {
    if !blob.len().is_multiple_of(POINT_BYTES) {
        return None;
    }
    let arr = |s: &[u8]| -> [u8; 4] { s.try_into().expect("4 bytes") };
    Some(
        blob.chunks_exact(POINT_BYTES)
            .map(|c| TrackPoint {
                patrol: u32::from_le_bytes(arr(&c[0..4])),
                t_ms: i64::from_le_bytes(c[4..12].try_into().expect("8 bytes")),
                x: f64::from(i32::from_le_bytes(arr(&c[12..16]))) / 100.0,
                y: f64::from(i32::from_le_bytes(arr(&c[16..20]))) / 100.0,
            })
            .collect(),
    )
}

impl SqliteStore {
    /// Opens (or creates) `dir/gridwall.sqlite`. A damaged file is refused, and so is a store
    /// that is missing or empty where one was created before (`dir/gridwall.id` names it):
    /// starting empty would silently lose the city's history.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("gridwall.sqlite");
        let id_file = dir.join(ID_FILE);
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let known: Option<String> = match std::fs::read_to_string(&id_file) {
            Ok(s) => Some(s.trim().to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(StoreError::Io { path: id_file, source }),
        };
        if known.is_some() && !path.exists() {
            return Err(StoreError::Missing { path });
        }
        let sql = |source| StoreError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
        // A damaged header fails here, before anything is written; a damaged page fails when it
        // is read (SQLite checks each page it reads). A full `quick_check` at every start would
        // read the whole file: seconds a gigabyte, a start-up that grows with the city's age.
        let schema: Result<i64, _> = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0));
        match schema {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) =>
            {
                return Err(StoreError::Damaged { path, detail: e.to_string() });
            }
            Err(e) => return Err(sql(e)),
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        let old: bool = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tracks'", [], |r| r.get(0))
            .map_err(sql)?;
        if old {
            conn.execute_batch(&format!("BEGIN; {UPGRADE_TRACKS} COMMIT;")).map_err(sql)?;
        }
        let has_created: bool = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('incidents') WHERE name = 'created_ms'", [], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        if !has_created {
            conn.execute_batch(&format!("BEGIN; {UPGRADE_INCIDENTS} COMMIT;")).map_err(sql)?;
        }
        conn.execute_batch(INCIDENT_INDEXES).map_err(sql)?;
        let has_reworked: bool = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('kpi_days') WHERE name = 'reworked'", [], |r| r.get(0))
            .map_err(sql)?;
        if !has_reworked {
            conn.execute_batch(&format!("BEGIN; {UPGRADE_KPI} COMMIT;")).map_err(sql)?;
        }
        let stored: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        match (known, stored) {
            (Some(k), Some(s)) if k == s => {}
            (Some(k), s) => return Err(StoreError::Replaced { path, expected: k, found: s }),
            (None, Some(s)) => write_id(&id_file, &s)?,
            (None, None) => {
                let id = format!("{:016x}", rand::random::<u64>());
                conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?1)", [&id]).map_err(sql)?;
                write_id(&id_file, &id)?;
            }
        }
        Ok(Self { path, conn })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Caps the database at `pages` pages (4 KiB each): a write past it fails like a full disk.
    pub fn limit_pages(&self, pages: u64) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "max_page_count", pages).map_err(self.sql())
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }
}

impl Store for SqliteStore {
    fn load(&mut self, from: LoadFrom) -> Result<Loaded, StoreError> {
        self.count_once(from.utc_offset_ms)?;
        let sql = self.sql();
        let mut out = Loaded::default();
        let mut st =
            self.conn.prepare("SELECT id, ext_id, name, role, grid, status FROM patrols ORDER BY id").map_err(&sql)?;
        out.patrols = st
            .query_map([], |r| {
                Ok(PatrolRow {
                    id: r.get(0)?,
                    ext_id: r.get(1)?,
                    name: r.get(2)?,
                    role: r.get(3)?,
                    grid: r.get(4)?,
                    status: r.get(5)?,
                    at_ms: 0,
                })
            })
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut st = self
            .conn
            .prepare(
                "SELECT id, category, source, x, y, grid, description, case_json FROM incidents \
                 WHERE stage <> 'closed' ORDER BY id",
            )
            .map_err(&sql)?;
        let rows: Vec<(i64, String, String, f64, f64, String, String, String)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
            })
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        for (id, category, source, x, y, grid, description, json) in rows {
            let case: Case = serde_json::from_str(&json).map_err(|source| StoreError::Case {
                path: self.path.clone(),
                id,
                source,
            })?;
            out.incidents.push(IncidentRow { id: id as u64, category, source, x, y, grid, description, case });
        }
        let max: Option<i64> = self.conn.query_row("SELECT max(id) FROM incidents", [], |r| r.get(0)).map_err(&sql)?;
        out.max_incident = max.unwrap_or(0) as u64;
        let tally = tally_at;
        let cols = Tally::COLUMNS.join(", ");
        let mut st = self.conn.prepare(&format!("SELECT grid, {cols} FROM kpi_all")).map_err(&sql)?;
        out.tally_all = st
            .query_map([], |r| Ok((r.get(0)?, tally(r, 1)?)))
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut st = self
            .conn
            .prepare(&format!("SELECT day, grid, closed_in, {cols} FROM kpi_days WHERE day >= ?1"))
            .map_err(&sql)?;
        out.tally_days = st
            .query_map([from.since_day], |r| {
                Ok(DayTally { day: r.get(0)?, grid: r.get(1)?, closed_in: r.get(2)?, tally: tally(r, 3)? })
            })
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut st = self
            .conn
            .prepare("SELECT seq, time_ms, json FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?1) ORDER BY seq")
            .map_err(&sql)?;
        out.events = st
            .query_map([from.events as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)))
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut st = self
            .conn
            .prepare(
                "SELECT t_ms, actor, role, address, action, target, outcome FROM \
                 (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )
            .map_err(&sql)?;
        out.audit = st
            .query_map([gridwall_city::access::AUDIT_KEPT as i64], |r| {
                Ok(gridwall_city::access::AuditEntry {
                    t_ms: r.get(0)?,
                    actor: r.get(1)?,
                    role: r.get(2)?,
                    address: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    outcome: r.get(6)?,
                })
            })
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        out.positions = crate::history::reader::latest_positions(&self.conn).map_err(|e| e.into_store(&self.path))?;
        Ok(out)
    }

    fn write(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite { path: path.clone(), source };
        // Immediate: the history's maintenance thread writes to the same file; waiting for the
        // write lock happens here, never half way through.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(&sql)?;
        for record in records {
            match record {
                Record::Patrol(p) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO patrols (id, ext_id, name, role, grid, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                        .and_then(|mut st| st.execute(params![p.id, p.ext_id, p.name, p.role, p.grid, p.status]))
                        .map_err(&sql)?;
                    tx.prepare_cached("INSERT INTO patrol_log (t_ms, id, role, status) VALUES (?1, ?2, ?3, ?4)")
                        .and_then(|mut st| st.execute(params![p.at_ms, p.id, p.role, p.status]))
                        .map_err(&sql)?;
                }
                Record::Incident(i) => {
                    let json = serde_json::to_string(&i.case).expect("a case serialises");
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO incidents (id, category, source, x, y, grid, description, stage, case_json, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .and_then(|mut st| st.execute(params![i.id as i64, i.category, i.source, i.x, i.y, i.grid, i.description, i.case.stage.key(), json, i.case.created_ms]))
                    .map_err(&sql)?;
                    let mut st = tx
                        .prepare_cached("INSERT OR IGNORE INTO transitions (incident, n, from_stage, to_stage, action, actor, note, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                        .map_err(&sql)?;
                    for (n, t) in i.case.timeline.iter().enumerate() {
                        st.execute(params![
                            i.id as i64,
                            n as i64,
                            t.from.key(),
                            t.to.key(),
                            t.action,
                            t.actor,
                            t.note,
                            t.at_ms
                        ])
                        .map_err(&sql)?;
                    }
                }
                Record::Event { seq, time_ms, json } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO events (seq, time_ms, json) VALUES (?1, ?2, ?3)")
                        .and_then(|mut st| st.execute(params![*seq as i64, time_ms, json]))
                        .map_err(&sql)?;
                }
                Record::Track(points) => {
                    let t_min = points.iter().map(|p| p.t_ms).min().unwrap_or(0);
                    let t_max = points.iter().map(|p| p.t_ms).max().unwrap_or(0);
                    tx.prepare_cached("INSERT INTO journal (t_min, t_max, points) VALUES (?1, ?2, ?3)")
                        .and_then(|mut st| st.execute(params![t_min, t_max, encode_points(points)]))
                        .map_err(&sql)?;
                }
                Record::Keyframe { t_ms, seq, patrols, incidents } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO keyframes (t_ms, seq, patrols, incidents) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .and_then(|mut st| st.execute(params![t_ms, *seq as i64, encode_keyframe(patrols), incidents]))
                    .map_err(&sql)?;
                }
                Record::Kpis { t_ms, json } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO kpi_log (t_ms, json) VALUES (?1, ?2)")
                        .and_then(|mut st| st.execute(params![t_ms, json]))
                        .map_err(&sql)?;
                }
                Record::Tally(rows) => write_tally(&tx, rows).map_err(&sql)?,
                Record::Warning(w) => kpi::write_warning(&tx, w).map_err(&sql)?,
                // One server alone: nobody to tell.
                Record::Change(_) => {}
                Record::Audit(a) => {
                    tx.prepare_cached("INSERT INTO audit (t_ms, actor, role, address, action, target, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                        .and_then(|mut st| st.execute(params![a.t_ms, a.actor, a.role, a.address, a.action, a.target, a.outcome]))
                        .map_err(&sql)?;
                }
            }
        }
        tx.commit().map_err(&sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwall_city::workflow::{Action, TimeLimits};
    use gridwall_protocol::IncidentCategory;

    #[test]
    fn everything_written_reads_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let limits = TimeLimits::default();
        let mut case = Case::accept(IncidentCategory::Garbage, 1_000, "12345", &limits);
        case.apply(&Action::Dispatch { assignee: "P-1".into() }, "指挥长", "", 2_000, &limits).unwrap();
        {
            let mut s = SqliteStore::open(dir.path()).unwrap();
            s.write(&[
                Record::Patrol(PatrolRow {
                    id: 0,
                    ext_id: "P-1".into(),
                    name: "一组".into(),
                    role: "grid_worker".into(),
                    grid: "370783001001001".into(),
                    status: "patrolling".into(),
                    at_ms: 400,
                }),
                Record::Incident(IncidentRow {
                    id: 1,
                    category: "garbage".into(),
                    source: "hotline".into(),
                    x: 1.5,
                    y: -2.25,
                    grid: "g".into(),
                    description: "垃圾".into(),
                    case: case.clone(),
                }),
                Record::Event { seq: 1, time_ms: 1_000, json: "{}".into() },
                Record::Event { seq: 2, time_ms: 2_000, json: "{\"a\":1}".into() },
                Record::Track(vec![
                    TrackPoint { patrol: 0, t_ms: 500, x: 1.0, y: 2.0 },
                    TrackPoint { patrol: 0, t_ms: 1_500, x: -3.21, y: 4.0 },
                ]),
            ])
            .unwrap();
        }
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let l = s.load(LoadFrom { events: 1, since_day: 0, utc_offset_ms: 0 }).unwrap();
        assert_eq!(l.patrols.len(), 1);
        assert_eq!(l.patrols[0].name, "一组");
        assert_eq!(l.incidents[0].case, case);
        assert_eq!(l.events, vec![(2, 2_000, "{\"a\":1}".to_owned())]);
        assert_eq!(l.positions, vec![TrackPoint { patrol: 0, t_ms: 1_500, x: -3.21, y: 4.0 }]);
        let n: i64 = s.conn.query_row("SELECT COUNT(*) FROM transitions", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
        let n: i64 = s.conn.query_row("SELECT COUNT(*) FROM patrol_log", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn kpi_rows_without_rework_and_lateness_are_counted_again() {
        let dir = tempfile::tempdir().unwrap();
        let limits = TimeLimits::default();
        let mut case = Case::accept(IncidentCategory::Garbage, 1_000, "12345", &limits);
        case.escalate_if_overdue(case.deadline_ms.unwrap() + 1, &limits);
        for a in [Action::Dispatch { assignee: "P-1".into() }, Action::Resolve, Action::ReviewReject, Action::Resolve]
            .into_iter()
            .chain([Action::ReviewPass, Action::Close { satisfaction: 2 }])
        {
            case.apply(&a, "x", "", 9_000_000, &limits).unwrap();
        }
        let row = IncidentRow {
            id: 1,
            category: "garbage".into(),
            source: "hotline_12345".into(),
            x: 0.0,
            y: 0.0,
            grid: "g".into(),
            description: String::new(),
            case,
        };
        {
            let mut s = SqliteStore::open(dir.path()).unwrap();
            s.write(&[Record::Incident(row)]).unwrap();
            // As a store written before the two counters: the old tables, counted once.
            s.conn
                .execute_batch(
                    "DROP TABLE kpi_days; DROP TABLE kpi_all;
                     CREATE TABLE kpi_days (day INTEGER NOT NULL, grid TEXT NOT NULL, total INTEGER NOT NULL,
                       closed INTEGER NOT NULL, on_time INTEGER NOT NULL, rated INTEGER NOT NULL,
                       satisfied INTEGER NOT NULL, handling_ms INTEGER NOT NULL, closed_in INTEGER NOT NULL,
                       PRIMARY KEY (day, grid)) WITHOUT ROWID;
                     CREATE TABLE kpi_all (grid TEXT PRIMARY KEY, total INTEGER NOT NULL, closed INTEGER NOT NULL,
                       on_time INTEGER NOT NULL, rated INTEGER NOT NULL, satisfied INTEGER NOT NULL,
                       handling_ms INTEGER NOT NULL) WITHOUT ROWID;
                     INSERT INTO kpi_all VALUES ('g', 1, 1, 0, 1, 0, 8999000);
                     INSERT INTO meta (key, value) VALUES ('kpi_counted', '0');",
                )
                .unwrap();
        }
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let l = s.load(LoadFrom { events: 1, since_day: 0, utc_offset_ms: 0 }).unwrap();
        let (grid, t) = &l.tally_all[0];
        assert_eq!((grid.as_str(), l.tally_all.len()), ("g", 1));
        assert_eq!((t.total, t.closed, t.on_time, t.reworked, t.overdue), (1, 1, 0, 1, 1), "counted once, afresh");
        assert_eq!(l.tally_days.iter().map(|d| d.tally.overdue).sum::<i64>(), 1);
    }
}
