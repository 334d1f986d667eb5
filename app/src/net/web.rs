//! The link in a browser: the page's WebSocket and `fetch`, on the page's one thread. The
//! socket lives in a thread-local (a browser object is not `Send`); its callbacks queue what
//! arrives for the Bevy side, which drains the queue each frame. Reconnects with the same
//! backoff as the native link, resuming after the last event seq. The app holds no token: the
//! browser's sign-in cookie (`HttpOnly`, the server's `/login`) goes with the socket's handshake
//! and every `fetch` to the page's own server.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use gridwall_protocol::ClientMessage;
use gridwall_protocol::binary::encode_client;
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::{
    Answer, Ask, Inbound, MAX_ANSWER_BYTES, NetConfig, PING_EVERY, Reader, Standing, ask_request, decode_answer,
    http_base, local_ms, retry_after,
};

type Queue = Arc<Mutex<VecDeque<Inbound>>>;

/// What the Bevy side holds: the queue the page's callbacks fill.
#[derive(Resource)]
pub(super) struct Link {
    inbox: Queue,
}

/// The socket and what a reconnection needs.
struct State {
    url: String,
    http: String,
    inbox: Queue,
    socket: Option<WebSocket>,
    open: bool,
    last_seq: Option<u64>,
    standing: Standing,
    reader: Reader,
    attempt: u32,
    /// The socket's callbacks, kept alive while it is.
    callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn push(inbox: &Queue, item: Inbound) {
    inbox.lock().expect("inbox").push_back(item);
}

impl Link {
    pub(super) fn open(config: &NetConfig) -> Self {
        let inbox: Queue = Arc::default();
        STATE.with_borrow_mut(|s| {
            *s = Some(State {
                url: config.url.clone(),
                http: http_base(&config.url),
                inbox: inbox.clone(),
                socket: None,
                open: false,
                last_seq: None,
                standing: Standing::default(),
                reader: Reader::default(),
                attempt: 0,
                callbacks: Vec::new(),
            });
        });
        connect();
        // The clock is measured every two seconds while the socket is open.
        let ping = Closure::<dyn FnMut()>::new(|| send_now(&ClientMessage::Ping { t: local_ms() as u64 }));
        if let Some(w) = web_sys::window() {
            let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
                ping.as_ref().unchecked_ref(),
                PING_EVERY.as_millis() as i32,
            );
        }
        ping.forget();
        Self { inbox }
    }

    pub(super) fn try_recv(&self) -> Option<Inbound> {
        self.inbox.lock().expect("inbox").pop_front()
    }

    #[expect(clippy::unused_self, reason = "the native link's method; here the socket is the page's")]
    pub(super) fn send(&self, m: ClientMessage) {
        STATE.with_borrow_mut(|s| {
            if let Some(s) = s {
                s.standing.remember(&m);
            }
        });
        send_now(&m);
    }

    #[expect(clippy::unused_self, reason = "the native link's method; here the socket is the page's")]
    pub(super) fn ask(&self, a: Ask) {
        let Some((base, inbox)) = STATE.with_borrow(|s| s.as_ref().map(|s| (s.http.clone(), s.inbox.clone()))) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let answer = match fetch(&base, &a).await {
                Ok((status, body)) => decode_answer(a, status, &body),
                Err(error) => Answer::Failed { ask: a, error },
            };
            push(&inbox, Inbound::Answer(answer));
        });
    }
}

/// Sends a message if the socket is open (a command while it is down fails with the link, as
/// natively; the standing ones are said again on reconnection).
fn send_now(m: &ClientMessage) {
    STATE.with_borrow(|s| {
        if let Some(State { socket: Some(ws), open: true, .. }) = s {
            let _ = ws.send_with_u8_array(&encode_client(m));
        }
    });
}

