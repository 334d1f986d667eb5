//! The live backend over real sockets: the server runs on port 0 in this process (or as a real
//! `gridwall-server serve` process for the kill -9 test); clients are real HTTP (ureq) and
//! WebSocket (tungstenite) clients.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use gridwall_live::backend::SimulateConfig;
use gridwall_protocol::{EventKind, GridLevel, IncidentStage, Layer, PROTOCOL_VERSION, PatrolStatus, ServerMessage};
use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, LayerSet};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::paths::{CELL, helsinki as scene};
use gridwall_testkit::server::{TestServer as Server, call, helsinki_frame};
use gridwall_testkit::{now_ms, now_ts};
use serde_json::{Value, json as j};
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

fn start(configure: impl FnOnce(&mut gridwall_server::ServeConfig)) -> Server {
    Server::start(configure)
}

fn moved_to(m: &ServerMessage, id: u32) -> Option<(f64, f64)> {
    let ServerMessage::Delta { moved, entered, .. } = m else { return None };
    moved.iter().find(|p| p.id == id).map(|p| (p.x, p.y)).or_else(|| entered.iter().find(|p| p.pos.id == id).map(|p| (p.pos.x, p.pos.y)))
}

#[test]
fn snapshot_then_deltas_follow_the_viewport() {
    let s = start(|_| {});
    s.register(&["P-1", "P-2"]);
    let ts = now_ts();
    assert_eq!(s.report("P-1", 10.0, 10.0, &ts).0, 202);
    assert_eq!(s.report("P-2", 300.0, 300.0, &ts).0, 202);
    let id_of = |c: &mut Client, bbox| {
        let ServerMessage::Snapshot { patrols, .. } = c.subscribe(bbox, BboxCrs::Local, &[Layer::Patrols, Layer::Incidents]) else { unreachable!() };
        patrols.iter().map(|p| (p.name.clone(), p.pos.id)).collect::<Vec<_>>()
    };
    let mut bin = Client::connect(s.addr, false);
    let got = id_of(&mut bin, [-100.0, -100.0, 100.0, 100.0]);
    assert_eq!(got.len(), 1, "only P-1 is inside: {got:?}");
    assert_eq!(got[0].0, "P-1");
    let p1 = got[0].1;

    // Moving inside: a `moved` item with the new position (centimetres).
    assert_eq!(s.report("P-1", 20.5, -30.25, &now_ts()).0, 202);
    let at = bin.until("P-1 moved", |m| moved_to(m, p1));
    assert_eq!(at, (20.5, -30.25));
    // Leaving the viewport: `left`.
    assert_eq!(s.report("P-1", 250.0, 0.0, &now_ts()).0, 202);
    bin.until("P-1 left", |m| matches!(m, ServerMessage::Delta { left, .. } if left.contains(&p1)).then_some(()));
    // Viewport change: a new snapshot with what is inside now.
    let got = id_of(&mut bin, [200.0, -50.0, 400.0, 400.0]);
    let mut names: Vec<_> = got.iter().map(|g| g.0.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["P-1", "P-2"]);
    let p2 = got.iter().find(|g| g.0 == "P-2").unwrap().1;
    // Entering from outside: `entered` with the full state.
    assert_eq!(s.report("P-2", 0.0, 0.0, &now_ts()).0, 202);
    bin.until("P-2 left", |m| matches!(m, ServerMessage::Delta { left, .. } if left.contains(&p2)).then_some(()));
    assert_eq!(s.report("P-2", 300.0, 100.0, &now_ts()).0, 202);
    bin.until("P-2 entered", |m| match m {
        ServerMessage::Delta { entered, .. } => entered.iter().find(|p| p.pos.id == p2).map(|p| assert_eq!((p.pos.x, p.pos.y, p.status), (300.0, 100.0, PatrolStatus::Patrolling))),
        _ => None,
    });

    // The JSON form, subscribed with a WGS84 box, carries lon/lat.
    let mut js = Client::connect(s.addr, true);
    let (w, so) = s.lonlat(150.0, 0.0);
    let (e, n) = s.lonlat(450.0, 450.0);
    let ServerMessage::Snapshot { patrols, .. } = js.subscribe([w, so, e, n], BboxCrs::Wgs84, &[Layer::Patrols]) else { unreachable!() };
    let names: Vec<_> = patrols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let p = patrols.iter().find(|p| p.name == "P-2").unwrap();
    let (lon, lat) = s.lonlat(300.0, 100.0);
    assert!((p.pos.lon.unwrap() - lon).abs() < 1e-6 && (p.pos.lat.unwrap() - lat).abs() < 1e-6);
}

