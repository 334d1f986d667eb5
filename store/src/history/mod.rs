//! The city's recent past, for replay (轨迹回放) and export: what the store keeps beside the
//! live state, how it is read back, and the background work that keeps it small.
//!
//! * Position fixes are first written to the store's journal (20 bytes a fix, committed before
//!   a device gets its answer). [`maintain`] moves each closed minute into **track chunks**, one
//!   per patrol and minute, delta-of-delta coded ([`codec`]: about three bytes a fix), in one
//!   transaction with deleting them from the journal, and prunes everything older than the
//!   retention, on its own thread and connection: ingest never waits for either beyond one
//!   short write lock.
//! * Every minute the backend writes a **keyframe**: every patrol's position, role and status
//!   (and every ten minutes the open incidents). With the patrol log (status changes), the event log (every incident
//!   transition) and the KPI log, [`city::City::at`] rebuilds the city at any moment of the
//!   retention window from the keyframe before it and at most one minute of fixes.
//! * [`reader`] holds the queries (each on a connection of its own: readers never block the
//!   writer in WAL mode); [`source::Source`] answers the same questions from the embedded
//!   store's file or from PostgreSQL's tables.
//! * [`replay`] plays the past to one display: the city at a moment, then what changed as
//!   replay time runs.

pub mod analysis;
pub mod city;
pub mod codec;
pub mod incidents;
pub mod maintain;
pub mod photos;
pub mod reader;
pub mod replay;
pub mod source;

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Length of a history window: keyframes are written at its start, chunks hold one window.
pub const WINDOW_MS: i64 = 60_000;

/// Every this many windows a keyframe also holds the open incidents (a busy day has a thousand,
/// too many to repeat every minute); in between, replay applies the events since the last one.
pub const INCIDENT_KEYFRAME_WINDOWS: i64 = 10;

/// Whether the keyframe of the window starting at `window` holds the open incidents.
pub fn holds_incidents(window: i64) -> bool {
    window.div_euclid(WINDOW_MS).rem_euclid(INCIDENT_KEYFRAME_WINDOWS) == 0
}

/// Parts one patrol's minute may have (a late fix for a minute already moved adds one).
pub const MAX_PARTS: i64 = 64;

/// The row id of a track chunk: window, patrol, part, so that a window's chunks are one range of
/// row ids, in patrol order, appended in order (`SQLite` fills its pages then; a table keyed by
/// the three columns was left half full by its page splits and took 60 % more room).
/// Windows since 1970 fit 26 bits (until 2097), patrols 31, parts 6.
pub fn chunk_key(window: i64, patrol: u32, part: i64) -> i64 {
    let w = window.div_euclid(WINDOW_MS).clamp(0, (1 << 26) - 1);
    (w << 37) | (i64::from(patrol & 0x7fff_ffff) << 6) | part.clamp(0, MAX_PARTS - 1)
}

/// Window start, patrol and part of a chunk's row id.
pub fn split_chunk_key(key: i64) -> (i64, u32, i64) {
    ((key >> 37) * WINDOW_MS, ((key >> 6) & 0x7fff_ffff) as u32, key & (MAX_PARTS - 1))
}

/// The start of the window holding `t_ms`.
pub fn window_of(t_ms: i64) -> i64 {
    t_ms.div_euclid(WINDOW_MS).saturating_mul(WINDOW_MS)
}

/// `[retention]`: how much of the past is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Hours of tracks, keyframes and logs kept for replay (older ones are pruned).
    pub hours: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { hours: 24.0 }
    }
}

impl RetentionConfig {
    /// Most hours that may be kept (a week).
    pub const MAX_HOURS: f64 = 168.0;

    pub fn ms(&self) -> i64 {
        (self.hours.clamp(1.0 / 60.0, Self::MAX_HOURS) * 3_600_000.0) as i64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the history store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the history store: {0}")]
    Postgres(#[from] postgres::Error),
    #[error(transparent)]
    Damaged(#[from] codec::Damaged),
    #[error("a stored history record is damaged: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{} is before the history kept{}", gridwall_city::ingest::format_time(*at_ms), match earliest_ms {
        Some(e) => format!(" (the earliest moment that can be replayed is {})", gridwall_city::ingest::format_time(*e)),
        None => " (nothing has been recorded yet)".to_owned(),
    })]
    BeforeHistory { at_ms: i64, earliest_ms: Option<i64> },
    #[error("more than {max} position fixes: ask for a shorter time or a smaller area")]
    TooMany { max: usize },
    #[error("{} is in the future (the server's clock says {})", gridwall_city::ingest::format_time(*at_ms), gridwall_city::ingest::format_time(*now_ms))]
    Future { at_ms: i64, now_ms: i64 },
}

impl HistoryError {
    pub(crate) fn into_store(self, path: &Path) -> crate::StoreError {
        crate::StoreError::History { path: path.to_owned(), source: self }
    }
}

/// Runs `f` on one snapshot of the store: the maintenance thread may move a minute from the
/// journal into chunks between two statements, and a reader that saw the chunks before and the
/// journal after would miss that minute. (A savepoint: it nests inside a caller's.)
pub fn snapshot<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce() -> Result<T, HistoryError>,
) -> Result<T, HistoryError> {
    conn.execute_batch("SAVEPOINT history_read")?;
    let out = f();
    conn.execute_batch("RELEASE history_read")?;
    out
}

/// Opens a connection for reading history from the store at `path` (the `SQLite` file).
pub fn open_reader(path: &Path) -> Result<rusqlite::Connection, HistoryError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}
