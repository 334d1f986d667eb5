//! The part of a scene's `scene.toml` the display needs (the server crate owns the full format).

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Bounds {
    /// `[min x, min y, max x, max y]`, local metres (x east, y north).
    pub local: [f64; 4],
}

#[derive(Debug, Clone, Deserialize)]
pub struct Files {
    pub city: String,
}

/// A loaded scene description.
#[derive(Debug, Clone, Deserialize, Resource)]
pub struct SceneInfo {
    pub name: String,
    pub display_name: String,
    pub crs: String,
    pub attribution: String,
    pub bounds: Bounds,
    pub files: Files,
    #[serde(skip)]
    pub dir: PathBuf,
}

impl SceneInfo {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("scene.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut info: Self = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        info.dir = dir.canonicalize().map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        Ok(info)
    }

    /// Centre of the scene in Bevy coordinates (+X east, +Y up, +Z south).
    pub fn centre(&self) -> Vec3 {
        let b = self.bounds.local;
        Vec3::new(f64::midpoint(b[0], b[2]) as f32, 0.0, -(f64::midpoint(b[1], b[3]) as f32))
    }

    /// Width (east-west) and depth (north-south) in metres.
    pub fn size(&self) -> Vec2 {
        let b = self.bounds.local;
        Vec2::new((b[2] - b[0]) as f32, (b[3] - b[1]) as f32)
    }
}
