//! TLS and connection timeouts: HTTPS and WSS with a certificate (the test CA in
//! `testkit/certs/`), a client that does not trust the certificate refused at the handshake,
//! plain HTTP on a TLS port answered with nothing useful; a connection that sends no request is
//! closed after the header timeout while others are served.

use std::io::Read as _;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_testkit::server::TestServer as Server;
use gridwall_testkit::tls::{certs, client};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_tungstenite::tungstenite::Message;

#[test]
fn https_and_wss_with_a_certificate_and_nothing_without_trust() {
    let s = Server::start(|c| {
        c.tls_cert = Some(certs().join("server.pem"));
        c.tls_key = Some(certs().join("server.key"));
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let name = ServerName::try_from("localhost").unwrap();
        // HTTPS.
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let mut tls = client(true).connect(name.clone(), tcp).await.expect("the handshake with the test CA");
        tls.write_all(b"GET /api/v1/kpis HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("closure_rate"), "{answer}");
        // WSS: the display socket over the same TLS.
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let tls = client(true).connect(name.clone(), tcp).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws?format=json", tls).await.unwrap();
        let hello = format!(r#"{{"type":"hello","version":{}}}"#, gridwall_protocol::PROTOCOL_VERSION);
        ws.send(Message::Text(hello.into())).await.unwrap();
        let Some(Ok(Message::Text(welcome))) = ws.next().await else { panic!("no welcome") };
        assert!(welcome.contains("\"welcome\""), "{welcome}");
        // A client that does not trust the certificate: no connection.
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        assert!(client(false).connect(name, tcp).await.is_err(), "an untrusted certificate was accepted");
        // Plain HTTP to the TLS port: no HTTP answer.
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        tcp.write_all(b"GET /api/v1/kpis HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    });
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let s = Server::start(|c| c.header_timeout_s = 1.0);
    let mut idle = std::net::TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    assert_eq!(s.get("/api/v1/kpis").0, 200, "others are served meanwhile");
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "the idle connection was held {waited:?}");
}