/// Opens the socket (again) and wires its callbacks.
fn connect() {
    let Some((url, inbox)) = STATE.with_borrow(|s| s.as_ref().map(|s| (s.url.clone(), s.inbox.clone()))) else {
        return;
    };
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(e) => {
            lost(format!("{e:?}"));
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let on_open = Closure::<dyn FnMut(JsValue)>::new({
        let inbox = inbox.clone();
        move |_| {
            push(&inbox, Inbound::Connected);
            let said = STATE.with_borrow_mut(|s| {
                let s = s.as_mut()?;
                s.open = true;
                s.attempt = 0;
                s.reader = Reader::default();
                Some(std::iter::once(Reader::hello(s.last_seq)).chain(s.standing.all().cloned()).collect::<Vec<_>>())
            });
            for m in said.unwrap_or_default() {
                send_now(&m);
            }
        }
    });
    let on_message = Closure::<dyn FnMut(JsValue)>::new({
        let inbox = inbox.clone();
        move |e: JsValue| {
            let Ok(e) = e.dyn_into::<MessageEvent>() else { return };
            let Ok(buffer) = e.data().dyn_into::<js_sys::ArrayBuffer>() else { return };
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            let read = STATE.with_borrow_mut(|s| {
                let s = s.as_mut()?;
                let mut last_seq = s.last_seq;
                let r = s.reader.read(&bytes, &mut last_seq);
                s.last_seq = last_seq;
                Some(r)
            });
            match read {
                Some(Ok(item)) => push(&inbox, item),
                Some(Err(reason)) => {
                    STATE.with_borrow(|s| {
                        if let Some(State { socket: Some(ws), .. }) = s {
                            let _ = ws.close_with_code_and_reason(1002, "bad frame");
                        }
                    });
                    warn!("{reason}");
                }
                None => {}
            }
        }
    });
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let reason = e.dyn_into::<CloseEvent>().ok().map_or_else(
            || "the server closed the connection".into(),
            |c| if c.reason().is_empty() { format!("closed ({})", c.code()) } else { c.reason() },
        );
        lost(reason);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    STATE.with_borrow_mut(|s| {
        if let Some(s) = s {
            s.socket = Some(ws);
            s.open = false;
            s.callbacks = vec![on_open, on_message, on_close];
        }
    });
}

/// The socket is gone: say so, and try again after the backoff.
fn lost(reason: String) {
    let Some((attempt, inbox)) = STATE.with_borrow_mut(|s| {
        let s = s.as_mut()?;
        s.open = false;
        if let Some(ws) = s.socket.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
        }
        s.attempt += 1;
        Some((s.attempt, s.inbox.clone()))
    }) else {
        return;
    };
    let retry_in = retry_after(attempt);
    push(&inbox, Inbound::Lost { attempt, retry_in, reason });
    let again = Closure::once_into_js(connect);
    if let Some(w) = web_sys::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(again.unchecked_ref(), retry_in.as_millis() as i32);
    }
}

/// A GET of an [`Ask`]: the status and body.
async fn fetch(base: &str, ask: &Ask) -> Result<(u16, Vec<u8>), String> {
    let (url, query) = ask_request(base, ask);
    let params = web_sys::UrlSearchParams::new().map_err(|e| format!("{e:?}"))?;
    for (k, v) in &query {
        params.append(k, v);
    }
    let q = String::from(params.to_string());
    let url = if q.is_empty() { url } else { format!("{url}?{q}") };
    let (status, body) = get(&url).await?;
    if body.len() as u64 > MAX_ANSWER_BYTES {
        return Err(format!("an answer of {} bytes", body.len()));
    }
    Ok((status, body))
}

/// A GET through the page's `fetch` (same origin: with the sign-in cookie): the status and body.
pub(crate) async fn get(url: &str) -> Result<(u16, Vec<u8>), String> {
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| format!("{e:?}"))?;
    let window = web_sys::window().ok_or("no window")?;
    let res = wasm_bindgen_futures::JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| format!("{url}: {e:?}"))?;
    let res: web_sys::Response = res.dyn_into().map_err(|e| format!("{e:?}"))?;
    let buffer = wasm_bindgen_futures::JsFuture::from(res.array_buffer().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{url}: {e:?}"))?;
    Ok((res.status(), js_sys::Uint8Array::new(&buffer).to_vec()))
}
