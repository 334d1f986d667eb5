//! The server read as an attacker reads it: numbers from outside that once reached loops and
//! integer arithmetic under the world lock, refused or bounded; the server keeps answering
//! everyone else while such requests come in. Real sockets on loopback, the server on port 0.

use std::time::{Duration, Instant};

use gridwall_protocol::{BboxCrs, Layer, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::now_ts;
use gridwall_testkit::server::{TestServer as Server, call};

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
    c.until("P-1 moved", |m| matches!(m, ServerMessage::Delta { moved, .. } if !moved.is_empty()).then_some(()));
    let mut other = Client::connect(s.addr, true);
    let snap = other.subscribe([-100.0, -100.0, 100.0, 100.0], BboxCrs::Local, &[Layer::Patrols]);
    assert!(matches!(snap, ServerMessage::Snapshot { .. }));
}
