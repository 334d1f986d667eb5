//! gridwall's city core: what a scene is at run time and what clients do to it, with no store,
//! no bus and no HTTP. Bottom up:
//!
//! * [`index`]: spatial indexes (static R-tree, moving-point buckets, grid cells).
//! * [`area`]: a cell's shape prepared for the per-fix "still in my cell?" test.
//! * [`workflow`]: the incident workflow, time limits, escalation and KPIs.
//! * [`table`]: the patrols by their dense internal id.
//! * [`world`]: a scene at run time: indexed components, grids, patrols, incidents, queries.
//! * [`access`]: roles, the caller of a request, the audit trail's entries.
//! * [`ingest`]: validation of position batches and Open311 `GeoReport` v2 requests.
//! * [`fields`]: an Open311 request body (form or JSON) as bounded fields.
//! * [`services`]: the services requests are filed under, their definitions and attributes.
//! * [`photo`]: residents' photos checked and stripped of their metadata.
//! * [`open311`]: an incident as the public sees it through Open311, with its public steps.
//! * [`records`]: what the live state hands to a store and takes back at a restart, and the
//!   [`records::Change`] a commit makes to the shared state (the store and the bus depend on
//!   these types; the core depends on neither of them).
//! * [`state`]: the world plus what streaming needs (the event log, what changed since the last
//!   tick), the operations on it, and a follower's copy taking in the leader's changes.
//! * [`command`]: the commands that change the shared state, as they travel between servers.
//! * [`walls`]: video wall groups (a leader's view, casts from a commander's desk).
//!
//! Above this crate: `gridwall-sim` (the simulator, a stand-in for the outside world),
//! `gridwall-store` (durable storage and history), `gridwall-bus` (servers sharing a city over
//! NATS), `gridwall-backend` (which wires them) and `gridwall-server` (HTTP and WebSocket).

pub mod access;
pub mod area;
pub mod command;
pub mod fields;
pub mod index;
pub mod ingest;
pub mod open311;
pub mod photo;
pub mod records;
pub mod services;
pub mod state;
pub mod table;
pub mod tally;
pub mod walls;
pub mod workflow;
pub mod world;
