//! A display connection to `/ws`, binary or JSON, read with a timeout (blocking; for tests).

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gridwall_protocol::binary::{ServerDecoder, encode_client};
use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, Layer, LayerSet, ServerMessage, json};
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// A display connection.
pub struct DisplayClient {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    json: bool,
    decoder: ServerDecoder,
}

impl DisplayClient {
    /// Connects to `addr`'s `/ws` (`?format=json` when `json`).
    pub fn connect(addr: SocketAddr, json: bool) -> Self {
        Self::connect_as(addr, json, None, None).expect("the display socket opens")
    }

    /// Connects with a token and an `Origin` header (as a browser page would send); the HTTP
    /// status of a refused handshake.
    pub fn connect_as(addr: SocketAddr, json: bool, token: Option<&str>, origin: Option<&str>) -> Result<Self, u16> {
        use tungstenite::client::IntoClientRequest as _;
        let url = format!("ws://{addr}/ws{}", if json { "?format=json" } else { "" });
        let mut request = url.into_client_request().expect("a URL");
        if let Some(t) = token {
            request.headers_mut().insert("authorization", format!("Bearer {t}").parse().expect("a header"));
        }
        if let Some(o) = origin {
            request.headers_mut().insert("origin", o.parse().expect("a header"));
        }
        let ws = match tungstenite::connect(request) {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(res)) => return Err(res.status().as_u16()),
            Err(e) => panic!("the display socket: {e}"),
        };
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200))).expect("a read timeout");
        }
        Ok(Self { ws, json, decoder: ServerDecoder::new() })
    }

    pub fn send(&mut self, m: &ClientMessage) {
        let msg = if self.json {
            Message::Text(json::encode_client(m).into())
        } else {
            Message::Binary(encode_client(m).into())
        };
        self.ws.send(msg).expect("the message goes out");
    }

    /// The next message, or None after `wait`.
    pub fn next(&mut self, wait: Duration) -> Option<ServerMessage> {
        let end = Instant::now() + wait;
        while Instant::now() < end {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(json::decode_server(t.as_str()).expect("a JSON server message")),
                Ok(Message::Binary(b)) => return Some(self.decoder.decode(&b).expect("a binary server message")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("socket: {e}"),
            }
        }
        None
    }

    /// Reads until `pred` returns Some (fails after 15 s).
    pub fn until<T>(&mut self, what: &str, mut pred: impl FnMut(&ServerMessage) -> Option<T>) -> T {
        let end = Instant::now() + Duration::from_secs(15);
        // The last few messages that did not match, for the failure's text.
        let mut seen: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        while Instant::now() < end {
            if let Some(m) = self.next(Duration::from_millis(200)) {
                if let Some(t) = pred(&m) {
                    return t;
                }
                if matches!(&m, ServerMessage::Delta { moved, entered, left, events, .. }
                    if moved.is_empty() && entered.is_empty() && left.is_empty() && events.is_empty())
                {
                    continue; // a heartbeat
                }
                // Characters, not bytes: Chinese text would be cut inside one.
                seen.push_back(format!("{m:?}").chars().take(300).collect());
                if seen.len() > 8 {
                    seen.pop_front();
                }
            }
        }
        panic!("timed out waiting for {what}; the last messages were: {seen:#?}");
    }

    /// Subscribes and returns the snapshot that answers it.
    pub fn subscribe(&mut self, bbox: [f64; 4], crs: BboxCrs, layers: &[Layer]) -> ServerMessage {
        self.send(&ClientMessage::Subscribe {
            bbox: Bbox(bbox),
            crs,
            layers: layers.iter().copied().collect::<LayerSet>(),
        });
        self.until("snapshot", |m| matches!(m, ServerMessage::Snapshot { .. }).then(|| m.clone()))
    }
}
