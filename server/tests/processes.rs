//! The backend as it runs for real: the simulator driving the city through the same paths as
//! real input, and a `gridwall-server serve` process killed with SIGKILL that loses nothing it
//! acknowledged.

use std::time::{Duration, Instant};

use gridwall_backend::SimulateConfig;
use gridwall_protocol::{BboxCrs, EventKind, IncidentStage, Layer, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::now_ms;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::server::{TestServer as Server, call, helsinki_frame};
use serde_json::{Value, json as j};

#[test]
fn the_simulator_runs_the_city_through_the_same_paths() {
    let s = Server::start(|c| {
        c.live.speed = 120.0;
        c.live.simulate = Some(SimulateConfig {
            seed: 7,
            patrols: 20,
            incident_rate: 600.0,
            warmup_hours: 0.0,
            burst_every_hours: 0.0,
            desk_slide_hours: 0.0,
        });
    });
    let mut c = Client::connect(s.addr, false);
    let ServerMessage::Snapshot { .. } =
        c.subscribe([-600.0, -900.0, 600.0, 900.0], BboxCrs::Local, &[Layer::Patrols, Layer::Incidents])
    else {
        unreachable!()
    };
    let (mut moves, mut opened, mut dispatched) = (0, 0, 0);
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && (moves < 50 || opened == 0 || dispatched == 0) {
        if let Some(ServerMessage::Delta { moved, events, .. }) = c.next(Duration::from_millis(300)) {
            moves += moved.len();
            for e in events {
                match e.kind {
                    EventKind::IncidentOpened { .. } => opened += 1,
                    EventKind::IncidentChanged { incident, .. } if incident.stage == IncidentStage::Dispatched => {
                        dispatched += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(moves >= 50 && opened > 0 && dispatched > 0, "moves {moves}, opened {opened}, dispatched {dispatched}");
    let (_, all) = s.get("/open311/v2/requests.json");
    assert!(!all.as_array().unwrap().is_empty());
}

/// A real `gridwall-server serve` process, killed with SIGKILL.
#[test]
fn a_kill_9_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let spawn = || {
        let p = gridwall_testkit::process::ServerProcess::spawn(
            std::path::Path::new(env!("CARGO_BIN_EXE_gridwall-server")),
            data.path(),
            &[],
        );
        let base = p.base.clone();
        (p, base)
    };
    let frame = helsinki_frame();
    let (child, base) = spawn();
    let post = |base: &str, path: &str, body: Value| {
        call("POST", &format!("{base}{path}"), "application/json", body.to_string().as_bytes())
    };
    assert_eq!(post(&base, "/api/v1/patrols", j!([{"patrol_id":"K-1","role":"police","grid":CELL}])).0, 200);
    let mut ids = Vec::new();
    let t0 = now_ms() - 60_000;
    for k in 0..20 {
        let (lon, lat) = frame.to_wgs84(f64::from(k), 5.0).unwrap();
        let (st, _) = post(
            &base,
            "/api/v1/positions",
            j!([{"patrol_id":"K-1","lon":lon,"lat":lat,"ts":gridwall_city::ingest::format_time(t0 + i64::from(k) * 1000)}]),
        );
        assert_eq!(st, 202);
        let (st, b) = post(
            &base,
            "/open311/v2/requests.json",
            j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string(),"description":format!("第{k}件")}),
        );
        assert_eq!(st, 201);
        let id: u64 = b[0]["service_request_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            post(
                &base,
                &format!("/api/v1/incidents/{id}/transitions"),
                j!({"action":"dispatch","assignee":"K-1","actor":"指挥长"})
            )
            .0,
            200
        );
        ids.push(id);
    }
    child.kill_9(); // no shutdown, no flush.

    let (child, base) = spawn();
    let (_, all) = call("GET", &format!("{base}/open311/v2/requests.json"), "", b"");
    assert_eq!(all.as_array().unwrap().len(), 20);
    for id in &ids {
        let (_, inc) = call("GET", &format!("{base}/api/v1/incidents/{id}"), "", b"");
        assert_eq!(inc["incident"]["stage"], "dispatched", "{inc}");
        assert_eq!(inc["assignee"], "K-1");
    }
    let (_, t) = call(
        "GET",
        &format!("{base}/api/v1/patrols/K-1/track?from={}", gridwall_city::ingest::format_time(t0 - 1000)),
        "",
        b"",
    );
    let xs: Vec<f64> = t["points"].as_array().unwrap().iter().map(|p| p["x"].as_f64().unwrap()).collect();
    assert_eq!(xs.len(), 20, "{t}");
    assert!(xs.iter().enumerate().all(|(k, x)| (x - k as f64).abs() < 0.01));
    // New ids continue after the old ones.
    let (lon, lat) = frame.to_wgs84(0.0, 0.0).unwrap();
    let (_, b) = post(
        &base,
        "/open311/v2/requests.json",
        j!({"service_code":"noise","lat":lat.to_string(),"long":lon.to_string()}),
    );
    assert_eq!(b[0]["service_request_id"], "21");
    child.kill_9();
}

#[test]
fn a_warm_up_opens_the_city_with_its_history() {
    use gridwall_city::ingest::{format_time, parse_time};
    use gridwall_testkit::server::{BackgroundServer, helsinki_config};
    let data = tempfile::tempdir().unwrap();
    let mut cfg = helsinki_config(data.path());
    cfg.live.simulate = Some(SimulateConfig {
        seed: 3,
        patrols: 30,
        incident_rate: 30.0,
        warmup_hours: 48.0,
        burst_every_hours: 0.0,
        desk_slide_hours: 0.0,
    });
    let before = now_ms();
    let s = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), cfg.clone(), 2).unwrap();
    let get = |s: &BackgroundServer, path: &str| call("GET", &format!("http://{}{path}", s.addr), "", b"");
    let (_, k) = get(&s, "/api/v1/kpis");
    let k = &k["kpis"];
    let total = k["total"].as_u64().unwrap();
    assert!((700..2500).contains(&total), "two days at 30 an hour (with the daily rhythm): {k}");
    let rate = |f: &str| k[f].as_f64().unwrap();
    assert!(rate("closure_rate") > 0.9 && rate("closure_rate") < 1.0, "{k}");
    assert!((0.85..0.99).contains(&rate("satisfaction_rate")), "{k}");
    assert!(k["closed_today"].as_u64().unwrap() > 0 && k["open"].as_u64().unwrap() > 0, "{k}");
    // The cases happened over the two days, not all at start-up.
    let early = format_time(before - 40 * 3_600_000);
    let (_, closed) = get(&s, &format!("/open311/v2/requests.json?status=closed&end_date={early}"));
    let times: Vec<i64> = closed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| parse_time(r["requested_datetime"].as_str().unwrap()).unwrap())
        .collect();
    assert!(times.len() > 20, "{} cases came in 40 to 48 hours ago", times.len());
    assert!(times.iter().all(|&t| t > before - 49 * 3_600_000), "none before the warm-up");
    // The last day's tracks are there (a fix every ten seconds).
    let (_, track) = get(&s, &format!("/api/v1/patrols/sim-1/track?from={}", format_time(before - 3_600_000)));
    let points = track["points"].as_array().map_or(0, Vec::len);
    assert!((340..=370).contains(&points), "{points} fixes in the last hour: {track}");
    drop(s);
    // A restart keeps the stored history and simulates none on top of it.
    let s = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), cfg, 2).unwrap();
    let (_, k) = get(&s, "/api/v1/kpis");
    let again = k["kpis"]["total"].as_u64().unwrap();
    assert!(again >= total && again < total + 20, "{total} before, {again} after the restart");
}
