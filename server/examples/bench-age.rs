//! A city's age against its live figures (issue 19): a real `gridwall-server serve` process on a
//! store with a past (`gridwall-server synth-history`) or none, with the simulator running, is
//! measured as an operator would: start-up to the first answer, resident memory, time the tick
//! holds the live lock, `GET /api/v1/kpis` (city-wide, and a street's quarter) and the Open311
//! list (the 90-day default window, and the open ones) latencies.
//!
//! ```sh
//! gridwall-server synth-history --scene scenes/helsinki --data /tmp/age-3300 --days 365 --per-day 3300
//! $CARGO_TARGET_DIR/debug/examples/bench-age --data /tmp/age-3300 --rate 137 --seconds 60
//! $CARGO_TARGET_DIR/debug/examples/bench-age --data /tmp/age-fresh --rate 137 --seconds 60
//! ```
//! (`--store postgres://…` for PostgreSQL; ingest and ingest → display are `bench-live --data`.)

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridwall_testkit::paths::helsinki;
use gridwall_testkit::server::agent;

struct Args {
    data: PathBuf,
    store: Option<String>,
    rate: f64,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args { data: PathBuf::from("/tmp/gridwall-age"), store: None, rate: 137.0, seconds: 60 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--data" => a.data = PathBuf::from(v),
            "--store" => a.store = Some(v),
            "--rate" => a.rate = v.parse().expect("--rate TICKETS_PER_HOUR"),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A log line without its colours (ANSI escapes).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q) as usize]
}

/// Milliseconds each GET of `path` took, every `every`, until `until`.
fn poll(base: &str, path: &str, every: Duration, until: Instant) -> Vec<f64> {
    let agent = agent();
    let mut out = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        let r = agent.get(&format!("{base}{path}")).call();
        let status = r.map(|mut r| {
            let _ = r.body_mut().read_to_vec();
            r.status().as_u16()
        });
        assert!(status.as_ref().is_ok_and(|s| *s == 200), "{path}: {status:?}");
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(every.saturating_sub(t.elapsed()));
    }
    out
}

fn main() {
    let a = args();
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("gridwall-server");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--scene"])
        .arg(helsinki())
        .arg("--data")
        .arg(&a.data)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--simulate", "--warmup", "0"])
        .args(["--incident-rate", &a.rate.to_string()])
        .env("RUST_LOG", "info,gridwall_backend=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = &a.store {
        cmd.args(["--store", url]);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the server starts");
    let pid = child.id();
    // The tick's lock times, as the server logs them.
    let ticks: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
    let stderr = child.stderr.take().unwrap();
    let log = ticks.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = plain(&line);
            if line.contains("time under the live lock") {
                let field = |k: &str| -> f64 {
                    let at = line.find(&format!("{k}=")).map(|i| i + k.len() + 1);
                    at.and_then(|i| line[i..].split(' ').next()?.parse().ok()).unwrap_or(f64::NAN)
                };
                log.lock().unwrap().push((field("p50_ms"), field("p99_ms")));
            } else if line.contains("ERROR") || line.contains("restored") {
                eprintln!("server: {line}");
            }
        }
    });
    let agent = agent();
    loop {
        if agent.get(&format!("{base}/api/v1/kpis")).call().is_ok_and(|r| r.status() == 200) {
            break;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!("the server exited: {s}");
        }
        assert!(started.elapsed() < Duration::from_mins(10), "no answer in ten minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let startup = started.elapsed().as_secs_f64();
    let rss_start = rss_mb(pid);
    let (_, grids) = gridwall_testkit::server::call("GET", &format!("{base}/api/v1/grids"), "", b"");
    let street = grids["grids"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["level"] == "street")
        .and_then(|g| g["code"].as_str())
        .unwrap()
        .to_owned();
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let b = base.clone();
    let kpis = std::thread::spawn(move || poll(&b, "/api/v1/kpis", Duration::from_millis(50), until));
    let b = base.clone();
    let street_q = format!("/api/v1/kpis?scope={street}&period=quarter");
    let quarter = std::thread::spawn(move || poll(&b, &street_q, Duration::from_millis(100), until));
    let b = base.clone();
    let open311 = std::thread::spawn(move || poll(&b, "/open311/v2/requests.json", Duration::from_millis(500), until));
    let b = base.clone();
    let open =
        std::thread::spawn(move || poll(&b, "/open311/v2/requests.json?status=open", Duration::from_secs(1), until));
    let (mut kpis, mut quarter, mut open311, mut open) =
        (kpis.join().unwrap(), quarter.join().unwrap(), open311.join().unwrap(), open.join().unwrap());
    let rss_end = rss_mb(pid);
    let (_, k) = gridwall_testkit::server::call("GET", &format!("{base}/api/v1/kpis"), "", b"");
    let _ = child.kill();
    let _ = child.wait();
    let ticks = ticks.lock().unwrap().clone();
    // The first report covers the start; the rest are steady.
    let steady: Vec<(f64, f64)> = ticks.iter().skip(1).copied().collect();
    let mut p50: Vec<f64> = steady.iter().map(|t| t.0).collect();
    let mut p99: Vec<f64> = steady.iter().map(|t| t.1).collect();
    println!(
        "city: {} incidents, {} open; start-up to the first answer {startup:.2} s; RSS {rss_start:.0} MB at start, {rss_end:.0} MB after {} s",
        k["kpis"]["total"], k["kpis"]["open"], a.seconds
    );
    println!(
        "tick under the live lock: p50 {:.2} ms, p99 {:.2} ms (medians of {} ten-second reports)",
        pct(&mut p50, 0.5),
        pct(&mut p99, 0.5),
        steady.len()
    );
    for (name, v) in [
        ("GET /api/v1/kpis", &mut kpis),
        ("GET /api/v1/kpis?scope=STREET&period=quarter", &mut quarter),
        ("GET /open311/v2/requests.json", &mut open311),
        ("GET /open311/v2/requests.json?status=open", &mut open),
    ] {
        println!("{name}: p50 {:.2} ms, p99 {:.2} ms ({} requests)", pct(v, 0.5), pct(v, 0.99), v.len());
    }
}
