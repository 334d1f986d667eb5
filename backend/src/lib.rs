//! gridwall's backend of one scene: it wires the city core (`gridwall-city`), the store and its
//! history (`gridwall-store`), the bus between servers (`gridwall-bus`) and the simulator
//! (`gridwall-sim`). Transport-free: the server crate puts the HTTP and WebSocket surface over
//! [`Backend`] and [`session::Session`].
//!
//! * [`config`]: what the backend of a scene runs with ([`LiveConfig`], [`SimulateConfig`]).
//! * [`Backend`] (`backend.rs`): opening the scene and the store, restoring the live state, the
//!   shared handle every request and display holds, starting the background tasks.
//! * `commit.rs`: the commit path (nothing is acknowledged before the store has it; a failed
//!   write rebuilds memory from the store), commands here or at the leader, fixes in and out.
//! * `tick.rs`: the tick loop (deltas to displays, escalation, KPI log, keyframes) and the
//!   simulator that runs while this server leads.
//! * `read.rs`: questions to the store off the live lock (old incidents, Open311 lists) on
//!   pooled reader connections.
//! * `node.rs`: the backend as the bus sees it ([`gridwall_bus::Node`]).
//! * [`session`]: one display connection (viewport, snapshot, deltas, commands, catch-up,
//!   replay).
//! * [`simulate`]: the simulator driven against the backend, and its warm-up of history.
//! * [`webhook`]: signed deliveries to integrators when a request changes state.
//! * [`synth`]: a seeded past of months or years written straight into a store.

pub mod analysis;
mod backend;
mod commit;
pub mod config;
mod node;
mod read;
pub mod session;
pub mod simulate;
pub mod synth;
mod tick;
pub mod webhook;

pub use backend::{Backend, BackendError, CommitError};
pub use config::{LiveConfig, SimulateConfig};
