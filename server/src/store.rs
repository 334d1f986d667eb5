//! Durable storage of what the live backend accepts: patrols, incidents with their transitions,
//! the numbered event log, and patrol tracks.
//!
//! [`Store`] is the seam for other back ends (PostgreSQL/PostGIS later); [`SqliteStore`] is the
//! embedded default (`SQLite` in WAL mode, `synchronous = FULL`: a committed transaction is on
//! disk). [`StoreWriter`] runs a store on its own thread and commits whatever has queued up in
//! one transaction (group commit), so many small acknowledged writes share one `fsync`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use rusqlite::{Connection, OptionalExtension as _, params};
use tokio::sync::oneshot;

use crate::workflow::Case;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("storage {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the storage thread has stopped")]
    Stopped,
}

/// A registered patrol.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrolRow {
    pub id: u32,
    /// The id devices and tools use (`patrol_id` in position reports).
    pub ext_id: String,
    pub name: String,
    pub role: String,
    pub grid: String,
    pub status: String,
}

/// An incident as stored: where and what, plus its whole workflow state.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: u64,
    pub category: String,
    pub source: String,
    pub x: f64,
    pub y: f64,
    pub grid: String,
    pub description: String,
    pub case: Case,
}

/// One position fix of a track, in local metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    pub patrol: u32,
    pub t_ms: i64,
    pub x: f64,
    pub y: f64,
}

/// One thing to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Patrol(PatrolRow),
    /// Inserts or replaces the incident (its `case` carries the timeline).
    Incident(IncidentRow),
    /// An event of the log, as its JSON form.
    Event { seq: u64, time_ms: i64, json: String },
    Track(Vec<TrackPoint>),
    /// Drops track points older than the time, and events beyond the newest `keep_events`.
    Prune { tracks_before_ms: i64, keep_events: u64 },
}

/// Everything a restart needs.
#[derive(Debug, Default)]
pub struct Loaded {
    pub patrols: Vec<PatrolRow>,
    pub incidents: Vec<IncidentRow>,
    /// The newest events (seq, time, JSON), oldest first.
    pub events: Vec<(u64, i64, String)>,
    /// Track points since the requested time, in commit order.
    pub tracks: Vec<TrackPoint>,
}

/// A durable store. `write` must not return before the records are on disk.
pub trait Store: Send + 'static {
    /// Reads everything back: all patrols and incidents, the newest `events` events and track
    /// points since `tracks_since_ms`.
    fn load(&mut self, tracks_since_ms: i64, events: usize) -> Result<Loaded, StoreError>;
    /// Writes the records in one durable transaction.
    fn write(&mut self, records: &[Record]) -> Result<(), StoreError>;
}

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
    stage TEXT NOT NULL, case_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transitions (
    incident INTEGER NOT NULL, n INTEGER NOT NULL, from_stage TEXT NOT NULL, to_stage TEXT NOT NULL,
    action TEXT NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL, at_ms INTEGER NOT NULL,
    PRIMARY KEY (incident, n));
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (id INTEGER PRIMARY KEY, t_max INTEGER NOT NULL, points BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tracks_t_max ON tracks (t_max);
";

/// Bytes per track point in a `tracks.points` blob: patrol u32, t i64, x and y as i32 cm.
const POINT_BYTES: usize = 20;

fn encode_points(points: &[TrackPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * POINT_BYTES);
    for p in points {
        out.extend_from_slice(&p.patrol.to_le_bytes());
        out.extend_from_slice(&p.t_ms.to_le_bytes());
        out.extend_from_slice(&((p.x * 100.0).round() as i32).to_le_bytes());
        out.extend_from_slice(&((p.y * 100.0).round() as i32).to_le_bytes());
    }
    out
}

fn decode_points(blob: &[u8]) -> Option<Vec<TrackPoint>> {
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
    /// Opens (or creates) `dir/gridwall.sqlite`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("gridwall.sqlite");
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Corrupt { path: dir.to_owned(), reason: e.to_string() })?;
        let sql = |source| StoreError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Self { path, conn })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }
}

