//! 预警 end to end on a city with a past (`synth-history`, three weeks): a burst of one category
//! reported through the real intake API in one place is warned within minutes, with the right
//! community and category, over HTTP and on every display's socket; a viewer may not 确认 it
//! (refused over HTTP and on the socket), a commander does (over HTTP and on the socket), and
//! the audit trail says who. The indicators and the ranking answer from the store's counters.

use std::path::Path;
use std::time::{Duration, Instant};

use gridwall_protocol::api::analysis::UnitDeviation;
use gridwall_protocol::{ClientMessage, PROTOCOL_VERSION, ServerMessage, WarningKind};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::server::{RoleTokens, TestServer as Server, helsinki_past};
use serde_json::{Value, json as j};

fn past(data: &Path) {
    helsinki_past(data, 21, 150, 11);
}

/// Polls `f` until it returns Some (fails after 30 s).
fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Some(t) = f() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("waited 30 s for {what}");
}

fn display(s: &Server, token: &str) -> Client {
    let mut c = Client::connect_as(s.addr, false, Some(token), None).expect("the socket opens");
    c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "test".into(), resume_after: None });
    c.until("the open warnings after welcome", |m| match m {
        ServerMessage::Warnings { all: true, .. } => Some(()),
        _ => None,
    });
    c
}

fn ack_reply(c: &mut Client, request: u64, warning: u64) -> (bool, Option<String>) {
    c.send(&ClientMessage::AckWarning { request, warning });
    c.until("the reply", |m| match m {
        ServerMessage::Reply { request: r, ok, error } if *r == request => Some((*ok, error.clone())),
        _ => None,
    })
}

