//! Faults with real processes: a damaged, missing or swapped store refused at start (never a
//! silent empty start); a full disk refusing writes with 503 while keeping what it had, and
//! taking writes again once there is room; a thousand socket connect/drop cycles leaving the
//! server's memory where it was.

use std::path::Path;
use std::time::Duration;

use gridwall_protocol::{BboxCrs, EventKind, Layer, ServerMessage};
use gridwall_testkit::display::DisplayClient;
use gridwall_testkit::now_ms;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::process::ServerProcess;
use gridwall_testkit::server::{call, helsinki_frame};
use serde_json::{Value, json as j};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gridwall-server"))
}

fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    call("POST", &format!("{base}{path}"), "application/json", body.to_string().as_bytes())
}

/// A store with one patrol and one incident in it.
fn a_city(data: &Path) {
    let s = ServerProcess::spawn(bin(), data, &[]);
    assert_eq!(post(&s.base, "/api/v1/patrols", &j!([{"patrol_id":"K-1","role":"police","grid":CELL}])).0, 200);
    let (lon, lat) = helsinki_frame().to_wgs84(10.0, 10.0).unwrap();
    let body = j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string()});
    assert_eq!(post(&s.base, "/open311/v2/requests.json", &body).0, 201);
    s.kill_9();
}

/// Whether a frame tells of a new incident.
fn opened(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Delta { events, .. } if events.iter().any(|e| matches!(e.kind, EventKind::IncidentOpened { .. })))
}

fn incidents(base: &str) -> usize {
    call("GET", &format!("{base}/open311/v2/requests.json"), "", b"").1.as_array().map_or(0, Vec::len)
}

