//! Road classes (from OpenStreetMap's `highway` values) and, with the `proj` feature, the road
//! network of a scene's `roads.geojson` in local metres (what the simulator walks).

/// Road classes, widest first; the width is the carriageway we draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoadClass {
    Motorway,
    Trunk,
    Primary,
    Secondary,
    Tertiary,
    Residential,
    Service,
    Pedestrian,
    Path,
}

impl RoadClass {
    pub fn from_highway(value: &str) -> Option<Self> {
        Some(match value {
            "motorway" | "motorway_link" => Self::Motorway,
            "trunk" | "trunk_link" => Self::Trunk,
            "primary" | "primary_link" => Self::Primary,
            "secondary" | "secondary_link" => Self::Secondary,
            "tertiary" | "tertiary_link" => Self::Tertiary,
            "residential" | "unclassified" | "living_street" | "road" => Self::Residential,
            "service" | "track" => Self::Service,
            "pedestrian" => Self::Pedestrian,
            "footway" | "path" | "cycleway" | "steps" | "bridleway" => Self::Path,
            _ => return None,
        })
    }

    /// Drawn width in metres.
    pub fn width(self) -> f64 {
        match self {
            Self::Motorway => 16.0,
            Self::Trunk => 14.0,
            Self::Primary => 12.0,
            Self::Secondary => 10.0,
            Self::Tertiary => 8.0,
            Self::Residential => 6.0,
            Self::Service | Self::Pedestrian => 4.0,
            Self::Path => 2.0,
        }
    }

    /// Major roads bound generated grid cells.
    pub fn is_major(self) -> bool {
        self <= Self::Tertiary
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Motorway => "motorway",
            Self::Trunk => "trunk",
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::Tertiary => "tertiary",
            Self::Residential => "residential",
            Self::Service => "service",
            Self::Pedestrian => "pedestrian",
            Self::Path => "path",
        }
    }
}

/// A road of the network: its class and its line in local metres.
pub type RoadLine = (RoadClass, Vec<[f64; 2]>);

/// Reads a scene's `roads.geojson` (WGS84 lines with a `class`) into local metres.
#[cfg(feature = "proj")]
pub fn read_roads(
    dir: &std::path::Path,
    manifest: &crate::SceneManifest,
    frame: &crate::coords::SceneFrame,
) -> Result<Vec<RoadLine>, crate::SceneError> {
    use crate::SceneError;
    let path = dir.join(&manifest.files.roads);
    let text = std::fs::read_to_string(&path).map_err(|source| SceneError::Io { path: path.clone(), source })?;
    let fc: geojson::FeatureCollection =
        text.parse().map_err(|source| SceneError::GeoJson { path: path.clone(), source: Box::new(source) })?;
    let mut roads = Vec::with_capacity(fc.features.len());
    for f in &fc.features {
        let class = f
            .property("class")
            .and_then(|v| v.as_str())
            .and_then(RoadClass::from_highway)
            .unwrap_or(RoadClass::Residential);
        if let Some(geojson::Geometry { value: geojson::Value::LineString(coords), .. }) = &f.geometry {
            let pts: Result<Vec<[f64; 2]>, _> =
                coords.iter().map(|c| frame.to_local(c[0], c[1]).map(|(x, y)| [x, y])).collect();
            roads.push((class, pts.map_err(|source| SceneError::Coord { path: path.clone(), source })?));
        }
    }
    Ok(roads)
}
