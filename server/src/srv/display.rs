//! `GET /ws` (`?format=json`): the display stream. The socket side of a [`Session`]: decoded
//! client messages and shared tick batches go in, encoded frames come out.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_backend::Backend;
use gridwall_backend::session::{Frame, Session};
use gridwall_city::access::{Caller, Permission};
use gridwall_city::walls::Stamped;
use gridwall_protocol::binary::decode_client;
use gridwall_protocol::{ClientMessage, ServerMessage};
use tokio::sync::{broadcast, mpsc, watch};

use super::access::{Access, Who};
use super::error::{ApiError, ApiResult};
use super::limits::{Rate, Slot, close_for, too_fast};

/// Whoever may read the live picture; commands on the socket are checked one by one.
pub async fn upgrade(
    who: Who,
    Extension(access): Extension<Arc<Access>>,
    ws: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
    State(backend): State<Arc<Backend>>,
) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    let json = match q.get("format").map(String::as_str) {
        None | Some("binary") => false,
        Some("json") => true,
        Some(other) => return Err(ApiError::bad_request("format", format!("{other:?}: use json or binary"))),
    };
    let slot = access.connections.admit(&who.0, &access.sockets)?;
    let limits = access.sockets;
    Ok(ws.max_message_size(limits.message_bytes).max_frame_size(limits.message_bytes).on_upgrade(move |socket| {
        serve(socket, backend, json, who.0, slot, limits.message_bytes, limits.messages_per_second)
    }))
}

/// What the reader task hands the session.
enum Inbound {
    Message(ClientMessage),
    Bad(String),
    /// Close the connection with this frame (too large, too fast).
    Close(Message),
}

/// Runs one connection until the client goes away or the server shuts down.
async fn serve(
    socket: WebSocket,
    backend: Arc<Backend>,
    json: bool,
    caller: Caller,
    _slot: Slot,
    max_bytes: usize,
    per_second: u32,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut inbound) = mpsc::channel::<Inbound>(64);
    let mut reader = tokio::spawn(async move {
        let mut rate = Rate::default();
        while let Some(msg) = stream.next().await {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    if let Some(close) = close_for(&e, max_bytes) {
                        let _ = tx.send(Inbound::Close(close)).await;
                    }
                    break;
                }
            };
            if !rate.allow(per_second) {
                let _ = tx.send(Inbound::Close(too_fast(per_second))).await;
                // Read on (discarding) until the client answers the close: a socket dropped
                // with unread data resets the connection, and the client loses the close frame
                // and whatever it had not read yet.
                while let Some(Ok(m)) = stream.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
                break;
            }
            let item = match msg {
                Message::Binary(b) => decode_client(&b).map_err(|e| e.to_string()),
                Message::Text(t) => gridwall_protocol::json::decode_client(t.as_str()).map_err(|e| e.to_string()),
                Message::Close(_) => break,
                _ => continue,
            };
            if tx.send(item.map_or_else(Inbound::Bad, Inbound::Message)).await.is_err() {
                break;
            }
        }
    });
    let mut ticks = backend.ticks.subscribe();
    let mut shutdown = backend.shutdown.clone();
    let mut session = Session::new(&backend, json, caller);
    // The wall group's views, once the display joined one.
    let mut wall_views: Option<watch::Receiver<Option<Stamped>>> = None;
    // Why the server closes the socket (too large, too fast), sent once the loop is left.
    let mut close_frame = None;
    loop {
        let wall_changed = async {
            match &mut wall_views {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let out: Vec<ServerMessage> = tokio::select! {
            item = inbound.recv() => match item {
                None => break,
                Some(Inbound::Bad(e)) => vec![Session::bad_message(e)],
                Some(Inbound::Close(frame)) => {
                    close_frame = Some(frame);
                    break;
                }
                Some(Inbound::Message(m)) => {
                    let out = session.handle(m, &backend).await;
                    if let Some(rx) = session.take_wall_views() {
                        wall_views = Some(rx);
                    }
                    out
                }
            },
            alive = wall_changed => {
                if let (true, Some(rx), Some(wall)) = (alive, &mut wall_views, session.wall_name()) {
                    rx.borrow_and_update().as_ref().map(|s| Session::wall_view(wall, s)).into_iter().collect()
                } else {
                    wall_views = None;
                    Vec::new()
                }
            }
            batch = ticks.recv() => match batch {
                Ok(b) if session.replaying() => {
                    if b.flush { Vec::new() } else { session.replay_tick(&backend).await }
                }
                Ok(batch) => session.on_tick(&batch, &backend),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    ticks = ticks.resubscribe();
                    if session.replaying() { Vec::new() } else { session.catch_up(&backend) }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = shutdown.changed() => break,
        };
        let mut failed = false;
        for msg in out {
            let frame = match session.encode(msg) {
                Frame::Text(t) => Message::Text(t.into()),
                Frame::Binary(b) => Message::Binary(b.into()),
            };
            if sink.send(frame).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            break;
        }
    }
    // The closing handshake: our close frame, then the client's answer (read by the reader),
    // for at most CLOSE_WAIT: a client that stopped reading gets no longer.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if let Some(frame) = close_frame {
            let _ = sink.send(frame).await;
        }
        let _ = sink.close().await;
        let _ = (&mut reader).await;
    })
    .await;
    reader.abort();
}

/// How long a closing connection waits for the client's close frame.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