impl Store for SqliteStore {
    fn load(&mut self, tracks_since_ms: i64, events: usize) -> Result<Loaded, StoreError> {
        let sql = self.sql();
        let corrupt = |reason: String| StoreError::Corrupt { path: self.path.clone(), reason };
        let mut out = Loaded::default();
        let mut st = self.conn.prepare("SELECT id, ext_id, name, role, grid, status FROM patrols ORDER BY id").map_err(&sql)?;
        out.patrols = st
            .query_map([], |r| Ok(PatrolRow { id: r.get(0)?, ext_id: r.get(1)?, name: r.get(2)?, role: r.get(3)?, grid: r.get(4)?, status: r.get(5)? }))
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut st = self.conn.prepare("SELECT id, category, source, x, y, grid, description, case_json FROM incidents ORDER BY id").map_err(&sql)?;
        let rows: Vec<(i64, String, String, f64, f64, String, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        for (id, category, source, x, y, grid, description, json) in rows {
            let case: Case = serde_json::from_str(&json).map_err(|e| corrupt(format!("incident {id}: {e}")))?;
            out.incidents.push(IncidentRow { id: id as u64, category, source, x, y, grid, description, case });
        }
        let mut st = self.conn.prepare("SELECT seq, time_ms, json FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?1) ORDER BY seq").map_err(&sql)?;
        out.events = st
            .query_map([events as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)))
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        let mut st = self.conn.prepare("SELECT points FROM tracks WHERE t_max >= ?1 ORDER BY id").map_err(&sql)?;
        let mut rows = st.query([tracks_since_ms]).map_err(&sql)?;
        while let Some(row) = rows.next().map_err(&sql)? {
            let blob: Vec<u8> = row.get(0).map_err(&sql)?;
            let points = decode_points(&blob).ok_or_else(|| corrupt("a track blob has a partial point".into()))?;
            out.tracks.extend(points.into_iter().filter(|p| p.t_ms >= tracks_since_ms));
        }
        Ok(out)
    }

    fn write(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(&sql)?;
        for record in records {
            match record {
                Record::Patrol(p) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO patrols (id, ext_id, name, role, grid, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                        .and_then(|mut st| st.execute(params![p.id, p.ext_id, p.name, p.role, p.grid, p.status]))
                        .map_err(&sql)?;
                }
                Record::Incident(i) => {
                    let json = serde_json::to_string(&i.case).expect("a case serialises");
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO incidents (id, category, source, x, y, grid, description, stage, case_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .and_then(|mut st| st.execute(params![i.id as i64, i.category, i.source, i.x, i.y, i.grid, i.description, i.case.stage.key(), json]))
                    .map_err(&sql)?;
                    let mut st = tx
                        .prepare_cached("INSERT OR IGNORE INTO transitions (incident, n, from_stage, to_stage, action, actor, note, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                        .map_err(&sql)?;
                    for (n, t) in i.case.timeline.iter().enumerate() {
                        st.execute(params![i.id as i64, n as i64, t.from.key(), t.to.key(), t.action, t.actor, t.note, t.at_ms]).map_err(&sql)?;
                    }
                }
                Record::Event { seq, time_ms, json } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO events (seq, time_ms, json) VALUES (?1, ?2, ?3)")
                        .and_then(|mut st| st.execute(params![*seq as i64, time_ms, json]))
                        .map_err(&sql)?;
                }
                Record::Track(points) => {
                    let t_max = points.iter().map(|p| p.t_ms).max().unwrap_or(0);
                    tx.prepare_cached("INSERT INTO tracks (t_max, points) VALUES (?1, ?2)")
                        .and_then(|mut st| st.execute(params![t_max, encode_points(points)]))
                        .map_err(&sql)?;
                }
                Record::Prune { tracks_before_ms, keep_events } => {
                    tx.execute("DELETE FROM tracks WHERE t_max < ?1", [tracks_before_ms]).map_err(&sql)?;
                    let newest: Option<i64> = tx.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0)).optional().map_err(&sql)?.flatten();
                    if let Some(newest) = newest {
                        tx.execute("DELETE FROM events WHERE seq <= ?1", [newest - *keep_events as i64]).map_err(&sql)?;
                    }
                }
            }
        }
        tx.commit().map_err(&sql)
    }
}

type Ack = oneshot::Sender<Result<(), String>>;

enum Job {
    Write(Vec<Record>, Option<Ack>),
    Flush(Ack),
}

