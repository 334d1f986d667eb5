//! A real server for tests: [`BackgroundServer`] runs `gridwall_server::run` on its own thread
//! and tokio runtime; [`TestServer`] adds a fresh store and HTTP helpers for the documented API
//! (raw JSON on purpose: tests check the wire shapes).

use std::net::SocketAddr;
use std::path::Path;

use gridwall_backend::LiveConfig;
use gridwall_scene::SceneManifest;
use gridwall_scene::coords::SceneFrame;
use gridwall_server::{ServeConfig, ServeError};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::paths::{CELL, helsinki};

/// A server on its own thread and tokio runtime; stops, flushes and joins when dropped.
#[derive(Debug)]
pub struct BackgroundServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds `addr` (port 0 for any free port) and serves `config` with `workers` runtime threads.
    pub fn start(addr: SocketAddr, config: ServeConfig, workers: usize) -> Result<Self, ServeError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel::<Result<SocketAddr, ServeError>>();
        let thread = std::thread::spawn(move || {
            let rt =
                match tokio::runtime::Builder::new_multi_thread().worker_threads(workers.max(1)).enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(tx.send(Err(e.into()))),
                };
            rt.block_on(async move {
                let listener = match TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => return drop(tx.send(Err(e.into()))),
                };
                let _ = tx.send(listener.local_addr().map_err(ServeError::from));
                if let Err(e) = gridwall_server::run(listener, config, async {
                    let _ = stopped.await;
                })
                .await
                {
                    eprintln!("background server: {e}");
                }
            });
        });
        let addr = rx
            .recv()
            .map_err(|_| ServeError::Io(std::io::Error::other("the server thread stopped before listening")))??;
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

/// Serving the shipped scene with its store in `data`.
pub fn helsinki_config(data: &Path) -> ServeConfig {
    ServeConfig {
        live: LiveConfig { scene: helsinki(), data: data.to_owned(), ..LiveConfig::default() },
        ..ServeConfig::default()
    }
}

/// Writes `days` of synthesized history of the shipped scene (`per_day` reports a day, seeded)
/// into the embedded store in `data`, ending an hour ago: indicators, rankings, trends and hot
/// spots have a past to work on.
pub fn helsinki_past(data: &Path, days: u32, per_day: u32, seed: u64) {
    use gridwall_backend::synth::{SynthHistory, synth_history};
    let cfg = SynthHistory {
        scene: helsinki(),
        data: data.to_owned(),
        store: None,
        days,
        per_day,
        seed,
        utc_offset_ms: (LiveConfig::default().utc_offset_hours * 3_600_000.0) as i64,
        limits: gridwall_city::workflow::TimeLimits::default(),
        end_ms: crate::now_ms() - 3_600_000,
    };
    synth_history(&cfg, |_, _, _| {}).expect("the history is written");
}

/// The shipped scene's coordinate frame.
pub fn helsinki_frame() -> SceneFrame {
    SceneManifest::load(&helsinki()).expect("the shipped scene").frame().expect("its frame")
}

/// A server on the shipped scene with a fresh store (removed when dropped), on a free port.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub frame: SceneFrame,
    running: Option<BackgroundServer>,
    _data: tempfile::TempDir,
}

impl TestServer {
    /// Starts one; `configure` may change anything before it starts (2 runtime workers).
    pub fn start(configure: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::start_with_workers(2, configure)
    }

    pub fn start_with_workers(workers: usize, configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let data = tempfile::tempdir().expect("a temporary folder");
        let mut cfg = helsinki_config(data.path());
        configure(&mut cfg);
        let server = BackgroundServer::start("127.0.0.1:0".parse().expect("an address"), cfg, workers)
            .expect("the server starts");
        Self { addr: server.addr, frame: helsinki_frame(), running: Some(server), _data: data }
    }

