//! Webhooks for integrators, with a real receiver on a real socket: each change of a request's
//! state is posted, signed (HMAC-SHA256 of the timestamp and the body, checked here with the
//! `hmac` crate), retried with backoff after the receiver fails twice, with the same delivery
//! id each time (a receiver that counts ids sees each change once), in order, showing what the
//! token's role may read; and a restarted server goes on after the last delivered change
//! instead of sending the old ones again.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridwall_testkit::server::{RoleTokens, TestServer as Server};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json as j};
use sha2::Sha256;

/// One request the receiver took: its path, headers (lower-case names) and body.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The status it answered.
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver that answers 500 while `fail` (the requests still to fail) is above 0, then 200.
fn receiver(fail: &Arc<AtomicUsize>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let fail = fail.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
            let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut log = log.lock().unwrap();
            let failing = fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            let status = if failing { 500 } else { 200 };
            log.push(Received { path, headers, body, status });
            drop(log);
            let reason = if status == 200 { "OK" } else { "Internal Server Error" };
            let _ = write!(stream, "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// Waits until `f` holds of what was received.
fn until(got: &Mutex<Vec<Received>>, what: &str, f: impl Fn(&[Received]) -> bool) -> Vec<Received> {
    let start = Instant::now();
    loop {
        let now = got.lock().unwrap().clone();
        if f(&now) {
            return now;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{what}: got {now:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signed_correctly(r: &Received, secret: &str) -> bool {
    let Some(hex) = r.header("x-gridwall-signature").strip_prefix("sha256=") else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(r.header("x-gridwall-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let bytes: Vec<u8> =
        (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect();
    mac.verify_slice(&bytes).is_ok()
}

#[test]
fn changes_are_delivered_signed_retried_and_once_per_id() {
    let tokens = RoleTokens::new();
    let fail = Arc::new(AtomicUsize::new(2));
    let (url, got) = receiver(&fail);
    let intake_secret =
        gridwall_server::auth::set_webhook(&tokens.file, "12345热线", &format!("{url}/intake")).unwrap();
    let desk_secret = gridwall_server::auth::set_webhook(&tokens.file, "张指挥", &format!("{url}/desk")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let configure = |c: &mut gridwall_server::config::ServeConfig| {
        c.auth = Some(tokens.file.clone());
        c.live.data = data.path().to_owned();
        c.webhook_retry_ms = 50;
    };
    let mut s = Server::start(configure);
    let (lon, lat) = s.lonlat(10.0, 10.0);
    let form =
        format!("service_code=garbage&lat={lat}&long={lon}&description=%E5%9E%83%E5%9C%BE%20%E7%94%B5%E8%AF%9D138");
    let (st, b) = gridwall_testkit::server::call_with(
        "POST",
        &s.url("/open311/v2/requests.json"),
        Some(&tokens.intake),
        "application/x-www-form-urlencoded",
        form.as_bytes(),
    );
    assert_eq!(st, 201, "{b}");
    let id = b[0]["service_request_id"].as_str().unwrap().to_owned();
    let (st, b) = s.call_as(
        Some(&tokens.commander),
        "POST",
        &format!("/api/v1/incidents/{id}/transitions"),
        Some(&j!({"action": "dispatch", "assignee": "P-1"})),
    );
    assert_eq!(st, 200, "{b}");

    // Two changes to each of two hooks, after two failures: six requests at least.
    let delivered = |path: &str| {
        let path = path.to_owned();
        move |all: &[Received]| all.iter().filter(|r| r.path == path && r.status == 200).count() >= 2
    };
    until(&got, "the intake hook's two changes", delivered("/intake"));
    let all = until(&got, "the desk hook's two changes", delivered("/desk"));
    let failed: Vec<&Received> = all.iter().filter(|r| r.status == 500).collect();
    assert_eq!(failed.len(), 2);
    for r in &all {
        let secret = if r.path == "/intake" { &intake_secret } else { &desk_secret };
        assert!(signed_correctly(r, secret), "{r:#?}");
        assert!(!signed_correctly(r, "whsec_not_it"), "another key does not verify");
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.json()["id"], r.header("x-gridwall-delivery"));
    }
    // The failed attempts came again with the same id and body (a new time and signature).
    for f in &failed {
        // (Each hook is told of the same change under the same id: one receiver sees its own.)
        let again: Vec<&Received> = all
            .iter()
            .filter(|r| r.path == f.path && r.header("x-gridwall-delivery") == f.header("x-gridwall-delivery"))
            .collect();
        assert!(again.len() >= 2 && again.iter().any(|r| r.status == 200), "{f:#?} was retried until taken");
        assert!(again.iter().all(|r| r.body == f.body), "a retry carries the same delivery");
    }
    // Per hook: each change taken once, in order, as the token's role may see it.
    for (path, shows_text) in [("/intake", false), ("/desk", true)] {
        let ok: Vec<Value> = all.iter().filter(|r| r.path == path && r.status == 200).map(Received::json).collect();
        let ids: BTreeSet<&str> = ok.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), ok.len(), "{path}: no id taken twice");
        let events: Vec<(&str, &str)> =
            ok.iter().map(|d| (d["event"].as_str().unwrap(), d["stage"].as_str().unwrap())).collect();
        assert_eq!(events, [("opened", "accepted"), ("changed", "dispatched")], "{path}");
        assert!(ok[0]["seq"].as_u64() < ok[1]["seq"].as_u64());
        let req = &ok[1]["service_request"];
        assert_eq!(req["service_request_id"], id.as_str());
        assert_eq!(req["gridwall"]["stage"], "dispatched");
        assert_eq!(req["description"].as_str().unwrap().contains("垃圾"), shows_text, "{path}: {req}");
        assert!(!req["status_notes"].as_str().unwrap().contains("张指挥"), "no names in public steps");
    }
    // Nothing more comes once taken.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(got.lock().unwrap().len(), all.len());

    // A change the receiver could not take before the server stopped is delivered after its
    // restart; the ones it took are not sent again.
    fail.store(usize::MAX, Ordering::SeqCst);
    let (st, b) = s.call_as(
        Some(&tokens.commander),
        "POST",
        &format!("/api/v1/incidents/{id}/transitions"),
        Some(&j!({"action": "resolve"})),
    );
    assert_eq!(st, 200, "{b}");
    let before = all.len();
    until(&got, "a failed attempt at each hook", |all| {
        ["/intake", "/desk"].iter().all(|p| all[before..].iter().any(|r| r.path == *p && r.status == 500))
    });
    s.stop();
    fail.store(0, Ordering::SeqCst);
    let pending = got.lock().unwrap().len();
    let _s = Server::start(configure);
    until(&got, "the pending change after the restart", |all| {
        all[pending..].iter().filter(|r| r.status == 200).count() >= 2
    });
    std::thread::sleep(Duration::from_millis(600));
    let after = got.lock().unwrap()[pending..].to_vec();
    assert_eq!(after.len(), 2, "{after:#?}");
    for r in &after {
        assert_eq!((r.json()["event"].as_str(), r.json()["stage"].as_str()), (Some("changed"), Some("resolved")));
    }
}
