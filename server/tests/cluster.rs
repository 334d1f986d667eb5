//! Two `gridwall-server serve` processes on one PostgreSQL and one NATS (`--store postgres://…
//! --bus nats://…`), each a real process on its own port, with a real PostgreSQL 15 + PostGIS
//! and a real nats-server started for the test in temporary folders.

use std::path::Path;
use std::time::{Duration, Instant};

use gridwall_protocol::{BboxCrs, EventKind, Layer, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::nats::TempNats;
use gridwall_testkit::now_ts;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::postgres::TempPostgres;
use gridwall_testkit::process::ServerProcess;
use gridwall_testkit::server::{call, helsinki_frame};
use serde_json::{Value, json as j};

struct Instance {
    p: ServerProcess,
    _data: tempfile::TempDir,
}

fn instance(name: &str, pg: &TempPostgres, nats: &TempNats, extra: &[&str]) -> Instance {
    let data = tempfile::tempdir().unwrap();
    let (store, bus) = (pg.url(), nats.url());
    let mut args = vec!["--store", &store, "--bus", &bus, "--instance", name];
    args.extend_from_slice(extra);
    let p = ServerProcess::spawn(Path::new(env!("CARGO_BIN_EXE_gridwall-server")), data.path(), &args);
    Instance { p, _data: data }
}

impl Instance {
    fn addr(&self) -> std::net::SocketAddr {
        format!("127.0.0.1:{}", self.p.port).parse().unwrap()
    }
    fn get(&self, path: &str) -> (u16, Value) {
        call("GET", &format!("{}{path}", self.p.base), "", b"")
    }
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        call("POST", &format!("{}{path}", self.p.base), "application/json", body.to_string().as_bytes())
    }
    fn role(&self) -> String {
        self.get("/api/v1/cluster").1["role"].as_str().unwrap_or_default().to_owned()
    }
    fn report(&self, id: &str, x: f64, y: f64) -> u16 {
        let (lon, lat) = helsinki_frame().to_wgs84(x, y).unwrap();
        self.post("/api/v1/positions", &j!([{"patrol_id": id, "lon": lon, "lat": lat, "ts": now_ts()}])).0
    }
}

/// Waits until `f` holds (20 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A PostgreSQL, a NATS and two servers on them (with `extra` flags): A leading, B following.
fn two(extra: &[&str]) -> (TempPostgres, TempNats, Instance, Instance) {
    let pg = TempPostgres::start();
    let nats = TempNats::start();
    let a = instance("a", &pg, &nats, extra);
    eventually("a leading", || a.role() == "leader");
    let b = instance("b", &pg, &nats, extra);
    eventually("b following", || b.role() == "follower");
    assert_eq!(a.role(), "leader");
    (pg, nats, a, b)
}