#[test]
fn a_raw_json_client_gets_the_documented_shapes() {
    let s = start(|_| {});
    s.register(&["P-7"]);
    s.report("P-7", 5.0, 5.0, &now_ts());
    let url = format!("ws://{}/ws?format=json", s.addr);
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    if let MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    }
    let read = move |ws: &mut WebSocket<MaybeTlsStream<TcpStream>>| -> Value { serde_json::from_str(ws.read().expect("a frame within 15 s").to_text().unwrap()).unwrap() };
    // (Heartbeat deltas may come between answers, and KPIs whenever they change.)
    let next_other = |ws: &mut WebSocket<MaybeTlsStream<TcpStream>>| loop {
        let m = read(ws);
        if m["type"] != "delta" && m["type"] != "kpis" {
            break m;
        }
    };
    // Hello: welcome, then the city-wide KPIs.
    ws.send(Message::Text(j!({"type":"hello","version":PROTOCOL_VERSION}).to_string().into())).unwrap();
    assert_eq!(next_other(&mut ws)["type"], "welcome");
    let kpis = loop {
        let m = read(&mut ws);
        if m["type"] == "kpis" {
            break m;
        }
    };
    assert!(kpis["time_ms"].as_i64().is_some() && kpis["kpis"]["open"] == 0 && kpis["kpis"]["closure_rate"].as_f64().is_some(), "{kpis}");
    let (w, so) = s.lonlat(-100.0, -100.0);
    let (e, n) = s.lonlat(100.0, 100.0);
    ws.send(Message::Text(j!({"type":"subscribe","bbox":[w, so, e, n],"layers":["patrols","incidents"]}).to_string().into())).unwrap();
    let snap = next_other(&mut ws);
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["patrols"][0]["name"], "P-7");
    // Third-party clients follow a patrol by the id its device registered with.
    assert_eq!(snap["patrols"][0]["patrol_id"], "P-7");
    assert!(snap["patrols"][0]["lon"].as_f64().is_some() && snap["patrols"][0]["id"].as_u64().is_some());
    s.report("P-7", 6.0, 5.0, &now_ts());
    loop {
        let m = read(&mut ws);
        if m["type"] == "kpis" {
            continue;
        }
        assert_eq!(m["type"], "delta");
        // A move, or (if the registration's tick had not gone out yet) the full state.
        let item = m["moved"].as_array().and_then(|a| a.first()).or_else(|| m["entered"].as_array().and_then(|a| a.first()));
        if let Some(p) = item.filter(|p| (p["x"].as_f64().unwrap() - 6.0).abs() < 0.01) {
            assert!(p["lon"].as_f64().is_some() && p["lat"].as_f64().is_some() && p["id"].as_u64().is_some());
            break;
        }
    }
    // Garbage in gets an error frame, and the connection keeps working.
    ws.send(Message::Text("{\"type\":\"subscribe\",\"bbox\":\"nope\"}".into())).unwrap();
    let m = next_other(&mut ws);
    assert_eq!(m["type"], "error");
    ws.send(Message::Text(j!({"type":"ping","t":5}).to_string().into())).unwrap();
    loop {
        let m = read(&mut ws);
        if m["type"] == "pong" {
            assert_eq!(m["t"], 5);
            break;
        }
    }
}

