//! The binary position batch (`application/vnd.gridwall.positions`, and binary frames on
//! `/ws/ingest`): taken like JSON, checked like JSON (a device only for its own patrols, the
//! same limits and messages), and a broken batch is a clear 400 that stores nothing.

use gridwall_protocol::api::IngestAck;
use gridwall_protocol::binary::{Fix, FixCrs, POSITIONS_MEDIA_TYPE, PositionBatch, encode_positions};
use gridwall_testkit::now_ms;
use gridwall_testkit::paths::CELL;
use gridwall_testkit::server::{TestServer as Server, call_with};
use serde_json::json;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest as _};

fn batch(s: &Server, fixes: &[(&str, f64, f64)]) -> Vec<u8> {
    let fixes = fixes
        .iter()
        .map(|&(id, x, y)| {
            let (lon, lat) = s.lonlat(x, y);
            Fix { patrol_id: id.into(), lon, lat, t_ms: now_ms() }
        })
        .collect();
    encode_positions(&PositionBatch { crs: FixCrs::Wgs84, fixes })
}

#[test]
fn a_binary_batch_is_taken_and_checked_like_json_over_http_and_the_socket() {
    let (s, t) = Server::start_with_tokens(|_| {});
    let regs = json!([
        {"patrol_id": "P-1", "role": "grid_worker", "grid": CELL},
        {"patrol_id": "P-2", "role": "police", "grid": CELL},
        {"patrol_id": "P-3", "role": "grid_worker", "grid": CELL},
    ]);
    assert_eq!(s.call_as(Some(&t.admin), "POST", "/api/v1/patrols", Some(&regs)).0, 200);
    let url = s.url("/api/v1/positions");
    let post = |body: &[u8]| call_with("POST", &url, Some(&t.device), POSITIONS_MEDIA_TYPE, body);
    let points = |id: &str| {
        let (_, track) = s.call_as(Some(&t.viewer), "GET", &format!("/api/v1/patrols/{id}/track"), None);
        track["points"].as_array().map_or(0, Vec::len)
    };

    let (status, body) = post(&batch(&s, &[("P-1", 10.0, 10.0), ("P-2", 20.0, 20.0)]));
    assert_eq!((status, &body["accepted"]), (202, &json!(2)), "{body}");
    assert_eq!(points("P-1"), 1);

    // A device's token, for its own patrols only: a batch with a foreign one is refused whole.
    let (status, body) = post(&batch(&s, &[("P-1", 11.0, 11.0), ("P-3", 12.0, 12.0)]));
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("P-3"), "{body}");
    assert_eq!((points("P-1"), points("P-3")), (1, 0), "nothing of the refused batch was stored");

    // The same checks and words as JSON: a fix outside the scene names its item and field.
    let (status, body) = post(&batch(&s, &[("P-1", 11.0, 11.0), ("P-2", 900_000.0, 0.0)]));
    assert_eq!((status, &body["error"]["index"], &body["error"]["field"]), (400, &json!(1), &json!("lon")), "{body}");
    // A broken batch says so.
    let whole = batch(&s, &[("P-1", 11.0, 11.0)]);
    let (status, body) = post(&whole[..whole.len() - 2]);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not a binary position batch"), "{body}");
    // JSON sent under the binary media type is no batch either.
    assert_eq!(post(br#"[{"patrol_id":"P-1"}]"#).0, 400);
    assert_eq!(points("P-1"), 1);

    // The device socket: a binary batch, then JSON in a binary frame, each acknowledged.
    let mut r = format!("ws://{}/ws/ingest", s.addr).into_client_request().unwrap();
    r.headers_mut().insert("authorization", format!("Bearer {}", t.device).parse().unwrap());
    let (mut ws, _) = tungstenite::connect(r).unwrap();
    let mut ack = |frame: Vec<u8>| -> IngestAck {
        ws.send(Message::Binary(frame.into())).unwrap();
        serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap()
    };
    let a = ack(batch(&s, &[("P-1", 13.0, 13.0), ("P-2", 14.0, 14.0), ("P-1", 15.0, 15.0)]));
    assert_eq!((a.ok, a.accepted), (true, Some(3)), "{a:?}");
    let (lon, lat) = s.lonlat(16.0, 16.0);
    let text = json!([{"patrol_id": "P-2", "lon": lon, "lat": lat, "ts": gridwall_testkit::now_ts()}]).to_string();
    let a = ack(text.into_bytes());
    assert_eq!((a.ok, a.accepted), (true, Some(1)), "{a:?}");
    let a = ack(batch(&s, &[("P-3", 13.0, 13.0)]));
    assert!(!a.ok && a.error.is_some_and(|e| e.message.contains("P-3")));
    assert_eq!((points("P-1"), points("P-2"), points("P-3")), (3, 3, 0));
}
