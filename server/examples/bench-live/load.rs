//! The load: seeded walking patrols, their position reports as JSON or binary batches, the servers
//! (with tokens for `--auth`) and the patrols' registration.

use std::path::Path;

use gridwall_backend::LiveConfig;
use gridwall_protocol::binary::{
    Fix, FixCrs, POSITIONS_MEDIA_TYPE, PositionBatch, encode_positions, is_position_batch,
};
use gridwall_scene::coords::SceneFrame;
use gridwall_server::ServeConfig;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::server::{BackgroundServer, agent};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The patrols' walk: each starts at a seeded point and walks 1.4 m per second along its heading.
pub struct Walkers {
    pos: Vec<[f64; 2]>,
    dir: Vec<[f64; 2]>,
    bounds: [f64; 4],
}

impl Walkers {
    pub fn new(n: usize, bounds: [f64; 4], rng: &mut ChaCha8Rng) -> Self {
        let pos =
            (0..n).map(|_| [rng.random_range(bounds[0]..bounds[2]), rng.random_range(bounds[1]..bounds[3])]).collect();
        let dir = (0..n)
            .map(|_| {
                let a: f64 = rng.random_range(0.0..std::f64::consts::TAU);
                [a.cos() * 1.4, a.sin() * 1.4]
            })
            .collect();
        Self { pos, dir, bounds }
    }
    pub fn step(&mut self, i: usize) -> [f64; 2] {
        let b = self.bounds;
        let p = &mut self.pos[i];
        let d = &mut self.dir[i];
        for k in 0..2 {
            p[k] += d[k];
            if p[k] < b[k] || p[k] > b[k + 2] {
                d[k] = -d[k];
                p[k] += 2.0 * d[k];
            }
        }
        *p
    }
}

/// Bodies of one second of reports from `range` of the patrols, in batches of 1,000: JSON, or
/// the protocol's binary batch with `binary`.
pub fn bodies(
    w: &mut Walkers,
    range: std::ops::Range<usize>,
    frame: &SceneFrame,
    t_ms: i64,
    binary: bool,
) -> Vec<Vec<u8>> {
    let ts = gridwall_city::ingest::format_time(t_ms);
    let ids: Vec<usize> = range.collect();
    ids.chunks(1000)
        .map(|chunk| {
            if binary {
                let fixes = chunk
                    .iter()
                    .map(|&i| {
                        let p = w.step(i);
                        let (lon, lat) = frame.to_wgs84(p[0], p[1]).unwrap();
                        Fix { patrol_id: format!("B{i}").into(), lon, lat, t_ms }
                    })
                    .collect();
                return encode_positions(&PositionBatch { crs: FixCrs::Wgs84, fixes });
            }
            let items: Vec<String> = chunk
                .iter()
                .map(|&i| {
                    let p = w.step(i);
                    let (lon, lat) = frame.to_wgs84(p[0], p[1]).unwrap();
                    format!(r#"{{"patrol_id":"B{i}","lon":{lon:.7},"lat":{lat:.7},"ts":"{ts}"}}"#)
                })
                .collect();
            format!("[{}]", items.join(",")).into_bytes()
        })
        .collect()
}

/// Posts a batch (a binary one under its own media type).
pub fn post(agent: &ureq::Agent, url: &str, body: &[u8], token: Option<&str>) -> u16 {
    let kind = if is_position_batch(body) { POSITIONS_MEDIA_TYPE } else { "application/json" };
    let mut r = agent.post(url).header("content-type", kind);
    if let Some(t) = token {
        r = r.header("authorization", &format!("Bearer {t}"));
    }
    let mut r = r.send(body).expect("post");
    let _ = r.body_mut().read_to_string();
    r.status().as_u16()
}

/// The tokens of a server started with `--auth`.
#[derive(Default)]
pub struct Tokens {
    pub admin: Option<String>,
    pub viewer: Option<String>,
    /// Device token of patrols `B{1000 k}` to `B{1000 k + 999}`.
    pub devices: Vec<String>,
}

impl Tokens {
    /// The device token for patrol `B{i}`.
    pub fn device(&self, i: usize) -> Option<&str> {
        self.devices.get(i / 1000).map(String::as_str)
    }
}

pub fn start(
    scene: &Path,
    data: &Path,
    store: Option<String>,
    workers: usize,
    (tick_hz, flush_ms): (u16, u16),
    auth_for: Option<usize>,
) -> (BackgroundServer, Tokens) {
    use gridwall_city::access::Role;
    let live = LiveConfig {
        scene: scene.to_owned(),
        data: data.to_owned(),
        store,
        tick_hz,
        flush_ms,
        ..LiveConfig::default()
    };
    let mut cfg = ServeConfig { live, max_body_bytes: 64 << 20, ..ServeConfig::default() };
    let mut tokens = Tokens::default();
    if let Some(patrols) = auth_for {
        let file = data.join("auth.toml");
        let add = |role, name: &str, ids: &[String]| gridwall_server::auth::add_token(&file, role, name, ids).unwrap();
        tokens.admin = Some(add(Role::Admin, "admin", &[]));
        tokens.viewer = Some(add(Role::Viewer, "wall", &[]));
        for k in 0..patrols.div_ceil(1000) {
            let ids: Vec<String> = (k * 1000..(k + 1) * 1000).map(|i| format!("B{i}")).collect();
            tokens.devices.push(add(Role::Device, &format!("device-{k}"), &ids));
        }
        cfg.auth = Some(file);
    }
    (BackgroundServer::start("127.0.0.1:0".parse().unwrap(), cfg, workers).expect("server starts"), tokens)
}

pub fn register(base: &str, n: usize, tokens: &Tokens) {
    let a = agent();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let regs: Vec<String> =
            chunk.iter().map(|i| format!(r#"{{"patrol_id":"B{i}","role":"grid_worker","grid":"{CELL}"}}"#)).collect();
        let body = format!("[{}]", regs.join(","));
        assert_eq!(post(&a, &format!("{base}/api/v1/patrols"), body.as_bytes(), tokens.admin.as_deref()), 200);
    }
}
