//! Display streaming over real sockets: viewport snapshots and deltas (binary and JSON), the raw
//! JSON shapes third-party clients see, resume after a reconnect, slow clients, and devices
//! streaming positions over a WebSocket. The server runs on port 0 in this process.

use std::net::TcpStream;
use std::time::Duration;

use gridwall_protocol::{
    Bbox, BboxCrs, ClientMessage, EventKind, IncidentStage, Layer, LayerSet, PROTOCOL_VERSION, PatrolStatus,
    ServerMessage,
};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::server::TestServer as Server;
use gridwall_testkit::{now_ms, now_ts};
use serde_json::{Value, json as j};
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

fn moved_to(m: &ServerMessage, id: u32) -> Option<(f64, f64)> {
    let ServerMessage::Delta { moved, entered, .. } = m else { return None };
    moved
        .iter()
        .find(|p| p.id == id)
        .map(|p| (p.x, p.y))
        .or_else(|| entered.iter().find(|p| p.pos.id == id).map(|p| (p.pos.x, p.pos.y)))
}

#[test]
fn snapshot_then_deltas_follow_the_viewport() {
    let s = Server::start(|_| {});
    s.register(&["P-1", "P-2"]);
    let ts = now_ts();
    assert_eq!(s.report("P-1", 10.0, 10.0, &ts).0, 202);
    assert_eq!(s.report("P-2", 300.0, 300.0, &ts).0, 202);
    let id_of = |c: &mut Client, bbox| {
        let ServerMessage::Snapshot { patrols, .. } =
            c.subscribe(bbox, BboxCrs::Local, &[Layer::Patrols, Layer::Incidents])
        else {
            unreachable!()
        };
        patrols.iter().map(|p| (p.name.clone(), p.pos.id)).collect::<Vec<_>>()
    };
    let mut bin = Client::connect(s.addr, false);
    let got = id_of(&mut bin, [-100.0, -100.0, 100.0, 100.0]);
    assert_eq!(got.len(), 1, "only P-1 is inside: {got:?}");
    assert_eq!(got[0].0, "P-1");
    let p1 = got[0].1;

    // Moving inside: a `moved` item with the new position (centimetres). Moves are pushed as
    // they are committed, so the report before the subscription may still arrive, restating
    // the position the snapshot has; the first change is the new position.
    assert_eq!(s.report("P-1", 20.5, -30.25, &now_ts()).0, 202);
    let at = bin.until("P-1 moved", |m| moved_to(m, p1).filter(|&p| p != (10.0, 10.0)));
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
        ServerMessage::Delta { entered, .. } => entered
            .iter()
            .find(|p| p.pos.id == p2)
            .map(|p| assert_eq!((p.pos.x, p.pos.y, p.status), (300.0, 100.0, PatrolStatus::Patrolling))),
        _ => None,
    });

    // The JSON form, subscribed with a WGS84 box, carries lon/lat.
    let mut js = Client::connect(s.addr, true);
    let (w, so) = s.lonlat(150.0, 0.0);
    let (e, n) = s.lonlat(450.0, 450.0);
    let ServerMessage::Snapshot { patrols, .. } = js.subscribe([w, so, e, n], BboxCrs::Wgs84, &[Layer::Patrols]) else {
        unreachable!()
    };
    let names: Vec<_> = patrols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let p = patrols.iter().find(|p| p.name == "P-2").unwrap();
    let (lon, lat) = s.lonlat(300.0, 100.0);
    assert!((p.pos.lon.unwrap() - lon).abs() < 1e-6 && (p.pos.lat.unwrap() - lat).abs() < 1e-6);
}

