//! gridwall's live backend, without any HTTP: what a scene is at run time and what clients do
//! to it. The server crate puts an HTTP and WebSocket surface over [`backend::Backend`].
//!
//! * [`index`]: spatial indexes (static R-tree, moving-point buckets, grid cells).
//! * [`workflow`]: the incident workflow, time limits, escalation and KPIs.
//! * [`world`]: a scene at run time: indexed components, grids, patrols, incidents, queries.
//! * [`state`]: the world plus what streaming needs, and the operations clients perform on it.
//! * [`ingest`]: validation of position batches and Open311 `GeoReport` v2 requests.
//! * [`store`]: durable storage behind a trait (`SQLite` in WAL mode by default), group commit.
//! * [`history`]: the retained past (track chunks, keyframes, logs) and its upkeep; [`replay`]
//!   plays it to one display.
//! * [`session`]: one display connection (viewport, snapshot, deltas, commands, catch-up).
//! * [`sim`]: the deterministic simulator; [`simulate`] runs it against a backend.
//! * [`walls`]: video wall groups (a leader's view, casts from a commander's desk).
//! * [`access`]: roles, the caller of a request, the audit trail's entries.
//! * [`backend`]: state + store + tick fan-out + wall groups + background tasks of one scene.

pub mod access;
pub mod backend;
pub mod cluster;
pub mod history;
pub mod index;
pub mod ingest;
pub mod replay;
pub mod session;
pub mod sim;
pub mod simulate;
pub mod state;
pub mod store;
pub mod walls;
pub mod workflow;
pub mod world;
