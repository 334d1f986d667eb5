//! The upkeep of a city's history in PostgreSQL: moving the journal's closed minutes into track
//! chunks (`chunks.rs`), the coming days' partitions, pruning past the retention, and the
//! earliest moment a replay can show.

use std::time::{Duration, SystemTime};

use super::days::{DAY_MS, PARTITIONED, day_of_partition};
use super::{CityKey, PostgresStore, StoreError, ms_of, time_of};

impl PostgresStore {
    /// The earliest keyframe with the open incidents: where replay can start.
    pub fn earliest_keyframe(&mut self) -> Result<Option<i64>, StoreError> {
        let city = self.city.city.clone();
        let done = self
            .conn()?
            .0
            .query_one("SELECT min(t) FROM keyframes WHERE city = $1 AND incidents IS NOT NULL", &[&city]);
        let t: Option<SystemTime> = done.map_err(|e| self.fail(e))?.get(0);
        Ok(t.map(ms_of))
    }

    /// Makes the partitions of the coming days and drops those wholly before `before`; removes
    /// keyframes, logs and events older than it (the newest `keep_events` events stay: displays
    /// resume from them). What it removed: (partitions, rows).
    pub fn prune(&mut self, now_ms: i64, before: i64, keep_events: u64) -> Result<(usize, u64), StoreError> {
        let today = now_ms.div_euclid(DAY_MS);
        self.ensure_partitions([today, today + 1])?;
        let city = self.city.city.clone();
        let (client, _) = self.conn()?;
        let edge_day = before.div_euclid(DAY_MS);
        let mut dropped = Vec::new();
        for table in PARTITIONED {
            let parts: Vec<String> = client
                .query(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1",
                    &[&table],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for name in parts {
                // Only whole days before the edge (the cities of one database share a retention).
                if let Some(day) = day_of_partition(table, &name)
                    && day < edge_day
                {
                    client.batch_execute(&format!("DROP TABLE IF EXISTS {name}"))?;
                    dropped.push(day);
                }
            }
        }
        for day in &dropped {
            self.days.remove(day);
        }
        let dropped = dropped.len();
        let (client, _) = self.conn()?;
        let mut tx = client.transaction()?;
        let t = time_of(before);
        let mut rows = 0;
        // A replay of `before` starts from the keyframe with the incidents before it.
        let kf: Option<SystemTime> = tx
            .query_one(
                "SELECT max(t) FROM keyframes WHERE city = $1 AND t <= $2 AND incidents IS NOT NULL",
                &[&city, &t],
            )?
            .get(0);
        let kf_edge = kf.map_or(t, |k| k.min(t));
        rows += tx.execute("DELETE FROM keyframes WHERE city = $1 AND t < $2", &[&city, &kf_edge])?;
        rows += tx.execute("DELETE FROM patrol_log WHERE city = $1 AND t < $2", &[&city, &t])?;
        rows += tx.execute(
            "DELETE FROM kpi_log WHERE city = $1 AND t < (SELECT max(t) FROM kpi_log WHERE city = $1 AND t <= $2)",
            &[&city, &t],
        )?;
        rows += tx.execute("DELETE FROM audit WHERE city = $1 AND at < $2", &[&city, &t])?;
        rows += tx.execute("DELETE FROM changes WHERE city = $1 AND at < $2", &[&city, &kf_edge])?;
        let newest: Option<i64> = tx.query_one("SELECT max(seq) FROM events WHERE city = $1", &[&city])?.get(0);
        if let Some(newest) = newest {
            rows += tx.execute(
                "DELETE FROM events WHERE city = $1 AND at < $2 AND seq <= $3",
                &[&city, &kf_edge, &(newest - keep_events as i64)],
            )?;
        }
        tx.commit()?;
        Ok((dropped, rows))
    }
}

/// Every minute until `shutdown`: the coming days' partitions, and pruning past the retention
/// (on a connection of its own; a database that is away is tried again a minute later).
pub fn spawn_pg_maintenance(
    url: String,
    city: CityKey,
    clock: gridwall_city::state::Clock,
    retention_ms: i64,
    keep_events: u64,
    shutdown: tokio::sync::watch::Receiver<bool>,
    earliest: std::sync::Arc<std::sync::atomic::AtomicI64>,
) {
    let run = move || {
        let mut store: Option<PostgresStore> = None;
        let mut last: Option<std::time::Instant> = None;
        let mut last_compact: Option<std::time::Instant> = None;
        while !*shutdown.borrow() {
            // Every few seconds: the minutes that are over move from the journal into chunks.
            if let Some(s) = &mut store
                && last_compact.is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
            {
                last_compact = Some(std::time::Instant::now());
                let cutoff = crate::history::window_of(clock.now_ms()) - crate::history::WINDOW_MS;
                match s.compact(cutoff).map_err(|e| s.named(e)) {
                    Ok(c) => c.log(),
                    Err(e) => tracing::warn!("history compaction: {e}"),
                }
            }
            if last.is_none_or(|t| t.elapsed() >= Duration::from_mins(1)) {
                last = Some(std::time::Instant::now());
                if store.is_none() {
                    store = PostgresStore::attach(&url, city.clone())
                        .inspect_err(|e| tracing::warn!("history maintenance: {e}"))
                        .ok();
                }
                if let Some(s) = &mut store {
                    let now = clock.now_ms();
                    match s.prune(now, now - retention_ms, keep_events).map_err(|e| s.named(e)) {
                        Ok((parts, rows)) if parts + rows as usize > 0 => {
                            tracing::debug!(partitions = parts, rows, "history pruned");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("history maintenance: {e}"),
                    }
                    match s.earliest_keyframe() {
                        Ok(Some(t)) => earliest.store(t, std::sync::atomic::Ordering::Release),
                        Ok(None) => {}
                        Err(e) => tracing::debug!("history maintenance: {e}"),
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    std::thread::Builder::new()
        .name("gridwall-pg-maintenance".into())
        .spawn(run)
        .expect("spawn the maintenance thread");
}
