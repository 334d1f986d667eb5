//! What the backend of a scene runs with: the scene, the store, the clock, limits, retention
//! and the simulator (the server's configuration file and flags fill these in).

use std::path::PathBuf;

use gridwall_city::workflow::TimeLimits;
use gridwall_store::history::RetentionConfig;
use serde::{Deserialize, Serialize};

/// Simulator settings (`--simulate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulateConfig {
    pub seed: u64,
    pub patrols: usize,
    /// New incidents per hour at the daily average.
    pub incident_rate: f64,
    /// Hours of history simulated at start-up (into an empty store), so the city opens with
    /// its past: closed cases, realistic KPIs, the last day's tracks.
    pub warmup_hours: f64,
    /// Mean hours between bursts of one category around one place (0: none): the anomalies
    /// 预警 should catch (`gridwall_sim::Burst`).
    pub burst_every_hours: f64,
    /// Hours after the simulator's start when one department (seeded) slows down for good (0:
    /// never): its 按期结案率 slides (`gridwall_sim::Slide`).
    pub desk_slide_hours: f64,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            patrols: 60,
            incident_rate: 30.0,
            warmup_hours: 0.0,
            burst_every_hours: 0.0,
            desk_slide_hours: 0.0,
        }
    }
}

/// What the live backend of a scene runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    pub scene: PathBuf,
    /// Folder of the durable store (`gridwall.sqlite`).
    pub data: PathBuf,
    /// A PostgreSQL database instead of the embedded store (`postgres://…`).
    pub store: Option<String>,
    /// Stream ticks per second (KPIs, escalation, heartbeats; and moves when `flush_ms` is 0).
    pub tick_hz: u16,
    /// Moves and events go to the displays as they are committed, gathered for this many
    /// milliseconds first (a burst becomes one frame); 0 leaves them to the tick.
    pub flush_ms: u16,
    /// Clock speed: 1 is real time; 60 runs an hour a minute (demos, time-limit tests).
    pub speed: f64,
    /// Operators' time zone (for "closed today").
    pub utc_offset_hours: f64,
    /// Positions may lie this far outside the scene's bounds (metres).
    pub position_margin_m: f64,
    /// A device's timestamp may be this far ahead of the server's clock (seconds).
    pub clock_tolerance_s: f64,
    /// The most 4 KiB pages the store may grow to (none: as far as the disk allows).
    pub store_max_pages: Option<u64>,
    pub simulate: Option<SimulateConfig>,
    /// Per-stage time limits (minutes).
    pub limits: TimeLimits,
    /// How much history is kept for replay.
    pub retention: RetentionConfig,
    /// 研判 and 预警: how warnings are decided, the indicators' weights.
    pub analysis: gridwall_analysis::Config,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            scene: PathBuf::from("scenes/helsinki"),
            data: PathBuf::from("gridwall-data"),
            store: None,
            tick_hz: 10,
            flush_ms: 5,
            speed: 1.0,
            utc_offset_hours: 8.0,
            position_margin_m: 500.0,
            clock_tolerance_s: 30.0,
            store_max_pages: None,
            simulate: None,
            limits: TimeLimits::default(),
            retention: RetentionConfig::default(),
            analysis: gridwall_analysis::Config::default(),
        }
    }
}
