//! `GET /ws/ingest`: the device position stream. Each frame is a JSON array of positions (or one
//! position object), or a binary frame holding the protocol's position batch
//! ([`gridwall_protocol::binary::PositionBatch`]), answered with an [`IngestAck`] once stored.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_backend::Backend;
use gridwall_city::access::{Caller, Permission};
use gridwall_protocol::api::IngestAck;
use gridwall_protocol::binary::is_position_batch;

use super::access::{Access, Who};
use super::error::ApiResult;
use super::limits::{Rate, Slot, close_for, too_fast};
use super::patrols::{BatchForm, accept_positions};

/// Devices (and the local operator) may open it; each batch is checked patrol by patrol.
pub async fn upgrade(
    who: Who,
    Extension(access): Extension<Arc<Access>>,
    ws: WebSocketUpgrade,
    State(backend): State<Arc<Backend>>,
) -> ApiResult<Response> {
    who.check(Permission::Report)?;
    let slot = access.connections.admit(&who.0, &access.sockets)?;
    let (max_bytes, per_second) = (access.max_body, access.sockets.messages_per_second);
    Ok(ws
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
        .on_upgrade(move |socket| serve(socket, backend, who.0, slot, max_bytes, per_second)))
}

async fn serve(
    socket: WebSocket,
    backend: Arc<Backend>,
    caller: Caller,
    _slot: Slot,
    max_bytes: usize,
    per_second: u32,
) {
    let mut rate = Rate::default();
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = backend.shutdown.clone();
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = shutdown.changed() => break,
        };
        let msg = match msg {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                if let Some(close) = close_for(&e, max_bytes) {
                    let _ = sink.send(close).await;
                }
                break;
            }
            None => break,
        };
        if !rate.allow(per_second) {
            let _ = sink.send(too_fast(per_second)).await;
            break;
        }
        let (body, form): (Vec<u8>, BatchForm) = match msg {
            Message::Text(t) => {
                let t = t.as_str().trim_start();
                let body = if t.starts_with('{') { format!("[{t}]").into_bytes() } else { t.as_bytes().to_vec() };
                (body, BatchForm::Json)
            }
            Message::Binary(b) if is_position_batch(&b) => (b.to_vec(), BatchForm::Binary),
            Message::Binary(b) => (b.to_vec(), BatchForm::Json),
            Message::Close(_) => break,
            _ => continue,
        };
        let ack = match accept_positions(&backend, &caller, &body, form).await {
            Ok(n) => IngestAck { ok: true, accepted: Some(n), error: None },
            Err(e) => IngestAck { ok: false, accepted: None, error: Some(e.detail()) },
        };
        let text = serde_json::to_string(&ack).expect("an ack serialises");
        if sink.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
}