    /// Stops the server now (its store stays until this is dropped).
    pub fn stop(&mut self) {
        self.running = None;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        call("GET", &self.url(path), "", b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        call("POST", &self.url(path), "application/json", body.to_string().as_bytes())
    }

    pub fn post_raw(&self, path: &str, ctype: &str, body: &[u8]) -> (u16, Value) {
        call("POST", &self.url(path), ctype, body)
    }

    /// WGS84 of a local point.
    pub fn lonlat(&self, x: f64, y: f64) -> (f64, f64) {
        self.frame.to_wgs84(x, y).expect("a point of the scene")
    }

    /// Registers grid workers in [`CELL`].
    pub fn register(&self, ids: &[&str]) {
        let regs: Vec<Value> =
            ids.iter().map(|id| json!({"patrol_id": id, "role": "grid_worker", "grid": CELL})).collect();
        let (s, b) = self.post("/api/v1/patrols", &Value::Array(regs));
        assert_eq!(s, 200, "{b}");
    }

    /// Reports a patrol at local (x, y).
    pub fn report(&self, id: &str, x: f64, y: f64, ts: &str) -> (u16, Value) {
        let (lon, lat) = self.lonlat(x, y);
        self.post("/api/v1/positions", &json!([{"patrol_id": id, "lon": lon, "lat": lat, "ts": ts}]))
    }

    /// Opens an incident through Open311 (a form, as a citizen's app sends it); its id.
    pub fn open_request(&self, code: &str, x: f64, y: f64, description: &str) -> u64 {
        self.open_request_with(code, x, y, description, "")
    }

    /// [`Server::open_request`] with more form fields (`&attribute[fault]=missing…`, encoded).
    pub fn open_request_with(&self, code: &str, x: f64, y: f64, description: &str, more: &str) -> u64 {
        let (lon, lat) = self.lonlat(x, y);
        let form = format!("service_code={code}&lat={lat}&long={lon}&description={}{more}", urlencode(description));
        let (s, b) = self.post_raw("/open311/v2/requests.json", "application/x-www-form-urlencoded", form.as_bytes());
        assert_eq!(s, 201, "{b}");
        b[0]["service_request_id"].as_str().expect("an id").parse().expect("a number")
    }

    /// A workflow step.
    pub fn step(&self, id: u64, body: &Value) -> (u16, Value) {
        self.post(&format!("/api/v1/incidents/{id}/transitions"), body)
    }
}

/// One token of each role in a fresh token file (the device's reports for `P-1` and `P-2`).
#[derive(Debug)]
pub struct RoleTokens {
    pub viewer: String,
    pub commander: String,
    pub device: String,
    pub intake: String,
    pub admin: String,
    pub file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl RoleTokens {
    pub fn new() -> Self {
        use gridwall_city::access::Role;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("auth.toml");
        let add = |role, name: &str, patrols: &[String]| {
            gridwall_server::auth::add_token(&file, role, name, patrols).expect("a token is added")
        };
        Self {
            viewer: add(Role::Viewer, "大屏-1", &[]),
            commander: add(Role::Commander, "张指挥", &[]),
            device: add(Role::Device, "终端-1", &["P-1".into(), "P-2".into()]),
            intake: add(Role::Intake, "12345热线", &[]),
            admin: add(Role::Admin, "管理员", &[]),
            file: file.clone(),
            _dir: dir,
        }
    }
}

impl Default for RoleTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl TestServer {
    /// A server that checks tokens, with one of each role.
    pub fn start_with_tokens(configure: impl FnOnce(&mut ServeConfig)) -> (Self, RoleTokens) {
        let tokens = RoleTokens::new();
        let server = Self::start(|c| {
            c.auth = Some(tokens.file.clone());
            configure(c);
        });
        (server, tokens)
    }

    /// A request with a token (`None`: without one).
    pub fn call_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(ToString::to_string).unwrap_or_default();
        call_with(method, &self.url(path), token, "application/json", body.as_bytes())
    }
}

/// An HTTP client that returns 4xx/5xx answers instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::config::Config::builder().http_status_as_error(false).build())
}

/// One request; the status and the body (JSON, or the text as a JSON string).
pub fn call(method: &str, url: &str, ctype: &str, body: &[u8]) -> (u16, Value) {
    call_with(method, url, None, ctype, body)
}

/// [`call`] with a token (`Authorization: Bearer`).
pub fn call_with(method: &str, url: &str, token: Option<&str>, ctype: &str, body: &[u8]) -> (u16, Value) {
    let a = agent();
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut res = match method {
        "GET" => {
            let mut r = a.get(url);
            if let Some(b) = &bearer {
                r = r.header("authorization", b);
            }
            r.call().expect("the server answers")
        }
        "POST" => {
            let mut r = a.post(url).header("content-type", ctype);
            if let Some(b) = &bearer {
                r = r.header("authorization", b);
            }
            r.send(body).expect("the server answers")
        }
        other => panic!("no {other} requests here"),
    };
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Percent-encodes everything but ASCII letters and digits (form bodies).
pub fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
