//! The server read as an attacker reads it: numbers from outside that once reached loops and
//! integer arithmetic under the world lock, refused or bounded; the server keeps answering
//! everyone else while such requests come in. Real sockets on loopback, the server on port 0.

use std::time::{Duration, Instant};

use gridwall_city::ingest;
use gridwall_protocol::{BboxCrs, Layer, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::server::{TestServer as Server, call};
use gridwall_testkit::{now_ms, now_ts};
use serde_json::json as j;
use tokio_tungstenite::tungstenite;

#[test]
fn a_nearest_query_far_outside_the_city_is_refused_and_freezes_nothing() {
    let s = Server::start(|_| {});
    s.register(&["P-1", "P-2"]);
    assert_eq!(s.report("P-1", 10.0, 10.0, &now_ts()).0, 202);
    assert_eq!(s.report("P-2", 300.0, 300.0, &now_ts()).0, 202);
    // Once: 96 % CPU for over 45 s, every other request timed out meanwhile.
    let (status, body) = s.get("/api/v1/nearest?x=3e9&y=-7e8&k=5");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "x");
    assert!(body["error"]["message"].as_str().unwrap().contains("outside the scene"), "{body}");
    for q in ["x=NaN&y=0", "x=inf&y=0", "x=1e308&y=-1e308", "x=0&y=0&k=1000000", "x=0&y=0&k=-1"] {
        let (status, body) = s.get(&format!("/api/v1/nearest?{q}"));
        assert_eq!(status, 400, "{q}: {body}");
    }
    // Inside the city it answers as before.
    let (status, body) = s.get("/api/v1/nearest?x=0&y=0&k=5");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patrols"].as_array().unwrap().len(), 2);

    // A burst of hostile queries from 8 clients while a commander asks for the KPIs: every
    // KPI request is answered, and the hostile ones are all refused.
    let deadline = Instant::now() + Duration::from_mins(1);
    std::thread::scope(|scope| {
        let attackers: Vec<_> = (0..8)
            .map(|i| {
                let url = s.url("");
                scope.spawn(move || {
                    for j in 0..25 {
                        let q = format!("{url}/api/v1/nearest?x={}e9&y=-{}e8&k=100", i + 1, j + 1);
                        assert_eq!(call("GET", &q, "", b"").0, 400);
                    }
                })
            })
            .collect();
        for _ in 0..20 {
            let (status, _) = s.get("/api/v1/kpis");
            assert_eq!(status, 200);
            assert!(Instant::now() < deadline, "the server stopped answering");
        }
        for a in attackers {
            a.join().expect("an attacker thread");
        }
    });
}

#[test]
fn a_subscription_larger_than_the_world_costs_no_more_than_the_city() {
    let s = Server::start(|_| {});
    s.register(&["P-1"]);
    assert_eq!(s.report("P-1", 10.0, 10.0, &now_ts()).0, 202);
    let mut c = Client::connect(s.addr, false);
    // A box of 1e15 m a side in local metres: its buckets once overflowed or were probed one by one.
    let snap = c.subscribe([-1e15, -1e15, 1e15, 1e15], BboxCrs::Local, &[Layer::Patrols, Layer::Incidents]);
    let ServerMessage::Snapshot { patrols, .. } = snap else { panic!("a snapshot: {snap:?}") };
    assert_eq!(patrols.len(), 1, "the whole city is in it");
    // Deltas keep coming for it, and a second client is served meanwhile.
    assert_eq!(s.report("P-1", 20.0, 10.0, &now_ts()).0, 202);
    c.until("P-1 moved", |m| match m {
        // A move, or (when the registration's change is still in the same tick) a full state.
        ServerMessage::Delta { moved, entered, .. } => {
            (moved.iter().any(|p| p.x == 20.0) || entered.iter().any(|p| p.pos.x == 20.0)).then_some(())
        }
        _ => None,
    });
    let mut other = Client::connect(s.addr, true);
    let snap = other.subscribe([-100.0, -100.0, 100.0, 100.0], BboxCrs::Local, &[Layer::Patrols]);
    assert!(matches!(snap, ServerMessage::Snapshot { .. }));
}

