//! The grid units of a scene (`grids.geojson`: streets, communities and cells in WGS84), read into
//! local metres.

use std::path::Path;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use gridwall_protocol::GridLevel;

use crate::coords::{CoordError, SceneFrame};
use crate::{SceneError, SceneManifest};

/// One grid unit: 街道 street, 社区 community or 网格 cell.
#[derive(Debug, Clone)]
pub struct GridUnit {
    pub level: GridLevel,
    /// Hierarchical code: a cell's starts with its community's, which starts with its street's.
    pub code: String,
    pub name: String,
    /// The code one level up.
    pub parent: Option<String>,
    /// The boundary in local metres.
    pub shape: MultiPolygon<f64>,
}

/// Reads a scene's `grids.geojson` and projects every boundary into the scene's local metres.
pub fn read_grids(dir: &Path, manifest: &SceneManifest, frame: &SceneFrame) -> Result<Vec<GridUnit>, SceneError> {
    let path = dir.join(&manifest.files.grids);
    let text = std::fs::read_to_string(&path).map_err(|source| SceneError::Io { path: path.clone(), source })?;
    let fc: geojson::FeatureCollection =
        text.parse().map_err(|source| SceneError::GeoJson { path: path.clone(), source: Box::new(source) })?;
    let mut grids = Vec::with_capacity(fc.features.len());
    for (i, f) in fc.features.iter().enumerate() {
        let prop = |k: &str| f.property(k).and_then(|v| v.as_str()).map(str::to_owned);
        let bad = |feature: &str, reason: String| SceneError::Feature {
            path: path.clone(),
            feature: feature.to_owned(),
            reason,
        };
        let code = prop("code").ok_or_else(|| bad(&format!("feature {i}"), "no code".into()))?;
        let level: GridLevel = prop("level")
            .unwrap_or_default()
            .parse()
            .map_err(|e: gridwall_protocol::UnknownKey| bad(&code, e.to_string()))?;
        let geometry = f.geometry.clone().ok_or_else(|| bad(&code, "no geometry".into()))?;
        let geometry: geo::Geometry<f64> =
            geometry.try_into().map_err(|e: geojson::Error| bad(&code, e.to_string()))?;
        let wgs = match geometry {
            geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
            geo::Geometry::MultiPolygon(mp) => mp,
            _ => return Err(bad(&code, "not a polygon".into())),
        };
        let to_local = |ls: &LineString<f64>| -> Result<LineString<f64>, CoordError> {
            ls.coords()
                .map(|c| frame.to_local(c.x, c.y).map(|(x, y)| Coord { x, y }))
                .collect::<Result<Vec<_>, _>>()
                .map(LineString::new)
        };
        let coord = |source| SceneError::Coord { path: path.clone(), source };
        let mut polys = Vec::with_capacity(wgs.0.len());
        for p in wgs {
            let holes = p.interiors().iter().map(to_local).collect::<Result<_, _>>().map_err(coord)?;
            polys.push(Polygon::new(to_local(p.exterior()).map_err(coord)?, holes));
        }
        grids.push(GridUnit {
            level,
            code,
            name: prop("name").unwrap_or_default(),
            parent: prop("parent"),
            shape: MultiPolygon::new(polys),
        });
    }
    Ok(grids)
}