#[test]
fn two_instances_share_one_city() {
    let (_pg, _nats, a, b) = two(&[]);

    // Registered through B (a command sent to the leader), seen by both.
    let (st, body) = b.post(
        "/api/v1/patrols",
        &j!([{"patrol_id":"W-1","role":"grid_worker","grid":CELL},{"patrol_id":"W-2","role":"police"}]),
    );
    assert_eq!(st, 200, "{body}");
    eventually("the registrations on A", || {
        a.get("/api/v1/grids/".to_owned().as_str()).0 != 0 && a.report("W-2", 300.0, 0.0) == 202
    });

    // A display on B sees a position posted to A.
    let mut display = Client::connect(b.addr(), false);
    let ServerMessage::Snapshot { .. } =
        display.subscribe([-300.0, -300.0, 300.0, 300.0], BboxCrs::Local, &[Layer::Patrols, Layer::Incidents])
    else {
        unreachable!()
    };
    std::thread::sleep(Duration::from_millis(600)); // B subscribes to the tiles of its display
    assert_eq!(a.report("W-1", 12.0, 34.0), 202);
    let seen = display.until("W-1 moving on B", |m| match m {
        ServerMessage::Delta { moved, entered, .. } => moved
            .iter()
            .map(|p| (p.x, p.y))
            .chain(entered.iter().map(|p| (p.pos.x, p.pos.y)))
            .find(|(x, _)| (x - 12.0).abs() < 0.01),
        _ => None,
    });
    assert!((seen.1 - 34.0).abs() < 0.01);

    // An incident opened through A's Open311 is assigned by a commander on B.
    let (lon, lat) = helsinki_frame().to_wgs84(20.0, 30.0).unwrap();
    let (st, body) = a.post(
        "/open311/v2/requests.json",
        &j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string(),"description":"垃圾"}),
    );
    assert_eq!(st, 201, "{body}");
    let id: u64 = body[0]["service_request_id"].as_str().unwrap().parse().unwrap();
    let opened = display.until("the incident on B", |m| match m {
        ServerMessage::Delta { events, .. } => events.iter().find_map(|e| match &e.kind {
            EventKind::IncidentOpened { incident } if incident.id == id => Some(e.seq),
            _ => None,
        }),
        _ => None,
    });
    // Nearest on B covers the patrols reporting to A.
    let (st, near) = b.get(&format!("/api/v1/nearest?incident={id}&k=2"));
    assert_eq!(st, 200, "{near}");
    assert_eq!(near["patrols"][0]["patrol_id"], "W-1", "{near}");
    let w1 = near["patrols"][0]["id"].as_u64().unwrap() as u32;
    let mut commander = Client::connect(b.addr(), true);
    commander.send(&gridwall_protocol::ClientMessage::Assign {
        request: 7,
        incident: id,
        patrol: w1,
        actor: "指挥长".into(),
    });
    let (ok, error) = commander.until("the reply", |m| match m {
        ServerMessage::Reply { request: 7, ok, error } => Some((*ok, error.clone())),
        _ => None,
    });
    assert!(ok, "{error:?}");
    let changed = display.until("the dispatch on B", |m| match m {
        ServerMessage::Delta { events, .. } => events.iter().find_map(|e| match &e.kind {
            EventKind::IncidentChanged { incident, .. } if incident.id == id => Some(e.seq),
            _ => None,
        }),
        _ => None,
    });
    assert!(changed > opened);
    let (_, on_a) = a.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(on_a["incident"]["stage"], "dispatched", "{on_a}");
    // A display resumes by seq on the other instance: the events after `opened` come again.
    let mut again = Client::connect(a.addr(), false);
    again.send(&gridwall_protocol::ClientMessage::Hello {
        version: gridwall_protocol::PROTOCOL_VERSION,
        client: "t".into(),
        resume_after: Some(opened),
    });
    let resumed = again.until("the resumed events", |m| match m {
        ServerMessage::Delta { events, .. } if !events.is_empty() => {
            Some(events.iter().map(|e| e.seq).collect::<Vec<_>>())
        }
        _ => None,
    });
    assert_eq!(resumed.first(), Some(&changed), "{resumed:?}");
}