#[test]
fn the_whole_workflow_with_rework_over_http_and_the_socket() {
    let s = start(|_| {});
    s.register(&["W-1", "W-2"]);
    s.report("W-1", 0.0, 0.0, &now_ts());
    s.report("W-2", 400.0, 0.0, &now_ts());
    let mut watcher = Client::connect(s.addr, false);
    watcher.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "test".into(), resume_after: None });
    watcher.until("welcome", |m| matches!(m, ServerMessage::Welcome { .. }).then_some(()));
    let id = s.open_request("garbage", 30.0, 40.0, "垃圾满溢");
    let opened = watcher.until("opened", |m| match m {
        ServerMessage::Delta { events, .. } => events.iter().find_map(|e| match &e.kind {
            EventKind::IncidentOpened { incident } if incident.id == id => Some(incident.clone()),
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(opened.stage, IncidentStage::Accepted);
    assert_eq!(opened.grid.len(), 15, "looked up its cell: {opened:?}");

    // The commander asks for the nearest on-duty patrols, and assigns the first over the socket.
    let (st, near) = s.get(&format!("/api/v1/nearest?incident={id}&k=2"));
    assert_eq!(st, 200);
    assert_eq!(near["patrols"][0]["patrol_id"], "W-1");
    assert_eq!(near["patrols"][1]["patrol_id"], "W-2");
    assert!((near["patrols"][0]["distance_m"].as_f64().unwrap() - 50.0).abs() < 0.2);
    let w1 = near["patrols"][0]["id"].as_u64().unwrap() as u32;
    // The shape the display parses (protocol::api).
    let typed: gridwall_protocol::api::NearestAnswer = serde_json::from_value(near.clone()).unwrap();
    assert_eq!((typed.patrols.len(), typed.patrols[0].id), (2, w1));
    let mut commander = Client::connect(s.addr, true);
    commander.send(&ClientMessage::Assign { request: 1, incident: id, patrol: w1, actor: "指挥长".into() });
    let (ok, error) = commander.until("reply", |m| match m {
        ServerMessage::Reply { request: 1, ok, error } => Some((*ok, error.clone())),
        _ => None,
    });
    assert!(ok, "{error:?}");
    // Every display sees the change as an event (not optimistically).
    let changed = watcher.until("dispatched", |m| match m {
        ServerMessage::Delta { events, .. } => events.iter().find_map(|e| match &e.kind {
            EventKind::IncidentChanged { incident, actor, .. } if incident.id == id => Some((incident.clone(), actor.clone())),
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(changed.0.stage, IncidentStage::Dispatched);
    assert_eq!(changed.0.assignee, Some(w1));
    assert_eq!(changed.1, "指挥长");
    // The patrol is now responding.
    let (_, near) = s.get(&format!("/api/v1/nearest?incident={id}&k=2"));
    assert_eq!(near["patrols"][0]["status"], "responding");
    assert_eq!(near["patrols"][1]["status"], "patrolling");

    // An invalid step over the socket is refused with a reason; nothing changes.
    commander.send(&ClientMessage::Transition { request: 2, incident: id, action: "close".into(), actor: "x".into(), note: String::new(), satisfaction: Some(5) });
    let (ok, error) = commander.until("refusal", |m| match m {
        ServerMessage::Reply { request: 2, ok, error } => Some((*ok, error.clone())),
        _ => None,
    });
    assert!(!ok && error.as_deref().unwrap().contains("dispatched"), "{error:?}");

    // resolve → review reject (rework) → resolve → review pass → close.
    for (body, stage) in [
        (j!({"action":"resolve","actor":"W-1","note":"已清运"}), "resolved"),
        (j!({"action":"review_reject","actor":"审核员","note":"未清理干净"}), "dispatched"),
        (j!({"action":"resolve","actor":"W-1"}), "resolved"),
        (j!({"action":"review_pass","actor":"审核员"}), "reviewed"),
        (j!({"action":"close","actor":"回访员","satisfaction":5}), "closed"),
    ] {
        let (st, b) = s.step(id, &body);
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["incident"]["stage"], stage);
    }
    let (_, inc) = s.get(&format!("/api/v1/incidents/{id}"));
    let actions: Vec<_> = inc["timeline"].as_array().unwrap().iter().map(|t| t["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["accept", "dispatch", "resolve", "review_reject", "resolve", "review_pass", "close"]);
    assert_eq!(inc["reworks"], 1);
    let typed: gridwall_protocol::api::IncidentDetail = serde_json::from_value(inc.clone()).unwrap();
    assert_eq!((typed.timeline.len(), typed.incident.stage, typed.time_left_ms), (7, IncidentStage::Closed, None));
    let (_, k) = s.get("/api/v1/kpis");
    assert_eq!(k["kpis"]["closed"], 1);
    assert_eq!(k["kpis"]["closure_rate"], 1.0);
    assert_eq!(k["kpis"]["satisfaction_rate"], 1.0);
    let (_, k) = s.get(&format!("/api/v1/kpis?scope={}", &opened.grid[..12]));
    assert_eq!(k["kpis"]["total"], 1, "the community of the cell counts it");
    let typed: gridwall_protocol::api::KpisAnswer = serde_json::from_value(k).unwrap();
    assert_eq!(typed.scope.as_deref(), Some(&opened.grid[..12]));
    // Displays hear of the new KPIs on their socket (no polling).
    let kpis = watcher.until("the KPIs after closing", |m| match m {
        ServerMessage::Kpis { kpis, .. } if kpis.closed == 1 => Some(*kpis),
        _ => None,
    });
    assert_eq!((kpis.total, kpis.open, kpis.closure_rate), (1, 0, 1.0));
    let (_, g) = s.get(&format!("/api/v1/grids/{}", opened.grid));
    let typed: gridwall_protocol::api::GridSummary = serde_json::from_value(g).unwrap();
    assert_eq!((typed.level, typed.kpis.closed, typed.incidents.len()), (GridLevel::Cell, 1, 1));
    // Open311 shows it closed, with our stage in the extension.
    let (_, r) = s.get(&format!("/open311/v2/requests/{id}.json"));
    assert_eq!(r[0]["status"], "closed");
    assert_eq!(r[0]["gridwall"]["stage"], "closed");
    assert_eq!(r[0]["gridwall"]["stage_zh"], "回访结案");
}

#[test]
fn overdue_incidents_escalate_up_the_grid_levels() {
    // 600× clock: the manhole's 30-minute dispatch limit passes in 3 s.
    let s = start(|c| c.live.speed = 600.0);
    let mut watcher = Client::connect(s.addr, false);
    watcher.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "t".into(), resume_after: None });
    let id = s.open_request("manhole_damage", -50.0, 20.0, "井盖缺失");
    let mut levels = Vec::new();
    while levels.len() < 2 {
        levels.push(watcher.until("escalation", |m| match m {
            ServerMessage::Delta { events, .. } => events.iter().find_map(|e| match e.kind {
                EventKind::IncidentEscalated { incident, level } if incident == id => Some(level),
                _ => None,
            }),
            _ => None,
        }));
    }
    assert_eq!(levels, [GridLevel::Community, GridLevel::Street]);
    let (_, r) = s.get(&format!("/open311/v2/requests/{id}.json"));
    assert_eq!(r[0]["gridwall"]["escalated"], true);
    let (_, inc) = s.get(&format!("/api/v1/incidents/{id}"));
    assert!(["street", "city"].contains(&inc["incident"]["level"].as_str().unwrap()), "{inc}");
}

#[test]
fn open311_round_trip() {
    let s = start(|_| {});
    let (st, services) = s.get("/open311/v2/services.json");
    assert_eq!(st, 200);
    assert!(services.as_array().unwrap().iter().any(|x| x["service_code"] == "manhole_damage"));
    let (lon, lat) = s.lonlat(12.0, -34.0);
    // JSON bodies work too.
    let (st, b) = s.post("/open311/v2/requests.json", &j!({"service_code":"road_damage","lat":lat.to_string(),"long":lon.to_string(),"description":"路面塌陷"}));
    assert_eq!(st, 201, "{b}");
    let id = b[0]["service_request_id"].as_str().unwrap().to_owned();
    let id2 = s.open_request("noise", 100.0, 100.0, "夜间施工");
    let (_, one) = s.get(&format!("/open311/v2/requests/{id}.json"));
    let r = &one[0];
    assert_eq!(r["service_code"], "road_damage");
    assert_eq!(r["description"], "路面塌陷");
    assert_eq!(r["status"], "open");
    assert_eq!(r["gridwall"]["stage"], "accepted");
    assert!((r["lat"].as_f64().unwrap() - lat).abs() < 1e-6 && (r["long"].as_f64().unwrap() - lon).abs() < 1e-6);
    let (_, all) = s.get("/open311/v2/requests.json?status=open");
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Displays get every grid outline in local metres.
    let (st, g) = s.get("/api/v1/grids");
    assert_eq!(st, 200);
    let grids = g["grids"].as_array().unwrap();
    assert_eq!(grids.len(), 2 + 9 + 59);
    let cell = grids.iter().find(|x| x["code"] == CELL).unwrap();
    assert_eq!(cell["level"], "cell");
    let ring = cell["rings"][0].as_array().unwrap();
    assert!(ring.len() >= 4 && ring.iter().all(|p| p[0].as_f64().unwrap().abs() < 1000.0));
    let (_, some) = s.get("/open311/v2/requests.json?service_code=noise");
    assert_eq!(some[0]["service_request_id"], id2.to_string());
    assert_eq!(some.as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let s = start(|c| c.max_body_bytes = 64 * 1024);
    s.register(&["P-1"]);
    let ts = now_ts();
    assert_eq!(s.report("P-1", 1.0, 2.0, &ts).0, 202);
    let id = s.open_request("garbage", 0.0, 0.0, "x");
    let (lon, lat) = s.lonlat(1.0, 1.0);
    let pos = |extra: Value| {
        let mut v = j!({"patrol_id":"P-1","lon":lon,"lat":lat,"ts":ts});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/api/v1/positions", b"[{\"patrol_id\":".to_vec(), 400, "body"),
        ("/api/v1/positions", j!([pos(j!({})), pos(j!({"lat": 95.0}))]).to_string().into_bytes(), 400, "lat"),
        ("/api/v1/positions", j!([pos(j!({"lon": 118.8, "lat": 36.9}))]).to_string().into_bytes(), 400, "lon"),
        ("/api/v1/positions", j!([pos(j!({"patrol_id": "nobody"}))]).to_string().into_bytes(), 400, "patrol_id"),
        ("/api/v1/positions", j!([pos(j!({"ts": "soon"}))]).to_string().into_bytes(), 400, "ts"),
        ("/api/v1/positions", j!([pos(j!({"crs": "osgb36"}))]).to_string().into_bytes(), 400, "crs"),
        ("/api/v1/positions", vec![b' '; 100 * 1024], 413, "body"),
        ("/api/v1/patrols", j!([{"patrol_id":"P-9","role":"astronaut","grid":CELL}]).to_string().into_bytes(), 400, "role"),
        ("/api/v1/patrols", j!([{"patrol_id":"P-9","role":"police","grid":"999"}]).to_string().into_bytes(), 400, "grid"),
        (&format!("/api/v1/incidents/{id}/transitions"), j!({"action":"review_pass","actor":"a"}).to_string().into_bytes(), 409, "action"),
        (&format!("/api/v1/incidents/{id}/transitions"), j!({"action":"launch","actor":"a"}).to_string().into_bytes(), 400, "action"),
        (&format!("/api/v1/incidents/{id}/transitions"), j!({"action":"dispatch","actor":"a"}).to_string().into_bytes(), 400, "assignee"),
        (&format!("/api/v1/incidents/{id}/transitions"), j!({"action":"dispatch","assignee":"P-1","actor":""}).to_string().into_bytes(), 400, "actor"),
        ("/api/v1/incidents/424242/transitions", j!({"action":"resolve","actor":"a"}).to_string().into_bytes(), 404, "incident"),
    ]
    .into_iter()
    .map(|(p, b, st, f)| (Box::leak(p.to_owned().into_boxed_str()) as &str, b, st, f))
    .collect();
    for (path, body, status, field) in cases {
        let (st, b) = s.post_raw(path, "application/json", &body);
        assert_eq!(st, status, "{path}: {b}");
        assert_eq!(b["error"]["field"], field, "{path}: {b}");
        assert!(!b["error"]["message"].as_str().unwrap().is_empty());
    }
    // Open311 errors use the GeoReport form and still name the field.
    for (form, field) in [("service_code=teleport&lat=60.17&long=24.94", "service_code"), ("service_code=garbage&lat=abc&long=24.94", "lat"), ("service_code=garbage&lat=36.9&long=118.8", "long")] {
        let (st, b) = s.post_raw("/open311/v2/requests.json", "application/x-www-form-urlencoded", form.as_bytes());
        assert_eq!(st, 400, "{form}: {b}");
        assert_eq!(b[0]["field"], field);
        assert_eq!(b[0]["code"], 400);
    }
    assert_eq!(s.get("/open311/v2/requests/77.json").0, 404);
    assert_eq!(s.get("/api/v1/kpis?scope=123").0, 404);
    assert_eq!(s.get("/api/v1/nearest?k=3").0, 400);
    assert_eq!(s.get("/scene/..%2Fsecret").0, 404);

    // Nothing accepted was lost or altered.
    let (_, t) = s.get("/api/v1/patrols/P-1/track");
    assert_eq!(t["points"].as_array().unwrap().len(), 1);
    assert!((t["points"][0]["x"].as_f64().unwrap() - 1.0).abs() < 0.01);
    let (_, inc) = s.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(inc["incident"]["stage"], "accepted");
    assert_eq!(inc["timeline"].as_array().unwrap().len(), 1);
    let (_, all) = s.get("/open311/v2/requests.json");
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn reconnecting_clients_resume_or_get_a_fresh_snapshot() {
    let s = start(|_| {});
    let mut c = Client::connect(s.addr, false);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "wall".into(), resume_after: None });
    c.until("welcome", |m| matches!(m, ServerMessage::Welcome { .. }).then_some(()));
    let a = s.open_request("garbage", 0.0, 0.0, "a");
    let last = c.until("a opened", |m| match m {
        ServerMessage::Delta { events, .. } => events.iter().find(|e| matches!(&e.kind, EventKind::IncidentOpened { incident } if incident.id == a)).map(|e| e.seq),
        _ => None,
    });
    drop(c);
    // While it is away: two more events.
    let b = s.open_request("noise", 10.0, 0.0, "b");
    let (st, _) = s.step(a, &j!({"action":"dispatch","assignee":"某部门","actor":"派遣员"}));
    assert_eq!(st, 200);

    let mut c = Client::connect(s.addr, false);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "wall".into(), resume_after: Some(last) });
    let resumed = c.until("welcome", |m| match m {
        ServerMessage::Welcome { resumed, .. } => Some(*resumed),
        _ => None,
    });
    assert!(resumed);
    let missed = c.until("missed events", |m| match m {
        ServerMessage::Delta { events, .. } if !events.is_empty() => Some(events.clone()),
        _ => None,
    });
    assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), [last + 1, last + 2]);
    assert!(matches!(&missed[0].kind, EventKind::IncidentOpened { incident } if incident.id == b));
    assert!(matches!(&missed[1].kind, EventKind::IncidentChanged { incident, .. } if incident.id == a && incident.stage == IncidentStage::Dispatched));

    // A seq the log no longer holds (or never held): no resume; the snapshot is the truth.
    let mut c = Client::connect(s.addr, true);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "wall".into(), resume_after: Some(0) });
    let resumed = c.until("welcome", |m| match m {
        ServerMessage::Welcome { resumed, .. } => Some(*resumed),
        _ => None,
    });
    assert!(resumed, "seq 0 = from the start, which the log still holds");
    let mut c = Client::connect(s.addr, true);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION + 1, client: "future".into(), resume_after: None });
    c.until("version error", |m| matches!(m, ServerMessage::Error { code, .. } if code == "version").then_some(()));
    let ServerMessage::Snapshot { incidents, seq, .. } = c.subscribe([-600.0, -900.0, 600.0, 900.0], BboxCrs::Local, &[Layer::Incidents]) else { unreachable!() };
    assert_eq!(seq, last + 2);
    assert_eq!(incidents.len(), 2);
}

