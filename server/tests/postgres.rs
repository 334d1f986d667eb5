//! The city on PostgreSQL + PostGIS (`--store postgres://…`), with a real PostgreSQL 15 server
//! started for each test in a temporary folder: everything the embedded store keeps survives a
//! restart, analysts read it with PostGIS, a database that goes away refuses writes (503) and
//! they are accepted again once it is back, and a second server taking over the city fences the
//! first one off.

use std::time::{Duration, Instant};

use gridwall_testkit::now_ts;
use gridwall_testkit::postgres::TempPostgres;
use gridwall_testkit::server::TestServer as Server;
use serde_json::json as j;

fn on(pg: &TempPostgres) -> Server {
    let url = pg.url();
    Server::start(move |c| c.live.store = Some(url))
}

#[test]
fn a_city_on_postgres_survives_a_restart_and_analysts_read_it_with_postgis() {
    let pg = TempPostgres::start();
    let mut s = on(&pg);
    s.register(&["W-1", "W-2"]);
    assert_eq!(s.report("W-1", 10.0, 20.0, &now_ts()).0, 202);
    assert_eq!(s.report("W-1", 12.5, 21.0, &now_ts()).0, 202);
    assert_eq!(s.report("W-2", -30.0, 5.0, &now_ts()).0, 202);
    let id = s.open_request("garbage", 30.0, 40.0, "垃圾满溢");
    let (st, b) = s.step(id, &j!({"action":"dispatch","actor":"指挥长","assignee":"W-1"}));
    assert_eq!(st, 200, "{b}");
    let (st, b) = s.step(id, &j!({"action":"resolve","actor":"W-1","note":"已清运"}));
    assert_eq!(st, 200, "{b}");
    let (_, before) = s.get(&format!("/api/v1/incidents/{id}"));
    s.stop();

    // What the tables hold, as a GIS tool sees it: projected points with the scene's SRID.
    let srid = pg.psql("gridwall", "SELECT DISTINCT ST_SRID(geom) FROM incidents");
    assert_eq!(srid, "32635");
    let xy =
        pg.psql("gridwall", &format!("SELECT round(ST_X(geom)), round(ST_Y(geom)) FROM incidents WHERE id = {id}"));
    assert_eq!(xy, "385975|6672341", "the scene's origin (385945, 6672301) plus the local point");
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM transitions"), "3");
    assert_eq!(
        pg.psql("gridwall", "SELECT string_agg(action, ',' ORDER BY n) FROM incident_steps"),
        "accept,dispatch,resolve"
    );
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM fixes"), "3");
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM patrol_positions"), "2");
    assert_eq!(
        pg.psql("gridwall", "SELECT ext_id || ':' || fixes FROM patrol_tracks_hourly ORDER BY ext_id"),
        "W-1:2\nW-2:1"
    );
    assert_eq!(pg.psql("gridwall", "SELECT stage FROM open_incidents"), "resolved");
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM events WHERE kind = 'incident_changed'"), "2");
    let fixes_in_partition = pg.psql(
        "gridwall",
        "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'fixes'",
    );
    assert!(fixes_in_partition.parse::<u32>().unwrap() >= 1, "day partitions: {fixes_in_partition}");
    let migrations = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations"))
        .unwrap()
        .count();
    assert_eq!(pg.psql("gridwall", "SELECT max(version) FROM gridwall_migrations"), migrations.to_string());

    // A new server on the same database has the city as it was.
    let s = on(&pg);
    let (_, after) = s.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(after["incident"], before["incident"]);
    assert_eq!(after["timeline"], before["timeline"]);
    let (_, near) = s.get(&format!("/api/v1/nearest?incident={id}&k=2"));
    assert_eq!(near["patrols"][0]["patrol_id"], "W-1", "{near}");
    assert!(
        (near["patrols"][0]["distance_m"].as_f64().unwrap() - (17.5f64.hypot(19.0))).abs() < 0.06,
        "the newest fix, not the first: {near}"
    );
    let (st, b) = s.step(id, &j!({"action":"review_pass","actor":"审核员"}));
    assert_eq!(st, 200, "{b}");
    assert_eq!(pg.psql("gridwall", "SELECT epoch FROM cities"), "2", "each server that took over counts");
    // The history exports read PostgreSQL's tables: the steps, the track in arrival order.
    let (st, csv) = s.get("/api/v1/replay/incidents.csv");
    assert_eq!(st, 200, "{csv}");
    let csv = csv.as_str().unwrap();
    assert!(csv.contains(",dispatch,") && csv.contains(",resolve,") && csv.contains(",review_pass,"), "{csv}");
    let (st, t) = s.get("/api/v1/patrols/W-1/track");
    assert_eq!(st, 200, "{t}");
    let xs: Vec<f64> = t["points"].as_array().unwrap().iter().map(|p| p["x"].as_f64().unwrap()).collect();
    assert_eq!(xs.len(), 2, "{t}");
    assert!((xs[0] - 10.0).abs() < 0.01 && (xs[1] - 12.5).abs() < 0.01, "{t}");
}

#[test]
fn a_database_that_goes_away_refuses_writes_and_takes_them_again_when_back() {
    let mut pg = TempPostgres::start();
    let s = on(&pg);
    s.register(&["W-1"]);
    assert_eq!(s.report("W-1", 0.0, 0.0, &now_ts()).0, 202);
    let kept = s.open_request("garbage", 10.0, 10.0, "before");

    pg.stop();
    let (st, b) = s.report("W-1", 5.0, 0.0, &now_ts());
    assert_eq!(st, 503, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("cannot be reached"), "{b}");
    let (st, b) = s.step(kept, &j!({"action":"dispatch","actor":"指挥长","assignee":"W-1"}));
    assert_eq!(st, 503, "{b}");
    // Reading goes on from memory meanwhile.
    let (st, b) = s.get(&format!("/api/v1/incidents/{kept}"));
    assert_eq!((st, b["incident"]["stage"].as_str()), (200, Some("accepted")), "{b}");

    pg.start_again();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, b) = s.step(kept, &j!({"action":"dispatch","actor":"指挥长","assignee":"W-1"}));
        if st == 200 {
            break;
        }
        assert_eq!(st, 503, "{b}");
        assert!(Instant::now() < end, "writes were not taken again: {b}\n{}", pg.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s.report("W-1", 7.0, 0.0, &now_ts()).0, 202);
    // Nothing refused was kept, nothing accepted lost.
    assert_eq!(pg.psql("gridwall", &format!("SELECT stage FROM incidents WHERE id = {kept}")), "dispatched");
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM transitions"), "2");
    let xs = pg.psql("gridwall", "SELECT string_agg(round(ST_X(geom) - 385945)::int::text, ',' ORDER BY t) FROM fixes");
    assert_eq!(xs, "0,7");
}

#[test]
fn a_second_server_on_the_same_city_fences_the_first_off() {
    let pg = TempPostgres::start();
    let first = on(&pg);
    first.register(&["W-1"]);
    let second = on(&pg);
    assert_eq!(second.report("W-1", 1.0, 1.0, &now_ts()).0, 202);
    let (st, b) = first.report("W-1", 2.0, 2.0, &now_ts());
    assert_eq!(st, 503, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("taken over"), "{b}");
    assert_eq!(pg.psql("gridwall", "SELECT count(*) FROM fixes"), "1");
}
