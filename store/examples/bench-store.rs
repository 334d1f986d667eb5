//! The two stores side by side in one run: the same records, queued the way the live backend
//! queues them (many writers, group commit on the storage thread), into the embedded `SQLite`
//! store and into PostgreSQL 15 + PostGIS (a fresh server in a temporary folder, testkit's
//! `TempPostgres`, on the same machine).
//!
//! 1. Position fixes: batches of 1,000 (a device batch), as fast as the store takes them.
//! 2. Workflow writes: an incident opened or stepped with its event and audit entry, each one
//!    acknowledged before the next from the same writer, 16 writers at once.
//!
//! ```sh
//! cargo run -p gridwall-store --example bench-store -- --seconds 10
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwall_city::access::AuditEntry;
use gridwall_city::records::{IncidentRow, Record, TrackPoint};
use gridwall_city::workflow::{Action, Case, TimeLimits};
use gridwall_protocol::IncidentCategory;
use gridwall_store::{CityKey, PostgresStore, SqliteStore, Store, StoreWriter};
use gridwall_testkit::now_ms;
use gridwall_testkit::postgres::TempPostgres;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn seconds() -> f64 {
    let mut it = std::env::args().skip(1);
    let mut s = 10.0;
    while let Some(k) = it.next() {
        match k.as_str() {
            "--seconds" => s = it.next().and_then(|v| v.parse().ok()).expect("--seconds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    s
}

/// Fixes per second through the writer: 8 producers each keep 4 batches of 1,000 in flight.
fn fixes(writer: &StoreWriter, secs: f64) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for p in 0..8u32 {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = ChaCha8Rng::seed_from_u64(u64::from(p));
                let mut n = 0u64;
                let mut flight = std::collections::VecDeque::new();
                while Instant::now() < end {
                    let t = now_ms();
                    let points: Vec<TrackPoint> = (0..1000u32)
                        .map(|i| TrackPoint {
                            patrol: p * 1000 + i,
                            t_ms: t,
                            x: rng.random_range(-500.0..500.0),
                            y: rng.random_range(-500.0..500.0),
                        })
                        .collect();
                    flight.push_back(w.submit(vec![Record::Track(points)]).unwrap());
                    if flight.len() >= 4 {
                        flight.pop_front().unwrap().await.unwrap().unwrap();
                        n += 1000;
                    }
                }
                for f in flight {
                    f.await.unwrap().unwrap();
                    n += 1000;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / t0.elapsed().as_secs_f64()
    })
}

/// Acknowledged workflow commits per second: 16 writers, each waiting for its commit.
fn workflow(writer: &StoreWriter, secs: f64) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let limits = Arc::new(TimeLimits::default());
    rt.block_on(async {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let t0 = Instant::now();
        let seq = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let mut tasks = Vec::new();
        for wid in 0..16u64 {
            let (w, limits, seq) = (writer.clone(), limits.clone(), seq.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut k = 0u64;
                while Instant::now() < end {
                    let id = wid * 1_000_000 + k / 2;
                    let t = now_ms();
                    let mut case = Case::accept(IncidentCategory::Garbage, t, "12345", &limits);
                    if k % 2 == 1 {
                        case.apply(&Action::Dispatch { assignee: "P-1".into() }, "指挥长", "", t, &limits).unwrap();
                    }
                    let s = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let records = vec![
                        Record::Incident(IncidentRow {
                            id,
                            category: "garbage".into(),
                            source: "hotline".into(),
                            x: 12.0,
                            y: -40.0,
                            grid: "370783001001001".into(),
                            description: "垃圾满溢".into(),
                            case,
                        }),
                        Record::Event {
                            seq: s,
                            time_ms: t,
                            json: format!(r#"{{"seq":{s},"event":"incident_changed"}}"#),
                        },
                        Record::Audit(AuditEntry {
                            t_ms: t,
                            actor: "指挥长".into(),
                            role: "commander".into(),
                            address: "127.0.0.1".into(),
                            action: "dispatch".into(),
                            target: id.to_string(),
                            outcome: "ok".into(),
                        }),
                    ];
                    w.write(records).await.unwrap();
                    n += 1;
                    k += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total as f64 / t0.elapsed().as_secs_f64()
    })
}

fn run(name: &str, make: impl Fn() -> Box<dyn FnOnce() -> StoreWriter>, secs: f64) {
    let f = fixes(&make()(), secs);
    let w = workflow(&make()(), secs);
    println!("| {name} | {f:.0} fixes/s | {w:.0} acknowledged workflow commits/s |");
}

fn spawn(s: impl Store) -> StoreWriter {
    StoreWriter::spawn(s)
}

fn main() {
    let secs = seconds();
    println!("each measure {secs} s; 2-core machine, the store's server (if any) on the same cores");
    println!("| store | position fixes (batches of 1,000) | workflow writes (incident + event + audit) |");
    println!("|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicU32::new(0);
    run(
        "SQLite (WAL, synchronous = FULL)",
        || {
            let d = dir.path().join(n.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string());
            Box::new(move || spawn(SqliteStore::open(&d).unwrap()))
        },
        secs,
    );
    let pg = TempPostgres::start();
    let city = CityKey { city: "bench".into(), crs: "EPSG:32635".into(), origin: [385_945.0, 6_672_301.0] };
    let url = pg.url();
    run(
        "PostgreSQL 15 + PostGIS 3 (synchronous_commit = on, COPY BINARY)",
        || {
            let (url, city) = (url.clone(), city.clone());
            Box::new(move || spawn(PostgresStore::open(&url, city, true).unwrap()))
        },
        secs,
    );
    let size = pg.psql("gridwall", "SELECT pg_total_relation_size('fixes') + coalesce((SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'fixes'::regclass), 0)");
    let rows = pg.psql("gridwall", "SELECT count(*) FROM fixes");
    println!(
        "PostgreSQL: {rows} fixes take {} bytes with their indexes = {:.1} bytes a fix",
        size,
        size.parse::<f64>().unwrap() / rows.parse::<f64>().unwrap().max(1.0)
    );
}
