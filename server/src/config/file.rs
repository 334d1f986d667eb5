//! The configuration file (`--config FILE`, TOML). Every setting is optional: what the file does
//! not say comes from the flags or the defaults ([`super::ServeConfig::resolve`]).

use std::path::{Path, PathBuf};

use gridwall_backend::SimulateConfig;
use gridwall_city::workflow::TimeLimits;
use serde::Deserialize;

use super::ConfigError;

/// `serve`'s settings as a TOML file may give them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub scene: Option<PathBuf>,
    pub addr: Option<String>,
    pub data: Option<PathBuf>,
    /// `store = "postgres://…"`: PostgreSQL instead of the embedded store.
    pub store: Option<String>,
    /// `bus = "nats://…"`: share the city with other servers.
    pub bus: Option<String>,
    pub instance: Option<String>,
    /// `web = "web/dist"`: the built web display served at `/`.
    pub web: Option<PathBuf>,
    pub tick_hz: Option<u16>,
    pub flush_ms: Option<u16>,
    pub speed: Option<f64>,
    pub utc_offset_hours: Option<f64>,
    pub max_body_bytes: Option<usize>,
    pub position_margin_m: Option<f64>,
    pub clock_tolerance_s: Option<f64>,
    pub store_max_pages: Option<u64>,
    pub auth: Option<PathBuf>,
    pub allowed_origins: Option<Vec<String>>,
    pub open311_public_text: Option<bool>,
    /// `public_url = "https://…"`: where outsiders reach this server (webhook photo addresses).
    pub public_url: Option<String>,
    /// The first wait after a failed webhook delivery (ms).
    pub webhook_retry_ms: Option<u64>,
    pub max_socket_message_bytes: Option<usize>,
    pub request_timeout_s: Option<f64>,
    pub header_timeout_s: Option<f64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_messages_per_second: Option<u32>,
    pub max_sockets_per_address: Option<usize>,
    pub max_sockets_per_token: Option<usize>,
    pub simulate: Option<SimulateConfig>,
    pub limits: Option<TimeLimits>,
    /// `[retention] hours = 24`: how much history is kept for replay.
    pub retention: Option<gridwall_store::history::RetentionConfig>,
    /// `[analysis]`: how 预警 decides and the 综合指标 weighs (README, "研判").
    pub analysis: Option<gridwall_analysis::Config>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })
    }
}
