//! End-to-end benchmark of the live backend over real sockets on loopback:
//! `cargo run -p gridwall-server --example bench-live [-- --patrols 100000 --clients 100]`
//! (an example so it can use the dev-dependencies: ureq as the HTTP client).
//!
//! 1. HTTP position ingest per second with the server on ONE tokio worker thread (plus the
//!    storage thread), fed by 3 keep-alive connections posting batches of 1,000 positions.
//! 2. Bytes per patrol update on the wire: a binary and a JSON display subscribed to the whole
//!    scene while every patrol reports once a second.
//! 3. Ingest-to-client latency: N binary displays subscribed to district viewports, while all
//!    patrols report at 1 Hz; a probe patrol in every viewport moves every 50 ms and each display
//!    notes when the move arrives (post sent → frame decoded). p50/p99 over all displays.
//!
//! Results go to `BENCHMARKS.md`. Seeded (`ChaCha8`, seed 2026).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_protocol::binary::{ServerDecoder, encode_client};
use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, LayerSet, ServerMessage};
use gridwall_scene::SceneManifest;
use gridwall_scene::coords::SceneFrame;
use gridwall_testkit::now_ms;
use gridwall_testkit::paths::helsinki;
use gridwall_testkit::server::agent;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_tungstenite::tungstenite::Message;

mod load;
mod measure;
mod peers;

use load::{Walkers, bodies, post, register, start};
use measure::{cpu_seconds, percentile, rss_mb};

const WARM_UP_S: u64 = 3;

// The command line's switches, one field each.
#[allow(clippy::struct_excessive_bools)]
struct Args {
    patrols: usize,
    clients: usize,
    seconds: u64,
    tick_hz: u16,
    /// Moves pushed this many ms after their commit (0: on the tick).
    flush_ms: u16,
    /// Tokio workers of the server in parts 2 and 3 (part 1 always uses one).
    workers: usize,
    /// Leave out the two whole-scene displays (binary + JSON) that measure bytes on the wire.
    no_wire: bool,
    /// Print memory, CPU and latency every this many seconds of load (0: only at the end).
    report_every: u64,
    /// Run the servers with tokens (`--auth`): a device token per 1,000 patrols, a viewer token
    /// for the displays, an admin token for the registration.
    auth: bool,
    scene: PathBuf,
    /// Run against this store folder (e.g. a city `synth-history` gave a past) instead of a
    /// fresh one per part.
    data: Option<PathBuf>,
    /// Run against this PostgreSQL store instead.
    store: Option<String>,
    /// Devices send the protocol's binary position batch instead of JSON.
    binary: bool,
    /// Run part 1 only (ingest), e.g. under `perf record`.
    ingest_only: bool,
    /// After part 1, the peers on the same kind of load: Redis and PostGIS (`scripts/bench-peers`).
    peers: bool,
}

