//! `gridwall-server`: the HTTP and WebSocket surface of gridwall's live backend, and its
//! configuration; the top of the house. Below it, bottom up: `gridwall-protocol` (the wire),
//! `gridwall-scene` (a scene folder), `gridwall-import` (OSM → scene), `gridwall-city` (the city
//! core: world, workflow, access, the live state and its records), then side by side
//! `gridwall-sim` (the simulator), `gridwall-store` (SQLite and PostgreSQL, history, replay) and
//! `gridwall-bus` (servers sharing a city over NATS), and `gridwall-backend`, which wires those
//! for one scene (commit path, tick, display sessions). This crate adds HTTP, WebSocket, TLS,
//! tokens and the command line.
//!
//! * [`config`]: `serve`'s settings from a TOML file and flags, merged in one place.
//! * [`srv`]: the router and [`run`], handlers grouped by resource, who may call them.
//! * [`auth`]: the token file and `token add`.

pub mod auth;
pub mod config;
pub mod srv;

pub use config::ServeConfig;
pub use srv::{ServeError, router, run};