#[test]
fn device_clocks_are_checked_against_the_servers() {
    let s = Server::start(|_| {});
    s.register(&["P-1"]);
    let (lon, lat) = s.lonlat(10.0, 10.0);
    let fix = |ts: &str| s.post("/api/v1/positions", &j!([{"patrol_id": "P-1", "lon": lon, "lat": lat, "ts": ts}]));
    // Once accepted with 202, and the patrol froze there: every later real fix counted as late.
    let (status, body) = fix("2099-01-01T00:00:00Z");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "ts");
    assert!(body["error"]["message"].as_str().unwrap().contains("ahead of the server's clock"), "{body}");
    // Once refused with 400: China's offset is what devices there send.
    let now = now_ms();
    let china = ingest::format_time(now + 8 * 3_600_000).replace('Z', "+08:00");
    let (status, body) = fix(&china);
    assert_eq!(status, 202, "{china}: {body}");
    // Older than the tracks kept: refused, nothing stored.
    assert_eq!(fix(&ingest::format_time(now - 25 * 3_600_000)).0, 400);
    // A device clock 20 s fast (inside the tolerance) counts as now, so the next real fix moves
    // the patrol instead of being taken for a late one (stamped 1.5 s on: `ts` has whole seconds).
    let (status, body) = fix(&ingest::format_time(now + 20_000));
    assert_eq!(status, 202, "{body}");
    let (lon2, lat2) = s.lonlat(200.0, 50.0);
    let (status, _) = s.post(
        "/api/v1/positions",
        &j!([{"patrol_id": "P-1", "lon": lon2, "lat": lat2, "ts": ingest::format_time(now_ms() + 1500)}]),
    );
    assert_eq!(status, 202);
    let (_, near) = s.get("/api/v1/nearest?x=200&y=50&k=1");
    assert!(near["patrols"][0]["distance_m"].as_f64().unwrap() < 1.0, "the patrol moved: {near}");
    let (_, track) = s.get("/api/v1/patrols/P-1/track");
    let times: Vec<i64> = track["points"].as_array().unwrap().iter().map(|p| p["t_ms"].as_i64().unwrap()).collect();
    assert!(times.iter().all(|&t| t <= now_ms()), "no fix is stored in the future: {times:?}");
}

#[test]
fn posts_must_say_they_are_json_and_a_refused_one_changes_nothing() {
    let s = Server::start(|_| {});
    let body = j!([{"patrol_id": "P-1", "role": "police"}]).to_string();
    // A web page may post a form or text to any site without asking; it cannot post JSON.
    for ctype in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let (status, answer) = s.post_raw("/api/v1/patrols", ctype, body.as_bytes());
        assert_eq!(status, 415, "{ctype:?}: {answer}");
        assert_eq!(answer["error"]["field"], "content-type");
    }
    assert_eq!(s.get("/api/v1/nearest?x=0&y=0&k=5").1["patrols"].as_array().unwrap().len(), 0);
    assert_eq!(s.post_raw("/api/v1/patrols", "application/json; charset=utf-8", body.as_bytes()).0, 200);
    let (status, answer) = s.post_raw("/open311/v2/requests.json", "text/plain", b"service_code=noise");
    assert_eq!(status, 415, "{answer}");
    assert_eq!(answer[0]["field"], "content-type");
}

/// A raw display socket (to see how the server closes it).
fn raw_socket(s: &Server) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>> {
    tungstenite::connect(format!("ws://{}/ws?format=json", s.addr)).expect("the socket opens").0
}

/// Reads until the server closes; its close code and reason.
fn close_of(
    ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
) -> (u16, String) {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => return (f.code.into(), f.reason.to_string()),
            Ok(tungstenite::Message::Close(None)) => return (0, String::new()),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn socket_messages_too_large_or_too_many_close_the_socket_with_the_reason() {
    let s = Server::start(|c| {
        c.sockets.message_bytes = 4096;
        c.sockets.messages_per_second = 20;
    });
    let mut ws = raw_socket(&s);
    let huge = format!("{{\"type\":\"ping\",\"t\":1,\"pad\":\"{}\"}}", "x".repeat(10_000));
    ws.send(tungstenite::Message::Text(huge.into())).unwrap();
    assert_eq!(close_of(&mut ws), (1009, "a message over 4096 bytes".into()));
    let mut ws = raw_socket(&s);
    for t in 0..40 {
        if ws.send(tungstenite::Message::Text(format!("{{\"type\":\"ping\",\"t\":{t}}}").into())).is_err() {
            break;
        }
    }
    assert_eq!(close_of(&mut ws), (1008, "more than 20 messages a second".into()));
    // Others are served meanwhile, and the server is fine afterwards.
    let mut c = Client::connect(s.addr, false);
    assert!(matches!(
        c.subscribe([-100.0, -100.0, 100.0, 100.0], BboxCrs::Local, &[Layer::Patrols]),
        ServerMessage::Snapshot { .. }
    ));
}

#[test]
fn an_address_holds_a_bounded_number_of_sockets() {
    let s = Server::start(|c| c.sockets.per_address = 3);
    let open: Vec<_> = (0..3).map(|_| raw_socket(&s)).collect();
    match tungstenite::connect(format!("ws://{}/ws", s.addr)) {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 429),
        other => panic!("a fourth socket: {:?}", other.map(|_| ())),
    }
    drop(open);
    // Closed sockets give their places back (the server notices within moments).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tungstenite::connect(format!("ws://{}/ws", s.addr)) {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("no place given back: {e}"),
        }
    }
}

#[test]
fn a_body_sent_slowly_is_cut_off_and_holds_nothing_up() {
    use std::io::{Read as _, Write as _};
    let s = Server::start(|c| c.request_timeout_s = 1.0);
    let mut slow = std::net::TcpStream::connect(s.addr).unwrap();
    let head = format!(
        "POST /api/v1/positions HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n[",
        s.addr
    );
    slow.write_all(head.as_bytes()).unwrap();
    // Others are served while it dawdles…
    assert_eq!(s.get("/api/v1/kpis").0, 200);
    // …and it is answered 408 once its time is up.
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = [0u8; 64];
    let n = slow.read(&mut answer).unwrap();
    let status = String::from_utf8_lossy(&answer[..n]);
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
}
