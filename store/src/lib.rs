//! gridwall's store: durable storage of what the live backend accepts (patrols, incidents with
//! their transitions, the numbered event log, patrol tracks, the audit trail, keyframes, KPIs and
//! the outbox of changes) and the history kept beside it for replay and export. It writes and
//! reads the city core's records (`gridwall_city::records`) and depends on nothing above the core.
//!
//! [`Store`] is the seam between the live state and its storage: [`SqliteStore`] is the
//! embedded default (`SQLite` in WAL mode, `synchronous = FULL`: a committed transaction is on
//! disk), [`PostgresStore`] keeps the same records in PostgreSQL + PostGIS (`--store
//! postgres://…`). [`StoreWriter`] runs a store on its own thread and commits whatever has queued up in
//! one transaction (group commit), so many small acknowledged writes share one `fsync`.
//!
//! * [`history`]: the retained past (journal, track chunks, keyframes, logs), its upkeep, the
//!   readers and [`history::source::Source`] that answer from either store, and
//!   [`history::replay`], which plays it to one display.

pub mod history;
mod pg;
mod sqlite;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

pub use pg::{CityKey, PostgresStore, shown_url, spawn_pg_maintenance};
pub(crate) use pg::{incident_row as pg_incident_row, ms_of, tally_at as pg_tally, time_of};
pub use sqlite::SqliteStore;
pub(crate) use sqlite::{decode_points as sqlite_points, tally_at as sqlite_tally};
pub use writer::StoreWriter;

use gridwall_city::records::{Change, IncidentRow, Loaded, Record};
use gridwall_city::tally::DayTally;

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

/// What a restart reads back, and how the KPI day rows are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadFrom {
    /// The newest events to read.
    pub events: usize,
    /// The oldest KPI day row to read (the current periods': the start of this year).
    pub since_day: i64,
    /// The operators' time zone, for counting a store written before the KPI rows existed.
    pub utc_offset_ms: i64,
}

impl LoadFrom {
    /// A restart at `now_ms` in a time zone `utc_offset_ms` ahead of UTC.
    pub fn at(now_ms: i64, utc_offset_ms: i64, events: usize) -> Self {
        Self { events, since_day: gridwall_city::tally::since_day(now_ms, utc_offset_ms), utc_offset_ms }
    }
}

/// A durable store. `write` must not return before the records are on disk.
pub trait Store: Send + 'static {
    /// Reads back what the live state needs: all patrols, the open incidents, the KPI counters,
    /// the newest events and each patrol's newest position: live work, never the past (a
    /// restart takes as long for a city of ten years as for a new one).
    fn load(&mut self, from: LoadFrom) -> Result<Loaded, StoreError>;
    /// Writes the records in one durable transaction.
    fn write(&mut self, records: &[Record]) -> Result<(), StoreError>;
    /// Writes a past in bulk (`synth-history`, on a store no server is writing): incidents with
    /// their whole workflow and their KPI rows, in one transaction.
    fn import(&mut self, incidents: &[IncidentRow], tally: &[DayTally]) -> Result<(), StoreError> {
        let mut records: Vec<Record> = incidents.iter().cloned().map(Record::Incident).collect();
        records.push(Record::Tally(tally.to_vec()));
        self.write(&records)
    }
    /// Whether the store answers now (a database server may have gone away and come back).
    fn ping(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Takes over writing the city (servers on a bus: the one that won the lease).
    fn take_over(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// The changes of the shared state after `after`, in order, at most `limit`.
    fn changes_after(&mut self, _after: u64, _limit: usize) -> Result<Vec<Change>, StoreError> {
        Ok(Vec::new())
    }
}