#[test]
fn a_kill_9_of_the_leader_loses_nothing_acknowledged_and_the_other_takes_over() {
    let (pg, _nats, a, b) = two(&[]);
    let regs: Vec<Value> = (0..50).map(|i| j!({"patrol_id": format!("K-{i}"), "role":"police"})).collect();
    assert_eq!(a.post("/api/v1/patrols", &Value::Array(regs)).0, 200);
    // A burst into A from four threads; A is killed in the middle of it.
    let base = a.p.base.clone();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (base, acked, stop) = (base.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let frame = helsinki_frame();
                let mut k = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let batch: Vec<Value> = (0..50)
                        .map(|i| {
                            let (lon, lat) = frame.to_wgs84(f64::from(k % 100), f64::from(t * 10)).unwrap();
                            j!({"patrol_id": format!("K-{i}"), "lon": lon, "lat": lat, "ts": now_ts()})
                        })
                        .collect();
                    k += 1;
                    let url = format!("{base}/api/v1/positions");
                    match gridwall_testkit::server::agent()
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(Value::Array(batch).to_string())
                    {
                        Ok(r) if r.status().as_u16() == 202 => {
                            acked.fetch_add(50, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    a.p.kill_9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in senders {
        let _ = s.join();
    }
    let acked = acked.load(std::sync::atomic::Ordering::Relaxed);
    assert!(acked > 0);
    let stored: usize = pg.psql("gridwall", "SELECT count(*) FROM fixes").parse().unwrap();
    assert!(stored >= acked, "{stored} fixes stored, {acked} acknowledged");
    // B keeps serving, takes the lease once it lapses, and takes commands.
    eventually("b leading", || b.role() == "leader");
    let (lon, lat) = helsinki_frame().to_wgs84(0.0, 0.0).unwrap();
    let (st, body) =
        b.post("/open311/v2/requests.json", &j!({"service_code":"noise","lat":lat.to_string(),"long":lon.to_string()}));
    assert_eq!(st, 201, "{body}");
    assert_eq!(b.report("K-1", 5.0, 5.0), 202);
}

#[test]
fn a_nats_restart_loses_and_doubles_no_event() {
    let (_pg, mut nats, a, b) = two(&[]);
    let mut display = Client::connect(b.addr(), true);
    display.send(&gridwall_protocol::ClientMessage::Hello {
        version: gridwall_protocol::PROTOCOL_VERSION,
        client: "t".into(),
        resume_after: None,
    });
    display.until("welcome", |m| matches!(m, ServerMessage::Welcome { .. }).then_some(()));
    let open = |k: u32| {
        let (lon, lat) = helsinki_frame().to_wgs84(f64::from(k), 0.0).unwrap();
        let (st, body) = a.post(
            "/open311/v2/requests.json",
            &j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string()}),
        );
        assert_eq!(st, 201, "{body}");
    };
    for k in 0..5 {
        open(k);
    }
    nats.stop();
    // The leader keeps taking its own clients' commands; B cannot reach it meanwhile.
    for k in 5..10 {
        open(k);
    }
    let (st, _) = b.post("/api/v1/patrols", &j!([{"patrol_id":"X","role":"police"}]));
    assert_eq!(st, 503);
    nats.start_again();
    for k in 10..15 {
        open(k);
    }
    let mut seqs = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while seqs.len() < 15 && Instant::now() < end {
        if let Some(ServerMessage::Delta { events, .. }) = display.next(Duration::from_millis(200)) {
            seqs.extend(events.iter().filter(|e| matches!(e.kind, EventKind::IncidentOpened { .. })).map(|e| e.seq));
        }
    }
    assert_eq!(seqs.len(), 15, "every event once: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    // Commands from B work again.
    eventually("B's commands", || b.post("/api/v1/patrols", &j!([{"patrol_id":"X","role":"police"}])).0 == 200);
}

#[test]
fn a_postgres_restart_refuses_writes_meanwhile() {
    let (mut pg, _nats, a, b) = two(&[]);
    assert_eq!(a.post("/api/v1/patrols", &j!([{"patrol_id":"P","role":"police"}])).0, 200);
    eventually("P on B", || b.report("P", 1.0, 1.0) == 202);
    pg.stop();
    assert_eq!(a.report("P", 2.0, 2.0), 503);
    assert_eq!(b.report("P", 3.0, 3.0), 503);
    pg.start_again();
    eventually("writes on A", || a.report("P", 4.0, 4.0) == 202);
    eventually("writes on B", || b.report("P", 5.0, 5.0) == 202);
    let (lon, lat) = helsinki_frame().to_wgs84(0.0, 0.0).unwrap();
    eventually("a command through B", || {
        b.post("/open311/v2/requests.json", &j!({"service_code":"noise","lat":lat.to_string(),"long":lon.to_string()}))
            .0
            == 201
    });
}

#[test]
fn one_simulator_runs_the_city_on_whichever_server_leads() {
    let sim = ["--simulate", "--patrols", "12", "--incident-rate", "3000", "--speed", "30", "--seed", "5"];
    let (pg, _nats, a, b) = two(&sim);
    // B's display sees the simulated city that A runs: patrols walking, incidents opening.
    let mut display = Client::connect(b.addr(), false);
    display.subscribe([-600.0, -900.0, 600.0, 900.0], BboxCrs::Local, &[Layer::Patrols, Layer::Incidents]);
    let watch = |display: &mut Client, what: &str| {
        let (mut moves, mut opened) = (0, 0);
        let end = Instant::now() + Duration::from_secs(30);
        while (moves < 20 || opened == 0) && Instant::now() < end {
            if let Some(ServerMessage::Delta { moved, events, .. }) = display.next(Duration::from_millis(200)) {
                moves += moved.len();
                opened += events.iter().filter(|e| matches!(e.kind, EventKind::IncidentOpened { .. })).count();
            }
        }
        assert!(moves >= 20 && opened > 0, "{what}: {moves} moves, {opened} incidents opened");
    };
    watch(&mut display, "run by A");
    // One simulator: its twelve patrols, registered once, and every simulated incident once.
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM patrols WHERE ext_id LIKE 'sim-%'"), "12");
    let twice = pg.psql(
        "gridwall",
        "SELECT count(*) FROM (SELECT opened, x, y FROM incidents GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
    );
    assert_eq!(twice, "0", "no incident was opened by two simulators");
    // A dies: B takes over the city and its simulator.
    a.p.kill_9();
    eventually("b leading", || b.role() == "leader");
    watch(&mut display, "run by B after A died");
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM patrols WHERE ext_id LIKE 'sim-%'"), "12");
}