#[test]
fn a_burst_is_warned_on_every_display_and_only_a_commander_acknowledges_it() {
    let dir = tempfile::tempdir().unwrap();
    past(dir.path());
    let data = dir.path().to_owned();
    let (s, t): (Server, RoleTokens) = Server::start_with_tokens(move |c| {
        c.live.data = data;
        c.live.analysis.every_s = 0.2;
        // The synthesized past gives each patrol a few cases in three weeks.
        c.live.analysis.min_cases = 2;
    });
    wait("the analysis to read the store", || {
        (s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/trend?hours=48", None).0 == 200).then_some(())
    });
    let mut viewer = display(&s, &t.viewer);
    let mut desk = display(&s, &t.commander);

    // Six blocked pipes reported within a few metres of each other.
    let mut cell = String::new();
    for k in 0..6 {
        let (lon, lat) = s.lonlat(40.0 + f64::from(k) * 3.0, 60.0);
        let req = j!({"service_code": "pipe_blockage", "lat": lat.to_string(), "long": lon.to_string(), "description": "下水道堵了"});
        let (status, body) = s.call_as(Some(&t.intake), "POST", "/open311/v2/requests.json", Some(&req));
        assert_eq!(status, 201, "{body}");
        let id = body[0]["service_request_id"].as_str().unwrap().to_owned();
        let (_, detail) = s.call_as(Some(&t.viewer), "GET", &format!("/api/v1/incidents/{id}"), None);
        cell = detail["incident"]["grid"].as_str().unwrap().to_owned();
    }
    let warned = wait("a volume warning", || {
        let (_, list) = s.call_as(Some(&t.viewer), "GET", "/api/v1/warnings", None);
        list["warnings"].as_array()?.iter().find(|w| w["kind"] == "volume" && w["category"] == "pipe_blockage").cloned()
    });
    let scope = warned["scope"].as_str().unwrap();
    assert_eq!(warned["scope_level"], "community", "{warned}");
    assert!(cell.starts_with(scope), "the reports' community: {cell} in {scope}");
    assert!(warned["observed"].as_f64().unwrap() >= 4.0, "{warned}");
    assert!(warned["expected"].as_f64().unwrap() < warned["upper"].as_f64().unwrap());
    assert!(warned["sentence"].as_str().unwrap().contains(" · 管道堵塞 · 近"), "{warned}");
    let id = warned["id"].as_u64().unwrap();

    // The overview's tint: the burst's community past its band over the last hour.
    let (status, dev) = s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/deviation?level=community&hours=1", None);
    assert_eq!(status, 200, "{dev}");
    let units: Vec<UnitDeviation> = serde_json::from_value(dev["units"].clone()).unwrap();
    let most = units.iter().max_by(|a, b| a.deviation().total_cmp(&b.deviation())).unwrap();
    assert_eq!(most.code, scope, "the most unusual community: {units:?}");
    assert!(most.observed >= 6 && most.deviation() > 0.0, "{most:?}");
    assert_eq!(s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/deviation?level=cell", None).0, 400);
    assert_eq!(s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/deviation?hours=9999", None).0, 400);

    // Every display hears of it.
    let pushed = viewer.until("the warning on the wall", |m| match m {
        ServerMessage::Warnings { all: false, warnings, .. } => warnings.iter().find(|w| w.id == id).cloned(),
        _ => None,
    });
    assert_eq!(pushed.kind, WarningKind::Volume);

    // A viewer may not acknowledge it, on either path; a commander may, on both.
    let path = format!("/api/v1/warnings/{id}/ack");
    assert_eq!(s.call_as(Some(&t.viewer), "POST", &path, None).0, 403);
    let (ok, error) = ack_reply(&mut viewer, 1, id);
    assert!(!ok && error.unwrap_or_default().contains("may not"), "a viewer acknowledged");
    let (status, acked) = s.call_as(Some(&t.commander), "POST", &path, None);
    assert_eq!(status, 200, "{acked}");
    assert!(acked["acked_by"].as_str().is_some_and(|a| !a.is_empty()), "{acked}");
    assert_eq!(ack_reply(&mut desk, 2, id), (true, None), "again, from the desk: kept as it was");
    let seen = viewer.until("the acknowledgement on the wall", |m| match m {
        ServerMessage::Warnings { warnings, .. } => {
            warnings.iter().find(|w| w.id == id && w.acked_by.is_some()).cloned()
        }
        _ => None,
    });
    assert_eq!(seen.acked_by.as_deref(), acked["acked_by"].as_str());
    let (_, stored) = s.call_as(Some(&t.viewer), "GET", &format!("/api/v1/warnings/{id}"), None);
    assert_eq!(stored["acked_by"], acked["acked_by"]);
    assert_eq!(s.call_as(Some(&t.commander), "POST", "/api/v1/warnings/999999/ack", None).0, 409);
    let (_, audit) = s.call_as(Some(&t.admin), "GET", "/api/v1/audit", None);
    assert!(audit.to_string().contains("ack_warning"), "{audit}");

    // Indicators and the ranking, from the counters of the three weeks.
    let (status, ind) =
        s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/indicators?level=street&period=month", None);
    assert_eq!(status, 200, "{ind}");
    let total: u64 = ind["units"].as_array().unwrap().iter().map(|u| u["now"]["total"].as_u64().unwrap()).sum();
    assert!(total > 0, "{ind}");
    let (status, rank) =
        s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/ranking?level=community&period=quarter&top=3", None);
    assert_eq!(status, 200, "{rank}");
    assert!(rank["ranked"].as_u64().unwrap() >= 3, "{rank}");
    let best: Vec<f64> = rank["best"].as_array().unwrap().iter().map(|e| e["score"].as_f64().unwrap()).collect();
    assert!(best.windows(2).all(|w| w[0] >= w[1]), "{best:?}");
    // The desks: the patrols and departments the synthesized cases went to, ranked the same way.
    let (status, desks) = s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/desks?period=quarter&top=5", None);
    assert_eq!(status, 200, "{desks}");
    assert!(desks["ranked"].as_u64().unwrap() >= 20, "{desks}");
    assert!(desks["best"][0]["name"].as_str().unwrap().starts_with("P-"), "a patrol: {desks}");
    let best: Vec<f64> = desks["best"].as_array().unwrap().iter().map(|e| e["score"].as_f64().unwrap()).collect();
    assert!(best.windows(2).all(|w| w[0] >= w[1]) && best.len() <= 5, "{best:?}");
    assert!(desks["best"][0]["name"].as_str().is_some_and(|n| !n.is_empty()), "{desks}");
    let (status, csv) = s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/desks?format=csv", None);
    assert_eq!(status, 200);
    assert!(csv.as_str().unwrap().starts_with("rank,previous_rank,change,code,name,score"), "{csv}");
    assert_eq!(s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/desks?top=0", None).0, 400);

    // The hot spot layer of the three weeks, as JSON, GeoJSON (cell polygons in WGS84) and CSV.
    let (status, layer) = s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/hotspots", None);
    assert_eq!(status, 200, "{layer}");
    assert_eq!(layer["days"], 28);
    let (status, geo) = s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/hotspots?format=geojson", None);
    assert_eq!((status, geo["type"].as_str()), (200, Some("FeatureCollection")), "{geo}");
    let cells = layer["cells"].as_array().unwrap().len();
    assert_eq!(geo["features"].as_array().unwrap().len(), cells);
    if let Some(f) = geo["features"].as_array().unwrap().first() {
        let lon = f["geometry"]["coordinates"][0][0][0].as_f64().unwrap();
        assert!((24.0..26.0).contains(&lon), "Helsinki's longitude: {f}");
    }
    let (status, csv) =
        s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/hotspots?format=csv&category=garbage", None);
    assert_eq!(status, 200);
    assert!(csv.as_str().unwrap().starts_with("code,class,class_zh,z,trend_z"), "{csv}");
    let (status, bad) = s.call_as(Some(&t.viewer), "GET", "/api/v1/analysis/ranking?period=fortnight", None);
    assert_eq!((status, bad["error"]["field"].clone()), (400, Value::from("period")));
}
