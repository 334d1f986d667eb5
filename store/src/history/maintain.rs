//! The history's background work, on a thread and connection of its own: moving closed minutes
//! of the journal into track chunks, and pruning what is older than the retention. Each step is
//! one short transaction, so ingest (the store thread) waits at most for one of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;
use tokio::sync::watch;

use super::codec::{Fix, decode_chunk, encode_chunk};
use super::{HistoryError, MAX_PARTS, WINDOW_MS, chunk_key, split_chunk_key, window_of};
use gridwall_city::state::Clock;

/// Most journal bytes moved into chunks per transaction (about 13 million fixes; a slice is
/// otherwise one window, so each patrol's minute becomes one chunk).
const SLICE_BYTES: usize = 256 << 20;

/// How often the thread looks for work (real time).
const EVERY: Duration = Duration::from_secs(5);

/// What one compaction did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub fixes: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub journal_entries: u64,
}

impl Compacted {
    /// Tells what a compaction moved (debug level), if anything.
    pub fn log(&self) {
        if self.fixes > 0 {
            tracing::debug!(
                fixes = self.fixes,
                chunks = self.chunks,
                bytes_per_fix = self.chunk_bytes as f64 / self.fixes as f64,
                "history: journal moved into track chunks"
            );
        }
    }
}

/// Moves every journal entry whose fixes all lie before `cutoff` into track chunks (one per
/// patrol and window; a late fix for a window already moved becomes a further part of it).
pub fn compact(conn: &mut Connection, cutoff: i64) -> Result<Compacted, HistoryError> {
    let mut done = Compacted::default();
    loop {
        let mut ids = Vec::new();
        let mut groups: FxHashMap<(i64, u32), Vec<Fix>> = FxHashMap::default();
        let mut bytes = 0;
        // One window at a time: the entries ending in the oldest window waiting.
        let oldest: Option<i64> =
            conn.query_row("SELECT MIN(t_max) FROM journal WHERE t_max < ?1", [cutoff], |r| r.get(0))?;
        let Some(oldest) = oldest else { return Ok(done) };
        let slice_end = cutoff.min(window_of(oldest) + WINDOW_MS);
        {
            let mut st = conn.prepare_cached("SELECT id, points FROM journal WHERE t_max < ?1 ORDER BY id")?;
            let mut rows = st.query([slice_end])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let blob = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                let points = crate::sqlite_points(blob)
                    .ok_or(super::codec::Damaged { what: "journal entry", why: "it is not whole points" })?;
                for p in points {
                    groups.entry((window_of(p.t_ms), p.patrol)).or_default().push(Fix::from_metres(p.t_ms, p.x, p.y));
                }
                ids.push(id);
                bytes += blob.len();
                if bytes >= SLICE_BYTES {
                    break;
                }
            }
        }
        if ids.is_empty() {
            return Ok(done);
        }
        let mut keys: Vec<(i64, u32)> = groups.keys().copied().collect();
        keys.sort_unstable();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO track_chunks (id, data) VALUES (?1, ?2)")?;
            let mut last = tx.prepare_cached("SELECT MAX(id) FROM track_chunks WHERE id >= ?1 AND id < ?2")?;
            for key in keys {
                let mut fixes = groups.remove(&key).unwrap_or_default();
                let base = chunk_key(key.0, key.1, 0);
                // Usually the first part; a late fix for a minute already moved adds a part, and
                // a minute out of parts is merged into one again.
                let part = match last.query_row(params![base, base + MAX_PARTS], |r| r.get::<_, Option<i64>>(0))? {
                    None => 0,
                    Some(id) if id - base + 1 < MAX_PARTS => id - base + 1,
                    Some(_) => {
                        let mut all = Vec::new();
                        let mut parts =
                            tx.prepare_cached("SELECT data FROM track_chunks WHERE id >= ?1 AND id < ?2")?;
                        let mut rows = parts.query(params![base, base + MAX_PARTS])?;
                        while let Some(r) = rows.next()? {
                            decode_chunk(key.0, r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?, &mut all)?;
                        }
                        drop(rows);
                        tx.execute(
                            "DELETE FROM track_chunks WHERE id >= ?1 AND id < ?2",
                            params![base, base + MAX_PARTS],
                        )?;
                        all.append(&mut fixes);
                        fixes = all;
                        0
                    }
                };
                fixes.sort_by_key(|f| f.t_ms);
                let data = encode_chunk(key.0, &fixes);
                done.fixes += fixes.len() as u64;
                done.chunks += 1;
                done.chunk_bytes += data.len() as u64;
                insert.execute(params![base + part, data])?;
            }
            let mut delete = tx.prepare_cached("DELETE FROM journal WHERE id = ?1")?;
            for id in &ids {
                delete.execute([id])?;
            }
        }
        tx.commit()?;
        done.journal_entries += ids.len() as u64;
    }
}