/// Runs a [`Store`] on its own thread. Writes are applied in submission order; everything queued
/// when the thread wakes goes into one transaction, and each waiter is answered after the commit.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Job>,
}

/// Most records committed in one transaction.
const GROUP_RECORDS: usize = 4096;

impl StoreWriter {
    pub fn spawn(mut store: impl Store) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("gridwall-store".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut records = Vec::new();
                    let mut acks = Vec::new();
                    let mut take = |job: Job, records: &mut Vec<Record>| match job {
                        Job::Write(r, ack) => {
                            records.extend(r);
                            acks.extend(ack);
                        }
                        Job::Flush(ack) => acks.push(ack),
                    };
                    take(first, &mut records);
                    while records.len() < GROUP_RECORDS {
                        match rx.try_recv() {
                            Ok(job) => take(job, &mut records),
                            Err(_) => break,
                        }
                    }
                    let result = if records.is_empty() { Ok(()) } else { store.write(&records).map_err(|e| e.to_string()) };
                    if let Err(e) = &result {
                        tracing::error!("storage write failed: {e}");
                    }
                    for ack in acks {
                        let _ = ack.send(result.clone());
                    }
                }
            })
            .expect("spawn the storage thread");
        Self { tx }
    }

    /// Queues records and waits until they are committed.
    pub async fn write(&self, records: Vec<Record>) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Job::Write(records, Some(ack))).map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?.map_err(|reason| StoreError::Corrupt { path: PathBuf::from("gridwall.sqlite"), reason })
    }

    /// Queues records without waiting (the simulator's own writes). They are committed in order
    /// with everything else.
    pub fn write_later(&self, records: Vec<Record>) {
        let _ = self.tx.send(Job::Write(records, None));
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Job::Flush(ack)).map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?.map_err(|reason| StoreError::Corrupt { path: PathBuf::from("gridwall.sqlite"), reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Action, TimeLimits};
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
                Record::Patrol(PatrolRow { id: 0, ext_id: "P-1".into(), name: "一组".into(), role: "grid_worker".into(), grid: "370783001001001".into(), status: "patrolling".into() }),
                Record::Incident(IncidentRow { id: 1, category: "garbage".into(), source: "hotline".into(), x: 1.5, y: -2.25, grid: "g".into(), description: "垃圾".into(), case: case.clone() }),
                Record::Event { seq: 1, time_ms: 1_000, json: "{}".into() },
                Record::Event { seq: 2, time_ms: 2_000, json: "{\"a\":1}".into() },
                Record::Track(vec![TrackPoint { patrol: 0, t_ms: 500, x: 1.0, y: 2.0 }, TrackPoint { patrol: 0, t_ms: 1_500, x: -3.21, y: 4.0 }]),
            ])
            .unwrap();
        }
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let l = s.load(1_000, 1).unwrap();
        assert_eq!(l.patrols.len(), 1);
        assert_eq!(l.patrols[0].name, "一组");
        assert_eq!(l.incidents[0].case, case);
        assert_eq!(l.events, vec![(2, 2_000, "{\"a\":1}".to_owned())]);
        assert_eq!(l.tracks, vec![TrackPoint { patrol: 0, t_ms: 1_500, x: -3.21, y: 4.0 }]);
        let n: i64 = s.conn.query_row("SELECT COUNT(*) FROM transitions", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);

        s.write(&[Record::Prune { tracks_before_ms: 10_000, keep_events: 0 }]).unwrap();
        let l = s.load(0, 10).unwrap();
        assert!(l.tracks.is_empty() && l.events.is_empty());
    }

    #[test]
    fn the_writer_acknowledges_after_commit_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let writer = StoreWriter::spawn(SqliteStore::open(dir.path()).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            for seq in 1..=50u64 {
                writer.write_later(vec![Record::Event { seq, time_ms: 0, json: seq.to_string() }]);
            }
            writer.write(vec![Record::Event { seq: 51, time_ms: 0, json: "51".into() }]).await.unwrap();
        });
        let l = SqliteStore::open(dir.path()).unwrap().load(0, 1_000).unwrap();
        assert_eq!(l.events.len(), 51);
        assert!(l.events.windows(2).all(|w| w[0].0 + 1 == w[1].0));
    }
}
