//! The backend of one scene at run time: the [`Live`] state under its lock, the store that
//! makes it durable, the tick's broadcast to every display session, the bus to the city's other
//! servers, and the background tasks it starts (tick, history upkeep, the bus's, the simulator).

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use gridwall_bus::{Bus, BusError};
use gridwall_city::records::Change;
use gridwall_city::state::{Clock, EVENT_LOG, Live, Refusal, RestoreError, TickBatch};
use gridwall_city::walls::Walls;
use gridwall_city::workflow::TimeLimits;
use gridwall_city::world::{World, WorldError};
use gridwall_scene::coords::{CoordError, SceneFrame};
use gridwall_scene::{SceneError, SceneManifest};
use gridwall_store::history::source::Opener;
use gridwall_store::{CityKey, LoadFrom, PostgresStore, SqliteStore, Store as _, StoreError, StoreWriter};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::LiveConfig;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    World(#[from] WorldError),
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored state does not fit the scene: {0}")]
    Restore(#[from] RestoreError),
    #[error("the simulator cannot start: the scene has no roads to walk")]
    NoRoads,
    #[error("the simulator's patrols: {0}")]
    SimulatedPatrols(Refusal),
    #[error("the scene's coordinate system: {0}")]
    Coord(#[from] CoordError),
    #[error("synth-history: {0}")]
    Synth(String),
}

/// Why a client's operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The operation was refused; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store could not commit it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The city's leader could not be reached or could not commit it (servers on a bus).
    #[error(transparent)]
    Bus(#[from] BusError),
}

thread_local! {
    static FRAME: RefCell<Option<(String, (f64, f64), SceneFrame)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's [`SceneFrame`] for a CRS and origin (PROJ objects are per thread,
/// and building one costs more than a request).
pub fn with_frame<R, E: From<CoordError>>(
    crs: &str,
    origin: (f64, f64),
    f: impl FnOnce(&SceneFrame) -> Result<R, E>,
) -> Result<R, E> {
    FRAME.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(c, o, _)| c != crs || *o != origin) {
            let frame = SceneFrame::new(crs, origin)?;
            *slot = Some((crs.to_owned(), origin, frame));
        }
        f(&slot.as_ref().expect("just set").2)
    })
}

/// Shared by every request handler and display session of a scene.
#[derive(Debug)]
pub struct Backend {
    live: Mutex<Live>,
    pub store: StoreWriter,
    pub ticks: broadcast::Sender<Arc<TickBatch>>,
    pub shutdown: watch::Receiver<bool>,
    pub scene_dir: PathBuf,
    pub manifest: SceneManifest,
    pub tick_hz: u16,
    /// When this server started (server clock, ms): what it publishes (the Open311 discovery
    /// document) last changed then.
    pub started_ms: i64,
    /// How long moves and events are gathered before they go to the displays (`None`: on the
    /// tick).
    pub flush: Option<std::time::Duration>,
    /// Told after every change to the live state that displays should see soon.
    pub(crate) changed: tokio::sync::Notify,
    /// Positions may lie this far outside the scene's local bounds (metres).
    pub margin_m: f64,
    /// The video wall groups displays joined.
    pub walls: Walls,
    /// Time limits, for rebuilding the world after a failed commit.
    pub(crate) limits: TimeLimits,
    /// `GET /api/v1/grids` as JSON, built once (the grids do not change while serving).
    outlines: std::sync::OnceLock<Vec<u8>>,
    /// Where replay and the history exports read the past (on connections of their own).
    history: Opener,
    /// Reader connections between questions ([`Backend::read`]), and turns to ask.
    pub(crate) readers: Mutex<Vec<gridwall_store::history::source::Source>>,
    pub(crate) reading: tokio::sync::Semaphore,
    /// On PostgreSQL: the earliest moment a replay can show, as the maintenance thread last
    /// read it (`i64::MIN`: not yet known).
    earliest_pg: Arc<std::sync::atomic::AtomicI64>,
    /// How far back history is kept (ms).
    pub retention_ms: i64,
    /// The most pages the embedded store may grow to (photos are written beside the writer).
    pub(crate) store_max_pages: Option<u64>,
    /// One rebuild from the store at a time.
    pub(crate) rebuilding: tokio::sync::Mutex<()>,
    /// Whether the tick has a recovery under way.
    pub(crate) recovering: std::sync::atomic::AtomicBool,
    /// The bus to the city's other servers (`--bus`).
    pub bus: Option<Arc<Bus>>,
    /// The changes this server commits as leader, for the relay task.
    relay: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Change>>>,
    /// 研判 and 预警.
    pub analysis: crate::analysis::Analysis,
}

