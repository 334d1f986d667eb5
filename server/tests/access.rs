//! Access control as an attacker tests it: every role refused everything it may not do (401
//! without a token, 403 with the wrong one) with nothing changed; actors that cannot be forged;
//! devices that report only for their own patrols; sockets that need a token and a known
//! origin; the audit trail; a server without tokens that will not listen on a network.

use gridwall_protocol::{BboxCrs, ClientMessage, Layer, PROTOCOL_VERSION, ServerMessage};
use gridwall_testkit::display::DisplayClient as Client;
use gridwall_testkit::now_ts;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::server::{RoleTokens, TestServer as Server};
use serde_json::{Value, json as j};

/// Registers P-1 and P-2 as the admin; opens an incident as the intake; its id.
fn city(s: &Server, t: &RoleTokens) -> u64 {
    let regs = j!([{"patrol_id": "P-1", "role": "grid_worker", "grid": CELL}, {"patrol_id": "P-2", "role": "police", "grid": CELL}]);
    assert_eq!(s.call_as(Some(&t.admin), "POST", "/api/v1/patrols", Some(&regs)).0, 200);
    let (lon, lat) = s.lonlat(30.0, 40.0);
    let req = j!({"service_code": "garbage", "lat": lat.to_string(), "long": lon.to_string(), "description": "楼下垃圾堆积，联系电话13800000000"});
    let (status, body) = s.call_as(Some(&t.intake), "POST", "/open311/v2/requests.json", Some(&req));
    assert_eq!(status, 201, "{body}");
    body[0]["service_request_id"].as_str().unwrap().parse().unwrap()
}

#[test]
fn every_role_is_refused_what_it_may_not_do_and_nothing_changes() {
    let (s, t) = Server::start_with_tokens(|_| {});
    let id = city(&s, &t);
    let (lon, lat) = s.lonlat(10.0, 10.0);
    let fix = j!([{"patrol_id": "P-1", "lon": lon, "lat": lat, "ts": now_ts()}]);
    let reg = j!([{"patrol_id": "P-9", "role": "volunteer", "grid": CELL}]);
    let step = j!({"action": "dispatch", "assignee": "P-1"});
    let (olon, olat) = s.lonlat(50.0, 50.0);
    let report = j!({"service_code": "noise", "lat": olat.to_string(), "long": olon.to_string()});
    let incident = format!("/api/v1/incidents/{id}");
    let transition = format!("/api/v1/incidents/{id}/transitions");
    // (method, path, body, the roles allowed)
    let table: Vec<(&str, &str, Option<&Value>, &[&str])> = vec![
        ("GET", "/api/v1/kpis", None, &["viewer", "commander", "admin"]),
        ("GET", "/api/v1/grids", None, &["viewer", "commander", "admin"]),
        ("GET", "/scene/scene.toml", None, &["viewer", "commander", "admin"]),
        ("GET", &incident, None, &["viewer", "commander", "admin"]),
        ("GET", "/api/v1/nearest?x=0&y=0&k=3", None, &["viewer", "commander", "admin"]),
        ("GET", "/api/v1/patrols/P-1/track", None, &["viewer", "commander", "admin"]),
        ("GET", "/api/v1/audit", None, &["admin"]),
        ("POST", "/api/v1/positions", Some(&fix), &["device"]),
        ("POST", "/api/v1/patrols", Some(&reg), &["admin"]),
        ("POST", "/open311/v2/requests.json", Some(&report), &["intake"]),
    ];
    let roles = [
        ("viewer", &t.viewer),
        ("commander", &t.commander),
        ("device", &t.device),
        ("intake", &t.intake),
        ("admin", &t.admin),
    ];
    for (method, path, body, allowed) in &table {
        let (status, answer) = s.call_as(None, method, path, *body);
        assert_eq!(status, 401, "{method} {path} without a token: {answer}");
        assert_eq!(s.call_as(Some("gw_forged"), method, path, *body).0, 401, "{method} {path}, unknown token");
        for (role, token) in roles {
            let (status, answer) = s.call_as(Some(token), method, path, *body);
            if allowed.contains(&role) {
                assert!((200..300).contains(&status), "{role} {method} {path}: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{role} {method} {path}: {answer}");
                // Open311 routes answer in Open311's error shape.
                let field = if path.starts_with("/open311") { &answer[0]["field"] } else { &answer["error"]["field"] };
                assert_eq!(field, "authorization", "{answer}");
            }
        }
    }
    // The workflow step last: once done it cannot be done again.
    for (role, token) in roles.iter().filter(|r| r.0 != "commander") {
        assert_eq!(s.call_as(Some(token), "POST", &transition, Some(&step)).0, 403, "{role}");
    }
    let (_, detail) = s.call_as(Some(&t.viewer), "GET", &incident, None);
    assert_eq!(detail["incident"]["stage"], "accepted", "refused steps changed nothing: {detail}");
    let (status, answer) = s.call_as(Some(&t.commander), "POST", &transition, Some(&step));
    assert_eq!(status, 200, "{answer}");
    // Refusals of token holders are in the audit trail; the anonymous ones are not (anyone
    // could fill the disk with them).
    let (_, audit) = s.call_as(Some(&t.admin), "GET", "/api/v1/audit?limit=1000", None);
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["role"] == "viewer" && e["outcome"].as_str().unwrap().starts_with("refused")));
    assert!(!entries.iter().any(|e| e["role"] == "anonymous"), "{audit}");
    // Of the refused positions nothing was stored: only the device's fix is in P-1's track.
    let (_, track) = s.call_as(Some(&t.viewer), "GET", "/api/v1/patrols/P-1/track", None);
    assert_eq!(track["points"].as_array().unwrap().len(), 1, "{track}");
}

