//! The native link: the socket on a thread of its own (tokio, tungstenite, rustls), the HTTP
//! questions on another (ureq), both feeding one channel the Bevy side drains.

use std::thread;
use std::time::Duration;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_protocol::ClientMessage;
use gridwall_protocol::binary::encode_client;
use tokio::sync::mpsc as tmpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{
    Answer, Ask, Inbound, MAX_ANSWER_BYTES, NetConfig, PING_EVERY, Reader, Standing, ask_request, decode_answer,
    http_base, local_ms, retry_after,
};

/// The channel ends the Bevy side holds.
#[derive(Resource)]
pub(super) struct Link {
    inbox: Receiver<Inbound>,
    outbox: tmpsc::UnboundedSender<ClientMessage>,
    asks: std::sync::mpsc::Sender<Ask>,
}

impl Link {
    pub(super) fn open(config: &NetConfig) -> Self {
        let (in_tx, inbox) = crossbeam_channel::unbounded();
        let (outbox, out_rx) = tmpsc::unbounded_channel();
        let url = config.url.clone();
        let token = config.token.clone();
        let http_token = token.clone();
        let http = http_base(&url);
        let (trust, ws_trust) = (config.trust.clone(), config.trust.clone());
        let (asks, ask_rx) = std::sync::mpsc::channel();
        let http_inbox = in_tx.clone();
        thread::Builder::new()
            .name("gridwall-http".into())
            .spawn(move || answer_asks(&http, http_token.as_deref(), &trust, &ask_rx, &http_inbox))
            .expect("spawn the HTTP thread");
        thread::Builder::new()
            .name("gridwall-net".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the socket");
                rt.block_on(keep_connected(url, token, ws_trust, in_tx, out_rx));
            })
            .expect("spawn the network thread");
        Self { inbox, outbox, asks }
    }

    pub(super) fn try_recv(&self) -> Option<Inbound> {
        self.inbox.try_recv().ok()
    }

    pub(super) fn send(&self, m: ClientMessage) {
        let _ = self.outbox.send(m);
    }

    pub(super) fn ask(&self, a: Ask) {
        let _ = self.asks.send(a);
    }
}

/// Answers HTTP questions one at a time, in order, until the app goes away.
fn answer_asks(
    base: &str,
    token: Option<&str>,
    trust: &crate::remote::Trust,
    asks: &std::sync::mpsc::Receiver<Ask>,
    inbox: &Sender<Inbound>,
) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let agent = trust.agent(Some(Duration::from_secs(5)), false);
    while let Ok(ask) = asks.recv() {
        let (url, query) = ask_request(base, &ask);
        let mut request = agent.get(&url).query_pairs(query);
        if let Some(b) = &bearer {
            request = request.header("authorization", b);
        }
        let answer = match request.call() {
            Err(e) => Answer::Failed { ask, error: e.to_string() },
            Ok(mut res) => {
                let status = res.status().as_u16();
                match res.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_vec() {
                    Ok(body) => decode_answer(ask, status, &body),
                    Err(e) => Answer::Failed { ask, error: e.to_string() },
                }
            }
        };
        if inbox.send(Inbound::Answer(answer)).is_err() {
            return;
        }
    }
}

/// The socket handshake: the URL, with the token as a bearer header.
fn handshake(url: &str, token: Option<&str>) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request().expect("a ws:// URL (checked when the display started)");
    if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
        request.headers_mut().insert("authorization", value);
    }
    request
}

/// Connects, runs the session, and reconnects after a loss with exponential backoff (0.5 s up
/// to 8 s). On every (re)connection it says hello with the last event seq it saw and repeats
/// the last subscription and wall membership, so the view comes back without a restart.
async fn keep_connected(
    url: String,
    token: Option<String>,
    trust: crate::remote::Trust,
    inbox: Sender<Inbound>,
    mut outbox: tmpsc::UnboundedReceiver<ClientMessage>,
) {
    let mut last_seq: Option<u64> = None;
    let mut standing = Standing::default();
    let mut attempt = 0u32;
    loop {
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            handshake(&url, token.as_deref()),
            None,
            false,
            trust.ws_connector(),
        );
        let reason = match connecting.await {
            Ok((ws, _)) => {
                attempt = 0;
                if inbox.send(Inbound::Connected).is_err() {
                    return;
                }
                match session(ws, &inbox, &mut outbox, &mut last_seq, &mut standing).await {
                    Ok(()) => return, // the app went away
                    Err(e) => e,
                }
            }
            Err(e) => e.to_string(),
        };
        attempt += 1;
        let retry_in = retry_after(attempt);
        if inbox.send(Inbound::Lost { attempt, retry_in, reason }).is_err() {
            return;
        }
        // Keep the latest subscription and wall membership while waiting; other commands fail
        // with the link.
        let wait = tokio::time::sleep(retry_in);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                c = outbox.recv() => match c {
                    None => return,
                    Some(c) => standing.remember(&c),
                },
            }
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection. `Ok` when the app closed the link, `Err(reason)` when the connection failed.
async fn session(
    ws: Ws,
    inbox: &Sender<Inbound>,
    outbox: &mut tmpsc::UnboundedReceiver<ClientMessage>,
    last_seq: &mut Option<u64>,
    standing: &mut Standing,
) -> Result<(), String> {
    let (mut sink, mut stream) = ws.split();
    let send = |m: &ClientMessage| WsMessage::Binary(encode_client(m).into());
    sink.send(send(&Reader::hello(*last_seq))).await.map_err(|e| e.to_string())?;
    for m in standing.all() {
        sink.send(send(m)).await.map_err(|e| e.to_string())?;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut reader = Reader::default();
    loop {
        tokio::select! {
            c = outbox.recv() => {
                let Some(c) = c else { return Ok(()) };
                standing.remember(&c);
                sink.send(send(&c)).await.map_err(|e| e.to_string())?;
            }
            _ = ping.tick() => {
                sink.send(send(&ClientMessage::Ping { t: local_ms() as u64 })).await.map_err(|e| e.to_string())?;
            }
            m = stream.next() => {
                let m = match m {
                    None => return Err("the server closed the connection".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(m)) => m,
                };
                let item = match m {
                    WsMessage::Binary(b) => reader.read(&b, last_seq)?,
                    WsMessage::Close(_) => return Err("the server closed the connection".into()),
                    _ => continue,
                };
                if inbox.send(item).is_err() {
                    return Ok(());
                }
            }
        }
    }
}
