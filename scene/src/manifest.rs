//! A scene folder's manifest, `scene.toml`: what the scene is, where it lies and which files
//! hold it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::SceneError;

/// The manifest's file name in a scene folder.
pub const MANIFEST: &str = "scene.toml";
/// The manifest format this build reads and writes.
pub const FORMAT: u32 = 1;

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
    /// Reads `dir/scene.toml`.
    pub fn load(dir: &Path) -> Result<Self, SceneError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| SceneError::Io { path: path.clone(), source })?;
        Self::parse(&text).map_err(|e| e.at(&path))
    }

    /// Parses a manifest's text (errors name no file; [`SceneError::at`] adds one).
    pub fn parse(text: &str) -> Result<Self, SceneError> {
        let m: Self = toml::from_str(text).map_err(|source| SceneError::Toml { path: None, source })?;
        if m.format != FORMAT {
            return Err(SceneError::Format { path: None, found: m.format });
        }
        Ok(m)
    }

    pub fn save(&self, dir: &Path) -> Result<(), SceneError> {
        let path = dir.join(MANIFEST);
        let text = toml::to_string_pretty(self).map_err(|source| SceneError::Write { path: path.clone(), source })?;
        let header = "# gridwall scene manifest, written by `gridwall-server import`.\n\
                      # Local metres: x east, y north, relative to `origin` in `crs`.\n\n";
        std::fs::write(&path, format!("{header}{text}")).map_err(|source| SceneError::Io { path, source })
    }

    /// The coordinate frame of this scene.
    #[cfg(feature = "proj")]
    pub fn frame(&self) -> Result<crate::coords::SceneFrame, crate::coords::CoordError> {
        crate::coords::SceneFrame::new(&self.crs, (self.origin[0], self.origin[1]))
    }

    /// The scene's files a display may fetch: the manifest and the files it names.
    pub fn file_names(&self) -> [&str; 5] {
        let f = &self.files;
        [MANIFEST, &f.city, &f.grids, &f.components, &f.roads]
    }
}
