//! The scene the display shows: its manifest (read through `gridwall-scene`) and the folder it
//! lies in, as a resource.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bevy::prelude::*;
use gridwall_scene::SceneManifest;

/// The file in a fetched scene folder that holds the server's grid outlines (local metres).
pub const GRIDS_FILE: &str = "grids-local.json";

/// The grid outlines' JSON (as `GET /api/v1/grids` answers), when whoever started the app
/// fetched it already (a browser has no scene folder to read [`GRIDS_FILE`] from).
#[derive(Debug, Clone, Resource)]
pub struct GridsText(pub String);

/// A loaded scene description.
#[derive(Debug, Clone, Resource)]
pub struct SceneInfo {
    pub manifest: SceneManifest,
    /// The folder, absolute (the asset root).
    pub dir: PathBuf,
}

impl SceneInfo {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let manifest = SceneManifest::load(dir)?;
        let dir = dir.canonicalize().with_context(|| format!("{}", dir.display()))?;
        Ok(Self { manifest, dir })
    }

    /// `[min x, min y, max x, max y]`, local metres (x east, y north).
    pub fn bounds(&self) -> [f64; 4] {
        self.manifest.bounds.local
    }

    /// Centre of the scene in Bevy coordinates (+X east, +Y up, +Z south).
    pub fn centre(&self) -> Vec3 {
        let b = self.bounds();
        Vec3::new(f64::midpoint(b[0], b[2]) as f32, 0.0, -(f64::midpoint(b[1], b[3]) as f32))
    }

    /// Width (east-west) and depth (north-south) in metres.
    pub fn size(&self) -> Vec2 {
        let b = self.bounds();
        Vec2::new((b[2] - b[0]) as f32, (b[3] - b[1]) as f32)
    }
}
