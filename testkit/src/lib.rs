//! gridwall's test support, in one place. Used only by tests, examples and benchmarks (it is a
//! dev-dependency everywhere), so production code holds no test helpers. It stands beside the
//! house's top floor (README, "Layout"): it uses `gridwall-server`, `gridwall-backend` and
//! `gridwall-city` to start real servers, and no production crate depends on it.
//!
//! * [`browser`]: chromium (software WebGL2) driven by playwright, for the web display.
//! * [`paths`]: the repository, the shipped Helsinki scene and its OSM extract.
//! * [`server`]: a real server on its own thread ([`server::BackgroundServer`]), and
//!   [`server::TestServer`] with HTTP helpers for the documented API.
//! * [`process`]: a real `gridwall-server serve` process for fault tests.
//! * [`photos`]: photos with metadata, and multipart bodies, for the intake tests.
//! * [`postgres`]: a real PostgreSQL + PostGIS server in a temporary folder.
//! * [`nats`]: a real NATS server with JetStream in a temporary folder.
//! * [`display`]: a display-socket client (binary or JSON).
//! * [`fixtures`]: protocol values for unit tests.
//! * [`shots`]: reading PNG captures and looking at their pixels.
//! * [`tls`]: the test certificate authority and a client that trusts it.
//! * [`fuzz`]: hostile inputs for parsers and an allocator that measures their memory.

pub mod browser;
pub mod display;
pub mod fixtures;
#[allow(unsafe_code)] // a counting global allocator; see the module
pub mod fuzz;
pub mod nats;
pub mod paths;
pub mod photos;
pub mod postgres;
pub mod process;
pub mod server;
pub mod shots;
pub mod tls;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Now as RFC 3339 (what devices put in `ts`).
pub fn now_ts() -> String {
    gridwall_city::ingest::format_time(now_ms())
}
