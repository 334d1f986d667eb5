//! Replay over the display socket, against a server whose clock runs 60× real time (a server
//! minute is a real second, so history windows close, keyframes are written and the journal is
//! moved into track chunks while the test runs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gridwall_city::ingest::format_time_ms;
use gridwall_city::workflow::{StageLimits, TimeLimits};
use gridwall_protocol::{
    BboxCrs, ClientMessage, Event, IncidentState, Kpis, Layer, PROTOCOL_VERSION, PatrolState, ServerMessage,
};
use gridwall_store::history::chunk_key;
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::server::TestServer as Server;
use serde_json::json as j;

const SPEED: f64 = 60.0;
const ALL: [f64; 4] = [-3000.0, -3000.0, 3000.0, 3000.0];

/// A 60× server on the embedded store (its database file) or on PostgreSQL (`store`).
fn server(store: Option<String>) -> (Server, PathBuf) {
    let mut db = PathBuf::new();
    let s = Server::start(|c| {
        c.live.store = store;
        c.live.speed = SPEED;
        // Nothing turns overdue while the test runs (a day per stage).
        let day = StageLimits { dispatch_min: 1440, resolve_min: 1440, review_min: 1440, close_min: 1440 };
        c.live.limits = TimeLimits { default: day, categories: std::collections::HashMap::default() };
        db = c.live.data.join("gridwall.sqlite");
    });
    (s, db)
}

/// A display that said hello, and the earliest moment its timeline says can be replayed.
fn hello(addr: std::net::SocketAddr) -> (Client, i64) {
    let mut c = Client::connect(addr, false);
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "test".into(), resume_after: None });
    let earliest = c.until("timeline", |m| match m {
        ServerMessage::Timeline { live: true, earliest_ms, .. } => Some(*earliest_ms),
        _ => None,
    });
    (c, earliest)
}

/// The server's clock, from a ping.
fn server_now(c: &mut Client) -> i64 {
    c.send(&ClientMessage::Ping { t: 1 });
    c.until("pong", |m| match m {
        ServerMessage::Pong { time_ms, .. } => Some(*time_ms),
        _ => None,
    })
}

/// What a display shows at one moment: patrols, open incidents, KPIs, newest event.
#[derive(Debug, Clone, PartialEq)]
struct Picture {
    time_ms: i64,
    seq: u64,
    patrols: Vec<PatrolState>,
    incidents: Vec<IncidentState>,
    kpis: Kpis,
}

/// Reads the timeline, KPIs and snapshot that answer a `replay` or `live` message.
fn picture(c: &mut Client, live: bool) -> Picture {
    c.until("timeline", |m| match m {
        ServerMessage::Timeline { live: l, .. } if *l == live => Some(()),
        ServerMessage::Error { message, .. } => panic!("{message}"),
        _ => None,
    });
    let kpis = c.until("kpis", |m| match m {
        ServerMessage::Kpis { kpis, .. } => Some(*kpis),
        _ => None,
    });
    c.until("snapshot", |m| match m {
        ServerMessage::Snapshot { seq, time_ms, patrols, incidents, .. } => {
            Some(Picture { time_ms: *time_ms, seq: *seq, patrols: patrols.clone(), incidents: incidents.clone(), kpis })
        }
        _ => None,
    })
}

fn replay(c: &mut Client, at_ms: i64, speed: f64) {
    c.send(&ClientMessage::Replay { at: format_time_ms(at_ms), speed });
}

fn refusal(c: &mut Client, at: &str) -> String {
    c.send(&ClientMessage::Replay { at: at.into(), speed: 1.0 });
    c.until("refusal", |m| match m {
        ServerMessage::Error { code, message } if code == "replay" => Some(message.clone()),
        ServerMessage::Timeline { live: false, .. } => panic!("{at} was replayed"),
        _ => None,
    })
}