#[test]
fn a_raw_json_client_gets_the_documented_shapes() {
    let s = Server::start(|_| {});
    s.register(&["P-7"]);
    s.report("P-7", 5.0, 5.0, &now_ts());
    let url = format!("ws://{}/ws?format=json", s.addr);
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    if let MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    }
    let read = move |ws: &mut WebSocket<MaybeTlsStream<TcpStream>>| -> Value {
        serde_json::from_str(ws.read().expect("a frame within 15 s").to_text().unwrap()).unwrap()
    };
    // (Heartbeat deltas may come between answers, and KPIs whenever they change.)
    let next_other = |ws: &mut WebSocket<MaybeTlsStream<TcpStream>>| loop {
        let m = read(ws);
        if m["type"] != "delta" && m["type"] != "kpis" {
            break m;
        }
    };
    // Hello: welcome, then the city-wide KPIs and the timeline (live, and how far back replay goes).
    ws.send(Message::Text(j!({"type":"hello","version":PROTOCOL_VERSION}).to_string().into())).unwrap();
    assert_eq!(next_other(&mut ws)["type"], "welcome");
    let kpis = loop {
        let m = read(&mut ws);
        if m["type"] == "kpis" {
            break m;
        }
    };
    let timeline = next_other(&mut ws);
    assert_eq!((&timeline["type"], &timeline["live"]), (&j!("timeline"), &j!(true)), "{timeline}");
    assert!(timeline["earliest_ms"].as_i64().unwrap() <= timeline["at_ms"].as_i64().unwrap());
    // Then every open early warning (none yet), replacing the display's list.
    let warnings = next_other(&mut ws);
    assert_eq!(
        (&warnings["type"], &warnings["all"], &warnings["warnings"]),
        (&j!("warnings"), &j!(true), &j!([])),
        "{warnings}"
    );
    assert!(
        kpis["time_ms"].as_i64().is_some()
            && kpis["kpis"]["open"] == 0
            && kpis["kpis"]["closure_rate"].as_f64().is_some(),
        "{kpis}"
    );
    let (w, so) = s.lonlat(-100.0, -100.0);
    let (e, n) = s.lonlat(100.0, 100.0);
    ws.send(Message::Text(
        j!({"type":"subscribe","bbox":[w, so, e, n],"layers":["patrols","incidents"]}).to_string().into(),
    ))
    .unwrap();
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
        let item =
            m["moved"].as_array().and_then(|a| a.first()).or_else(|| m["entered"].as_array().and_then(|a| a.first()));
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
fn reconnecting_clients_resume_or_get_a_fresh_snapshot() {
    let s = Server::start(|_| {});
    let mut c = Client::connect(s.addr, false);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "wall".into(), resume_after: None });
    c.until("welcome", |m| matches!(m, ServerMessage::Welcome { .. }).then_some(()));
    let a = s.open_request("garbage", 0.0, 0.0, "a");
    let last = c.until("a opened", |m| match m {
        ServerMessage::Delta { events, .. } => events
            .iter()
            .find(|e| matches!(&e.kind, EventKind::IncidentOpened { incident } if incident.id == a))
            .map(|e| e.seq),
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
    assert!(
        matches!(&missed[1].kind, EventKind::IncidentChanged { incident, .. } if incident.id == a && incident.stage == IncidentStage::Dispatched)
    );

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
    let ServerMessage::Snapshot { incidents, seq, .. } =
        c.subscribe([-600.0, -900.0, 600.0, 900.0], BboxCrs::Local, &[Layer::Incidents])
    else {
        unreachable!()
    };
    assert_eq!(seq, last + 2);
    assert_eq!(incidents.len(), 2);
}

#[test]
fn a_client_that_stops_reading_does_not_delay_the_others() {
    // The stalled client's 150 requests are well over the default 50 messages a second, which
    // would close it (another test covers that); here it must only stop reading.
    let s = Server::start(|c| c.sockets.messages_per_second = 10_000);
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
    let ServerMessage::Snapshot { patrols, .. } = live.subscribe(all, BboxCrs::Local, &[Layer::Patrols]) else {
        unreachable!()
    };
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
            ServerMessage::Snapshot { patrols, .. } => {
                patrols.iter().find(|p| p.pos.id == p1).map(|p| (p.pos.x, p.pos.y))
            }
            m => moved_to(m, p1),
        };
        pos.filter(|p| (p.0 - 90.0).abs() < 0.01)
    });
    assert!(latest.1.abs() < 0.01);
}

/// A move goes to the displays as it is committed (gathered for a few milliseconds), not on
/// the next tick: with ticks a second apart, each of ten moves reaches the display within half a
/// second of its report being sent. On the tick alone, the ten waits would spread over the whole
/// second (all ten under half a second: about one time in a thousand). Timed by this test's own
/// clock (the server's runs from its own start and may differ by a millisecond).
#[test]
fn moves_are_pushed_as_they_are_committed_not_on_the_tick() {
    let s = Server::start(|c| {
        c.live.tick_hz = 1;
        c.live.flush_ms = 5;
    });
    s.register(&["P-1"]);
    s.report("P-1", 0.0, 0.0, &now_ts());
    let mut c = Client::connect(s.addr, false);
    let ServerMessage::Snapshot { patrols, .. } =
        c.subscribe([-600.0, -900.0, 600.0, 900.0], BboxCrs::Local, &[Layer::Patrols])
    else {
        unreachable!()
    };
    let p1 = patrols[0].pos.id;
    let mut waits = Vec::new();
    for k in 1..=10 {
        let x = f64::from(k) * 2.0;
        let sent = std::time::Instant::now();
        assert_eq!(s.report("P-1", x, 0.0, &gridwall_city::ingest::format_time_ms(now_ms())).0, 202);
        c.until("the move", |m| moved_to(m, p1).filter(|p| (p.0 - x).abs() < 0.01));
        waits.push(sent.elapsed().as_millis());
    }
    assert!(waits.iter().all(|&w| w < 500), "ms from report to delta: {waits:?}");
}

#[test]
fn devices_can_stream_positions_over_a_websocket() {
    let s = Server::start(|_| {});
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
fn the_welcome_says_how_fast_the_servers_clock_runs() {
    let s = Server::start(|c| c.live.speed = 30.0);
    let mut c = Client::connect(s.addr, false);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "wall".into(), resume_after: None });
    let rate = c.until("welcome", |m| match m {
        ServerMessage::Welcome { clock_rate, .. } => Some(*clock_rate),
        _ => None,
    });
    assert_eq!(rate, 30.0);
}
