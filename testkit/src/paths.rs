//! Where the test data is.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit sits in the repository").to_owned()
}

/// The shipped demo scene, `scenes/helsinki`.
pub fn helsinki() -> PathBuf {
    repo().join("scenes/helsinki")
}

/// The OSM extract the demo scene is built from.
pub fn helsinki_pbf() -> PathBuf {
    repo().join("data/helsinki-center.osm.pbf")
}

/// A grid cell of the shipped scene (patrols register in it).
pub const CELL: &str = "370783001001001";