fn wait_real(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn a_replay_shows_what_live_showed_plays_in_order_at_its_pace_and_seeks() {
    let (s, db) = server(None);
    replays_as_live_showed(&s, Some(&db));
}

/// The same story on PostgreSQL: its history is the `fixes` table, keyframes and logs.
#[test]
fn a_replay_on_postgres_shows_what_live_showed() {
    let pg = gridwall_testkit::postgres::TempPostgres::start();
    let (s, _) = server(Some(pg.url()));
    replays_as_live_showed(&s, None);
}

/// Records two phases, then replays them; `db`: the embedded store's file, whose compaction is
/// waited for.
fn replays_as_live_showed(s: &Server, db: Option<&std::path::Path>) {
    s.register(&["P-1", "P-2", "P-3"]);
    let (mut live, earliest) = hello(s.addr);
    live.subscribe(ALL, BboxCrs::Local, &[Layer::Patrols, Layer::Incidents]);
    let t0 = server_now(&mut live);
    let ts = |t: i64| gridwall_city::ingest::format_time(t);
    // Phase A: patrols walk (a fix every server second), an incident opens and is dispatched.
    for (i, id) in ["P-1", "P-2", "P-3"].iter().enumerate() {
        for k in 0..30 {
            let x = 10.0 * i as f64 + 1.3 * f64::from(k);
            s.report(id, x, -20.0 * i as f64, &ts(t0 - 29_000 + i64::from(k) * 1_000));
        }
    }
    let first = s.open_request("garbage", 30.0, 40.0, "垃圾满溢");
    let (st, b) = s.step(first, &j!({"action":"dispatch","assignee":"P-1","actor":"指挥长"}));
    assert_eq!(st, 200, "{b}");
    let second = s.open_request("noise", -50.0, 60.0, "噪音");
    // The KPI log has caught up (it is written once a real second), then the live picture.
    wait_real(1_500);
    live.send(&ClientMessage::Live);
    let at_t1 = picture(&mut live, true);
    let t1 = at_t1.time_ms;
    assert_eq!(at_t1.patrols.len(), 3);
    assert_eq!(at_t1.incidents.iter().map(|i| i.id).collect::<Vec<_>>(), [first, second]);

    // Phase B (after T1 and stamped after it): P-1 walks away, the first incident is closed, a
    // third opens.
    wait_real(400);
    for k in 0..20 {
        s.report("P-1", 200.0 + f64::from(k), 200.0, &ts(t1 + 1_000 + i64::from(k) * 1_000));
    }
    for body in [
        j!({"action":"resolve","actor":"P-1"}),
        j!({"action":"review_pass","actor":"审核员"}),
        j!({"action":"close","actor":"回访员","satisfaction":5}),
    ] {
        let (st, b) = s.step(first, &body);
        assert_eq!(st, 200, "{b}");
    }
    let third = s.open_request("road_damage", 80.0, -90.0, "路面坑洼");
    wait_real(1_500);
    live.send(&ClientMessage::Live);
    let at_t2 = picture(&mut live, true);
    let t2 = at_t2.time_ms;
    assert_eq!(at_t2.incidents.iter().map(|i| i.id).collect::<Vec<_>>(), [second, third]);

    // Let windows close: the maintenance thread moves phase A's fixes into track chunks.
    let end = Instant::now() + Duration::from_secs(20);
    while let Some(db) = db {
        let conn = gridwall_store::history::open_reader(db).unwrap();
        let chunked: i64 = conn
            .query_row("SELECT COUNT(*) FROM track_chunks WHERE id < ?1", [chunk_key(t1, 0, 0)], |r| r.get(0))
            .unwrap();
        if chunked > 0 {
            break;
        }
        assert!(Instant::now() < end, "phase A's fixes were never moved into chunks");
        wait_real(250);
    }

    // A replay at T1 (paused) shows exactly what live showed at T1; at T2 likewise; back and forth.
    let (mut viewer, _) = hello(s.addr);
    viewer.subscribe(ALL, BboxCrs::Local, &[Layer::Patrols, Layer::Incidents]);
    for (t, want) in [(t1, &at_t1), (t2, &at_t2), (t1, &at_t1)] {
        replay(&mut viewer, t, 0.0);
        let got = picture(&mut viewer, false);
        assert_eq!(&got, want, "replay at {}", format_time_ms(t));
    }
    // And live again: the first incident is closed now.
    viewer.send(&ClientMessage::Live);
    let now = picture(&mut viewer, true);
    assert!(!now.incidents.iter().any(|i| i.id == first));

    // Playing from the start at speed 1 on this 60× clock (a minute of history a real second,
    // as 60× on a real-time server) for three real seconds: every event of that time comes,
    // once and in order, and replay time runs at the right pace.
    replay(&mut viewer, earliest, 1.0);
    viewer.until("timeline", |m| matches!(m, ServerMessage::Timeline { live: false, .. }).then_some(()));
    let started = Instant::now();
    let mut events: Vec<Event> = Vec::new();
    let mut pace: Vec<(f64, i64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        match viewer.next(Duration::from_millis(100)) {
            Some(ServerMessage::Delta { time_ms, events: e, .. }) => {
                pace.push((started.elapsed().as_secs_f64(), time_ms));
                events.extend(e);
            }
            Some(ServerMessage::Error { message, .. }) => panic!("{message}"),
            Some(ServerMessage::Timeline { live: true, .. }) => panic!("caught up with now"),
            _ => {}
        }
    }
    let reached = pace.last().expect("deltas").1;
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "in order: {events:?}");
    assert!(events.iter().all(|e| e.time_ms <= reached));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "every event once: {events:?}");
    assert!(seqs.len() >= 3, "opened, dispatched, opened: {events:?}");
    let (a, b) = (pace[0], pace[pace.len() - 1]);
    assert!(pace.len() >= 3 && b.0 - a.0 > 1.5, "{pace:?}");
    let rate = (b.1 - a.1) as f64 / ((b.0 - a.0) * 1000.0);
    assert!((SPEED * 0.75..SPEED * 1.3).contains(&rate), "replay ms per real ms: {rate} ({pace:?})");
    // Faster than live, it catches up with now and returns to live by itself.
    replay(&mut viewer, t2, 30.0);
    viewer.until("live again", |m| match m {
        ServerMessage::Timeline { live: true, .. } => Some(()),
        ServerMessage::Error { message, .. } => panic!("{message}"),
        _ => None,
    });

    // Refusals: before the history kept, before the first keyframe, in the future, bad speed.
    let day_ago = format_time_ms(t0 - 25 * 3_600_000);
    assert!(refusal(&mut viewer, &day_ago).contains("before the history kept"), "{day_ago}");
    let before_start = format_time_ms(t0 - 3_600_000);
    assert!(refusal(&mut viewer, &before_start).contains("earliest moment"));
    assert!(refusal(&mut viewer, &format_time_ms(t2 + 3_600_000)).contains("future"));
    viewer.send(&ClientMessage::Replay { at: format_time_ms(t1), speed: f64::NAN });
    viewer.until("speed refusal", |m| match m {
        ServerMessage::Error { message, .. } if message.contains("speed") => Some(()),
        _ => None,
    });

    // The export: P-1's track as a LineString with its times, the incident steps as CSV.
    let q = format!("from={}&to={}", format_time_ms(t0 - 40_000), format_time_ms(t2));
    let (st, geo) = s.get(&format!("/api/v1/replay/patrols.geojson?{q}"));
    assert_eq!(st, 200, "{geo}");
    let p1 = geo["features"].as_array().unwrap().iter().find(|f| f["properties"]["patrol_id"] == "P-1").unwrap();
    assert_eq!(p1["geometry"]["type"], "LineString");
    let n = p1["geometry"]["coordinates"].as_array().unwrap().len();
    assert_eq!((n, p1["properties"]["times"].as_array().unwrap().len()), (50, 50));
    let csv = gridwall_testkit::server::agent()
        .get(&s.url(&format!("/api/v1/replay/incidents.csv?{q}")))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let steps: BTreeMap<&str, usize> = csv.lines().skip(1).fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l.split(',').next().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(steps[first.to_string().as_str()], 5, "受理, 分派, 办结, 审核, 回访: {csv}");
    let (st, e) = s.get(&format!("/api/v1/replay/patrols.geojson?from={day_ago}"));
    assert_eq!(st, 400, "{e}");
}
