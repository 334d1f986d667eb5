//! Limits on sockets: how many connections an address or a token may hold, how large one
//! message may be, and how many messages a second one connection may send. A connection over
//! the count is refused at the handshake (429); a message too large closes the socket with
//! 1009, too many closes it with 1008, each with the reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, close_code};
use axum::http::StatusCode;
use gridwall_city::access::Caller;

use super::error::ApiError;

/// The socket limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    /// Largest message a display may send (bytes); devices may send up to the HTTP body limit.
    pub message_bytes: usize,
    /// Messages a second one connection may send (averaged over a second).
    pub messages_per_second: u32,
    /// Open sockets from one IP address.
    pub per_address: usize,
    /// Open sockets of one token (not counted on a server without tokens).
    pub per_token: usize,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self { message_bytes: 64 << 10, messages_per_second: 50, per_address: 256, per_token: 512 }
    }
}

/// Open sockets by address and by token.
#[derive(Debug, Default)]
pub struct Connections {
    by_address: Mutex<HashMap<String, usize>>,
    by_token: Mutex<HashMap<String, usize>>,
}

/// One admitted socket; counted until dropped.
#[derive(Debug)]
pub struct Slot {
    connections: Arc<Connections>,
    address: String,
    token: Option<String>,
}

fn ip_of(address: &str) -> String {
    address.rsplit_once(':').map_or(address, |(ip, _)| ip).to_owned()
}

impl Connections {
    /// Counts a new socket of `caller`, or refuses it (429) when its address or token holds
    /// as many as allowed already.
    pub fn admit(self: &Arc<Self>, caller: &Caller, limits: &SocketLimits) -> Result<Slot, ApiError> {
        let address = ip_of(&caller.address);
        let token = (!caller.open && caller.role.is_some()).then(|| caller.name.clone());
        let mut by_address = self.by_address.lock().expect("connection counts");
        let mut by_token = self.by_token.lock().expect("connection counts");
        let here = by_address.get(&address).copied().unwrap_or(0);
        let mine = token.as_ref().and_then(|t| by_token.get(t).copied()).unwrap_or(0);
        if here >= limits.per_address || mine >= limits.per_token {
            let (what, n) = if here >= limits.per_address {
                ("this address", limits.per_address)
            } else {
                ("this token", limits.per_token)
            };
            return Err(ApiError::status(
                StatusCode::TOO_MANY_REQUESTS,
                "connections",
                format!("{what} has {n} sockets open already, the most allowed"),
            ));
        }
        *by_address.entry(address.clone()).or_default() += 1;
        if let Some(t) = &token {
            *by_token.entry(t.clone()).or_default() += 1;
        }
        Ok(Slot { connections: self.clone(), address, token })
    }

    /// Sockets open now (all addresses).
    pub fn open(&self) -> usize {
        self.by_address.lock().expect("connection counts").values().sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let release = |map: &Mutex<HashMap<String, usize>>, key: &str| {
            let mut map = map.lock().expect("connection counts");
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        };
        release(&self.connections.by_address, &self.address);
        if let Some(t) = &self.token {
            release(&self.connections.by_token, t);
        }
    }
}

/// Messages of one connection in the current second.
#[derive(Debug)]
pub struct Rate {
    second: Instant,
    count: u32,
}

impl Default for Rate {
    fn default() -> Self {
        Self { second: Instant::now(), count: 0 }
    }
}

impl Rate {
    /// Counts a message; `false` once more than `per_second` came within a second.
    pub fn allow(&mut self, per_second: u32) -> bool {
        if self.second.elapsed().as_secs_f64() >= 1.0 {
            *self = Self::default();
        }
        self.count += 1;
        self.count <= per_second
    }
}

/// Why a socket is closed from the server's side.
pub fn close(code: u16, reason: String) -> Message {
    let reason: String = reason.chars().take(100).collect();
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// The close for a receive error: 1009 when the message was over the size limit.
pub fn close_for(error: &axum::Error, limit: usize) -> Option<Message> {
    let text = error.to_string();
    (text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big"))
        .then(|| close(close_code::SIZE, format!("a message over {limit} bytes")))
}

/// The close for a connection sending too fast (1008, policy).
pub fn too_fast(per_second: u32) -> Message {
    close(close_code::POLICY, format!("more than {per_second} messages a second"))
}
