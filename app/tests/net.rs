//! The display's link against a real server on loopback: Bevy `App` with `MinimalPlugins` and
//! the net, patrols and incidents plugins. Frames become markers; when the server goes away the
//! display shows it is reconnecting and comes back by itself when the server returns.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use gridwall::AppSystemsPlugin;
use gridwall::layers::incidents::IncidentsPlugin;
use gridwall::layers::patrols::PatrolsPlugin;
use gridwall::map::{IncidentMarker, MapPlugin, PatrolMarker};
use gridwall::net::{Answer, Ask, Connection, NetConfig, NetPlugin, Outbound, ServerClock};
use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, IncidentStage, Layer};
use gridwall_testkit::now_ts;
use gridwall_testkit::server::{BackgroundServer, call, helsinki_config, helsinki_frame as frame};
use serde_json::json;

fn start(addr: SocketAddr, data: &Path) -> BackgroundServer {
    BackgroundServer::start(addr, helsinki_config(data), 2).unwrap()
}

fn post(addr: SocketAddr, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let (status, answer) =
        call("POST", &format!("http://{addr}{path}"), "application/json", body.to_string().as_bytes());
    assert!((200..300).contains(&status), "{status}: {answer}");
    answer
}

/// Updates the app until `done` holds (fails after 20 s).
fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        app.update();
        if done(app) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn patrols(app: &mut App) -> Vec<(String, Vec3)> {
    app.world_mut()
        .query::<(&PatrolMarker, &Transform)>()
        .iter(app.world())
        .map(|(m, t)| (m.name.clone(), t.translation))
        .collect()
}

fn incidents(app: &mut App) -> Vec<(u64, IncidentStage)> {
    app.world_mut().query::<&IncidentMarker>().iter(app.world()).map(|m| (m.0.id, m.0.stage)).collect()
}

#[test]
fn live_layers_follow_the_server_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = start("127.0.0.1:0".parse().unwrap(), data.path());
    let addr = server.addr;
    let now = now_ts;
    post(addr, "/api/v1/patrols", &json!([{"patrol_id":"P-1","role":"police","grid":"370783001001001"}]));
    let f = frame();
    let (lon, lat) = f.to_wgs84(100.0, 50.0).unwrap();
    post(addr, "/api/v1/positions", &json!([{"patrol_id":"P-1","lon":lon,"lat":lat,"ts":now()}]));

    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AppSystemsPlugin, MapPlugin))
        .add_plugins((NetPlugin, PatrolsPlugin, IncidentsPlugin))
        .insert_resource(NetConfig {
            url: format!("ws://{addr}/ws"),
            token: None,
            trust: gridwall::remote::Trust::default(),
        });
    app.update();
    app.world_mut().write_message(Outbound(ClientMessage::Subscribe {
        bbox: Bbox([-600.0, -900.0, 600.0, 900.0]),
        crs: BboxCrs::Local,
        layers: [Layer::Patrols, Layer::Incidents].into_iter().collect(),
    }));
    update_until(&mut app, "the patrol from the snapshot", |app| patrols(app).iter().any(|p| p.0 == "P-1"));
    assert_eq!(*app.world().resource::<Connection>(), Connection::Connected);
    // The frames set the server's clock.
    let elapsed = app.world().resource::<Time>().elapsed_secs();
    let server_now = app.world().resource::<ServerClock>().now_ms(elapsed).expect("the server's time");
    assert!((server_now - gridwall_testkit::now_ms()).abs() < 5_000, "{server_now}");
    let at = patrols(&mut app)[0].1;
    assert!((at.x - 100.0).abs() < 0.02 && (at.z + 50.0).abs() < 0.02, "{at}");

    // A move streams in and the marker glides there.
    let (lon, lat) = f.to_wgs84(120.0, 50.0).unwrap();
    post(addr, "/api/v1/positions", &json!([{"patrol_id":"P-1","lon":lon,"lat":lat,"ts":now()}]));
    update_until(&mut app, "the move", |app| (patrols(app)[0].1.x - 120.0).abs() < 0.02);

    // A new incident appears from its event.
    let (lon, lat) = f.to_wgs84(0.0, 0.0).unwrap();
    let r = post(
        addr,
        "/open311/v2/requests.json",
        &json!({"service_code":"garbage","lat":lat.to_string(),"long":lon.to_string()}),
    );
    let id: u64 = r[0]["service_request_id"].as_str().unwrap().parse().unwrap();
    update_until(&mut app, "the incident", |app| incidents(app) == [(id, IncidentStage::Accepted)]);

    // The commander's questions go over HTTP and come back as messages: details, the nearest
    // on-duty patrol, and a clear failure for an unknown incident.
    app.world_mut().write_message(Ask::Incident(id));
    app.world_mut().write_message(Ask::Nearest { incident: id, k: 3 });
    app.world_mut().write_message(Ask::Incident(999_999));
    let mut answers = Vec::new();
    update_until(&mut app, "three answers", |app| {
        answers.extend(app.world_mut().resource_mut::<Messages<Answer>>().drain());
        answers.len() == 3
    });
    assert!(
        matches!(&answers[0], Answer::Incident(d) if d.incident.id == id && d.timeline.len() == 1 && d.time_left_ms.is_some_and(|t| t > 0)),
        "{answers:?}"
    );
    assert!(
        matches!(&answers[1], Answer::Nearest { incident, answer } if *incident == id && answer.patrols.len() == 1 && answer.patrols[0].patrol_id == "P-1"),
        "{answers:?}"
    );
    assert!(
        matches!(&answers[2], Answer::Failed { ask: Ask::Incident(999_999), error } if error.contains("no incident")),
        "{answers:?}"
    );

    // The server goes away: the display says so and keeps retrying.
    drop(server);
    update_until(&mut app, "the reconnecting state", |app| {
        matches!(app.world().resource::<Connection>(), Connection::Reconnecting { .. })
    });

    // It comes back on the same address with its stored state; the display resubscribes by
    // itself and the change made meanwhile arrives.
    let _server = start(addr, data.path());
    post(
        addr,
        &format!("/api/v1/incidents/{id}/transitions"),
        &json!({"action":"dispatch","assignee":"P-1","actor":"指挥长"}),
    );
    update_until(&mut app, "the reconnection", |app| *app.world().resource::<Connection>() == Connection::Connected);
    update_until(&mut app, "the dispatched incident", |app| incidents(app) == [(id, IncidentStage::Dispatched)]);
    assert!(patrols(&mut app).iter().any(|p| p.0 == "P-1"));
}
