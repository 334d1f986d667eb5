//! The live backend of one scene at run time: the [`Live`] state under its lock, the store that
//! makes it durable, the tick that fans changes out to every display session, and the background
//! tasks (tick, escalation, pruning, the simulator). Transport-free: the HTTP and WebSocket
//! surface lives in the server crate and calls in here.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gridwall_protocol::Kpis;
use gridwall_scene::coords::{CoordError, SceneFrame};
use gridwall_scene::{SceneError, SceneManifest};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::history::source::Opener;
use crate::state::{Clock, EVENT_LOG, Live, Refusal, RestoreError, TickBatch};
use crate::store::{CityKey, PostgresStore, Record, SqliteStore, Store as _, StoreError, StoreWriter};
use crate::workflow::TimeLimits;
use crate::world::{World, WorldError};

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
}

impl Default for SimulateConfig {
    fn default() -> Self {
        Self { seed: 1, patrols: 60, incident_rate: 30.0, warmup_hours: 0.0 }
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
    /// Stream ticks per second.
    pub tick_hz: u16,
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
    pub retention: crate::history::RetentionConfig,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            scene: PathBuf::from("scenes/helsinki"),
            data: PathBuf::from("gridwall-data"),
            store: None,
            tick_hz: 10,
            speed: 1.0,
            utc_offset_hours: 8.0,
            position_margin_m: 500.0,
            clock_tolerance_s: 30.0,
            store_max_pages: None,
            simulate: None,
            limits: TimeLimits::default(),
            retention: crate::history::RetentionConfig::default(),
        }
    }
}

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
    Bus(#[from] crate::cluster::BusError),
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
    /// Positions may lie this far outside the scene's local bounds (metres).
    pub margin_m: f64,
    /// The video wall groups displays joined.
    pub walls: crate::walls::Walls,
    /// Time limits, for rebuilding the world after a failed commit.
    limits: crate::workflow::TimeLimits,
    /// `GET /api/v1/grids` as JSON, built once (the grids do not change while serving).
    outlines: std::sync::OnceLock<Vec<u8>>,
    /// Where replay and the history exports read the past (on connections of their own).
    history: Opener,
    /// On PostgreSQL: the earliest moment a replay can show, as the maintenance thread last
    /// read it (`i64::MIN`: not yet known).
    earliest_pg: Arc<std::sync::atomic::AtomicI64>,
    /// How far back history is kept (ms).
    pub retention_ms: i64,
    /// One rebuild from the store at a time.
    rebuilding: tokio::sync::Mutex<()>,
    /// Whether the tick has a recovery under way.
    recovering: std::sync::atomic::AtomicBool,
    /// The bus to the city's other servers (`--bus`).
    pub bus: Option<Arc<crate::cluster::Bus>>,
    /// The changes this server commits as leader, for the relay task.
    relay: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<crate::state::Change>>>,
}

