//! Held-out published Open311 clients (not written here, pinned in
//! `tools/open311-clients/requirements.txt`, installed by `scripts/setup-debian.sh`) against a
//! real server: civicbot files a request after checking it against the live service definition,
//! and georeport reads every method in JSON and in XML; both formats must read the same.

use std::process::Command;

use gridwall_testkit::server::TestServer as Server;
use serde_json::Value;

/// The tools environment's Python, with the clients installed.
fn python() -> String {
    let tools = std::env::var("GRIDWALL_TOOLS")
        .unwrap_or_else(|_| format!("{}/.cache/gridwall/tools", std::env::var("HOME").unwrap_or_default()));
    let python = format!("{tools}/bin/python3");
    let ok = Command::new(&python).args(["-c", "import georeport, civicbot"]).status().is_ok_and(|s| s.success());
    assert!(ok, "{python} lacks the Open311 clients: run scripts/setup-debian.sh");
    python
}

#[test]
fn published_clients_read_both_formats_and_file_a_request() {
    let python = python();
    let s = Server::start(|_| {});
    // A request already there: georeport cannot read an empty list.
    let first = s.open_request("garbage", -20.0, 40.0, "垃圾满溢");
    let (lon, lat) = s.lonlat(30.0, -10.0);
    let script = format!("{}/tools/open311-clients/check.py", env!("CARGO_MANIFEST_DIR").trim_end_matches("/server"));
    let out = Command::new(&python)
        .args([&script, &s.url("/open311/v2"), &lat.to_string(), &lon.to_string(), "helsinki"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the clients failed:\n{stderr}");
    let got: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    // civicbot refused, before sending, a request the live definition says is incomplete…
    let refused = got["civicbot_refused"].to_string();
    assert!(refused.contains("required attribute 'fault' missing"), "{refused}");
    // …and filed a complete one, read back as sent (no contact details kept).
    let c = &got["civicbot"];
    assert_eq!((c["service_code"].as_str(), c["status"].as_str()), (Some("manhole_damage"), Some("open")));
    assert_eq!(c["description"], "井盖缺失 <已两天> & 无警示");
    let created: u64 = c["created"].as_str().unwrap().parse().unwrap();

    // georeport read the same in JSON and in XML.
    assert_eq!(got["json"], got["xml"], "JSON and XML differ");
    let j = &got["json"];
    let services = j["services"].as_array().unwrap();
    assert!(services.contains(&serde_json::json!(["manhole_damage", "井盖破损丢失", "true"])), "{services:?}");
    assert!(services.contains(&serde_json::json!(["dispute", "矛盾纠纷", "false"])));
    let definition = j["definition"].as_array().unwrap();
    assert_eq!(
        definition[0].as_array().unwrap()[..5],
        serde_json::json!(["cover_type", "singlevaluelist", "true", "1", "井盖类型"]).as_array().unwrap()[..]
    );
    assert_eq!(definition[0][5][0], serde_json::json!(["rain", "雨水"]));
    assert_eq!(j["requests"], serde_json::json!([first.to_string(), created.to_string()]));
    let one = &j["one"];
    assert_eq!(one["service_request_id"], created.to_string());
    assert_eq!(one["service_name"], "井盖破损丢失");
    assert_eq!(one["description"], "井盖缺失 <已两天> & 无警示");
    assert!(one["status_notes"].as_str().unwrap().ends_with("受理"), "{one}");
    assert!((one["lat"].as_str().unwrap().parse::<f64>().unwrap() - lat).abs() < 1e-6);
    // What the server kept of it: the attributes, and no contact details.
    let (_, r) = s.get(&format!("/open311/v2/requests/{created}.json"));
    assert_eq!(r[0]["gridwall"]["attributes"], serde_json::json!({"cover_type": ["sewage"], "fault": ["missing"]}));
    assert!(!r.to_string().contains("someone@example.org") && !r.to_string().contains("个人信息"));
}