#[test]
fn a_client_that_stops_reading_does_not_delay_the_others() {
    let s = start(|_| {});
    s.register(&["P-1"]);
    s.report("P-1", 0.0, 0.0, &now_ts());
    let all = [-600.0, -900.0, 600.0, 900.0];
    // The stalled client subscribes to everything (components included) and then asks for a
    // snapshot again and again without reading: its socket fills up and its task blocks.
    let mut stalled = Client::connect(s.addr, true);
    stalled.subscribe(all, BboxCrs::Local, &[Layer::Patrols, Layer::Components, Layer::Incidents]);
    for _ in 0..150 {
        stalled.send(&ClientMessage::Subscribe { bbox: Bbox(all), crs: BboxCrs::Local, layers: LayerSet::ALL });
    }
    let mut live = Client::connect(s.addr, false);
    let ServerMessage::Snapshot { patrols, .. } = live.subscribe(all, BboxCrs::Local, &[Layer::Patrols]) else { unreachable!() };
    let p1 = patrols[0].pos.id;
    // The other client gets every move, in order, while the stalled one is stuck.
    for k in 1..=30 {
        let x = f64::from(k) * 3.0;
        assert_eq!(s.report("P-1", x, 0.0, &now_ts()).0, 202);
        let got = live.until("move", |m| moved_to(m, p1));
        assert_eq!(got.0, x, "move {k}");
    }
    // When the stalled client reads again it catches up to the latest position.
    let latest = stalled.until("latest position", |m| {
        let pos = match m {
            ServerMessage::Snapshot { patrols, .. } => patrols.iter().find(|p| p.pos.id == p1).map(|p| (p.pos.x, p.pos.y)),
            m => moved_to(m, p1),
        };
        pos.filter(|p| (p.0 - 90.0).abs() < 0.01)
    });
    assert!(latest.1.abs() < 0.01);
}