/// Most patrols a nearest-patrols question may ask for.
pub const MAX_NEAREST: usize = 100;

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
        bus: Option<Arc<crate::cluster::Bus>>,
    ) -> Result<(Arc<Self>, watch::Sender<bool>), BackendError> {
        let world = World::load(&config.scene, config.limits.clone())?;
        let clock = Clock::new(config.speed.max(0.001));
        let mut relay = None;
        let (store, loaded, history) = match &config.store {
            None => {
                let mut store = SqliteStore::open(&config.data)?;
                if let Some(pages) = config.store_max_pages {
                    store.limit_pages(pages)?;
                }
                let loaded = store.load(EVENT_LOG)?;
                tracing::info!(
                    patrols = loaded.patrols.len(),
                    incidents = loaded.incidents.len(),
                    placed = loaded.positions.len(),
                    "restored from {}",
                    store.path().display()
                );
                let history = Opener::Sqlite(store.path().to_owned());
                (StoreWriter::spawn(store), loaded, history)
            }
            Some(url) => {
                let m = &world.manifest;
                let city = CityKey { city: m.name.clone(), crs: m.crs.clone(), origin: [m.origin[0], m.origin[1]] };
                // The PostgreSQL client blocks on a runtime of its own: never on one of tokio's
                // threads (the server opens its backend from one).
                let (store, loaded) = std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut store = PostgresStore::open(url, city.clone(), bus.is_none())?;
                        let loaded = store.load(EVENT_LOG)?;
                        Ok::<_, StoreError>((store, loaded))
                    })
                    .join()
                    .expect("opening the store does not panic")
                })?;
                tracing::info!(
                    patrols = loaded.patrols.len(),
                    incidents = loaded.incidents.len(),
                    placed = loaded.positions.len(),
                    "restored city {:?} from {}",
                    city.city,
                    store.shown()
                );
                let writer = if bus.is_some() {
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                    relay = Some(rx);
                    StoreWriter::spawn_relaying(store, Some(tx))
                } else {
                    StoreWriter::spawn(store)
                };
                (writer, loaded, Opener::Postgres { url: url.clone(), city })
            }
        };
        let manifest = world.manifest.clone();
        let mut live = Live::restore(world, loaded, clock, (config.utc_offset_hours * 3_600_000.0) as i64)?;
        live.clock_tolerance_ms = (config.clock_tolerance_s * 1000.0) as i64;
        live.retention_ms = config.retention.ms();
        live.set_replica(bus.is_some());
        store.restored_up_to(live.last_seq());
        live.track_durability();
        let (ticks, _) = broadcast::channel(64);
        let (stop, shutdown) = watch::channel(false);
        let earliest_pg = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        match &history {
            Opener::Sqlite(path) => crate::history::maintain::spawn(
                path.clone(),
                clock,
                config.retention.ms(),
                EVENT_LOG as u64,
                config.store_max_pages,
                shutdown.clone(),
            ),
            Opener::Postgres { url, city } => crate::store::spawn_pg_maintenance(
                url.clone(),
                city.clone(),
                clock,
                config.retention.ms(),
                EVENT_LOG as u64,
                shutdown.clone(),
                earliest_pg.clone(),
            ),
        }
        let backend = Self {
            live: Mutex::new(live),
            store,
            ticks,
            shutdown,
            scene_dir: config.scene.clone(),
            manifest,
            tick_hz: config.tick_hz.max(1),
            margin_m: config.position_margin_m,
            walls: crate::walls::Walls::default(),
            limits: config.limits.clone(),
            outlines: std::sync::OnceLock::new(),
            history,
            earliest_pg,
            retention_ms: config.retention.ms(),
            rebuilding: tokio::sync::Mutex::new(()),
            recovering: std::sync::atomic::AtomicBool::new(false),
            bus,
            relay: Mutex::new(relay),
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
    pub fn earliest_replay_ms(&self) -> Option<i64> {
        match &self.history {
            Opener::Sqlite(path) => {
                crate::history::open_reader(path).and_then(|c| crate::history::reader::earliest_ms(&c)).ok().flatten()
            }
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

    /// Applies an operation and commits what it produced before returning: `Ok` means it is on
    /// disk (and, through the next tick, on every display: events are shown once durable).
    ///
    /// The records are queued while the state is still locked, so the store sees them in the
    /// order memory made them. When the commit fails, memory is rebuilt from the store: nothing
    /// stays in memory that the store does not have.
    pub async fn commit(&self, op: impl FnOnce(&mut Live) -> Result<Vec<Record>, Refusal>) -> Result<u64, CommitError> {
        // Refused before anything changes when the disk cannot keep up, or while memory may
        // hold a failed write and the store does not answer to rebuild it.
        self.store.check_room()?;
        self.recover().await?;
        let (done, change) = {
            let mut live = self.live();
            let records = op(&mut live)?;
            let records = self.share(&mut live, records);
            (self.store.submit(records)?, live.change_id())
        };
        match done.await {
            Ok(Ok(())) => Ok(change),
            Ok(Err(e)) => {
                // Rebuilt now if the store answers (a full disk), else before the next write.
                let _ = self.recover().await;
                Err(CommitError::Store(StoreError::Commit(e)))
            }
            Err(_) => Err(CommitError::Store(StoreError::Stopped)),
        }
    }

    /// After a failed write memory may hold what the store does not have: once the store answers
    /// again, the state is rebuilt from it. `Err` while it does not answer (writes are refused
    /// then). The check runs without the state's lock: a database that is away blocks nobody.
    pub async fn recover(&self) -> Result<(), StoreError> {
        if !self.store.needs_rebuild() {
            return Ok(());
        }
        self.store.ping().await?;
        let _one = self.rebuilding.lock().await;
        if self.store.needs_rebuild() {
            self.rebuild_from_store("a write failed")?;
        }
        Ok(())
    }

    /// Applies `op` and queues its records without waiting for the disk (the simulator, the
    /// tick's escalations, audit notes of refusals), in the same order as memory.
    pub fn record_later(&self, op: impl FnOnce(&mut Live) -> Vec<Record>) {
        let mut live = self.live();
        let records = op(&mut live);
        if !records.is_empty() {
            let records = self.share(&mut live, records);
            self.store.write_later(records);
        }
    }

    /// On a bus, as leader: numbers what `records` change in the shared state as the next
    /// change and adds it to them (the store writes it to the outbox in the same transaction).
    pub fn share(&self, live: &mut Live, mut records: Vec<Record>) -> Vec<Record> {
        if self.bus.is_some()
            && !live.is_replica()
            && let Some(c) = crate::state::Change::of(live.change_id() + 1, &records)
        {
            live.set_change_id(c.id);
            records.push(Record::Change(Box::new(c)));
        }
        records
    }

    /// The state again as the store has it (taking over or giving up the lead).
    pub async fn rebuild(&self) -> Result<(), StoreError> {
        let _one = self.rebuilding.lock().await;
        self.rebuild_from_store("taking over or giving up the lead")
    }

    /// A follower takes in a change of the leader's.
    pub fn apply_change(&self, c: &crate::state::Change) {
        let mut live = self.live();
        if let Err(e) = live.apply_change(c) {
            tracing::error!("change {} of the leader cannot be applied: {e}", c.id);
        }
    }

    /// Runs a command here, as the city's writer: what it made.
    pub async fn lead_command(
        &self,
        cmd: &crate::cluster::command::Command,
    ) -> Result<crate::cluster::command::Done, CommitError> {
        let (mut incident, area) = (None, self.area());
        let change = self
            .commit(|live| {
                if live.is_replica() {
                    return Err(Refusal::conflict("leader", "this server no longer leads the city: try again"));
                }
                let (records, made) = cmd.run(live, area)?;
                incident = made;
                Ok(records)
            })
            .await?;
        Ok(crate::cluster::command::Done { incident, change })
    }

    /// Runs a client's command: here when this server writes the city, else by the leader
    /// (over the bus; answered once the change has reached this server). The audit trail of
    /// this server notes it as `caller`'s, with the target `target` names.
    pub async fn run_command(
        &self,
        cmd: crate::cluster::command::Command,
        caller: &crate::access::Caller,
        target: impl FnOnce(&crate::cluster::command::Done) -> String,
    ) -> Result<crate::cluster::command::Done, CommitError> {
        let (name, area) = (cmd.name(), self.area());
        match &self.bus {
            Some(bus) if bus.role() != crate::cluster::Role::Leader => {
                let done = bus.ask_leader(&cmd).await?;
                self.await_change(done.change).await;
                let target = target(&done);
                self.record_later(|live| vec![live.audit(caller, &name, target, "ok")]);
                Ok(done)
            }
            _ => {
                let mut done = crate::cluster::command::Done::default();
                done.change = self
                    .commit(|live| {
                        let (mut records, made) = cmd.run(live, area)?;
                        done.incident = made;
                        records.push(live.audit(caller, &name, target(&done), "ok"));
                        Ok(records)
                    })
                    .await?;
                Ok(done)
            }
        }
    }

    /// Waits (at most five seconds) until this server has taken in change `id`.
    async fn await_change(&self, id: u64) {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.live().change_id() < id && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Fixes other servers took (from the bus): into the live state; as leader, the events
    /// they make (a patrol leaving its cell) are stored and shared.
    pub fn take_fixes(&self, mut points: Vec<crate::store::TrackPoint>) {
        // A peer checked them; a message on the bus is still held to the city's area.
        points.retain(|p| self.in_area([p.x, p.y]));
        let mut live = self.live();
        let records: Vec<Record> =
            live.ingest_points(points).into_iter().filter(|r| !matches!(r, Record::Track(_))).collect();
        if !records.is_empty() {
            let records = self.share(&mut live, records);
            self.store.write_later(records);
        }
    }

    /// Validated position reports: applied, committed and, on a bus, published for the other
    /// servers' displays.
    pub async fn ingest(&self, positions: &[crate::ingest::Position]) -> Result<(), CommitError> {
        let mut fixes = Vec::new();
        self.commit(|live| {
            let records = live.ingest(positions)?;
            fixes = self.fixes_to_publish(&records);
            Ok(records)
        })
        .await?;
        self.publish(&fixes).await;
        Ok(())
    }

    /// On a bus: the position fixes among `records`, which the other servers' displays want
    /// (none without a bus).
    pub fn fixes_to_publish(&self, records: &[Record]) -> Vec<crate::store::TrackPoint> {
        if self.bus.is_none() {
            return Vec::new();
        }
        records.iter().find_map(|r| if let Record::Track(p) = r { Some(p.clone()) } else { None }).unwrap_or_default()
    }

    /// Publishes fixes this server took for the other servers (on a bus; after their commit).
    pub async fn publish(&self, fixes: &[crate::store::TrackPoint]) {
        if let Some(bus) = &self.bus
            && !fixes.is_empty()
        {
            bus.publish_fixes(fixes).await;
        }
    }

    /// The `k` nearest on-duty patrols to a point: here, or (a follower does not see every
    /// patrol) from the leader.
    pub async fn nearest(&self, p: [f64; 2], k: usize) -> Result<Vec<(u32, f64)>, CommitError> {
        match &self.bus {
            Some(bus) if bus.role() != crate::cluster::Role::Leader => Ok(bus.ask_nearest(p, k).await?),
            _ => Ok(self.live().world.nearest_on_duty(p, k)),
        }
    }

    /// After a failed commit: the state again as the store has it (what was committed before,
    /// and by the writes queued before the reload). The lock is held throughout, so nothing
    /// changes in between; a rare and slow path (the world is loaded again).
    fn rebuild_from_store(&self, why: &str) -> Result<(), StoreError> {
        let mut live = self.live();
        let rebuilt = self.store.load_blocking(EVENT_LOG).map_err(BackendError::from).and_then(|loaded| {
            let world = World::load(&self.scene_dir, self.limits.clone())?;
            Ok(Live::restore(world, loaded, live.clock, live.utc_offset_ms)?)
        });
        match rebuilt {
            Ok(mut fresh) => {
                fresh.clock_tolerance_ms = live.clock_tolerance_ms;
                fresh.retention_ms = live.retention_ms;
                fresh.set_replica(live.is_replica());
                self.store.restored_up_to(fresh.last_seq());
                fresh.track_durability();
                // Events committed but not yet handed to the displays still go out.
                fresh.replay_after(live.ticked_seq());
                *live = fresh;
                tracing::warn!("{why}: the live state was rebuilt from the store");
                Ok(())
            }
            Err(BackendError::Store(e)) => {
                tracing::error!("{why}, and the live state could not be rebuilt from the store: {e}");
                Err(e)
            }
            Err(e) => {
                tracing::error!("{why}, and the live state could not be rebuilt from the store: {e}");
                Err(StoreError::Stopped)
            }
        }
    }

    /// Starts the background tasks: the tick (with escalation and pruning) and, if configured,
    /// the simulator.
    pub fn start(self: &Arc<Self>, config: &LiveConfig) -> Result<Vec<JoinHandle<()>>, BackendError> {
        let mut tasks = vec![tokio::spawn(tick_loop(self.clone()))];
        match (&self.bus, &config.simulate) {
            (None, Some(sim)) => tasks.push(tokio::spawn(crate::simulate::run(self.clone(), sim)?)),
            // On a bus the leader runs the simulator, whichever server that is now.
            (Some(bus), sim) => {
                let relay = self.relay.lock().expect("relay").take().expect("started once");
                tasks.extend(crate::cluster::tasks::spawn(self, bus, relay));
                if let Some(sim) = sim {
                    tasks.push(tokio::spawn(simulate_while_leading(self.clone(), bus.clone(), sim.clone())));
                }
            }
            (None, None) => {}
        }
        Ok(tasks)
    }
}

/// Runs the simulator while this server leads the city, and stops it when it no longer does.
async fn simulate_while_leading(backend: Arc<Backend>, bus: Arc<crate::cluster::Bus>, sim: SimulateConfig) {
    let mut role = bus.role.subscribe();
    let mut running: Option<JoinHandle<()>> = None;
    loop {
        let leads = *role.borrow_and_update() == crate::cluster::Role::Leader;
        match (leads, &running) {
            (true, None) => match crate::simulate::run(backend.clone(), &sim) {
                Ok(f) => running = Some(tokio::spawn(f)),
                Err(e) => tracing::error!("the simulator cannot start: {e}"),
            },
            (false, Some(task)) => {
                task.abort();
                running = None;
            }
            _ => {}
        }
        if role.changed().await.is_err() {
            break;
        }
    }
    if let Some(task) = running {
        task.abort();
    }
}

/// Every tick: collect what changed and hand it to all sessions; once a second, escalate
/// overdue incidents and refresh the KPIs (logging them when they changed); once a history
/// window, write a keyframe.
async fn tick_loop(backend: Arc<Backend>) {
    let hz = u64::from(backend.tick_hz);
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / hz as f64));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    let mut last_kpis: Option<Kpis> = None;
    let mut last_keyframe = i64::MIN;
    loop {
        interval.tick().await;
        n += 1;
        // A failed write without a request to notice: rebuild once the store answers again.
        if n.is_multiple_of(hz)
            && backend.store.needs_rebuild()
            && !backend.recovering.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let b = backend.clone();
            tokio::spawn(async move {
                let _ = b.recover().await;
                b.recovering.store(false, std::sync::atomic::Ordering::Release);
            });
        }
        let batch = {
            let mut live = backend.live();
            // Escalation, the KPI log and keyframes are the city writer's (on a bus: the
            // leader's; a follower's copy is a replica).
            let writes = !live.is_replica();
            let mut records = Vec::new();
            let mut kpis = None;
            if n.is_multiple_of(hz) || n == 1 {
                if writes {
                    records = live.escalate();
                }
                let now = live.kpis(None);
                if last_kpis != Some(now) {
                    last_kpis = Some(now);
                    kpis = Some(now);
                    if !live.warming_up && writes {
                        records.push(live.kpi_record(&now));
                    }
                }
            }
            // While the simulator writes the past, its own keyframes describe it.
            let window = crate::history::window_of(live.now_ms());
            if window > last_keyframe && !live.warming_up && writes {
                // The first keyframe holds the incidents too: replay can start from it.
                let first = last_keyframe == i64::MIN;
                last_keyframe = window;
                records.push(live.keyframe(first || crate::history::holds_incidents(window)));
                records.push(live.kpi_record(&live.kpis(None)));
            }
            if !records.is_empty() {
                let records = backend.share(&mut live, records);
                backend.store.write_later(records);
            }
            live.set_durable(backend.store.durable_seq());
            let mut batch = live.tick();
            batch.kpis = kpis;
            batch
        };
        let _ = backend.ticks.send(Arc::new(batch));
    }
}
