//! `gridwall-server`: the HTTP and WebSocket surface of gridwall's live backend, and its
//! configuration. The backend itself (state, workflow, storage, simulator) is `gridwall-live`;
//! scene import is `gridwall-import`.
//!
//! * [`config`]: `serve`'s settings from a TOML file and flags, merged in one place.
//! * [`srv`]: the router and [`run`], handlers grouped by resource, who may call them.
//! * [`auth`]: the token file and `token add`.

pub mod auth;
pub mod config;
pub mod srv;

pub use config::ServeConfig;
pub use srv::{ServeError, router, run};