#[test]
fn the_actor_is_the_tokens_holder_whatever_the_client_says() {
    let (s, t) = Server::start_with_tokens(|_| {});
    let id = city(&s, &t);
    let step = j!({"action": "dispatch", "assignee": "P-1", "actor": "市长"});
    let (status, body) =
        s.call_as(Some(&t.commander), "POST", &format!("/api/v1/incidents/{id}/transitions"), Some(&step));
    assert_eq!(status, 200, "{body}");
    let (_, detail) = s.call_as(Some(&t.viewer), "GET", &format!("/api/v1/incidents/{id}"), None);
    let last = detail["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "张指挥", "{detail}");
    // Over the socket too.
    let mut desk = Client::connect_as(s.addr, true, Some(&t.commander), None).unwrap();
    desk.send(&ClientMessage::Transition {
        request: 1,
        incident: id,
        action: "resolve".into(),
        actor: "市长".into(),
        note: "修好了".into(),
        satisfaction: None,
    });
    let ok = desk.until("the reply", |m| match m {
        ServerMessage::Reply { request: 1, ok, error } => Some((*ok, error.clone())),
        _ => None,
    });
    assert_eq!(ok, (true, None));
    let (_, detail) = s.call_as(Some(&t.viewer), "GET", &format!("/api/v1/incidents/{id}"), None);
    assert_eq!(detail["timeline"].as_array().unwrap().last().unwrap()["actor"], "张指挥");
    // The audit trail has both, with the holder, role and address; only admins read it.
    let (status, audit) = s.call_as(Some(&t.admin), "GET", "/api/v1/audit?limit=10", None);
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    let steps: Vec<&Value> =
        entries.iter().filter(|e| e["action"].as_str().unwrap().starts_with("transition")).collect();
    assert_eq!(steps.len(), 2, "{audit}");
    assert_eq!(steps[0]["action"], "transition resolve", "newest first");
    for e in steps {
        assert_eq!(
            (e["actor"].as_str(), e["role"].as_str(), e["outcome"].as_str()),
            (Some("张指挥"), Some("commander"), Some("ok"))
        );
        assert!(e["address"].as_str().unwrap().starts_with("127.0.0.1:"), "{e}");
    }
    assert_eq!(s.call_as(Some(&t.commander), "GET", "/api/v1/audit", None).0, 403);
}

#[test]
fn a_device_reports_for_its_own_patrols_only_and_refusals_are_audited() {
    let (s, t) = Server::start_with_tokens(|_| {});
    city(&s, &t);
    let regs = j!([{"patrol_id": "P-3", "role": "grid_worker", "grid": CELL}]);
    assert_eq!(s.call_as(Some(&t.admin), "POST", "/api/v1/patrols", Some(&regs)).0, 200);
    let (lon, lat) = s.lonlat(10.0, 10.0);
    let fix = |id: &str| j!({"patrol_id": id, "lon": lon, "lat": lat, "ts": now_ts()});
    // A batch with one foreign patrol is refused whole.
    let (status, body) = s.call_as(Some(&t.device), "POST", "/api/v1/positions", Some(&j!([fix("P-1"), fix("P-3")])));
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("P-3"), "{body}");
    let (_, track) = s.call_as(Some(&t.viewer), "GET", "/api/v1/patrols/P-1/track", None);
    assert_eq!(track["points"].as_array().unwrap().len(), 0, "nothing of the refused batch was stored");
    let (status, _) = s.call_as(Some(&t.device), "POST", "/api/v1/positions", Some(&j!([fix("P-1"), fix("P-2")])));
    assert_eq!(status, 202);
    let (_, audit) = s.call_as(Some(&t.admin), "GET", "/api/v1/audit?actor=%E7%BB%88%E7%AB%AF-1", None);
    let refused = &audit["entries"][0];
    assert_eq!(refused["action"], "positions", "{audit}");
    assert!(refused["outcome"].as_str().unwrap().starts_with("refused"), "{audit}");
}

