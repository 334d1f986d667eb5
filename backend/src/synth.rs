//! `gridwall-server synth-history`: a seeded past (`gridwall_sim::history`) written straight
//! into a scene's store, either store, so that benchmarks and tests can run the live side on a
//! city with a year or more behind it in minutes, not the hours a warm-up would take.

use std::path::PathBuf;

use gridwall_city::state::EVENT_LOG;
use gridwall_city::workflow::TimeLimits;
use gridwall_city::world::World;
use gridwall_sim::history::{History, HistoryConfig};
use gridwall_store::{CityKey, LoadFrom, PostgresStore, SqliteStore, Store};

use crate::BackendError;

/// What past to write where.
#[derive(Debug, Clone)]
pub struct SynthHistory {
    pub scene: PathBuf,
    /// The embedded store's folder (without `store`).
    pub data: PathBuf,
    /// A PostgreSQL URL, instead of the embedded store.
    pub store: Option<String>,
    pub days: u32,
    pub per_day: u32,
    pub seed: u64,
    pub utc_offset_ms: i64,
    pub limits: TimeLimits,
    /// Where the history ends (now, for a server started next).
    pub end_ms: i64,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub incidents: u64,
    /// Of them still open at the end.
    pub open: u64,
}

/// Most days and tickets a day one run makes (ten years of a megacity of 100,000 a day).
pub const MAX_DAYS: u32 = 3_660;
pub const MAX_PER_DAY: u32 = 100_000;

/// Writes the history; `progress` hears after each day (days done, of, incidents so far). A
/// store that has incidents already is refused: its past is its own.
pub fn synth_history(cfg: &SynthHistory, mut progress: impl FnMut(u32, u32, u64)) -> Result<Written, BackendError> {
    if cfg.days == 0 || cfg.days > MAX_DAYS || cfg.per_day == 0 || cfg.per_day > MAX_PER_DAY {
        return Err(BackendError::Synth(format!("--days must be 1 to {MAX_DAYS} and --per-day 1 to {MAX_PER_DAY}")));
    }
    let world = World::load(&cfg.scene, cfg.limits.clone())?;
    let mut store: Box<dyn Store> = match &cfg.store {
        None => Box::new(SqliteStore::open(&cfg.data)?),
        Some(url) => {
            let m = &world.manifest;
            let city = CityKey { city: m.name.clone(), crs: m.crs.clone(), origin: [m.origin[0], m.origin[1]] };
            Box::new(PostgresStore::open(url, city, true)?)
        }
    };
    let loaded = store.load(LoadFrom::at(cfg.end_ms, cfg.utc_offset_ms, EVENT_LOG))?;
    if loaded.max_incident > 0 {
        return Err(BackendError::Synth(format!(
            "the store already holds incidents (up to id {}): synth-history writes the past of a new city",
            loaded.max_incident
        )));
    }
    let config = HistoryConfig {
        seed: cfg.seed,
        days: cfg.days,
        per_day: cfg.per_day,
        end_ms: cfg.end_ms,
        utc_offset_ms: cfg.utc_offset_ms,
        first_id: 1,
    };
    let mut written = Written { incidents: 0, open: 0 };
    for (n, day) in History::new(&world, config).enumerate() {
        store.import(&day.incidents, &day.tally)?;
        written.incidents += day.incidents.len() as u64;
        written.open += day.incidents.iter().filter(|i| i.case.is_open()).count() as u64;
        progress(n as u32 + 1, cfg.days, written.incidents);
    }
    Ok(written)
}