impl Backend {
    /// Loads the scene and the store; returns the backend and the switch that stops its tasks
    /// and sessions.
    pub fn open(config: &LiveConfig) -> Result<(Arc<Self>, watch::Sender<bool>), BackendError> {
        Self::open_on(config, None)
    }

    /// [`Backend::open`] as one of several servers of the city on `bus` (PostgreSQL store
    /// only): a follower until it wins the lease.
    pub fn open_on(
        config: &LiveConfig,
        bus: Option<Arc<Bus>>,
    ) -> Result<(Arc<Self>, watch::Sender<bool>), BackendError> {
        let world = World::load(&config.scene, config.limits.clone())?;
        let clock = Clock::new(config.speed.max(0.001));
        let utc_offset_ms = (config.utc_offset_hours * 3_600_000.0) as i64;
        let from = LoadFrom::at(clock.now_ms(), utc_offset_ms, EVENT_LOG);
        let mut relay = None;
        let (tap, tapped) = tokio::sync::mpsc::unbounded_channel();
        let (store, loaded, history) = match &config.store {
            None => {
                let mut store = SqliteStore::open(&config.data)?;
                if let Some(pages) = config.store_max_pages {
                    store.limit_pages(pages)?;
                }
                let loaded = store.load(from)?;
                tracing::info!(
                    patrols = loaded.patrols.len(),
                    open_incidents = loaded.incidents.len(),
                    placed = loaded.positions.len(),
                    "restored from {}",
                    store.path().display()
                );
                let history = Opener::Sqlite(store.path().to_owned());
                (StoreWriter::spawn_tapped(store, None, Some(tap)), loaded, history)
            }
            Some(url) => {
                let m = &world.manifest;
                let city = CityKey { city: m.name.clone(), crs: m.crs.clone(), origin: [m.origin[0], m.origin[1]] };
                // The PostgreSQL client blocks on a runtime of its own: never on one of tokio's
                // threads (the server opens its backend from one).
                let (store, loaded) = std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut store = PostgresStore::open(url, city.clone(), bus.is_none())?;
                        let loaded = store.load(from)?;
                        Ok::<_, StoreError>((store, loaded))
                    })
                    .join()
                    .expect("opening the store does not panic")
                })?;
                tracing::info!(
                    patrols = loaded.patrols.len(),
                    open_incidents = loaded.incidents.len(),
                    placed = loaded.positions.len(),
                    "restored city {:?} from {}",
                    city.city,
                    store.shown()
                );
                let writer = if bus.is_some() {
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                    relay = Some(rx);
                    StoreWriter::spawn_tapped(store, Some(tx), Some(tap))
                } else {
                    StoreWriter::spawn_tapped(store, None, Some(tap))
                };
                (writer, loaded, Opener::Postgres { url: url.clone(), city })
            }
        };
        let manifest = world.manifest.clone();
        let units = Arc::new(gridwall_analysis::units::Units::new(&world.grids));
        let analysis = crate::analysis::Analysis::new(units, config.analysis.clone(), utc_offset_ms, Some(tapped));
        let mut live = Live::restore(world, loaded, clock, utc_offset_ms)?;
        live.clock_tolerance_ms = (config.clock_tolerance_s * 1000.0) as i64;
        live.retention_ms = config.retention.ms();
        live.set_replica(bus.is_some());
        store.restored_up_to(live.last_seq());
        live.track_durability();
        // Room for about five seconds of batches at the pace moves are pushed under load (one
        // every flush window): a display that falls further behind catches up from the state
        // (latest position wins).
        let (ticks, _) = broadcast::channel(1024);
        let (stop, shutdown) = watch::channel(false);
        let earliest_pg = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        match &history {
            Opener::Sqlite(path) => gridwall_store::history::maintain::spawn(
                path.clone(),
                clock,
                config.retention.ms(),
                EVENT_LOG as u64,
                config.store_max_pages,
                shutdown.clone(),
            ),
            Opener::Postgres { url, city } => gridwall_store::spawn_pg_maintenance(
                url.clone(),
                city.clone(),
                clock,
                config.retention.ms(),
                EVENT_LOG as u64,
                shutdown.clone(),
                earliest_pg.clone(),
            ),
        }
        let started_ms = live.now_ms();
        let backend = Self {
            live: Mutex::new(live),
            store,
            ticks,
            shutdown,
            scene_dir: config.scene.clone(),
            manifest,
            tick_hz: config.tick_hz.max(1),
            started_ms,
            flush: (config.flush_ms > 0).then(|| std::time::Duration::from_millis(config.flush_ms.into())),
            changed: tokio::sync::Notify::new(),
            margin_m: config.position_margin_m,
            walls: Walls::default(),
            limits: config.limits.clone(),
            outlines: std::sync::OnceLock::new(),
            history,
            readers: Mutex::new(Vec::new()),
            reading: tokio::sync::Semaphore::new(crate::read::READERS),
            earliest_pg,
            retention_ms: config.retention.ms(),
            store_max_pages: config.store_max_pages,
            rebuilding: tokio::sync::Mutex::new(()),
            recovering: std::sync::atomic::AtomicBool::new(false),
            bus,
            relay: Mutex::new(relay),
            analysis,
        };
        Ok((Arc::new(backend), stop))
    }

    /// Where replay and the history exports read the past ([`Opener::open`] it off the async
    /// threads).
    ///
    /// [`Opener::open`]: Opener::open
    pub fn history(&self) -> Opener {
        self.history.clone()
    }

    /// The earliest moment a replay can show, if the history has one (the embedded store is
    /// asked; PostgreSQL's answer is kept by its maintenance thread, asked every minute).
    pub(crate) fn earliest_replay_ms(&self) -> Option<i64> {
        match &self.history {
            Opener::Sqlite(path) => gridwall_store::history::open_reader(path)
                .and_then(|c| gridwall_store::history::reader::earliest_ms(&c))
                .ok()
                .flatten(),
            Opener::Postgres { .. } => {
                let t = self.earliest_pg.load(std::sync::atomic::Ordering::Acquire);
                (t != i64::MIN).then_some(t)
            }
        }
    }

    /// The live state, locked. Hold it for microseconds: every request and tick waits on it.
    pub fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().expect("live state")
    }

    /// Where points may lie (local metres: min x, min y, max x, max y): the scene's bounds grown
    /// by the margin. Positions, query points and viewports from outside are held to it, so no
    /// number from a client makes a search cover more than the city.
    pub fn area(&self) -> [f64; 4] {
        let [x0, y0, x1, y1] = self.manifest.bounds.local;
        let m = self.margin_m;
        [x0 - m, y0 - m, x1 + m, y1 + m]
    }

    /// Whether a point lies in [`Self::area`].
    pub fn in_area(&self, p: [f64; 2]) -> bool {
        let a = self.area();
        p[0] >= a[0] && p[0] <= a[2] && p[1] >= a[1] && p[1] <= a[3]
    }

    /// Every grid unit's outline as the JSON of `GET /api/v1/grids` (built on first use).
    pub fn grid_outlines_json(&self) -> &[u8] {
        self.outlines.get_or_init(|| {
            let outlines = self.live().grid_outlines();
            serde_json::to_vec(&outlines).expect("outlines serialise")
        })
    }

    /// Runs `f` with this thread's frame of the scene (its CRS and origin).
    pub fn with_frame<R, E: From<CoordError>>(&self, f: impl FnOnce(&SceneFrame) -> Result<R, E>) -> Result<R, E> {
        with_frame(&self.manifest.crs, (self.manifest.origin[0], self.manifest.origin[1]), f)
    }

    /// Starts the background tasks: the tick (with escalation and pruning) and, if configured,
    /// the simulator.
    pub fn start(self: &Arc<Self>, config: &LiveConfig) -> Result<Vec<JoinHandle<()>>, BackendError> {
        let mut tasks =
            vec![tokio::spawn(crate::tick::tick_loop(self.clone())), tokio::spawn(self.clone().analysis_loop())];
        match (&self.bus, &config.simulate) {
            (None, Some(sim)) => tasks.push(tokio::spawn(crate::simulate::run(self.clone(), sim)?)),
            // On a bus the leader runs the simulator, whichever server that is now.
            (Some(bus), sim) => {
                let relay = self.relay.lock().expect("relay").take().expect("started once");
                tasks.extend(gridwall_bus::tasks::spawn(self, bus, relay));
                if let Some(sim) = sim {
                    tasks.push(tokio::spawn(crate::tick::simulate_while_leading(
                        self.clone(),
                        bus.clone(),
                        sim.clone(),
                    )));
                }
            }
            (None, None) => {}
        }
        Ok(tasks)
    }
}