#[test]
fn devices_can_stream_positions_over_a_websocket() {
    let s = start(|_| {});
    s.register(&["D-1"]);
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/ws/ingest", s.addr)).unwrap();
    if let MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    }
    let (lon, lat) = s.lonlat(42.0, -7.0);
    ws.send(Message::Text(j!({"patrol_id":"D-1","lon":lon,"lat":lat,"ts":now_ts()}).to_string().into())).unwrap();
    let a: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(a, j!({"ok": true, "accepted": 1}));
    ws.send(Message::Text(j!([{"patrol_id":"D-2","lon":lon,"lat":lat,"ts":now_ts()}]).to_string().into())).unwrap();
    let a: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(a["ok"], false);
    assert_eq!(a["error"]["field"], "patrol_id");
    let (_, t) = s.get("/api/v1/patrols/D-1/track");
    assert_eq!(t["points"].as_array().unwrap().len(), 1);
    assert!((t["points"][0]["x"].as_f64().unwrap() - 42.0).abs() < 0.01);
}

#[test]
fn the_simulator_runs_the_city_through_the_same_paths() {
    let s = start(|c| {
        c.live.speed = 120.0;
        c.live.simulate = Some(SimulateConfig { seed: 7, patrols: 20, incident_rate: 600.0 });
    });
    let mut c = Client::connect(s.addr, false);
    let ServerMessage::Snapshot { .. } = c.subscribe([-600.0, -900.0, 600.0, 900.0], BboxCrs::Local, &[Layer::Patrols, Layer::Incidents]) else { unreachable!() };
    let (mut moves, mut opened, mut dispatched) = (0, 0, 0);
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && (moves < 50 || opened == 0 || dispatched == 0) {
        if let Some(ServerMessage::Delta { moved, events, .. }) = c.next(Duration::from_millis(300)) {
            moves += moved.len();
            for e in events {
                match e.kind {
                    EventKind::IncidentOpened { .. } => opened += 1,
                    EventKind::IncidentChanged { incident, .. } if incident.stage == IncidentStage::Dispatched => dispatched += 1,
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
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gridwall-server"))
            .args(["serve", "--scene"])
            .arg(scene())
            .arg("--data")
            .arg(data.path())
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, format!("http://127.0.0.1:{port}"))
    };
    let frame = helsinki_frame();
    let (mut child, base) = spawn();
    let post = |base: &str, path: &str, body: Value| call("POST", &format!("{base}{path}"), "application/json", body.to_string().as_bytes());
    assert_eq!(post(&base, "/api/v1/patrols", j!([{"patrol_id":"K-1","role":"police","grid":CELL}])).0, 200);
    let mut ids = Vec::new();
    let t0 = now_ms() - 60_000;
    for k in 0..20 {
        let (lon, lat) = frame.to_wgs84(f64::from(k), 5.0).unwrap();
        let (st, _) = post(&base, "/api/v1/positions", j!([{"patrol_id":"K-1","lon":lon,"lat":lat,"ts":gridwall_live::ingest::format_time(t0 + i64::from(k) * 1000)}]));
        assert_eq!(st, 202);
        let (st, b) = post(&base, "/open311/v2/requests.json", j!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string(),"description":format!("第{k}件")}));
        assert_eq!(st, 201);
        let id: u64 = b[0]["service_request_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(post(&base, &format!("/api/v1/incidents/{id}/transitions"), j!({"action":"dispatch","assignee":"K-1","actor":"指挥长"})).0, 200);
        ids.push(id);
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    child.wait().unwrap();

    let (mut child, base) = spawn();
    let (_, all) = call("GET", &format!("{base}/open311/v2/requests.json"), "", b"");
    assert_eq!(all.as_array().unwrap().len(), 20);
    for id in &ids {
        let (_, inc) = call("GET", &format!("{base}/api/v1/incidents/{id}"), "", b"");
        assert_eq!(inc["incident"]["stage"], "dispatched", "{inc}");
        assert_eq!(inc["assignee"], "K-1");
    }
    let (_, t) = call("GET", &format!("{base}/api/v1/patrols/K-1/track?from={}", gridwall_live::ingest::format_time(t0 - 1000)), "", b"");
    let xs: Vec<f64> = t["points"].as_array().unwrap().iter().map(|p| p["x"].as_f64().unwrap()).collect();
    assert_eq!(xs.len(), 20, "{t}");
    assert!(xs.iter().enumerate().all(|(k, x)| (x - k as f64).abs() < 0.01));
    // New ids continue after the old ones.
    let (lon, lat) = frame.to_wgs84(0.0, 0.0).unwrap();
    let (_, b) = post(&base, "/open311/v2/requests.json", j!({"service_code":"noise","lat":lat.to_string(),"long":lon.to_string()}));
    assert_eq!(b[0]["service_request_id"], "21");
    child.kill().unwrap();
    child.wait().unwrap();
}
