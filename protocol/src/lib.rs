//! gridwall's wire protocol: the types the server and the display share, a compact binary codec
//! and a JSON form (serde). No runtime dependencies: no tokio, no bevy.
//!
//! The bottom of the house (README, "Layout"): every other crate of ours uses it, it uses none
//! of them. Above it: `gridwall-scene`, `gridwall-import`, the live side (`gridwall-city`, then
//! `gridwall-sim`, `gridwall-store`, `gridwall-bus`, `gridwall-backend`, `gridwall-server`) and
//! the display (`gridwall`, which uses only this crate and the scene).
//!
//! * [`api`]: the answers of the HTTP API (every documented one), its error bodies and Open311.
//! * [`model`]: domain vocabulary (component categories, incident stages, patrol roles, layers…).
//! * [`messages`]: what travels on the `/ws` socket in each direction.
//! * [`binary`]: the compact codec (quantized, delta-coded positions).
//! * [`json`]: the debugging form (`/ws?format=json`).
//! * [`wall`]: what a video wall group shares (camera motions, selection, captions).

pub mod api;
pub mod binary;
pub mod messages;
pub mod model;
pub mod wall;

pub use messages::*;
pub use model::*;

/// Bumped whenever a message's shape changes; both codecs carry it.
pub const PROTOCOL_VERSION: u16 = 4;

/// The JSON form.
pub mod json {
    use crate::messages::{ClientMessage, ServerMessage};

    pub fn encode_server(msg: &ServerMessage) -> String {
        serde_json::to_string(msg).unwrap_or_else(|e| format!(r#"{{"type":"error","code":"encode","message":"{e}"}}"#))
    }

    pub fn decode_server(text: &str) -> Result<ServerMessage, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn encode_client(msg: &ClientMessage) -> String {
        serde_json::to_string(msg).unwrap_or_default()
    }

    pub fn decode_client(text: &str) -> Result<ClientMessage, serde_json::Error> {
        serde_json::from_str(text)
    }
}
