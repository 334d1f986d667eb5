//! A gridwall scene folder (`scenes/<name>/`) as data.
//!
//! * [`manifest`]: `scene.toml`, what the scene is and which files hold it.
//! * [`roads`]: road classes, and (with `proj`) the road network of `roads.geojson`.
//! * [`components`]: the city components of `components.csv`.
//! * with the `proj` feature: [`coords`] (WGS84 / GCJ-02 / BD-09 and PROJ) and [`grids`], the
//!   grid units of `grids.geojson` in local metres.
//!
//! The importer writes these files; the live backend and the display read them through here.
//! In the house (README, "Layout") it sits on `gridwall-protocol` only; `gridwall-import`,
//! `gridwall-city` and the display (`gridwall`) sit on it.

pub mod components;
#[cfg(feature = "proj")]
pub mod coords;
#[cfg(feature = "proj")]
pub mod grids;
pub mod manifest;
pub mod roads;

use std::path::{Path, PathBuf};

pub use manifest::{Bounds, Counts, FORMAT, Files, GridInfo, MANIFEST, SceneManifest};
pub use roads::RoadClass;

/// Why a scene file could not be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}not a valid scene manifest: {source}", at(path.as_deref()))]
    Toml { path: Option<PathBuf>, source: toml::de::Error },
    #[error("{}scene format {found} is not supported (expected {FORMAT})", at(path.as_deref()))]
    Format { path: Option<PathBuf>, found: u32 },
    #[error("{path}: cannot write the manifest: {source}")]
    Write { path: PathBuf, source: toml::ser::Error },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{path}: line {line}, {field}: {source}")]
    Row { path: PathBuf, line: u64, field: &'static str, source: Box<dyn std::error::Error + Send + Sync> },
    #[cfg(feature = "proj")]
    #[error("{path}: {source}")]
    GeoJson { path: PathBuf, source: Box<geojson::Error> },
    #[error("{path}: {feature}: {reason}")]
    Feature { path: PathBuf, feature: String, reason: String },
    #[cfg(feature = "proj")]
    #[error("{path}: {source}")]
    Coord { path: PathBuf, source: coords::CoordError },
}

fn at(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display())).unwrap_or_default()
}

impl SceneError {
    /// Names the file an error came from (for errors made before the file was known).
    #[must_use]
    pub fn at(self, file: &Path) -> Self {
        match self {
            Self::Toml { path: None, source } => Self::Toml { path: Some(file.to_owned()), source },
            Self::Format { path: None, found } => Self::Format { path: Some(file.to_owned()), found },
            other => other,
        }
    }
}
