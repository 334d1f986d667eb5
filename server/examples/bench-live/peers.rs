//! The peers (`--peers`), in the same run and on the same fixes as part 1: Redis 7 `GEOADD`
//! with its append-only file fsynced on every write (`appendfsync always`) and every second
//! (`everysec`), and PostGIS `COPY` into a table of fixes, a transaction per batch of 1,000
//! (`synchronous_commit = on`), with and without a `GiST` index on the points. Each is started here
//! on a free port in a temporary folder and stopped after; its CPU is read from `/proc` (every
//! thread of `redis-server`; every process of the PostgreSQL cluster).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridwall_protocol::binary::decode_positions;
use gridwall_testkit::postgres::TempPostgres;

/// What a peer took, how fast, and at what CPU.
pub struct PeerRun {
    pub name: String,
    /// What an acknowledgement promises.
    pub durability: &'static str,
    pub positions: usize,
    pub secs: f64,
    pub cpu: f64,
}

impl PeerRun {
    pub fn per_cpu_second(&self) -> f64 {
        self.positions as f64 / self.cpu.max(0.01)
    }
}

/// One batch's fixes: id, lon, lat, ms.
type Fixes = Vec<(String, f64, f64, i64)>;

/// The fixes of part 1's binary bodies.
pub fn fixes_of(bodies: &[Vec<u8>]) -> Vec<Fixes> {
    bodies
        .iter()
        .map(|b| {
            decode_positions(b)
                .expect("a binary batch")
                .fixes
                .into_iter()
                .map(|f| (f.patrol_id.into_owned(), f.lon, f.lat, f.t_ms))
                .collect()
        })
        .collect()
}

/// CPU seconds of a process (every thread), or of it and its children (`children`).
fn cpu_of(pid: u32, children: bool) -> f64 {
    let fields = |stat: &str| -> Option<(u32, u64)> {
        let close = stat.rfind(')')?;
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the name: state (3), ppid (4) … utime (14), stime (15).
        Some((rest.get(1)?.parse().ok()?, rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?))
    };
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((ppid, t)) = fields(&stat) else { continue };
        if p == pid || (children && ppid == pid) {
            ticks += t;
        }
    }
    ticks as f64 / 100.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis(fsync: &str) -> Redis {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "yes"])
        .args(["--appendfsync", fsync, "--protected-mode", "no", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (scripts/bench-peers installs it: apt-get install redis-server)");
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis { child, port, _dir: dir }
}

/// One RESP bulk string.
fn arg(out: &mut Vec<u8>, a: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

/// `GEOADD patrols lon lat id …` for one batch, in RESP.
fn geoadd(fixes: &Fixes) -> Vec<u8> {
    let mut out = format!("*{}\r\n", 2 + 3 * fixes.len()).into_bytes();
    arg(&mut out, b"GEOADD");
    arg(&mut out, b"patrols");
    for (id, lon, lat, _) in fixes {
        arg(&mut out, format!("{lon:.7}").as_bytes());
        arg(&mut out, format!("{lat:.7}").as_bytes());
        arg(&mut out, id.as_bytes());
    }
    out
}

/// Redis with `appendfsync` `fsync`: three connections, each pipelining four batches at a time.
pub fn redis(batches: &[Fixes], fsync: &'static str) -> PeerRun {
    let server = start_redis(fsync);
    let commands: Vec<Vec<u8>> = batches.iter().map(geoadd).collect();
    let positions: usize = batches.iter().map(Vec::len).sum();
    let queue = Arc::new(Mutex::new(commands));
    let (t, cpu0) = (Instant::now(), cpu_of(server.child.id(), false));
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let (q, port) = (queue.clone(), server.port);
            std::thread::spawn(move || {
                let mut w = TcpStream::connect(("127.0.0.1", port)).unwrap();
                w.set_nodelay(true).unwrap();
                let mut r = BufReader::new(w.try_clone().unwrap());
                loop {
                    let some: Vec<Vec<u8>> = {
                        let mut q = q.lock().unwrap();
                        let keep = q.len().saturating_sub(4);
                        q.split_off(keep)
                    };
                    if some.is_empty() {
                        return;
                    }
                    for c in &some {
                        w.write_all(c).unwrap();
                    }
                    for _ in &some {
                        let mut line = String::new();
                        r.read_line(&mut line).unwrap();
                        assert!(line.starts_with(':'), "GEOADD answered {line}");
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_of(server.child.id(), false) - cpu0);
    let durability = if fsync == "always" {
        "AOF fsynced before each reply"
    } else {
        "AOF fsynced once a second: a crash loses up to a second"
    };
    PeerRun { name: format!("Redis 7 GEOADD, appendfsync {fsync}"), durability, positions, secs, cpu }
}

/// PostGIS `COPY` of every fix into `fixes`, a transaction per batch, over three connections;
/// with a `GiST` index on the points (`gist`) or none.
pub fn postgis(batches: &[Fixes], gist: bool) -> PeerRun {
    let pg = TempPostgres::start();
    let url = pg.url();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE TABLE fixes (patrol_id text NOT NULL, t timestamptz NOT NULL, geom geometry(Point, 4326) NOT NULL)",
        )
        .unwrap();
    if gist {
        admin.batch_execute("CREATE INDEX fixes_geom ON fixes USING gist (geom)").unwrap();
    }
    let rows: Vec<Vec<u8>> = batches
        .iter()
        .map(|b| {
            let mut out = Vec::with_capacity(b.len() * 64);
            for (id, lon, lat, t) in b {
                let ts = gridwall_city::ingest::format_time_ms(*t);
                writeln!(out, "{id}\t{ts}\tSRID=4326;POINT({lon:.7} {lat:.7})").unwrap();
            }
            out
        })
        .collect();
    let positions: usize = batches.iter().map(Vec::len).sum();
    let pid: u32 = std::fs::read_to_string(pg.data_dir().join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        .expect("postmaster.pid");
    let queue = Arc::new(Mutex::new(rows));
    let (t, cpu0) = (Instant::now(), cpu_of(pid, true));
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let (q, url) = (queue.clone(), url.clone());
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                loop {
                    // The connection stays open until its backend's CPU is counted.
                    let Some(body) = q.lock().unwrap().pop() else { return c };
                    let mut tx = c.transaction().unwrap();
                    let mut w = tx.copy_in("COPY fixes (patrol_id, t, geom) FROM STDIN").unwrap();
                    w.write_all(&body).unwrap();
                    w.finish().unwrap();
                    tx.commit().unwrap();
                }
            })
        })
        .collect();
    let clients: Vec<postgres::Client> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_of(pid, true) - cpu0);
    drop(clients);
    let stored: i64 = admin.query_one("SELECT count(*) FROM fixes", &[]).unwrap().get(0);
    assert_eq!(stored as usize, positions, "every fix stored");
    PeerRun {
        name: format!(
            "PostGIS 3.3 COPY (PostgreSQL 15), {}",
            if gist { "GiST index on the points" } else { "no index" }
        ),
        durability: "committed (fsync, synchronous_commit on) before each COPY's answer",
        positions,
        secs,
        cpu,
    }
}