#[test]
fn sockets_need_a_token_a_known_origin_and_the_role_for_each_command() {
    let (s, t) = Server::start_with_tokens(|c| c.allowed_origins = vec!["https://wall.example".into()]);
    let id = city(&s, &t);
    assert_eq!(Client::connect_as(s.addr, false, None, None).err(), Some(401));
    assert_eq!(Client::connect_as(s.addr, false, Some("gw_nope"), None).err(), Some(401));
    assert_eq!(Client::connect_as(s.addr, false, Some(&t.device), None).err(), Some(403), "devices do not watch");
    // A web page elsewhere, in the dispatch room's browser, carrying a valid token.
    assert_eq!(Client::connect_as(s.addr, false, Some(&t.viewer), Some("https://evil.example")).err(), Some(403));
    // The server's own page (the web display at /) may, on whatever address it was reached.
    let own = format!("http://{}", s.addr);
    assert!(Client::connect_as(s.addr, false, Some(&t.viewer), Some(&own)).is_ok(), "the server's own page");
    let other_port = format!("http://{}:{}", s.addr.ip(), s.addr.port() + 1);
    assert_eq!(Client::connect_as(s.addr, false, Some(&t.viewer), Some(&other_port)).err(), Some(403));
    let mut wall = Client::connect_as(s.addr, true, Some(&t.viewer), Some("https://wall.example")).unwrap();
    let snap = wall.subscribe([-500.0, -500.0, 500.0, 500.0], BboxCrs::Local, &[Layer::Incidents]);
    assert!(matches!(snap, ServerMessage::Snapshot { .. }));
    // A wall's token may watch, not command, and its welcome says so (the display hides the
    // buttons; the server refuses anyway, below); a commander's says it may.
    let may_command = |c: &mut Client| {
        c.send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "test".into(), resume_after: None });
        c.until("the welcome", |m| match m {
            ServerMessage::Welcome { may_command, .. } => Some(*may_command),
            _ => None,
        })
    };
    assert!(!may_command(&mut wall));
    assert!(may_command(&mut Client::connect_as(s.addr, false, Some(&t.commander), None).unwrap()));
    wall.send(&ClientMessage::Assign { request: 7, incident: id, patrol: 0, actor: "张指挥".into() });
    let (ok, error) = wall.until("the reply", |m| match m {
        ServerMessage::Reply { request: 7, ok, error } => Some((*ok, error.clone())),
        _ => None,
    });
    assert!(!ok && error.as_deref().unwrap_or_default().contains("may not give commands"), "{error:?}");
    wall.send(&ClientMessage::Cast { wall: "main".into(), view: None });
    wall.until("a refusal", |m| {
        matches!(m, ServerMessage::Error { message, .. } if message.contains("may not")).then_some(())
    });
    wall.send(&ClientMessage::JoinWall { wall: "main".into(), lead: true });
    wall.until("a refusal", |m| {
        matches!(m, ServerMessage::Error { message, .. } if message.contains("may not")).then_some(())
    });
    let (_, detail) = s.call_as(Some(&t.viewer), "GET", &format!("/api/v1/incidents/{id}"), None);
    assert_eq!(detail["incident"]["stage"], "accepted");
    // The device socket: devices only.
    let ingest = |token: &str| {
        use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};
        let mut r = format!("ws://{}/ws/ingest", s.addr).into_client_request().unwrap();
        r.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        match tungstenite::connect(r) {
            Ok(_) => 101,
            Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(ingest(&t.viewer), 403);
    assert_eq!(ingest(&t.device), 101);
}

#[test]
fn the_public_sees_open311_requests_without_residents_words() {
    let (s, t) = Server::start_with_tokens(|_| {});
    let id = city(&s, &t);
    let (status, list) = s.call_as(None, "GET", "/open311/v2/requests.json", None);
    assert_eq!(status, 200, "Open311 GET stays public");
    assert_eq!(list[0]["service_request_id"], id.to_string());
    assert_eq!(list[0]["description"], "", "{list}");
    let (_, one) = s.call_as(None, "GET", &format!("/open311/v2/requests/{id}.json"), None);
    assert_eq!(one[0]["description"], "");
    let (_, list) = s.call_as(Some(&t.viewer), "GET", "/open311/v2/requests.json", None);
    assert!(list[0]["description"].as_str().unwrap().contains("垃圾"), "{list}");
    assert_eq!(s.call_as(None, "GET", "/open311/v2/services.json", None).0, 200);
    // A city that publishes them says so in its configuration.
    let (s, t) = Server::start_with_tokens(|c| c.open311_public_text = true);
    city(&s, &t);
    let (_, list) = s.call_as(None, "GET", "/open311/v2/requests.json", None);
    assert!(list[0]["description"].as_str().unwrap().contains("垃圾"), "{list}");
}

#[test]
fn without_tokens_the_server_will_not_listen_on_a_network() {
    let data = tempfile::tempdir().unwrap();
    let config = gridwall_testkit::server::helsinki_config(data.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let e = rt
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
            gridwall_server::run(listener, config, std::future::pending()).await
        })
        .expect_err("refused");
    assert!(e.to_string().contains("without tokens"), "{e}");
    assert!(!data.path().join("gridwall.sqlite").exists(), "refused before anything was opened");
}
