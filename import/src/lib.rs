//! gridwall's scene import: any `.osm.pbf` → a scene folder (see `gridwall-scene`). In the house
//! (README, "Layout") it sits on `gridwall-protocol` and `gridwall-scene` and knows none of the
//! live side; only the server's command line (`gridwall-server import`) uses it.
//!
//! * [`import`]: the whole import, phase by phase, into a staging folder swapped in on success.
//! * [`osm`]: reading the PBF (buildings with holes, roads, water, point features).
//! * [`mesh`] and [`glb`]: extrusion, road ribbons and water, baked into a tiled `city.glb`.
//! * [`grids`]: the 街道 → 社区 → 网格 hierarchy, generated or validated from a user file.
//! * [`components`]: city components from OSM, user files and a seeded synthesizer, coded.
//! * [`synth`]: a seeded synthetic city, written with [`pbf_write`], for scale tests.
//! * [`progress`]: progress bars and summary lines for long phases.

pub mod components;
pub mod glb;
pub mod grids;
pub mod import;
pub mod mesh;
pub mod osm;
pub mod pbf_write;
pub mod progress;
pub mod synth;
