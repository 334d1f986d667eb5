//! Durable storage of what the live backend accepts: patrols, incidents with their transitions,
//! the numbered event log, and patrol tracks.
//!
//! [`Store`] is the seam between the live state and its storage: [`SqliteStore`] is the
//! embedded default (`SQLite` in WAL mode, `synchronous = FULL`: a committed transaction is on
//! disk), [`PostgresStore`] keeps the same records in PostgreSQL + PostGIS (`--store
//! postgres://…`). [`StoreWriter`] runs a store on its own thread and commits whatever has queued up in
//! one transaction (group commit), so many small acknowledged writes share one `fsync`.

mod pg;
mod sqlite;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

pub use pg::{CityKey, PostgresStore, shown_url, spawn_pg_maintenance};
pub(crate) use pg::{incident_row as pg_incident_row, ms_of, time_of};
pub use sqlite::SqliteStore;
pub(crate) use sqlite::decode_points as sqlite_points;
pub use writer::StoreWriter;

use crate::workflow::Case;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("storage {path}: incident {id} cannot be read back: {source}")]
    Case { path: PathBuf, id: i64, source: serde_json::Error },
    #[error("storage {path}: a track blob of {len} bytes is not whole points")]
    PartialTrack { path: PathBuf, len: usize },
    #[error("storage {path}: {source}")]
    History { path: PathBuf, source: crate::history::HistoryError },
    #[error("storage {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A group commit failed; every write in the group gets this.
    #[error("the commit failed: {0}")]
    Commit(#[source] Arc<StoreError>),
    #[error("the storage thread has stopped")]
    Stopped,
    #[error(
        "storage {path}: the database is damaged ({detail}); restore it from a backup, or move the folder away to start a new store"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "storage {path} is missing, but a store was created in this folder (gridwall.id): restore the file, or move the folder away to start a new store"
    )]
    Missing { path: PathBuf },
    #[error("storage {path} is not the store created in this folder (expected store {expected}, found {}): restore the right file, or move the folder away to start a new store", found.as_deref().unwrap_or("an empty one"))]
    Replaced { path: PathBuf, expected: String, found: Option<String> },
    #[error("the storage queue is full ({0} records waiting): try again shortly")]
    Busy(usize),
    #[error("the database {db}: {source}")]
    Postgres { db: String, source: ::postgres::Error },
    #[error("the database {db} cannot be reached ({source}): writes are refused until it answers again")]
    Unavailable { db: String, source: ::postgres::Error },
    #[error("the database {db}: its schema could not be brought up to date: {source}")]
    Migrate { db: String, source: Box<refinery::Error> },
    #[error(
        "the database {db} holds city {city:?} in {stored}, but this scene is in {scene}: serve it under another scene name, or use another database"
    )]
    WrongCity { db: String, city: String, stored: String, scene: String },
    #[error("the scene's CRS {crs} has no EPSG code, which the database's geometry needs")]
    Crs { crs: String },
    #[error(
        "another server has taken over writing city {city:?} (its epoch {theirs}, ours {ours}): this one writes nothing more; restart it to take over again"
    )]
    Superseded { city: String, ours: i64, theirs: i64 },
}

/// A registered patrol.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PatrolRow {
    pub id: u32,
    /// The id devices and tools use (`patrol_id` in position reports).
    pub ext_id: String,
    pub name: String,
    pub role: String,
    pub grid: String,
    pub status: String,
    /// When this registration or status took effect (the patrol log keeps each for replay).
    pub at_ms: i64,
}

/// An incident as stored: where and what, plus its whole workflow state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    Event {
        seq: u64,
        time_ms: i64,
        json: String,
    },
    Track(Vec<TrackPoint>),
    /// One command of the audit trail.
    Audit(crate::access::AuditEntry),
    /// Every patrol's position and status and the open incidents at one moment (the start of
    /// a history window): replay starts from the keyframe before the time it shows.
    Keyframe {
        t_ms: i64,
        /// The newest event made before it.
        seq: u64,
        /// [`crate::history::codec::encode_keyframe`].
        patrols: Vec<u8>,
        /// The open incidents as JSON (`[IncidentState]`), in every tenth keyframe.
        incidents: Option<String>,
    },
    /// The city-wide KPIs from this time on (written when they change).
    Kpis {
        t_ms: i64,
        json: String,
    },
    /// What the records of this commit changed in the shared state, for the other servers on
    /// the bus (written to the outbox in the same transaction, then relayed).
    Change(Box<crate::state::Change>),
}

/// Everything a restart needs.
#[derive(Debug, Default)]
pub struct Loaded {
    pub patrols: Vec<PatrolRow>,
    pub incidents: Vec<IncidentRow>,
    /// The newest events (seq, time, JSON), oldest first.
    pub events: Vec<(u64, i64, String)>,
    /// Each patrol's newest position fix.
    pub positions: Vec<TrackPoint>,
    /// The newest entries of the audit trail, oldest first.
    pub audit: Vec<crate::access::AuditEntry>,
    /// The newest change of the shared state (servers on a bus; 0 on the embedded store).
    pub change_id: u64,
}

/// A durable store. `write` must not return before the records are on disk.
pub trait Store: Send + 'static {
    /// Reads everything back: all patrols and incidents, the newest `events` events and each
    /// patrol's newest position.
    fn load(&mut self, events: usize) -> Result<Loaded, StoreError>;
    /// Writes the records in one durable transaction.
    fn write(&mut self, records: &[Record]) -> Result<(), StoreError>;
    /// Whether the store answers now (a database server may have gone away and come back).
    fn ping(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Takes over writing the city (servers on a bus: the one that won the lease).
    fn take_over(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// The changes of the shared state after `after`, in order, at most `limit`.
    fn changes_after(&mut self, _after: u64, _limit: usize) -> Result<Vec<crate::state::Change>, StoreError> {
        Ok(Vec::new())
    }
}
