//! A scene folder (`scenes/<name>/`) and its manifest `scene.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::coords::{CoordError, SceneFrame};

pub const MANIFEST: &str = "scene.toml";
pub const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid scene manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(transparent)]
    Coord(#[from] CoordError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// `[west, south, east, north]` in degrees.
    pub wgs84: [f64; 4],
    /// `[min x, min y, max x, max y]` in local metres.
    pub local: [f64; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Counts {
    pub buildings: usize,
    pub building_heights_from_height_tag: usize,
    pub building_heights_from_levels: usize,
    pub building_heights_default: usize,
    pub roads: usize,
    pub water: usize,
    pub tiles: usize,
    pub triangles: usize,
    pub streets: usize,
    pub communities: usize,
    pub cells: usize,
    pub components: usize,
    pub components_osm: usize,
    pub components_user: usize,
    pub components_synthetic: usize,
    pub dropped_features: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridInfo {
    /// `generated` or `user:<file>`.
    pub source: String,
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Files {
    pub city: String,
    pub grids: String,
    pub components: String,
    pub roads: String,
}

/// `scene.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneManifest {
    pub format: u32,
    pub name: String,
    pub display_name: String,
    /// Projected CRS of the scene, e.g. `EPSG:32635`.
    pub crs: String,
    /// Projected coordinates (easting, northing) of local (0, 0).
    pub origin: [f64; 2],
    /// The same point in WGS84 (lon, lat).
    pub origin_wgs84: [f64; 2],
    pub county_code: String,
    pub tile_size_m: f64,
    pub source: String,
    pub attribution: String,
    /// Version of gridwall that wrote the scene.
    pub generator: String,
    pub bounds: Bounds,
    pub grids: GridInfo,
    pub files: Files,
    pub counts: Counts,
}

impl SceneManifest {
    pub fn load(dir: &Path) -> Result<Self, SceneError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| SceneError::Io { path: path.clone(), source })?;
        let m: Self = toml::from_str(&text).map_err(|e| SceneError::Manifest { path: path.clone(), reason: e.to_string() })?;
        if m.format != FORMAT {
            return Err(SceneError::Manifest { path, reason: format!("format {} is not supported (expected {FORMAT})", m.format) });
        }
        Ok(m)
    }

    pub fn save(&self, dir: &Path) -> Result<(), SceneError> {
        let path = dir.join(MANIFEST);
        let text = toml::to_string_pretty(self).map_err(|e| SceneError::Manifest { path: path.clone(), reason: e.to_string() })?;
        let header = "# gridwall scene manifest, written by `gridwall-server import`.\n\
                      # Local metres: x east, y north, relative to `origin` in `crs`.\n\n";
        std::fs::write(&path, format!("{header}{text}")).map_err(|source| SceneError::Io { path, source })
    }

    /// The coordinate frame of this scene.
    pub fn frame(&self) -> Result<SceneFrame, CoordError> {
        SceneFrame::new(&self.crs, (self.origin[0], self.origin[1]))
    }
}