fn args() -> Args {
    let mut a = Args {
        patrols: 100_000,
        clients: 100,
        seconds: 10,
        tick_hz: 10,
        flush_ms: 5,
        workers: 2,
        no_wire: false,
        auth: false,
        report_every: 0,
        scene: helsinki(),
        data: None,
        store: None,
        binary: false,
        ingest_only: false,
        peers: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let switch = match k.as_str() {
            "--no-wire" => Some(&mut a.no_wire),
            "--auth" => Some(&mut a.auth),
            "--binary" => Some(&mut a.binary),
            "--ingest-only" => Some(&mut a.ingest_only),
            "--peers" => Some(&mut a.peers),
            _ => None,
        };
        if let Some(on) = switch {
            *on = true;
            continue;
        }
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--patrols" => a.patrols = v.parse().expect("--patrols N"),
            "--clients" => a.clients = v.parse().expect("--clients N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--tick-hz" => a.tick_hz = v.parse().expect("--tick-hz N"),
            "--flush-ms" => a.flush_ms = v.parse().expect("--flush-ms N"),
            "--scene" => a.scene = PathBuf::from(v),
            "--data" => a.data = Some(PathBuf::from(v)),
            "--store" => a.store = Some(v),
            "--workers" => a.workers = v.parse().expect("--workers N"),
            "--report-every" => a.report_every = v.parse().expect("--report-every SECONDS"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn main() {
    let a = args();
    let manifest = SceneManifest::load(&a.scene).expect("scene");
    let frame = manifest.frame().unwrap();
    let bounds = manifest.bounds.local;
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut walkers = Walkers::new(a.patrols, bounds, &mut rng);
    println!(
        "scene {} ({:.0} × {:.0} m), {} patrols, {} displays{}",
        manifest.name,
        bounds[2] - bounds[0],
        bounds[3] - bounds[1],
        a.patrols,
        a.clients,
        if a.auth { ", tokens checked (--auth)" } else { "" }
    );
    println!("devices send {}", if a.binary { "binary position batches" } else { "JSON" });

    // ---- 1. ingest throughput, one worker thread ----
    {
        let data = tempfile::tempdir().unwrap();
        let dir = a.data.clone().unwrap_or_else(|| data.path().to_owned());
        let (server, tokens) =
            start(&a.scene, &dir, a.store.clone(), 1, (a.tick_hz, a.flush_ms), a.auth.then_some(a.patrols));
        let base = format!("http://{}", server.addr);
        register(&base, a.patrols, &tokens);
        let t0 = now_ms();
        let t = Instant::now();
        let mut all = Vec::new();
        for s in 0..a.seconds.min(10) {
            let batches = bodies(&mut walkers, 0..a.patrols, &frame, t0 + s as i64 * 1000, a.binary);
            all.extend(batches.into_iter().enumerate().map(|(k, b)| (b, tokens.device(k * 1000).map(str::to_owned))));
        }
        println!("prepared {} batches in {:.1} s", all.len(), t.elapsed().as_secs_f64());
        let total = all.len() * 1000;
        let queue = Arc::new(Mutex::new(all));
        let t = Instant::now();
        let (worker0, store0) = (cpu_seconds("tokio-rt-worker"), cpu_seconds("gridwall-store"));
        let senders: Vec<_> = (0..3)
            .map(|_| {
                let (q, url) = (queue.clone(), format!("{base}/api/v1/positions"));
                std::thread::spawn(move || {
                    let agent = agent();
                    while let Some((body, token)) = q.lock().unwrap().pop() {
                        assert_eq!(post(&agent, &url, &body, token.as_deref()), 202);
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        let worker = cpu_seconds("tokio-rt-worker") - worker0;
        let store = cpu_seconds("gridwall-store") - store0;
        println!(
            "ingest over HTTP (1 worker + storage thread): {total} positions in {secs:.2} s = {:.0} positions/s",
            total as f64 / secs
        );
        println!(
            "  CPU: server worker {worker:.2} s = {:.0} positions per worker CPU-second; storage thread {store:.2} s = {:.0} per storage CPU-second",
            total as f64 / worker.max(0.01),
            total as f64 / store.max(0.01)
        );

        // In-process, without HTTP: parse + project + apply, one thread.
        let body = bodies(&mut walkers, 0..1000, &frame, t0 + 10_000, a.binary).remove(0);
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < Duration::from_secs(2) {
            let parse =
                if a.binary { gridwall_city::ingest::binary_positions } else { gridwall_city::ingest::parse_positions };
            n += parse(&body, &frame, bounds, 500.0).unwrap().len();
        }
        println!(
            "parse + validate + project only, one thread: {:.0} positions/s",
            n as f64 / t.elapsed().as_secs_f64()
        );
        if a.peers {
            drop(server);
            let ours = total as f64 / worker.max(0.01);
            let ours_all = total as f64 / (worker + store).max(0.01);
            let seconds = a.seconds.min(10);
            let batches: Vec<_> = (0..seconds)
                .flat_map(|s| bodies(&mut walkers, 0..a.patrols, &frame, t0 + (20 + s as i64) * 1000, true))
                .collect();
            let fixes = peers::fixes_of(&batches);
            println!("peers, on batches like part 1 ({} of 1,000 fixes), one after another:", batches.len());
            println!(
                "| system | what an acknowledgement promises | positions/s | per CPU-second of the system | gridwall ({}) per worker CPU-second ÷ this |",
                if a.binary { "binary" } else { "JSON" }
            );
            println!("|---|---|---|---|---|");
            println!(
                "| gridwall ({}), worker / worker + storage thread | fsynced before each 202 | {:.0} | {ours:.0} / {ours_all:.0} | 1.00 |",
                if a.binary { "binary batch" } else { "JSON" },
                total as f64 / secs
            );
            for run in [
                peers::redis(&fixes, "always"),
                peers::redis(&fixes, "everysec"),
                peers::postgis(&fixes, true),
                peers::postgis(&fixes, false),
            ] {
                println!(
                    "| {} | {} | {:.0} | {:.0} | {:.2} |",
                    run.name,
                    run.durability,
                    run.positions as f64 / run.secs,
                    run.per_cpu_second(),
                    ours / run.per_cpu_second()
                );
            }
        }
    }

    if a.ingest_only {
        return;
    }

    // ---- 2 + 3. wire size and latency under a 1 Hz load ----
    let data = tempfile::tempdir().unwrap();
    let dir = a.data.clone().unwrap_or_else(|| data.path().to_owned());
    let (server, tokens) =
        start(&a.scene, &dir, a.store.clone(), a.workers, (a.tick_hz, a.flush_ms), a.auth.then_some(a.patrols + 1));
    let base = format!("http://{}", server.addr);
    register(&base, a.patrols + 1, &tokens);
    let probe_id = format!("B{}", a.patrols);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-displays")
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Probe: x (cm) of each probe move → when it was sent.
    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let samples: Arc<Mutex<Vec<f64>>> = Arc::default();
    let wire: Arc<[AtomicU64; 4]> = Arc::new(Default::default()); // binary bytes, binary moves, json bytes, json moves
    let center = [f64::midpoint(bounds[0], bounds[2]), f64::midpoint(bounds[1], bounds[3])];
    let mut handles = Vec::new();
    for c in (if a.no_wire { 2 } else { 0 })..a.clients + 2 {
        // Display 0: binary, whole scene; 1: JSON, whole scene (wire sizes); others: a
        // 300 × 300 m district around a seeded point near the centre (containing the probe).
        let full = [bounds[0] - 500.0, bounds[1] - 500.0, bounds[2] + 500.0, bounds[3] + 500.0];
        let bbox = if c < 2 {
            full
        } else {
            let (dx, dy) = (rng.random_range(-140.0..-10.0), rng.random_range(-140.0..-10.0));
            [center[0] + dx, center[1] + dy, center[0] + dx + 300.0, center[1] + dy + 300.0]
        };
        let json = c == 1;
        let url = format!("ws://{}/ws{}", server.addr, if json { "?format=json" } else { "" });
        let (sent, samples, wire, stop, probe_name) =
            (sent.clone(), samples.clone(), wire.clone(), stop.clone(), probe_id.clone());
        let viewer = tokens.viewer.clone();
        handles.push(rt.spawn(async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
            let mut request = url.into_client_request().unwrap();
            if let Some(t) = viewer {
                request.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
            let sub = ClientMessage::Subscribe { bbox: Bbox(bbox), crs: BboxCrs::Local, layers: LayerSet(0b0100) };
            let msg = if json {
                Message::Text(gridwall_protocol::json::encode_client(&sub).into())
            } else {
                Message::Binary(encode_client(&sub).into())
            };
            ws.send(msg).await.unwrap();
            let mut dec = ServerDecoder::new();
            let mut probe: Option<u32> = None;
            while !stop.load(Ordering::Relaxed) {
                let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await else {
                    continue;
                };
                let at = Instant::now();
                let (len, msg) = match m {
                    Message::Binary(b) => (b.len(), dec.decode(&b).unwrap()),
                    Message::Text(t) => (t.len(), gridwall_protocol::json::decode_server(t.as_str()).unwrap()),
                    _ => continue,
                };
                let (moved, entered) = match msg {
                    ServerMessage::Delta { moved, entered, .. } => (moved, entered),
                    ServerMessage::Snapshot { patrols, .. } => (Vec::new(), patrols),
                    _ => continue,
                };
                if c < 2 && entered.is_empty() && !moved.is_empty() {
                    wire[c * 2].fetch_add(len as u64, Ordering::Relaxed);
                    wire[c * 2 + 1].fetch_add(moved.len() as u64, Ordering::Relaxed);
                }
                if c >= 2 {
                    probe = probe.or_else(|| entered.iter().find(|p| p.name == probe_name).map(|p| p.pos.id));
                    let Some(probe) = probe else { continue };
                    let xs = moved
                        .iter()
                        .filter(|p| p.id == probe)
                        .map(|p| p.x)
                        .chain(entered.iter().filter(|p| p.pos.id == probe).map(|p| p.pos.x));
                    for x in xs {
                        if let Some(t) = sent.lock().unwrap().get(&((x * 100.0).round() as i64)) {
                            samples.lock().unwrap().push(at.duration_since(*t).as_secs_f64() * 1000.0);
                        }
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    // Load: every patrol once a second, paced in 10 slices per second, plus the probe every 50 ms.
    let t0 = now_ms();
    // The bodies of each second are made just ahead of it (a long soak would not fit in memory).
    let (next_second, seconds_of_bodies) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(2);
    let maker = {
        let (n, seconds, crs, origin, binary) =
            (a.patrols, a.seconds, manifest.crs.clone(), (manifest.origin[0], manifest.origin[1]), a.binary);
        std::thread::spawn(move || {
            let frame = SceneFrame::new(&crs, origin).unwrap();
            for s in 0..seconds {
                if next_second.send(bodies(&mut walkers, 0..n, &frame, t0 + s as i64 * 1000, binary)).is_err() {
                    return;
                }
            }
        })
    };
    let load_url = format!("{base}/api/v1/positions");
    let probe_url = load_url.clone();
    let stop_probe = Arc::new(AtomicBool::new(false));
    let probe_thread = {
        let (sent, stop_probe, frame_crs, origin) =
            (sent.clone(), stop_probe.clone(), manifest.crs.clone(), (manifest.origin[0], manifest.origin[1]));
        let probe_token = tokens.device(a.patrols).map(str::to_owned);
        std::thread::spawn(move || {
            let frame = SceneFrame::new(&frame_crs, origin).unwrap();
            let agent = agent();
            let mut k = 0i64;
            // Steady state: the first seconds of load bring every patrol into every view at
            // once (all of them `entered`); the probe starts after that warm-up.
            std::thread::sleep(Duration::from_secs(WARM_UP_S));
            while !stop_probe.load(Ordering::Relaxed) {
                k += 1;
                // A fresh x each time (0.37 m steps), so every move is recognisable by position.
                let x = center[0] - 5.0 + (k % 100) as f64 * 0.37 + 0.001;
                let (lon, lat) = frame.to_wgs84(x, center[1]).unwrap();
                let body = format!(
                    r#"[{{"patrol_id":"{probe_id}","lon":{lon:.9},"lat":{lat:.9},"ts":"{}"}}]"#,
                    gridwall_city::ingest::format_time(now_ms())
                );
                // The key is the position the server will hold (after the round trip through
                // WGS84 and back, at centimetre resolution).
                let local = frame.to_local(lon, lat).unwrap();
                sent.lock().unwrap().insert((local.0 * 100.0).round() as i64, Instant::now());
                post(&agent, &probe_url, body.as_bytes(), probe_token.as_deref());
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let t = Instant::now();
    let load_agent = agent();
    let mut report = Instant::now();
    let mut seen = 0;
    let mut cpu_before = (cpu_seconds("tokio-rt-worker"), cpu_seconds("gridwall-store"));
    for (s, second) in seconds_of_bodies.iter().enumerate() {
        if a.report_every > 0 && report.elapsed() >= Duration::from_secs(a.report_every) {
            let window = report.elapsed().as_secs_f64();
            report = Instant::now();
            let cpu = (cpu_seconds("tokio-rt-worker"), cpu_seconds("gridwall-store"));
            // This window's samples only.
            let mut lat: Vec<f64> = {
                let all = samples.lock().unwrap();
                let window = all[seen.min(all.len())..].to_vec();
                seen = all.len();
                window
            };
            let (p50, p99) = if lat.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99))
            };
            println!(
                "  t={s:>4} s  rss {:>5} MB  server CPU {:.0} % workers + {:.0} % storage  latency p50 {p50:.1} ms p99 {p99:.1} ms ({} samples)  behind {:+.2} s",
                rss_mb(),
                (cpu.0 - cpu_before.0) / window * 100.0,
                (cpu.1 - cpu_before.1) / window * 100.0,
                lat.len(),
                t.elapsed().as_secs_f64() - s as f64
            );
            cpu_before = cpu;
        }
        for (i, body) in second.iter().enumerate() {
            let due = Duration::from_millis(s as u64 * 1000 + (i * 1000 / second.len()) as u64);
            if let Some(wait) = due.checked_sub(t.elapsed()) {
                std::thread::sleep(wait);
            }
            assert_eq!(post(&load_agent, &load_url, body, tokens.device(i * 1000)), 202);
        }
    }
    let behind = t.elapsed().as_secs_f64() - a.seconds as f64;
    maker.join().unwrap();
    stop_probe.store(true, Ordering::Relaxed);
    probe_thread.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for h in handles {
            let _ = h.await;
        }
    });
    println!(
        "load: {} positions/s for {} s, probe after {WARM_UP_S} s warm-up (load generator finished {behind:+.2} s vs schedule)",
        a.patrols, a.seconds
    );
    let w: Vec<u64> = wire.iter().map(|v| v.load(Ordering::Relaxed)).collect();
    if w[1] > 0 && w[3] > 0 {
        println!(
            "wire, whole-scene display: binary {:.2} bytes per patrol update ({} updates), JSON {:.1} bytes per update",
            w[0] as f64 / w[1] as f64,
            w[1],
            w[2] as f64 / w[3] as f64
        );
    }
    let mut s = samples.lock().unwrap().clone();
    if s.is_empty() {
        println!("no latency samples (probe not seen)");
    } else {
        let n = s.len();
        let (p50, p99, max) = (percentile(&mut s, 0.5), percentile(&mut s, 0.99), percentile(&mut s, 1.0));
        println!(
            "ingest-to-client latency, {} displays at {} Hz ticks, {}, server on {} workers: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms ({n} samples)",
            a.clients,
            a.tick_hz,
            if a.flush_ms == 0 {
                "moves on the tick".to_owned()
            } else {
                format!("moves pushed after {} ms", a.flush_ms)
            },
            a.workers
        );
    }
    drop(server);
    // What the track history made of the run (closed minutes are in chunks, the rest waits in
    // the journal).
    let db = dir.join("gridwall.sqlite");
    match gridwall_store::history::open_reader(&db).and_then(|c| gridwall_store::history::reader::sizes(&c)) {
        Ok(h) if h.chunk_fixes > 0 => println!(
            "history: {} fixes in {} track chunks, {:.2} bytes a fix; {} keyframes, {:.2} bytes a chunked fix; {} fixes still in the journal; store {:.0} MB",
            h.chunk_fixes,
            h.chunks,
            h.chunk_bytes as f64 / h.chunk_fixes as f64,
            h.keyframes,
            h.keyframe_bytes as f64 / h.chunk_fixes as f64,
            h.journal_fixes,
            std::fs::metadata(&db).map_or(0.0, |m| m.len() as f64 / 1e6)
        ),
        Ok(h) => println!("history: nothing moved into chunks yet ({} fixes in the journal)", h.journal_fixes),
        Err(e) => println!("history: {e}"),
    }
}
