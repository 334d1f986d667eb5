//! The live backend over HTTP and WebSocket: [`run`] serves a scene on a listener until a
//! shutdown future completes; [`router`] is the axum router (tests mount it on port 0).
//!
//! | route | what |
//! |---|---|
//! | `GET /ws` (`?format=json`) | display stream: subscribe, snapshot, deltas, commands |
//! | `GET /ws/ingest` | device position stream (text frames: a JSON array of positions) |
//! | `POST /api/v1/patrols` | register or update patrols |
//! | `POST /api/v1/positions` | a batch of position reports |
//! | `GET /api/v1/patrols/{id}/track?from=&to=` | a recorded track (RFC 3339 times) |
//! | `GET /api/v1/nearest?incident=ID&k=5` | the k nearest on-duty patrols |
//! | `POST /api/v1/incidents/{id}/transitions` | a workflow step |
//! | `GET /api/v1/incidents/{id}` | an incident with its timeline |
//! | `GET /api/v1/grids` | every grid unit's outline in local metres (for displays) |
//! | `GET /api/v1/grids/{code}` | everything in a street, community or cell |
//! | `GET /api/v1/kpis?scope=CODE` | KPIs city-wide or for a grid unit |
//! | `GET /open311/v2/services.json`, `POST/GET /open311/v2/requests.json`, `GET /open311/v2/requests/{id}.json` | Open311 `GeoReport` v2 |
//! | `GET /scene/{file}` | the scene's files (`scene.toml`, `city.glb`, …) for displays |

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_protocol::{IncidentCategory, IncidentSource};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::coords::SceneFrame;
use crate::ingest::{self, Position};
use crate::live::{Clock, Live, PatrolReg, Refusal, RefusalKind, TickBatch};
use crate::osm::RoadClass;
use crate::sim::{RoadGraph, SimConfig, SimEvent, Simulator};
use crate::store::{Record, SqliteStore, Store as _, StoreError, StoreWriter, TrackPoint};
use crate::workflow::{Action, TimeLimits};
use crate::world::{World, WorldError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    World(#[from] WorldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored state does not fit the scene: {0}")]
    Restore(String),
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("simulation: {0}")]
    Simulate(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Simulator settings (`--simulate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulateConfig {
    pub seed: u64,
    pub patrols: usize,
    /// New incidents per hour at the daily average.
    pub incident_rate: f64,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        Self { seed: 1, patrols: 60, incident_rate: 30.0 }
    }
}

/// Everything `serve` needs; a TOML file (`--config`) with CLI flags on top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    pub scene: PathBuf,
    pub addr: String,
    /// Folder of the durable store (`gridwall.sqlite`).
    pub data: PathBuf,
    /// Stream ticks per second.
    pub tick_hz: u16,
    /// Clock speed: 1 is real time; 60 runs an hour a minute (demos, time-limit tests).
    pub speed: f64,
    /// Operators' time zone (for "closed today").
    pub utc_offset_hours: f64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Positions may lie this far outside the scene's bounds (metres).
    pub position_margin_m: f64,
    pub simulate: Option<SimulateConfig>,
    /// Per-stage time limits (minutes), defaults built in.
    pub limits: TimeLimits,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            scene: PathBuf::from("scenes/helsinki"),
            addr: "127.0.0.1:7878".into(),
            data: PathBuf::from("gridwall-data"),
            tick_hz: 10,
            speed: 1.0,
            utc_offset_hours: 8.0,
            max_body_bytes: 8 << 20,
            position_margin_m: 500.0,
            simulate: None,
            limits: TimeLimits::default(),
        }
    }
}

impl ServeConfig {
    pub fn from_toml_file(path: &Path) -> Result<Self, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::Config { path: path.to_owned(), reason: e.to_string() })?;
        toml::from_str(&text).map_err(|e| ServeError::Config { path: path.to_owned(), reason: e.to_string() })
    }
}

/// Shared by every handler and connection.
#[derive(Debug)]
pub struct AppState {
    pub live: Mutex<Live>,
    pub store: StoreWriter,
    pub ticks: broadcast::Sender<Arc<TickBatch>>,
    pub shutdown: watch::Receiver<bool>,
    pub scene_dir: PathBuf,
    pub scene_name: String,
    pub frame_crs: String,
    pub frame_origin: (f64, f64),
    pub bounds: [f64; 4],
    pub tick_hz: u16,
    pub margin_m: f64,
    scene_files: Vec<String>,
}

thread_local! {
    static FRAME: RefCell<Option<(String, (f64, f64), SceneFrame)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's [`SceneFrame`] for a CRS and origin (PROJ objects are per thread).
pub fn with_frame<R>(crs: &str, origin: (f64, f64), f: impl FnOnce(&SceneFrame) -> Result<R, String>) -> Result<R, String> {
    FRAME.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(c, o, _)| c != crs || *o != origin) {
            let frame = SceneFrame::new(crs, origin).map_err(|e| e.to_string())?;
            *slot = Some((crs.to_owned(), origin, frame));
        }
        f(&slot.as_ref().expect("just set").2)
    })
}

impl AppState {
    /// Commits what a live operation produced before answering: a 2xx means it is on disk.
    pub async fn commit(&self, op: impl FnOnce(&mut Live) -> Result<Vec<Record>, Refusal>) -> Result<(), String> {
        let records = op(&mut self.live.lock().expect("live state")).map_err(|e| e.to_string())?;
        self.store.write(records).await.map_err(|e| e.to_string())
    }
}

/// Loads the scene and the store, and returns the state plus the shutdown switch.
pub fn open(config: &ServeConfig) -> Result<(Arc<AppState>, watch::Sender<bool>), ServeError> {
    let world = World::load(&config.scene, config.limits.clone())?;
    let mut store = SqliteStore::open(&config.data)?;
    let clock = Clock::new(config.speed.max(0.001));
    let loaded = store.load(clock.now_ms() - crate::world::TRACK_RETENTION_MS, crate::live::EVENT_LOG)?;
    tracing::info!(
        patrols = loaded.patrols.len(),
        incidents = loaded.incidents.len(),
        track_points = loaded.tracks.len(),
        "restored from {}",
        store.path().display()
    );
    let manifest = world.manifest.clone();
    let live = Live::restore(world, loaded, clock, (config.utc_offset_hours * 3_600_000.0) as i64).map_err(ServeError::Restore)?;
    let (ticks, _) = broadcast::channel(64);
    let (stop, shutdown) = watch::channel(false);
    let f = &manifest.files;
    let state = AppState {
        live: Mutex::new(live),
        store: StoreWriter::spawn(store),
        ticks,
        shutdown,
        scene_dir: config.scene.clone(),
        scene_name: manifest.display_name.clone(),
        frame_crs: manifest.crs.clone(),
        frame_origin: (manifest.origin[0], manifest.origin[1]),
        bounds: manifest.bounds.local,
        tick_hz: config.tick_hz.max(1),
        margin_m: config.position_margin_m,
        scene_files: vec!["scene.toml".into(), f.city.clone(), f.grids.clone(), f.components.clone(), f.roads.clone()],
    };
    Ok((Arc::new(state), stop))
}

/// Serves until `shutdown` completes, then stops the background tasks and flushes the store.
pub async fn run(listener: TcpListener, config: ServeConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
    let (state, stop) = open(&config)?;
    let mut tasks = vec![tokio::spawn(tick_loop(state.clone()))];
    if let Some(sim) = &config.simulate {
        tasks.push(tokio::spawn(sim_loop(state.clone(), sim.clone(), &config.scene)?));
    }
    tracing::info!("serving {} on http://{}", state.scene_name, listener.local_addr()?);
    let mut stopped = state.shutdown.clone();
    let app = router(state.clone(), config.max_body_bytes);
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.changed().await;
    });
    let server = tokio::spawn(async move { serve.await });
    shutdown.await;
    let _ = stop.send(true);
    let _ = server.await;
    for t in tasks {
        t.abort();
    }
    state.store.flush().await?;
    Ok(())
}

/// A server on its own thread and tokio runtime (tests, benchmarks, embedding); stops, flushes
/// and joins when dropped.
#[derive(Debug)]
pub struct BackgroundServer {
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds `addr` (port 0 for any free port) and serves `config` with `workers` runtime threads.
    pub fn start(addr: std::net::SocketAddr, config: ServeConfig, workers: usize) -> Result<Self, ServeError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel::<Result<std::net::SocketAddr, ServeError>>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers.max(1)).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return drop(tx.send(Err(e.into()))),
            };
            rt.block_on(async move {
                let listener = match TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => return drop(tx.send(Err(e.into()))),
                };
                let _ = tx.send(listener.local_addr().map_err(ServeError::from));
                if let Err(e) = run(listener, config, async {
                    let _ = stopped.await;
                })
                .await
                {
                    tracing::error!("background server: {e}");
                }
            });
        });
        let addr = rx.recv().map_err(|_| ServeError::Io(std::io::Error::other("the server thread stopped before listening")))??;
        Ok(Self { addr, stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every tick: collect what changed and hand it to all connections; once a second, escalate
/// overdue incidents and prune old tracks now and then.
async fn tick_loop(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(state.tick_hz)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        interval.tick().await;
        n += 1;
        let (batch, records) = {
            let mut live = state.live.lock().expect("live state");
            let mut records = Vec::new();
            if n.is_multiple_of(u64::from(state.tick_hz)) {
                records = live.escalate();
            }
            if n.is_multiple_of(600 * u64::from(state.tick_hz)) {
                records.push(Record::Prune { tracks_before_ms: live.now_ms() - crate::world::TRACK_RETENTION_MS - 3_600_000, keep_events: 1_000_000 });
            }
            (live.tick(), records)
        };
        if !records.is_empty() {
            state.store.write_later(records);
        }
        let _ = state.ticks.send(Arc::new(batch));
    }
}

/// Loads a scene's roads (for the simulator) in local metres.
pub fn load_roads(scene: &Path, frame: &SceneFrame) -> Result<Vec<(RoadClass, Vec<[f64; 2]>)>, ServeError> {
    let manifest = crate::scene::SceneManifest::load(scene).map_err(WorldError::from)?;
    let path = scene.join(&manifest.files.roads);
    let bad = |reason: String| ServeError::Config { path: path.clone(), reason };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let fc: geojson::FeatureCollection = text.parse().map_err(|e: geojson::Error| bad(e.to_string()))?;
    let mut roads = Vec::new();
    for f in &fc.features {
        let class = f.property("class").and_then(|v| v.as_str()).and_then(RoadClass::from_highway).unwrap_or(RoadClass::Residential);
        if let Some(geojson::Geometry { value: geojson::Value::LineString(coords), .. }) = &f.geometry {
            let pts: Result<Vec<[f64; 2]>, _> = coords.iter().map(|c| frame.to_local(c[0], c[1]).map(|(x, y)| [x, y])).collect();
            roads.push((class, pts.map_err(|e| bad(e.to_string()))?));
        }
    }
    Ok(roads)
}

/// The simulator, fed through the same live operations as real input.
fn sim_loop(state: Arc<AppState>, cfg: SimulateConfig, scene: &Path) -> Result<impl Future<Output = ()> + Send + 'static, ServeError> {
    let roads = with_frame(&state.frame_crs, state.frame_origin, |f| load_roads(scene, f).map_err(|e| e.to_string())).map_err(ServeError::Simulate)?;
    let graph = RoadGraph::from_roads(&roads);
    let limits = state.live.lock().expect("live state").world.limits.clone();
    let start = state.live.lock().expect("live state").now_ms();
    let live_offset = state.live.lock().expect("live state").utc_offset_ms;
    let config = SimConfig { seed: cfg.seed, patrols: cfg.patrols, incidents_per_hour: cfg.incident_rate, report_ms: 1000, utc_offset_ms: live_offset };
    let mut sim = Simulator::new(graph, config, limits, start).ok_or_else(|| ServeError::Simulate("the scene has no roads to walk".into()))?;
    // Register the simulated patrols in the cell where each starts.
    let regs: Vec<PatrolReg> = {
        let live = state.live.lock().expect("live state");
        sim.patrols
            .iter()
            .map(|p| {
                let grid = live.world.cell_at(p.pos).map(|c| c.code.clone()).or_else(|| live.world.grids.iter().find(|g| g.level == gridwall_protocol::GridLevel::Cell).map(|g| g.code.clone())).unwrap_or_default();
                PatrolReg { patrol_id: format!("sim-{}", p.id), name: Some(format!("{}{:02}", p.role.name_zh(), p.id)), role: p.role.key().into(), grid, status: None }
            })
            .collect()
    };
    let records = state.live.lock().expect("live state").register(&regs).map_err(|e| ServeError::Simulate(e.to_string()))?;
    state.store.write_later(records);
    Ok(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Simulator incident id → live incident id.
        let mut ids: HashMap<u64, u64> = HashMap::new();
        loop {
            interval.tick().await;
            let mut live = state.live.lock().expect("live state");
            let dt = (live.now_ms() - sim.now_ms()).clamp(0, 60_000);
            let mut records = Vec::new();
            let mut points = Vec::new();
            for e in sim.step(dt) {
                match e {
                    SimEvent::Position { patrol: n, x, y, t_ms } => {
                        if let Some(id) = live.patrol_id(&format!("sim-{n}")) {
                            points.push(TrackPoint { patrol: id, t_ms, x, y });
                        }
                    }
                    SimEvent::IncidentOpened { incident, category, source, x, y, .. } => {
                        let (id, r) = live.open_incident(category, source, [x, y], &sim_description(category, source));
                        ids.insert(incident, id);
                        records.extend(r);
                    }
                    SimEvent::Step { incident, action, actor, .. } => {
                        let Some(&id) = ids.get(&incident) else { continue };
                        let action = match action {
                            Action::Dispatch { assignee } => Action::Dispatch { assignee: assignee.strip_prefix('P').map_or(assignee.clone(), |n| format!("sim-{n}")) },
                            a => a,
                        };
                        let actor = actor.strip_prefix('P').filter(|n| n.parse::<u32>().is_ok()).map_or(actor.clone(), |n| format!("sim-{n}"));
                        // A person may have stepped in (e.g. a commander reassigned it): the
                        // simulator's step is then refused like anyone else's.
                        if let Ok(r) = live.apply(id, &action, &actor, "") {
                            records.extend(r);
                        }
                    }
                    // Escalation is the server's own check (same limits, same clock).
                    SimEvent::Escalated { .. } => {}
                }
            }
            records.extend(live.ingest_points(points));
            drop(live);
            if !records.is_empty() {
                state.store.write_later(records);
            }
        }
    })
}

fn sim_description(category: IncidentCategory, source: IncidentSource) -> String {
    format!("{}（{}，模拟）", category.name_zh(), source.name_zh())
}

/// The router over a state (`max_body` bytes per request body).
pub fn router(state: Arc<AppState>, max_body: usize) -> Router {
    Router::new()
        .route("/ws", get(ws_display))
        .route("/ws/ingest", get(ws_ingest))
        .route("/api/v1/patrols", post(post_patrols))
        .route("/api/v1/positions", post(post_positions))
        .route("/api/v1/patrols/{id}/track", get(get_track))
        .route("/api/v1/nearest", get(get_nearest))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/incidents/{id}/transitions", post(post_transition))
        .route("/api/v1/grids", get(get_grids))
        .route("/api/v1/grids/{code}", get(get_grid))
        .route("/api/v1/kpis", get(get_kpis))
        .route("/open311/v2/services.json", get(get_services))
        .route("/open311/v2/requests.json", get(get_requests).post(post_request))
        .route("/open311/v2/requests/{id}", get(get_request))
        .route("/scene/{file}", get(get_scene_file))
        .fallback(|| async { ApiError::status(StatusCode::NOT_FOUND, "path", "no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// A refused request: status plus a JSON body naming the field.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    refusal: Refusal,
    open311: bool,
}

impl ApiError {
    fn status(status: StatusCode, field: &str, message: impl Into<String>) -> Self {
        Self { status, refusal: Refusal::invalid(field, message), open311: false }
    }
    fn open311(mut self) -> Self {
        self.open311 = true;
        self
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let status = match r.kind {
            RefusalKind::Invalid => StatusCode::BAD_REQUEST,
            RefusalKind::NotFound => StatusCode::NOT_FOUND,
            RefusalKind::Conflict => StatusCode::CONFLICT,
        };
        Self { status, refusal: r, open311: false }
    }
}

impl From<ingest::IngestError> for ApiError {
    fn from(e: ingest::IngestError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::status(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        Self::status(e.status(), "body", e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.open311 {
            let description = self.refusal.to_string();
            return (self.status, axum::Json(json!([{ "code": self.status.as_u16(), "description": description, "field": self.refusal.field }]))).into_response();
        }
        (self.status, axum::Json(json!({ "error": self.refusal }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::status(StatusCode::BAD_REQUEST, "body", format!("malformed JSON: {e}")))
}

async fn ws_display(ws: WebSocketUpgrade, Query(q): Query<HashMap<String, String>>, State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    let json = match q.get("format").map(String::as_str) {
        None | Some("binary") => false,
        Some("json") => true,
        Some(other) => return Err(ApiError::status(StatusCode::BAD_REQUEST, "format", format!("{other:?}: use json or binary"))),
    };
    Ok(ws.on_upgrade(move |socket| crate::stream::serve_socket(socket, state, json)))
}

async fn ws_ingest(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    ws.on_upgrade(move |socket| ingest_socket(socket, state))
}

/// Device stream: each text frame is a JSON array of positions (or one position object); each
/// gets an answer `{"ok":true,"accepted":N}` once on disk, or `{"ok":false,"error":{…}}`.
async fn ingest_socket(socket: WebSocket, state: Arc<AppState>) {
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = state.shutdown.clone();
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = shutdown.changed() => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let body: Vec<u8> = match msg {
            Message::Text(t) => {
                let t = t.as_str().trim_start();
                if t.starts_with('{') { format!("[{t}]").into_bytes() } else { t.as_bytes().to_vec() }
            }
            Message::Binary(b) => b.to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        let answer = match accept_positions(&state, &body).await {
            Ok(n) => json!({ "ok": true, "accepted": n }),
            Err(e) => json!({ "ok": false, "error": e.refusal }),
        };
        if sink.send(Message::Text(answer.to_string().into())).await.is_err() {
            break;
        }
    }
}

async fn accept_positions(state: &AppState, body: &[u8]) -> ApiResult<usize> {
    let positions: Vec<Position> = with_frame(&state.frame_crs, state.frame_origin, |f| Ok(ingest::parse_positions(body, f, state.bounds, state.margin_m)))
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e))??;
    let n = positions.len();
    let records = state.live.lock().expect("live state").ingest(&positions)?;
    state.store.write(records).await?;
    Ok(n)
}

async fn post_positions(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let n = accept_positions(&state, &body?).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "accepted": n }))).into_response())
}

async fn post_patrols(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let regs: Vec<PatrolReg> = parse_json(&body?)?;
    let n = regs.len();
    let records = state.live.lock().expect("live state").register(&regs)?;
    state.store.write(records).await?;
    Ok((StatusCode::OK, axum::Json(json!({ "registered": n }))).into_response())
}

fn time_param(q: &HashMap<String, String>, k: &str) -> ApiResult<Option<i64>> {
    q.get(k).map(|v| ingest::parse_time(v).map_err(|m| ApiError::status(StatusCode::BAD_REQUEST, k, m))).transpose()
}

async fn get_track(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let live = state.live.lock().expect("live state");
    let pid = live.patrol_id(&id).ok_or_else(|| Refusal::not_found("patrol_id", format!("no patrol {id:?}")))?;
    let from = time_param(&q, "from")?.unwrap_or(i64::MIN);
    let to = time_param(&q, "to")?.unwrap_or(i64::MAX);
    let points: Vec<_> = live.world.track(pid, from, to).into_iter().map(|(t, x, y)| json!({ "ts": ingest::format_time(t), "t_ms": t, "x": x, "y": y })).collect();
    Ok(axum::Json(json!({ "patrol_id": id, "points": points })).into_response())
}

async fn get_nearest(State(state): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let k: usize = q.get("k").map_or(Ok(5), |v| v.parse().map_err(|_| ApiError::status(StatusCode::BAD_REQUEST, "k", format!("{v:?} is not a count"))))?;
    if k == 0 || k > 100 {
        return Err(ApiError::status(StatusCode::BAD_REQUEST, "k", "must be 1 to 100"));
    }
    let live = state.live.lock().expect("live state");
    let p = if let Some(v) = q.get("incident") {
        let id: u64 = v.parse().map_err(|_| ApiError::status(StatusCode::BAD_REQUEST, "incident", format!("{v:?} is not an id")))?;
        live.world.incidents.get(&id).ok_or_else(|| Refusal::not_found("incident", format!("no incident {id}")))?.pos
    } else {
        let num = |k: &str| -> ApiResult<f64> {
            let v = q.get(k).ok_or_else(|| ApiError::status(StatusCode::BAD_REQUEST, k, "give incident=ID or x and y (local metres)"))?;
            v.parse().map_err(|_| ApiError::status(StatusCode::BAD_REQUEST, k, format!("{v:?} is not a number")))
        };
        [num("x")?, num("y")?]
    };
    let near: Vec<_> = live
        .world
        .nearest_on_duty(p, k)
        .into_iter()
        .map(|(id, d)| {
            let s = live.patrol_state(id);
            json!({ "id": id, "patrol_id": live.patrol_ext(id), "distance_m": (d * 10.0).round() / 10.0, "name": s.as_ref().map(|s| s.name.clone()), "role": s.as_ref().map(|s| s.role), "status": s.as_ref().map(|s| s.status) })
        })
        .collect();
    Ok(axum::Json(json!({ "x": p[0], "y": p[1], "patrols": near })).into_response())
}

fn incident_id(v: &str) -> ApiResult<u64> {
    v.trim_end_matches(".json").parse().map_err(|_| Refusal::not_found("id", format!("{v:?} is not an incident id")).into())
}

async fn get_incident(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let id = incident_id(&id)?;
    let live = state.live.lock().expect("live state");
    let rec = live.world.incidents.get(&id).ok_or_else(|| Refusal::not_found("id", format!("no incident {id}")))?;
    let st = live.incident_state(rec);
    let now = live.now_ms();
    Ok(axum::Json(json!({
        "incident": st,
        "overdue": rec.case.is_overdue(now),
        "time_left_ms": rec.case.deadline_ms.map(|d| d - now),
        "assignee": rec.case.assignee,
        "reworks": rec.case.reworks,
        "satisfaction": rec.case.satisfaction,
        "timeline": rec.case.timeline,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct TransitionIn {
    #[serde(flatten)]
    action: Action,
    actor: String,
    #[serde(default)]
    note: String,
}

async fn post_transition(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let id = incident_id(&id)?;
    let body = body?;
    let value: serde_json::Value = parse_json(&body)?;
    let action = value.get("action").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    if !["dispatch", "resolve", "review_pass", "review_reject", "close"].contains(&action.as_str()) {
        return Err(ApiError::status(StatusCode::BAD_REQUEST, "action", format!("{action:?}: use dispatch, resolve, review_pass, review_reject or close")));
    }
    let t: TransitionIn = serde_json::from_value(value).map_err(|e| {
        let field = if e.to_string().contains("satisfaction") { "satisfaction" } else if e.to_string().contains("assignee") { "assignee" } else { "actor" };
        ApiError::status(StatusCode::BAD_REQUEST, field, e.to_string())
    })?;
    let records = state.live.lock().expect("live state").apply(id, &t.action, &t.actor, &t.note)?;
    state.store.write(records).await?;
    let live = state.live.lock().expect("live state");
    Ok(axum::Json(json!({ "incident": live.incident_state(&live.world.incidents[&id]) })).into_response())
}

async fn get_grids(State(state): State<Arc<AppState>>) -> Response {
    let live = state.live.lock().expect("live state");
    let grids: Vec<_> = live
        .world
        .grids
        .iter()
        .map(|g| {
            let round = |v: f64| (v * 100.0).round() / 100.0;
            let rings: Vec<Vec<[f64; 2]>> = g
                .shape
                .iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .map(|ls| ls.coords().map(|c| [round(c.x), round(c.y)]).collect())
                .collect();
            json!({ "code": g.code, "name": g.name, "level": g.level, "parent": g.parent, "rings": rings })
        })
        .collect();
    axum::Json(json!({ "grids": grids })).into_response()
}

async fn get_grid(State(state): State<Arc<AppState>>, UrlPath(code): UrlPath<String>) -> ApiResult<Response> {
    let live = state.live.lock().expect("live state");
    let g = live.world.grid(&code).ok_or_else(|| Refusal::not_found("code", format!("no grid unit {code:?}")))?;
    let (components, patrols, incidents) = live.world.in_grid(&code);
    Ok(axum::Json(json!({
        "code": code, "name": g.name, "level": g.level, "parent": g.parent,
        "components": components.len(),
        "patrols": patrols.iter().filter_map(|&id| live.patrol_state(id)).collect::<Vec<_>>(),
        "incidents": incidents.iter().map(|id| live.incident_state(&live.world.incidents[id])).collect::<Vec<_>>(),
        "kpis": live.kpis(Some(&code)),
    }))
    .into_response())
}

async fn get_kpis(State(state): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let live = state.live.lock().expect("live state");
    let scope = q.get("scope").filter(|s| !s.is_empty());
    if let Some(s) = scope
        && live.world.grid(s).is_none()
    {
        return Err(Refusal::not_found("scope", format!("no grid unit {s:?}")).into());
    }
    Ok(axum::Json(json!({ "scope": scope, "time_ms": live.now_ms(), "kpis": live.kpis(scope.map(String::as_str)) })).into_response())
}

async fn get_services() -> Response {
    axum::Json(ingest::services()).into_response()
}

async fn post_request(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let body = body.map_err(|e| ApiError::from(e).open311())?;
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let fields: BTreeMap<String, String> = if is_json {
        let v: serde_json::Map<String, serde_json::Value> = parse_json(&body).map_err(ApiError::open311)?;
        v.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| ApiError::status(StatusCode::BAD_REQUEST, "body", format!("malformed form: {e}")).open311())?
    };
    let req = with_frame(&state.frame_crs, state.frame_origin, |f| Ok(ingest::parse_request(&fields, f, state.bounds)))
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e).open311())?
        .map_err(|e| ApiError::from(e).open311())?;
    let source = fields.get("gridwall_source").and_then(|s| s.parse().ok()).unwrap_or(IncidentSource::MiniProgram);
    let (id, records) = state.live.lock().expect("live state").open_incident(req.category, source, [req.x, req.y], &req.description);
    state.store.write(records).await.map_err(|e| ApiError::from(e).open311())?;
    Ok((StatusCode::CREATED, axum::Json(json!([{ "service_request_id": id.to_string(), "service_notice": "已受理", "account_id": null }]))).into_response())
}

async fn get_requests(State(state): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let bad = |k: &str, m: String| ApiError::status(StatusCode::BAD_REQUEST, k, m).open311();
    let status = q.get("status").map(String::as_str);
    if status.is_some_and(|s| s != "open" && s != "closed") {
        return Err(bad("status", "use open or closed".into()));
    }
    let codes: Option<Vec<IncidentCategory>> = q
        .get("service_code")
        .map(|s| s.split(',').map(|c| c.parse::<IncidentCategory>().map_err(|_| bad("service_code", format!("{c:?} is not a service")))).collect())
        .transpose()?;
    let ids: Option<Vec<u64>> = q
        .get("service_request_id")
        .map(|s| s.split(',').map(|c| c.parse::<u64>().map_err(|_| bad("service_request_id", format!("{c:?} is not an id")))).collect())
        .transpose()?;
    let start = time_param(&q, "start_date").map_err(ApiError::open311)?;
    let end = time_param(&q, "end_date").map_err(ApiError::open311)?;
    let live = state.live.lock().expect("live state");
    let now = live.now_ms();
    // GeoReport v2 default window: the last 90 days, at most 1000 requests.
    let start = start.unwrap_or(if ids.is_some() { i64::MIN } else { now - 90 * 86_400_000 });
    let end = end.unwrap_or(i64::MAX);
    let mut recs: Vec<_> = live
        .world
        .incidents
        .values()
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .filter(|r| codes.as_ref().is_none_or(|c| c.contains(&r.category)))
        .filter(|r| status.is_none_or(|s| (s == "closed") != r.case.is_open()))
        .filter(|r| r.case.created_ms >= start && r.case.created_ms <= end)
        .collect();
    recs.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
    recs.truncate(1000);
    let out: Result<Vec<_>, String> = with_frame(&state.frame_crs, state.frame_origin, |f| Ok(recs.iter().map(|r| ingest::request_out(r, f)).collect()));
    Ok(axum::Json(out.map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e))?).into_response())
}

async fn get_request(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let id = incident_id(&id).map_err(ApiError::open311)?;
    let live = state.live.lock().expect("live state");
    let rec = live.world.incidents.get(&id).ok_or_else(|| ApiError::from(Refusal::not_found("service_request_id", format!("no request {id}"))).open311())?;
    let out = with_frame(&state.frame_crs, state.frame_origin, |f| Ok(ingest::request_out(rec, f))).map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e))?;
    Ok(axum::Json(vec![out]).into_response())
}

async fn get_scene_file(State(state): State<Arc<AppState>>, UrlPath(file): UrlPath<String>) -> ApiResult<Response> {
    if !state.scene_files.contains(&file) {
        return Err(Refusal::not_found("file", format!("{file:?} is not a file of this scene")).into());
    }
    let bytes = tokio::fs::read(state.scene_dir.join(&file)).await.map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "file", e.to_string()))?;
    let mime = match Path::new(&file).extension().and_then(|e| e.to_str()) {
        Some("glb") => "model/gltf-binary",
        Some("geojson") => "application/geo+json",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}
