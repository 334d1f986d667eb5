//! gridwall's backend.
//!
//! * Scene import from any `.osm.pbf`: [`import`] (reading [`osm`], projecting with [`coords`],
//!   meshing with [`mesh`], baking [`glb`], [`grids`], [`components`]), described by [`scene`].
//! * [`synth`]: a seeded synthetic city (written with [`pbf_write`]) for scale tests.
//! * [`index`]: spatial indexes (static R-tree, moving-point buckets, grid cells).
//! * [`workflow`]: the incident workflow, time limits, escalation and KPIs.
//! * [`sim`]: the deterministic simulator (patrols on the road graph, incidents, workflow).
//! * [`ingest`]: validation of position batches and Open311 `GeoReport` v2 requests.
//! * [`world`]: a scene at run time: indexed components, grids, patrols, incidents, queries, KPIs.
//! * [`live`]: the world plus what streaming needs, and the operations clients perform on it.
//! * [`store`]: durable storage behind a trait (`SQLite` in WAL mode by default), group commit.
//! * [`serve`]: the HTTP/WebSocket server: [`serve::run`] and [`serve::router`].
//! * [`stream`]: one display connection (viewport, snapshot, deltas, commands, catch-up).

pub mod components;
pub mod coords;
pub mod glb;
pub mod grids;
pub mod import;
pub mod index;
pub mod ingest;
pub mod live;
pub mod mesh;
pub mod osm;
pub mod pbf_write;
pub mod progress;
pub mod scene;
pub mod serve;
pub mod sim;
pub mod store;
pub mod stream;
pub mod synth;
pub mod world;
pub mod workflow;
