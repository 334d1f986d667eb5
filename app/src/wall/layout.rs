//! Where the HUD goes on a video wall, and how large it is: a small TOML file (`--wall-layout`)
//! with a default that suits most walls.
//!
//! ```toml
//! scale = 1.6          # HUD size relative to a desk (a wall is read from 10 m)
//! [places]             # panel (column, row) of each piece; negative counts from the right/bottom
//! title = [0, 0]
//! ticker = [0, -1]
//! filters = [-1, -1]
//! detail = [-1, 0]
//! banner = [0, 0]      # one PC driving all panels; a panel process always shows its own
//! caption = [0, -1]
//! timebar = [0, -1]
//! analysis = [0, 0]    # the 研判 panel, under the title
//! ```

use std::path::Path;

use bevy::prelude::*;
use serde::Deserialize;

use crate::map::WallShape;
use crate::theme::prelude::Place;

/// The HUD's layout on a wall.
#[derive(Resource, Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WallLayout {
    pub scale: f32,
    pub places: Places,
}

/// Panel (column, row) of each piece of the HUD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Places {
    pub title: [i32; 2],
    pub ticker: [i32; 2],
    pub filters: [i32; 2],
    pub detail: [i32; 2],
    pub banner: [i32; 2],
    pub caption: [i32; 2],
    pub timebar: [i32; 2],
    pub analysis: [i32; 2],
}

impl Default for Places {
    fn default() -> Self {
        Self {
            title: [0, 0],
            ticker: [0, -1],
            filters: [-1, -1],
            detail: [-1, 0],
            banner: [0, 0],
            caption: [0, -1],
            timebar: [0, -1],
            analysis: [0, 0],
        }
    }
}

impl Default for WallLayout {
    fn default() -> Self {
        Self { scale: 1.6, places: Places::default() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("{path}: scale must be 0.25 to 8")]
    Scale { path: String },
}

impl WallLayout {
    pub fn load(path: &Path) -> Result<Self, LayoutError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LayoutError::Read { path: name.clone(), source })?;
        let layout: Self = toml::from_str(&text)
            .map_err(|source| LayoutError::Parse { path: name.clone(), source: Box::new(source) })?;
        if !(0.25..=8.0).contains(&layout.scale) {
            return Err(LayoutError::Scale { path: name });
        }
        Ok(layout)
    }

    /// The panel a piece of the HUD goes on.
    pub fn tile(&self, place: Place, shape: &WallShape) -> UVec2 {
        let p = &self.places;
        let [c, r] = match place {
            Place::Title => p.title,
            Place::Ticker => p.ticker,
            Place::Filters => p.filters,
            Place::Detail => p.detail,
            Place::Banner => p.banner,
            Place::Caption => p.caption,
            Place::Timebar => p.timebar,
            Place::Analysis => p.analysis,
        };
        shape.resolve(c, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_puts_the_hud_in_the_corners_and_a_file_can_move_it() {
        let shape = WallShape { cols: 3, rows: 2, panel: UVec2::new(1920, 1080), bezel: UVec2::ZERO, tiles: vec![] };
        let d = WallLayout::default();
        assert_eq!(d.tile(Place::Title, &shape), UVec2::new(0, 0));
        assert_eq!(d.tile(Place::Filters, &shape), UVec2::new(2, 1));
        assert_eq!(d.tile(Place::Detail, &shape), UVec2::new(2, 0));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("layout.toml");
        std::fs::write(&file, "scale = 2.0\n[places]\ndetail = [1, 0]\nanalysis = [-1, -1]\n").unwrap();
        let l = WallLayout::load(&file).unwrap();
        assert_eq!(
            (l.scale, l.tile(Place::Detail, &shape), l.tile(Place::Ticker, &shape)),
            (2.0, UVec2::new(1, 0), UVec2::new(0, 1))
        );
        assert_eq!(l.tile(Place::Analysis, &shape), UVec2::new(2, 1), "the 研判 panel moved to the last panel");
        std::fs::write(&file, "[places]\ndetial = [1, 0]\n").unwrap();
        assert!(WallLayout::load(&file).unwrap_err().to_string().contains("detial"), "a misspelt place is named");
    }
}