/// What one pruning removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub chunks: u64,
    pub keyframes: u64,
    pub events: u64,
}

/// Removes history before `before`, one window per transaction: chunks, keyframes (the one a
/// replay of `before` starts from stays), logs, late journal entries; events too, except the
/// newest `keep_events` (displays resume from them).
pub fn prune(conn: &mut Connection, before: i64, keep_events: u64) -> Result<Pruned, HistoryError> {
    let mut done = Pruned::default();
    let edge = window_of(before);
    loop {
        let oldest: Option<i64> = conn.query_row("SELECT MIN(id) FROM track_chunks", [], |r| r.get(0))?;
        match oldest.map(|id| split_chunk_key(id).0) {
            Some(w) if w < edge => {
                let next = chunk_key(w + WINDOW_MS, 0, 0);
                done.chunks += conn.execute("DELETE FROM track_chunks WHERE id < ?1", [next])? as u64;
            }
            _ => break,
        }
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // A replay of `before` starts from the keyframe with the incidents before it, and the
    // events after that one: both stay.
    let incidents_edge: i64 = tx
        .query_row("SELECT MAX(t_ms) FROM keyframes WHERE t_ms <= ?1 AND incidents IS NOT NULL", [before], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(edge)
        .min(edge);
    done.keyframes = tx.execute("DELETE FROM keyframes WHERE t_ms < ?1", [incidents_edge])? as u64;
    tx.execute("DELETE FROM patrol_log WHERE t_ms < ?1", [edge])?;
    tx.execute("DELETE FROM journal WHERE t_max < ?1", [edge - WINDOW_MS])?;
    // The KPIs shown at `before` are the newest written before it: that one stays.
    tx.execute("DELETE FROM kpi_log WHERE t_ms < (SELECT MAX(t_ms) FROM kpi_log WHERE t_ms <= ?1)", [before])?;
    let newest: Option<i64> = tx.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
    if let Some(newest) = newest {
        done.events = tx.execute(
            "DELETE FROM events WHERE time_ms < ?1 AND seq <= ?2",
            params![incidents_edge, newest - keep_events as i64],
        )? as u64;
    }
    tx.commit()?;
    Ok(done)
}

/// Runs compaction and pruning every few seconds until `shutdown` (on a store capped at
/// `max_pages`, as the store's own connection is: a full disk is full for both).
pub fn spawn(
    path: PathBuf,
    clock: Clock,
    retention_ms: i64,
    keep_events: u64,
    max_pages: Option<u64>,
    shutdown: watch::Receiver<bool>,
) {
    let run = move || {
        let opened = open(&path).and_then(|c| {
            if let Some(pages) = max_pages {
                c.pragma_update(None, "max_page_count", pages)?;
            }
            Ok(c)
        });
        let mut conn = match opened {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("history maintenance cannot open {}: {e}", path.display());
                return;
            }
        };
        let mut last_prune: Option<i64> = None;
        while !*shutdown.borrow() {
            let now = clock.now_ms();
            match compact(&mut conn, window_of(now) - WINDOW_MS) {
                Ok(c) => c.log(),
                Err(e) => tracing::warn!("history compaction: {e}"),
            }
            if last_prune.is_none_or(|t| now - t >= WINDOW_MS) {
                last_prune = Some(now);
                match prune(&mut conn, now - retention_ms, keep_events) {
                    Ok(p) if p.chunks + p.keyframes > 0 => {
                        tracing::debug!(
                            chunks = p.chunks,
                            keyframes = p.keyframes,
                            events = p.events,
                            "history pruned"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("history pruning: {e}"),
                }
            }
            std::thread::sleep(EVERY);
        }
    };
    std::thread::Builder::new().name("gridwall-history".into()).spawn(run).expect("spawn the history thread");
}

fn open(path: &Path) -> Result<Connection, HistoryError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::reader;
    use crate::{SqliteStore, Store as _};
    use gridwall_city::records::{Record, TrackPoint};

    #[test]
    fn closed_windows_move_into_chunks_losslessly_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let t0 = 1_790_000_000_000 - 1_790_000_000_000 % WINDOW_MS;
        // Ten patrols walking for five minutes, one fix a second, a commit per second; one late
        // fix for the first minute arrives after it was moved.
        let walk = |p: u32, s: i64| TrackPoint {
            patrol: p,
            t_ms: t0 + s * 1000,
            x: f64::from(p) * 10.0 + 1.31 * s as f64,
            y: -0.52 * s as f64,
        };
        for s in 0..300 {
            store.write(&[Record::Track((0..10).map(|p| walk(p, s)).collect())]).unwrap();
        }
        let mut conn = open(store.path()).unwrap();
        let moved = compact(&mut conn, t0 + 2 * WINDOW_MS).unwrap();
        assert_eq!((moved.fixes, moved.chunks), (1_200, 20), "two closed minutes of ten patrols");
        let per_fix = moved.chunk_bytes as f64 / moved.fixes as f64;
        assert!(per_fix < 3.5, "{per_fix} bytes a fix");
        store.write(&[Record::Track(vec![TrackPoint { patrol: 3, t_ms: t0 + 30_500, x: 7.0, y: 8.0 }])]).unwrap();
        compact(&mut conn, t0 + 4 * WINDOW_MS).unwrap();
        // Everything reads back to the centimetre, from chunks and journal alike, in time order.
        let all = reader::fixes(&conn, t0 - 1, t0 + 300_000, |_| true, usize::MAX).unwrap();
        assert_eq!(all.len(), 10);
        for (p, fixes) in &all {
            let want: Vec<_> = (0..300)
                .map(|s| walk(*p, s))
                .map(|w| crate::history::codec::Fix::from_metres(w.t_ms, w.x, w.y))
                .collect();
            let got: Vec<_> = fixes.iter().filter(|f| !(*p == 3 && f.t_ms == t0 + 30_500)).copied().collect();
            assert_eq!(got, want, "patrol {p}");
        }
        assert!(all[&3].windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        assert!(all[&3].iter().any(|f| f.t_ms == t0 + 30_500), "the late fix is there, in order");
        // A minute that ran out of parts (64 late batches) is merged into one again.
        for k in 0..70 {
            let late = TrackPoint { patrol: 7, t_ms: t0 + 61_000 + k, x: 1.0, y: f64::from(k as i32) };
            store.write(&[Record::Track(vec![late])]).unwrap();
            compact(&mut conn, t0 + 4 * WINDOW_MS).unwrap();
        }
        let minute = reader::fixes(&conn, t0 + 59_999, t0 + 119_999, |p| p == 7, usize::MAX).unwrap();
        assert_eq!(minute[&7].len(), 60 + 70);
        assert!(minute[&7].windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        let err = reader::fixes(&conn, t0 - 1, t0 + 300_000, |_| true, 100).unwrap_err();
        assert!(matches!(err, HistoryError::TooMany { max: 100 }));
        // Pruning before minute 3 drops the chunks of minutes 0–2, and only those.
        let pruned = prune(&mut conn, t0 + 3 * WINDOW_MS + 5_000, 0).unwrap();
        assert!(pruned.chunks >= 30, "{pruned:?}");
        let left = reader::fixes(&conn, i64::MIN, i64::MAX, |_| true, usize::MAX).unwrap();
        assert!(left.values().flatten().all(|f| f.t_ms >= t0 + 3 * WINDOW_MS));
        assert_eq!(left[&0].len(), 120);
    }

    #[test]
    fn chunk_keys_order_by_window_then_patrol_and_split_back() {
        let w = 1_790_000_040_000 - 1_790_000_040_000 % WINDOW_MS;
        for (p, part) in [(0, 0), (5, 3), (u32::MAX >> 1, MAX_PARTS - 1)] {
            assert_eq!(split_chunk_key(chunk_key(w, p, part)), (w, p, part));
        }
        assert!(chunk_key(w, u32::MAX >> 1, MAX_PARTS - 1) < chunk_key(w + WINDOW_MS, 0, 0));
        assert!(chunk_key(w, 1, 0) > chunk_key(w, 0, MAX_PARTS - 1));
        // Until 2097.
        let late = 4_000_000_000_000 - 4_000_000_000_000 % WINDOW_MS;
        assert_eq!(split_chunk_key(chunk_key(late, 9, 1)), (late, 9, 1));
    }
}
