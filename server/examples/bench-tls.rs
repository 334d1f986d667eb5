//! What TLS and tokens cost per request: `cargo run -p gridwall-server --example bench-tls`.
//! One server plain, one with the test certificate (`testkit/certs/`), each with tokens; GET
//! /api/v1/kpis over one kept-alive connection (the request cost) and over a new connection
//! each time (the handshake cost), from one client thread on loopback. Results: BENCHMARKS.md.

use std::time::Instant;

use gridwall_city::access::Role;
use gridwall_testkit::server::{BackgroundServer, helsinki_config};
use gridwall_testkit::tls::{certs, client};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio_rustls::rustls::pki_types::ServerName;

const N: usize = 3_000;

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

async fn connect(addr: std::net::SocketAddr, tls: bool) -> Box<dyn Io> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    if tls {
        Box::new(client(true).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap())
    } else {
        Box::new(tcp)
    }
}

/// One GET on a kept-alive connection; reads the whole answer.
async fn get(io: &mut BufReader<Box<dyn Io>>, token: Option<&str>) {
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!("GET /api/v1/kpis HTTP/1.1\r\nhost: localhost\r\n{auth}\r\n");
    io.get_mut().write_all(req.as_bytes()).await.unwrap();
    let mut len = 0;
    loop {
        let mut line = String::new();
        io.read_line(&mut line).await.unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await.unwrap();
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let certs = certs();
    println!("{N} GET /api/v1/kpis per case, one client thread, loopback, server on 2 workers");
    for (tls, auth) in [(false, false), (false, true), (true, false), (true, true)] {
        let data = tempfile::tempdir().unwrap();
        let mut config = helsinki_config(data.path());
        let mut token = None;
        if auth {
            let file = data.path().join("auth.toml");
            token = Some(gridwall_server::auth::add_token(&file, Role::Viewer, "wall", &[]).unwrap());
            config.auth = Some(file);
        }
        if tls {
            config.tls_cert = Some(certs.join("server.pem"));
            config.tls_key = Some(certs.join("server.key"));
        }
        let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), config, 2).unwrap();
        let (kept, fresh) = rt.block_on(async {
            let mut io = BufReader::new(connect(server.addr, tls).await);
            for _ in 0..100 {
                get(&mut io, token.as_deref()).await;
            }
            let t = Instant::now();
            for _ in 0..N {
                get(&mut io, token.as_deref()).await;
            }
            let kept = t.elapsed().as_secs_f64() / N as f64;
            let t = Instant::now();
            for _ in 0..N / 10 {
                let mut io = BufReader::new(connect(server.addr, tls).await);
                get(&mut io, token.as_deref()).await;
            }
            (kept, t.elapsed().as_secs_f64() / (N / 10) as f64)
        });
        println!(
            "{:<5} {:<7} kept-alive {:>6.1} µs per request, new connection each {:>7.1} µs",
            if tls { "TLS" } else { "plain" },
            if auth { "tokens" } else { "open" },
            kept * 1e6,
            fresh * 1e6
        );
        drop(server);
    }
}