#[test]
fn a_damaged_missing_or_swapped_store_is_refused_never_started_empty() {
    let data = tempfile::tempdir().unwrap();
    a_city(data.path());
    let db = data.path().join("gridwall.sqlite");
    let keep = tempfile::tempdir().unwrap();
    let files = ["gridwall.sqlite", "gridwall.sqlite-wal", "gridwall.sqlite-shm"];
    let save = || {
        for f in files {
            let _ = std::fs::copy(data.path().join(f), keep.path().join(f));
        }
    };
    let restore = || {
        for f in files {
            let _ = std::fs::remove_file(data.path().join(f));
            if keep.path().join(f).exists() {
                std::fs::copy(keep.path().join(f), data.path().join(f)).unwrap();
            }
        }
    };
    save();

    // The write-ahead log damaged (after a kill -9 the city is still in it): SQLite would
    // ignore it and open the older, empty database; the store's id says it is not the one.
    let wal = data.path().join("gridwall.sqlite-wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    assert!(bytes.len() > 32, "the city is in the log");
    bytes[..32].fill(0xA5);
    std::fs::write(&wal, &bytes).unwrap();
    let (status, said) = ServerProcess::refused(bin(), data.path(), &[]);
    assert!(!status.success());
    assert!(said.contains("is not the store created in this folder"), "{said}");
    restore();

    // The database's header overwritten (and no log to cover it).
    std::fs::remove_file(&wal).unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[..16].copy_from_slice(b"not a database!!");
    std::fs::write(&db, &bytes).unwrap();
    let (status, said) = ServerProcess::refused(bin(), data.path(), &[]);
    assert!(!status.success());
    assert!(said.contains("gridwall.sqlite") && said.contains("not a database"), "{said}");

    // Gone (with its log), as after a mistaken cleanup.
    for f in files {
        let _ = std::fs::remove_file(data.path().join(f));
    }
    let (status, said) = ServerProcess::refused(bin(), data.path(), &[]);
    assert!(!status.success());
    assert!(said.contains("is missing"), "{said}");

    // Another store put in its place.
    let other = tempfile::tempdir().unwrap();
    a_city(other.path());
    for f in files {
        let _ = std::fs::copy(other.path().join(f), data.path().join(f));
    }
    let (status, said) = ServerProcess::refused(bin(), data.path(), &[]);
    assert!(!status.success());
    assert!(said.contains("is not the store created in this folder"), "{said}");

    // Put back, it starts with what it had.
    restore();
    let s = ServerProcess::spawn(bin(), data.path(), &[]);
    assert_eq!(incidents(&s.base), 1);
}

#[test]
fn a_full_disk_refuses_writes_with_503_keeps_what_it_had_and_recovers() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("small.toml");
    // 64 pages of 4 KiB: a disk that fills after a few hundred kilobytes.
    std::fs::write(&config, "store_max_pages = 64\n").unwrap();
    let s = ServerProcess::spawn(bin(), &data.path().join("store"), &["--config", config.to_str().unwrap()]);
    assert_eq!(post(&s.base, "/api/v1/patrols", &j!([{"patrol_id":"K-1","role":"police"}])).0, 200);
    let frame = helsinki_frame();
    // A wall watching the city: it will see the first incident, and nothing that was refused.
    let mut wall = DisplayClient::connect(s.base.trim_start_matches("http://").parse().unwrap(), true);
    wall.subscribe([-2000.0, -2000.0, 2000.0, 2000.0], BboxCrs::Local, &[Layer::Incidents]);
    let (lon, lat) = frame.to_wgs84(5.0, 5.0).unwrap();
    let report = j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string()});
    assert_eq!(post(&s.base, "/open311/v2/requests.json", &report).0, 201);
    wall.until("the first incident", |m| opened(m).then_some(()));
    let t0 = now_ms() - 3_600_000;
    let mut acknowledged = 0;
    let mut refused = None;
    for batch in 0..400 {
        let fixes: Vec<Value> = (0..100)
            .map(|i| {
                let k = batch * 100 + i;
                let (lon, lat) = frame.to_wgs84(f64::from(k % 500), 5.0).unwrap();
                j!({"patrol_id":"K-1","lon":lon,"lat":lat,"ts":gridwall_city::ingest::format_time(t0 + i64::from(k) * 10)})
            })
            .collect();
        let (status, body) = post(&s.base, "/api/v1/positions", &Value::Array(fixes));
        if status == 202 {
            acknowledged += 100;
        } else {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the small disk filled up");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["field"], "storage", "{body}");
    assert!(acknowledged > 0);
    // Still serving reads while full, and what was refused is not in memory either.
    assert_eq!(call("GET", &format!("{}/api/v1/kpis", s.base), "", b"").0, 200);
    let from = gridwall_city::ingest::format_time(t0 - 1000);
    let (_, track) = call("GET", &format!("{}/api/v1/patrols/K-1/track?from={from}", s.base), "", b"");
    assert_eq!(track["points"].as_array().unwrap().len(), acknowledged, "the refused batch left no trace");
    // Small writes may still fit; report incidents until one does not.
    let mut taken = 1;
    loop {
        let (status, body) = post(&s.base, "/open311/v2/requests.json", &report);
        match status {
            201 => taken += 1,
            503 => break,
            _ => panic!("{status} {body}"),
        }
        assert!(taken < 1000, "the disk never filled");
    }
    assert_eq!(incidents(&s.base), taken, "the refused request is not listed");
    // The wall saw every incident that reached the disk, and none that did not.
    let mut shown = 1;
    let end = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < end {
        if let Some(ServerMessage::Delta { events, .. }) = wall.next(Duration::from_millis(200)) {
            shown += events.iter().filter(|e| matches!(e.kind, EventKind::IncidentOpened { .. })).count();
        }
    }
    assert_eq!(shown, taken);
    s.kill_9();

    // Room again (the cap lifted): everything acknowledged is there, and writes are taken.
    let s = ServerProcess::spawn(bin(), &data.path().join("store"), &[]);
    let (_, track) = call("GET", &format!("{}/api/v1/patrols/K-1/track?from={from}", s.base), "", b"");
    assert_eq!(track["points"].as_array().unwrap().len(), acknowledged, "every acknowledged fix survived");
    let (lon, lat) = frame.to_wgs84(1.0, 1.0).unwrap();
    let fix = j!([{"patrol_id":"K-1","lon":lon,"lat":lat,"ts":gridwall_city::ingest::format_time(now_ms())}]);
    assert_eq!(post(&s.base, "/api/v1/positions", &fix).0, 202);
}

#[test]
fn a_thousand_socket_connect_drop_cycles_leave_memory_where_it_was() {
    use tokio_tungstenite::tungstenite;
    let data = tempfile::tempdir().unwrap();
    let s = ServerProcess::spawn(bin(), data.path(), &[]);
    let ws = s.base.replace("http://", "ws://") + "/ws";
    let cycle = |n: usize| {
        for _ in 0..n {
            let (mut c, _) = tungstenite::connect(&ws).expect("a socket");
            c.send(tungstenite::Message::Text(r#"{"type":"hello","version":2}"#.into())).unwrap();
            let _ = c.read();
            drop(c);
        }
    };
    cycle(100); // warm up: allocator pools, runtime threads
    std::thread::sleep(Duration::from_millis(500));
    let baseline = s.rss_kb();
    cycle(1_000);
    std::thread::sleep(Duration::from_secs(1));
    let after = s.rss_kb();
    assert!(after < baseline + 8 * 1024, "resident memory grew from {baseline} kB to {after} kB");
    assert_eq!(call("GET", &format!("{}/api/v1/kpis", s.base), "", b"").0, 200);
}

#[test]
fn a_hundred_displays_resume_after_a_server_restart() {
    use gridwall_protocol::{ClientMessage, PROTOCOL_VERSION};
    let data = tempfile::tempdir().unwrap();
    let s = ServerProcess::spawn(bin(), data.path(), &[]);
    let port = s.port;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (lon, lat) = helsinki_frame().to_wgs84(5.0, 5.0).unwrap();
    let report = j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string()});
    assert_eq!(post(&s.base, "/open311/v2/requests.json", &report).0, 201);
    let hello = |resume_after| ClientMessage::Hello { version: PROTOCOL_VERSION, client: String::new(), resume_after };
    let mut walls: Vec<DisplayClient> = (0..100)
        .map(|_| {
            let mut c = DisplayClient::connect(addr, false);
            c.send(&hello(None));
            c.subscribe([-500.0, -500.0, 500.0, 500.0], BboxCrs::Local, &[Layer::Incidents]);
            c
        })
        .collect();
    s.kill_9();
    // Back on the same port; each display reconnects as the display does: hello with the last
    // event it saw, then its subscription again.
    let s = ServerProcess::spawn_on(bin(), data.path(), &[], port);
    assert_eq!(post(&s.base, "/open311/v2/requests.json", &report).0, 201);
    for (i, old) in walls.iter_mut().enumerate() {
        let mut c = DisplayClient::connect(addr, false);
        c.send(&hello(Some(1)));
        let resumed = c.until("welcome", |m| match m {
            ServerMessage::Welcome { resumed, .. } => Some(*resumed),
            _ => None,
        });
        assert!(resumed, "display {i}: the missed events are still in the log");
        let snap = c.subscribe([-500.0, -500.0, 500.0, 500.0], BboxCrs::Local, &[Layer::Incidents]);
        let ServerMessage::Snapshot { incidents, .. } = snap else { panic!("display {i}: {snap:?}") };
        assert_eq!(incidents.len(), 2, "display {i} sees both incidents");
        *old = c;
    }
}

#[test]
fn a_kill_9_during_an_ingest_burst_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let s = ServerProcess::spawn(bin(), data.path(), &[]);
    let regs: Vec<Value> = (0..4).map(|k| j!({"patrol_id": format!("R-{k}"), "role": "police"})).collect();
    assert_eq!(post(&s.base, "/api/v1/patrols", &Value::Array(regs)).0, 200);
    let t0 = now_ms() - 600_000;
    let base = s.base.clone();
    // Four devices post batches of 50 fixes as fast as they can; each counts what was acknowledged.
    let writers: Vec<_> = (0..4)
        .map(|k| {
            let base = base.clone();
            std::thread::spawn(move || {
                // A coordinate frame per thread (PROJ's handles stay on their thread).
                let frame = helsinki_frame();
                let agent = gridwall_testkit::server::agent();
                let mut acked = 0usize;
                for batch in 0.. {
                    let fixes: Vec<Value> = (0..50)
                        .map(|i| {
                            let n = batch * 50 + i;
                            let (lon, lat) = frame.to_wgs84(f64::from(n % 400), f64::from(k) * 10.0).unwrap();
                            let ts = gridwall_city::ingest::format_time(t0 + i64::from(n) * 5);
                            j!({"patrol_id": format!("R-{k}"), "lon": lon, "lat": lat, "ts": ts})
                        })
                        .collect();
                    let sent = agent
                        .post(&format!("{base}/api/v1/positions"))
                        .header("content-type", "application/json")
                        .send(Value::Array(fixes).to_string());
                    match sent {
                        Ok(r) if r.status().as_u16() == 202 => acked += 50,
                        _ => return acked,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    s.kill_9();
    let acked: Vec<usize> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(acked.iter().all(|&n| n > 0), "every device got some writes in: {acked:?}");
    let s = ServerProcess::spawn(bin(), data.path(), &[]);
    let from = gridwall_city::ingest::format_time(t0 - 1000);
    for (k, &n) in acked.iter().enumerate() {
        let (_, track) = call("GET", &format!("{}/api/v1/patrols/R-{k}/track?from={from}", s.base), "", b"");
        let kept = track["points"].as_array().unwrap().len();
        // Everything acknowledged; at most the one batch in flight beyond it (committed, its
        // answer lost with the process).
        assert!(kept >= n && kept <= n + 50, "R-{k}: {n} acknowledged, {kept} kept");
    }
}
