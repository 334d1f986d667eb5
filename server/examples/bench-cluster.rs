//! Servers sharing a city, measured side by side in one run on this machine: 1, 2 and 4
//! `gridwall-server serve --store postgres://… --bus nats://…` processes on one PostgreSQL 15 and
//! one nats-server (both started here in temporary folders, fresh for each count).
//!
//! 1. Ingest: `--patrols` devices' position batches (1,000 fixes, JSON over HTTP) spread over
//!    the servers, two keep-alive senders per server, for `--seconds`: positions acknowledged
//!    per second (each one committed to PostgreSQL before its 202).
//! 2. Ingest to display across servers (two servers): a display on the follower, a probe
//!    patrol posted to the leader every 50 ms while every patrol reports once a second through
//!    either server; post sent → move decoded on the display, p50/p99.
//!
//! ```sh
//! cargo build -p gridwall-server --bins --examples
//! $CARGO_TARGET_DIR/debug/examples/bench-cluster --patrols 20000 --seconds 10
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gridwall_protocol::{BboxCrs, Layer, ServerMessage};
use gridwall_testkit::display::DisplayClient;
use gridwall_testkit::nats::TempNats;
use gridwall_testkit::now_ts;
use gridwall_testkit::postgres::TempPostgres;
use gridwall_testkit::process::ServerProcess;
use gridwall_testkit::server::{agent, call, helsinki_frame};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Args {
    counts: Vec<usize>,
    patrols: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args { counts: vec![1, 2, 4], patrols: 20_000, seconds: 10 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--instances" => a.counts = v.split(',').map(|n| n.parse().expect("counts like 1,2,4")).collect(),
            "--patrols" => a.patrols = v.parse().expect("--patrols N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// The server binary beside this example (`target/debug/gridwall-server`).
fn server_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("this example's path");
    let bin = exe.parent().and_then(|p| p.parent()).expect("target/debug").join("gridwall-server");
    assert!(bin.exists(), "{} is missing: cargo build -p gridwall-server --bins", bin.display());
    bin
}

struct Cluster {
    servers: Vec<ServerProcess>,
    _data: Vec<tempfile::TempDir>,
    _pg: TempPostgres,
    _nats: TempNats,
}

fn role(base: &str) -> String {
    call("GET", &format!("{base}/api/v1/cluster"), "", b"").1["role"].as_str().unwrap_or_default().to_owned()
}

fn change(base: &str) -> u64 {
    call("GET", &format!("{base}/api/v1/cluster"), "", b"").1["change"].as_u64().unwrap_or_default()
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_mins(1);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cluster(n: usize, patrols: usize) -> Cluster {
    let pg = TempPostgres::start();
    let nats = TempNats::start();
    let (store, bus) = (pg.url(), nats.url());
    let mut servers = Vec::new();
    let mut data = Vec::new();
    for i in 0..n {
        let d = tempfile::tempdir().unwrap();
        let name = format!("s{i}");
        let p = ServerProcess::spawn(&server_bin(), d.path(), &["--store", &store, "--bus", &bus, "--instance", &name]);
        if i == 0 {
            let base = p.base.clone();
            wait("a leader", || role(&base) == "leader");
        }
        servers.push(p);
        data.push(d);
    }
    let leader = servers[0].base.clone();
    for chunk in (0..patrols).collect::<Vec<_>>().chunks(10_000) {
        let regs: Vec<String> = chunk.iter().map(|i| format!(r#"{{"patrol_id":"B{i}","role":"police"}}"#)).collect();
        let (st, b) = call(
            "POST",
            &format!("{leader}/api/v1/patrols"),
            "application/json",
            format!("[{}]", regs.join(",")).as_bytes(),
        );
        assert_eq!(st, 200, "{b}");
    }
    let target = change(&leader);
    for s in &servers {
        let base = s.base.clone();
        wait("the registrations everywhere", || change(&base) >= target);
    }
    Cluster { servers, _data: data, _pg: pg, _nats: nats }
}

/// JSON batches of 1,000 positions for `range` of the patrols, at seeded points.
fn batches(range: std::ops::Range<usize>, rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let frame = helsinki_frame();
    let ts = now_ts();
    let ids: Vec<usize> = range.collect();
    ids.chunks(1000)
        .map(|chunk| {
            let items: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let (lon, lat) =
                        frame.to_wgs84(rng.random_range(-400.0..400.0), rng.random_range(-600.0..600.0)).unwrap();
                    format!(r#"{{"patrol_id":"B{i}","lon":{lon:.7},"lat":{lat:.7},"ts":"{ts}"}}"#)
                })
                .collect();
            format!("[{}]", items.join(",")).into_bytes()
        })
        .collect()
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> u16 {
    match agent.post(url).header("content-type", "application/json").send(body) {
        Ok(mut r) => {
            let _ = r.body_mut().read_to_string();
            r.status().as_u16()
        }
        Err(_) => 0,
    }
}

/// Positions acknowledged per second, senders spread over the servers.
fn ingest(c: &Cluster, patrols: usize, seconds: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let bodies = Arc::new(batches(0..patrols, &mut rng));
    let acked = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let mut senders = Vec::new();
    for (k, s) in c.servers.iter().enumerate() {
        for j in 0..2 {
            let (bodies, acked, url) = (bodies.clone(), acked.clone(), format!("{}/api/v1/positions", s.base));
            senders.push(std::thread::spawn(move || {
                let a = agent();
                let mut i = k * 2 + j;
                while Instant::now() < end {
                    let body = &bodies[i % bodies.len()];
                    if post(&a, &url, body) == 202 {
                        acked.fetch_add(1000, Ordering::Relaxed);
                    }
                    i += 7;
                }
            }));
        }
    }
    for s in senders {
        s.join().unwrap();
    }
    acked.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q) as usize]
}

/// Post to the leader → decoded on a display of the follower, under a 1 Hz load of every patrol.
fn latency(c: &Cluster, patrols: usize, seconds: u64) -> (f64, f64, usize) {
    let (leader, follower) = (&c.servers[0], &c.servers[1]);
    let addr = format!("127.0.0.1:{}", follower.port).parse().unwrap();
    let mut display = DisplayClient::connect(addr, false);
    let ServerMessage::Snapshot { patrols: seen, .. } =
        display.subscribe([-100.0, -100.0, 100.0, 100.0], BboxCrs::Local, &[Layer::Patrols])
    else {
        unreachable!()
    };
    drop(seen);
    std::thread::sleep(Duration::from_secs(1)); // the follower subscribes to the tiles
    let stop = Arc::new(AtomicBool::new(false));
    // Background: every patrol once a second, half through each server.
    let mut load = Vec::new();
    for (k, s) in c.servers.iter().enumerate().take(2) {
        let (stop, url) = (stop.clone(), format!("{}/api/v1/positions", s.base));
        let range = if k == 0 { 1..patrols / 2 } else { patrols / 2..patrols };
        load.push(std::thread::spawn(move || {
            let a = agent();
            let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                for b in batches(range.clone(), &mut rng) {
                    post(&a, &url, &b);
                }
                std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
            }
        }));
    }
    // The probe: patrol B0 near the origin, posted to the leader.
    let sent: Arc<std::sync::Mutex<std::collections::HashMap<i64, Instant>>> = Arc::default();
    let probe = {
        let (stop, sent, url) = (stop.clone(), sent.clone(), format!("{}/api/v1/positions", leader.base));
        std::thread::spawn(move || {
            let a = agent();
            let frame = helsinki_frame();
            let mut k = 0i64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let x = (k % 100) as f64 * 0.5 - 25.0;
                let (lon, lat) = frame.to_wgs84(x, 10.0).unwrap();
                let body = format!(r#"[{{"patrol_id":"B0","lon":{lon:.9},"lat":{lat:.9},"ts":"{}"}}]"#, now_ts());
                sent.lock().unwrap().insert((x * 10.0).round() as i64, Instant::now());
                post(&a, &url, body.as_bytes());
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut samples = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        if let Some(ServerMessage::Delta { moved, entered, .. }) = display.next(Duration::from_millis(100)) {
            let now = Instant::now();
            for (x, y) in moved.iter().map(|p| (p.x, p.y)).chain(entered.iter().map(|p| (p.pos.x, p.pos.y))) {
                if (y - 10.0).abs() < 0.05
                    && let Some(t) = sent.lock().unwrap().remove(&((x * 10.0).round() as i64))
                {
                    samples.push(now.duration_since(t).as_secs_f64() * 1000.0);
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    probe.join().unwrap();
    for l in load {
        l.join().unwrap();
    }
    let n = samples.len();
    assert!(n > 10, "only {n} probe moves arrived");
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99), n)
}

fn main() {
    let a = args();
    println!(
        "{} patrols, {} s per measure, {} cores; PostgreSQL 15 and nats-server on the same machine",
        a.patrols,
        a.seconds,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
    );
    let mut base = None;
    for &n in &a.counts {
        let c = cluster(n, a.patrols);
        let rate = ingest(&c, a.patrols, a.seconds);
        let ratio = rate / *base.get_or_insert(rate);
        println!("| {n} | {rate:.0} positions/s | {ratio:.2}× |");
        if n >= 2 {
            let (p50, p99, samples) = latency(&c, a.patrols, a.seconds);
            println!(
                "  across servers, post to the leader → decoded on the follower's display: p50 {p50:.1} ms, p99 {p99:.1} ms ({samples} probe moves, {} patrols at 1 Hz)",
                a.patrols
            );
        }
    }
}
