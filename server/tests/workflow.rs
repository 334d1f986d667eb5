//! The incident workflow over real HTTP and socket clients: the whole closed loop with rework,
//! escalation up the grid levels, Open311 intake, and every kind of bad input refused with
//! nothing changed. The server runs on port 0 in this process.

use gridwall_protocol::{ClientMessage, EventKind, GridLevel, IncidentStage, PROTOCOL_VERSION, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::now_ts;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::server::TestServer as Server;
use serde_json::{Value, json as j};

#[test]
fn the_whole_workflow_with_rework_over_http_and_the_socket() {
    let s = Server::start(|_| {});
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
            EventKind::IncidentChanged { incident, actor, .. } if incident.id == id => {
                Some((incident.clone(), actor.clone()))
            }
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
    commander.send(&ClientMessage::Transition {
        request: 2,
        incident: id,
        action: "close".into(),
        actor: "x".into(),
        note: String::new(),
        satisfaction: Some(5),
    });
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
    let actions: Vec<_> =
        inc["timeline"].as_array().unwrap().iter().map(|t| t["action"].as_str().unwrap().to_owned()).collect();
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
    // A cell's summary lists its open work; the closed incident is in its KPIs.
    assert_eq!((typed.level, typed.kpis.closed, typed.incidents.len()), (GridLevel::Cell, 1, 0));
    let (_, k) = s.get("/api/v1/kpis?period=day");
    assert_eq!((k["period"].as_str(), k["kpis"]["total"].as_u64()), (Some("day"), Some(1)), "{k}");
    assert_eq!(k["kpis"]["closed_today"], 1);
    let (st, k) = s.get("/api/v1/kpis?period=decade");
    assert_eq!(st, 400, "{k}");
    assert_eq!(k["error"]["field"], "period");
    // Open311 shows it closed, with our stage in the extension.
    let (_, r) = s.get(&format!("/open311/v2/requests/{id}.json"));
    assert_eq!(r[0]["status"], "closed");
    assert_eq!(r[0]["gridwall"]["stage"], "closed");
    assert_eq!(r[0]["gridwall"]["stage_zh"], "回访结案");
}

#[test]
fn overdue_incidents_escalate_up_the_grid_levels() {
    // 600× clock: the manhole's 30-minute dispatch limit passes in 3 s.
    let s = Server::start(|c| c.live.speed = 600.0);
    let mut watcher = Client::connect(s.addr, false);
    watcher.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "t".into(), resume_after: None });
    let id = s.open_request_with(
        "manhole_damage",
        -50.0,
        20.0,
        "井盖缺失",
        "&attribute[cover_type]=sewage&attribute[fault]=missing",
    );
    let mut levels = Vec::new();
    while levels.len() < 2 {
        levels.push(watcher.until("escalation", |m| match m {
            ServerMessage::Delta { events, .. } => events.iter().find_map(|e| match e.kind {
                EventKind::IncidentEscalated { incident, level, .. } if incident == id => Some(level),
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
    let s = Server::start(|_| {});
    let (st, services) = s.get("/open311/v2/services.json");
    assert_eq!(st, 200);
    assert!(services.as_array().unwrap().iter().any(|x| x["service_code"] == "manhole_damage"));
    let (lon, lat) = s.lonlat(12.0, -34.0);
    // JSON bodies work too.
    let (st, b) = s.post(
        "/open311/v2/requests.json",
        &j!({"service_code":"road_damage","lat":lat.to_string(),"long":lon.to_string(),"description":"路面塌陷"}),
    );
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
    let s = Server::start(|c| c.max_body_bytes = 64 * 1024);
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
        (
            "/api/v1/patrols",
            j!([{"patrol_id":"P-9","role":"astronaut","grid":CELL}]).to_string().into_bytes(),
            400,
            "role",
        ),
        (
            "/api/v1/patrols",
            j!([{"patrol_id":"P-9","role":"police","grid":"999"}]).to_string().into_bytes(),
            400,
            "grid",
        ),
        (
            &format!("/api/v1/incidents/{id}/transitions"),
            j!({"action":"review_pass","actor":"a"}).to_string().into_bytes(),
            409,
            "action",
        ),
        (
            &format!("/api/v1/incidents/{id}/transitions"),
            j!({"action":"launch","actor":"a"}).to_string().into_bytes(),
            400,
            "action",
        ),
        (
            &format!("/api/v1/incidents/{id}/transitions"),
            j!({"action":"dispatch","actor":"a"}).to_string().into_bytes(),
            400,
            "assignee",
        ),
        (
            &format!("/api/v1/incidents/{id}/transitions"),
            j!({"action":"dispatch","assignee":"P-1","note":"长".repeat(2001)}).to_string().into_bytes(),
            400,
            "note",
        ),
        (
            "/api/v1/incidents/424242/transitions",
            j!({"action":"resolve","actor":"a"}).to_string().into_bytes(),
            404,
            "incident",
        ),
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
    for (form, field) in [
        ("service_code=teleport&lat=60.17&long=24.94", "service_code"),
        ("service_code=garbage&lat=abc&long=24.94", "lat"),
        ("service_code=garbage&lat=36.9&long=118.8", "long"),
    ] {
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
fn police_and_volunteers_may_have_no_grid_cell_and_then_no_geofence() {
    let s = Server::start(|_| {});
    let (status, body) = s.post(
        "/api/v1/patrols",
        &j!([{"patrol_id": "J-1", "role": "police", "name": "巡警一组"}, {"patrol_id": "V-1", "role": "volunteer"}]),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.post("/api/v1/patrols", &j!([{"patrol_id": "G-1", "role": "grid_worker"}]));
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("grid")), "a grid worker has a cell: {body}");
    // Walking far across the city raises no "left its grid" event for a patrol without one.
    let mut c = Client::connect(s.addr, true);
    c.subscribe(
        [-2000.0, -2000.0, 2000.0, 2000.0],
        gridwall_protocol::BboxCrs::Local,
        &[gridwall_protocol::Layer::Patrols],
    );
    for (x, y) in [(0.0, 0.0), (400.0, 300.0), (-400.0, -600.0)] {
        assert_eq!(s.report("J-1", x, y, &now_ts()).0, 202);
    }
    c.until("J-1's last fix", |m| match m {
        ServerMessage::Delta { moved, entered, events, .. } => {
            assert!(
                !events.iter().any(|e| matches!(e.kind, EventKind::PatrolLeftGrid { .. })),
                "no geofence for a patrol without a cell: {events:?}"
            );
            (moved.iter().any(|p| p.y < -500.0) || entered.iter().any(|p| p.pos.y < -500.0)).then_some(())
        }
        _ => None,
    });
}
