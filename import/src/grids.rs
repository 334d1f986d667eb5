//! The three-level grid hierarchy 街道 street → 社区 community → 网格 cell.
//!
//! Codes follow the unified-code habit of the seeds: a street is the 6-digit county code plus a
//! 3-digit sequence (`370783001`), a community its street's code plus 3 digits, a cell its
//! community's code plus 3 digits (`370783001002003`).
//!
//! Real boundaries come from the user (`--grids file.geojson`, validated here). Without them,
//! [`generate`] builds a plausible hierarchy: recursive partition of the scene, each split placed
//! to balance estimated households and snapped onto a major road when one runs near the split
//! line, until a cell holds at most [`CELL_MAX_HOUSEHOLDS`]. Households are estimated from
//! building volume ([`M3_PER_HOUSEHOLD`]), the proxy the brief allows.

use std::collections::HashMap;
use std::path::Path;

use geo::{Area as _, BooleanOps, Contains, Validation};
use geo_types::{Coord, LineString, MultiPolygon, Polygon};
use gridwall_protocol::GridLevel;
use serde_json::json;

use gridwall_scene::coords::SceneFrame;

/// Gross building volume per household: ~100 m² of floor at 3 m storeys.
pub const M3_PER_HOUSEHOLD: f64 = 300.0;
pub const CELL_MAX_HOUSEHOLDS: f64 = 500.0;
pub const COMMUNITY_MAX_HOUSEHOLDS: f64 = 3_000.0;
pub const STREET_MAX_HOUSEHOLDS: f64 = 15_000.0;
/// No generated cell side is split below this.
const MIN_SIDE_M: f64 = 80.0;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("{file}: feature {feature}: {reason}")]
    Feature { file: String, feature: String, reason: String },
}

/// One grid unit of any level. Rings are local metres; the first ring of each polygon is outer.
#[derive(Debug, Clone, PartialEq)]
pub struct GridUnit {
    pub level: GridLevel,
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub parent: Option<String>,
    pub polygons: Vec<Vec<Vec<[f64; 2]>>>,
    pub households: f64,
    pub buildings: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GridHierarchy {
    pub units: Vec<GridUnit>,
    /// "generated" or "user:<file>".
    pub source: String,
}

impl GridHierarchy {
    pub fn count(&self, level: GridLevel) -> usize {
        self.units.iter().filter(|u| u.level == level).count()
    }
}

/// A building as the grid generator sees it.
#[derive(Debug, Clone, Copy)]
pub struct Occupancy {
    pub x: f64,
    pub y: f64,
    pub households: f64,
}

type Rect = [f64; 4]; // min x, min y, max x, max y

fn rect_ring(r: Rect) -> Vec<[f64; 2]> {
    vec![[r[0], r[1]], [r[2], r[1]], [r[2], r[3]], [r[0], r[3]], [r[0], r[1]]]
}

/// Picks the split coordinate along `axis` (0: a vertical line x = c, 1: y = c).
fn split_at(rect: Rect, items: &[Occupancy], axis: usize, fraction: f64, roads: &[([f64; 2], [f64; 2])]) -> f64 {
    let (lo, hi) = (rect[axis], rect[axis + 2]);
    let span = hi - lo;
    // Balanced position: weighted quantile of households along the axis.
    let mut along: Vec<(f64, f64)> = items.iter().map(|o| (if axis == 0 { o.x } else { o.y }, o.households)).collect();
    along.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = along.iter().map(|a| a.1).sum();
    let mut c = lo + span * fraction;
    if total > 0.0 {
        let mut acc = 0.0;
        for (v, h) in &along {
            acc += h;
            if acc >= total * fraction {
                c = *v;
                break;
            }
        }
    }
    // Snap onto the major road that runs most along the split line within ±25 % of the span.
    let bin = 20.0;
    let mut bins: std::collections::BTreeMap<i64, (f64, f64)> = std::collections::BTreeMap::new(); // bin → (length, Σ length·coord)
    for (a, b) in roads {
        let mid = [f64::midpoint(a[0], b[0]), f64::midpoint(a[1], b[1])];
        if mid[0] < rect[0] || mid[0] > rect[2] || mid[1] < rect[1] || mid[1] > rect[3] {
            continue;
        }
        let (d_along, d_across) = if axis == 0 { (b[1] - a[1], b[0] - a[0]) } else { (b[0] - a[0], b[1] - a[1]) };
        if d_across.abs() > 0.5 * d_along.abs() {
            continue; // not parallel to the split line
        }
        let coord = mid[axis];
        if (coord - c).abs() > 0.25 * span {
            continue;
        }
        let len = d_along.hypot(d_across);
        let e = bins.entry((coord / bin).floor() as i64).or_default();
        e.0 += len;
        e.1 += len * coord;
    }
    let other_span = rect[(1 - axis) + 2] - rect[1 - axis];
    if let Some((len, sum)) = bins.values().copied().max_by(|a, b| a.0.total_cmp(&b.0))
        && len >= 0.2 * other_span
    {
        c = sum / len;
    }
    c.clamp(lo + 0.15 * span, hi - 0.15 * span)
}

fn partition(
    rect: Rect,
    items: Vec<Occupancy>,
    max: f64,
    roads: &[([f64; 2], [f64; 2])],
    out: &mut Vec<(Rect, Vec<Occupancy>)>,
) {
    let total: f64 = items.iter().map(|o| o.households).sum();
    let (w, h) = (rect[2] - rect[0], rect[3] - rect[1]);
    let axis = usize::from(h > w);
    let side = w.max(h);
    if total <= max || side < 2.0 * MIN_SIDE_M {
        out.push((rect, items));
        return;
    }
    let k = (total / max).ceil().max(2.0);
    let left = (k / 2.0).floor();
    let c = split_at(rect, &items, axis, left / k, roads);
    let (mut a, mut b) = (rect, rect);
    a[axis + 2] = c;
    b[axis] = c;
    let (ia, ib): (Vec<_>, Vec<_>) = items.into_iter().partition(|o| (if axis == 0 { o.x } else { o.y }) < c);
    partition(a, ia, max, roads, out);
    partition(b, ib, max, roads, out);
}

/// Sorts rectangles north-west first (rows of 200 m, then west to east) for stable numbering.
fn reading_order(parts: &mut [(Rect, Vec<Occupancy>)]) {
    parts.sort_by(|a, b| {
        let ra = (-(a.0[3] / 200.0).floor(), a.0[0]);
        let rb = (-(b.0[3] / 200.0).floor(), b.0[0]);
        ra.0.total_cmp(&rb.0).then(ra.1.total_cmp(&rb.1))
    });
}

/// Generates street → community → cell over `bounds` (local metres).
pub fn generate(
    bounds: Rect,
    buildings: &[Occupancy],
    major_roads: &[([f64; 2], [f64; 2])],
    county: &str,
) -> GridHierarchy {
    let mut units = Vec::new();
    let unit = |level,
                code: String,
                name: String,
                name_en: String,
                parent: Option<String>,
                rect: Rect,
                items: &[Occupancy]| GridUnit {
        level,
        code,
        name,
        name_en,
        parent,
        polygons: vec![vec![rect_ring(rect)]],
        households: items.iter().map(|o| o.households).sum::<f64>().round(),
        buildings: items.len() as u32,
    };
    let mut streets = Vec::new();
    partition(bounds, buildings.to_vec(), STREET_MAX_HOUSEHOLDS, major_roads, &mut streets);
    reading_order(&mut streets);
    for (si, (srect, sitems)) in streets.into_iter().enumerate() {
        let scode = format!("{county}{:03}", si + 1);
        units.push(unit(
            GridLevel::Street,
            scode.clone(),
            format!("第{}街道", si + 1),
            format!("Street {}", si + 1),
            None,
            srect,
            &sitems,
        ));
        let mut communities = Vec::new();
        partition(srect, sitems, COMMUNITY_MAX_HOUSEHOLDS, major_roads, &mut communities);
        reading_order(&mut communities);
        for (ci, (crect, citems)) in communities.into_iter().enumerate() {
            let ccode = format!("{scode}{:03}", ci + 1);
            let cname = format!("第{}街道第{}社区", si + 1, ci + 1);
            units.push(unit(
                GridLevel::Community,
                ccode.clone(),
                cname.clone(),
                format!("Community {}-{}", si + 1, ci + 1),
                Some(scode.clone()),
                crect,
                &citems,
            ));
            let mut cells = Vec::new();
            partition(crect, citems, CELL_MAX_HOUSEHOLDS, major_roads, &mut cells);
            reading_order(&mut cells);
            for (gi, (grect, gitems)) in cells.into_iter().enumerate() {
                units.push(unit(
                    GridLevel::Cell,
                    format!("{ccode}{:03}", gi + 1),
                    format!("{cname}第{}网格", gi + 1),
                    format!("Grid {}-{}-{}", si + 1, ci + 1, gi + 1),
                    Some(ccode.clone()),
                    grect,
                    &gitems,
                ));
            }
        }
    }
    densify_shared_edges(&mut units);
    GridHierarchy { units, source: "generated".into() }
}

/// Inserts every cell corner that lies on a unit's (axis-aligned) edge into that edge, so a
/// parent and its children, and neighbours with T-junctions, share exactly the same vertices.
/// Without this, the corners of a child on its parent's edge would leave that edge by a hair once
/// both are projected to WGS84 (straight in metres is not straight in degrees).
fn densify_shared_edges(units: &mut [GridUnit]) {
    let mut corners: Vec<[f64; 2]> =
        units.iter().filter(|u| u.level == GridLevel::Cell).flat_map(|u| u.polygons[0][0].clone()).collect();
    corners.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    corners.dedup();
    for unit in units.iter_mut() {
        let ring = &unit.polygons[0][0];
        let mut dense = Vec::with_capacity(ring.len());
        for w in ring.windows(2) {
            let (a, b) = (w[0], w[1]);
            dense.push(a);
            let axis = usize::from(a[0] == b[0]); // 1: vertical edge, points vary in y
            let fixed = 1 - axis;
            let (lo, hi) = (a[axis].min(b[axis]), a[axis].max(b[axis]));
            let mut on_edge: Vec<[f64; 2]> =
                corners.iter().copied().filter(|c| c[fixed] == a[fixed] && c[axis] > lo && c[axis] < hi).collect();
            on_edge.sort_by(|p, q| p[axis].total_cmp(&q[axis]));
            if b[axis] < a[axis] {
                on_edge.reverse();
            }
            dense.extend(on_edge);
        }
        dense.push(ring[ring.len() - 1]);
        unit.polygons[0][0] = dense;
    }
}

/// Writes `grids.geojson` (WGS84, RFC 7946) with level, code, names, parent, estimates.
pub fn write_geojson(path: &Path, grids: &GridHierarchy, frame: &SceneFrame) -> Result<(), GridError> {
    let file = path.display().to_string();
    let mut features = Vec::with_capacity(grids.units.len());
    for u in &grids.units {
        let mut polys = Vec::new();
        for poly in &u.polygons {
            let mut rings = Vec::new();
            for ring in poly {
                let mut pts = Vec::with_capacity(ring.len());
                for p in ring {
                    let (lon, lat) = frame
                        .to_wgs84(p[0], p[1])
                        .map_err(|e| GridError::File { file: file.clone(), reason: e.to_string() })?;
                    pts.push(json!([(lon * 1e7).round() / 1e7, (lat * 1e7).round() / 1e7]));
                }
                rings.push(pts);
            }
            polys.push(rings);
        }
        let geometry = if polys.len() == 1 {
            json!({"type": "Polygon", "coordinates": polys.pop()})
        } else {
            json!({"type": "MultiPolygon", "coordinates": polys})
        };
        features.push(json!({
            "type": "Feature",
            "properties": {
                "level": u.level.key(), "code": u.code, "name": u.name, "name_en": u.name_en,
                "parent": u.parent, "households": u.households, "buildings": u.buildings,
            },
            "geometry": geometry,
        }));
    }
    let fc = json!({"type": "FeatureCollection", "source": grids.source, "features": features});
    std::fs::write(path, serde_json::to_vec_pretty(&fc).unwrap_or_default())
        .map_err(|e| GridError::File { file, reason: e.to_string() })
}

fn to_geo(polys: &[Vec<Vec<[f64; 2]>>]) -> MultiPolygon<f64> {
    let ls =
        |ring: &Vec<[f64; 2]>| LineString::from(ring.iter().map(|p| Coord { x: p[0], y: p[1] }).collect::<Vec<_>>());
    MultiPolygon(polys.iter().map(|p| Polygon::new(ls(&p[0]), p[1..].iter().map(ls).collect())).collect())
}

/// Reads and validates a user's grid file (`GeoJSON` `FeatureCollection`, WGS84).
///
/// Each feature: Polygon or `MultiPolygon` geometry; properties `level` (`street`, `community`,
/// `cell`), `code` (unique), `name`, optional `name_en`, and `parent` (the code of the unit one
/// level up; required for communities and cells). Refused, naming the feature and the reason: an
/// unclosed ring, a self-intersecting or otherwise invalid polygon, a missing or wrong-level parent,
/// a cell code that does not start with its community's code, a unit that is not inside its
/// parent.
pub fn load_user(path: &Path, frame: &SceneFrame) -> Result<GridHierarchy, GridError> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| GridError::File { file: file.clone(), reason: e.to_string() })?;
    let gj: geojson::GeoJson =
        text.parse().map_err(|e: geojson::Error| GridError::File { file: file.clone(), reason: e.to_string() })?;
    let geojson::GeoJson::FeatureCollection(fc) = gj else {
        return Err(GridError::File { file, reason: "expected a GeoJSON FeatureCollection".into() });
    };
    let mut units: Vec<GridUnit> = Vec::new();
    let mut by_code: HashMap<String, usize> = HashMap::new();
    for (i, f) in fc.features.iter().enumerate() {
        let prop = |k: &str| f.property(k).and_then(|v| v.as_str()).map(str::to_owned);
        let label = prop("code").map_or_else(|| format!("#{i}"), |c| format!("#{i} ({c})"));
        let err = |reason: String| GridError::Feature { file: file.clone(), feature: label.clone(), reason };
        let level: GridLevel = prop("level")
            .ok_or_else(|| err("missing property \"level\"".into()))?
            .parse()
            .map_err(|e: gridwall_protocol::UnknownKey| err(e.to_string()))?;
        if level == GridLevel::City {
            return Err(err("level must be street, community or cell".into()));
        }
        let code = prop("code").ok_or_else(|| err("missing property \"code\"".into()))?;
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(format!("code {code:?} must be non-empty letters/digits")));
        }
        let name = prop("name").unwrap_or_else(|| code.clone());
        let parent = prop("parent");
        let raw_polys: Vec<Vec<Vec<Vec<f64>>>> = match f.geometry.as_ref().map(|g| &g.value) {
            Some(geojson::Value::Polygon(p)) => vec![p.clone()],
            Some(geojson::Value::MultiPolygon(mp)) => mp.clone(),
            _ => return Err(err("geometry must be a Polygon or MultiPolygon".into())),
        };
        let mut polygons = Vec::new();
        for poly in &raw_polys {
            let mut rings = Vec::new();
            for ring in poly {
                if ring.len() < 4 {
                    return Err(err("a ring has fewer than 4 positions".into()));
                }
                if ring.first() != ring.last() {
                    return Err(err("a ring is not closed (first position differs from last)".into()));
                }
                let mut local = Vec::with_capacity(ring.len());
                for p in ring {
                    if p.len() < 2 {
                        return Err(err("a position has fewer than 2 numbers".into()));
                    }
                    let (x, y) = frame.to_local(p[0], p[1]).map_err(|e| err(e.to_string()))?;
                    local.push([x, y]);
                }
                rings.push(local);
            }
            polygons.push(rings);
        }
        if let Some(problem) = to_geo(&polygons).validation_errors().into_iter().next() {
            return Err(err(format!("invalid geometry: {problem}")));
        }
        if by_code.insert(code.clone(), units.len()).is_some() {
            return Err(err(format!("duplicate code {code}")));
        }
        units.push(GridUnit {
            level,
            code,
            name,
            name_en: prop("name_en").unwrap_or_default(),
            parent,
            polygons,
            households: 0.0,
            buildings: 0,
        });
    }
    for u in &units {
        let err = |reason: String| GridError::Feature { file: file.clone(), feature: u.code.clone(), reason };
        let want = match u.level {
            GridLevel::Street => None,
            GridLevel::Community => Some(GridLevel::Street),
            _ => Some(GridLevel::Community),
        };
        match (want, &u.parent) {
            (None, None) => {}
            (None, Some(p)) => return Err(err(format!("a street has no parent, but {p} is given"))),
            (Some(_), None) => return Err(err("missing property \"parent\"".into())),
            (Some(level), Some(p)) => {
                let parent =
                    by_code.get(p).map(|&i| &units[i]).ok_or_else(|| err(format!("parent {p} is not in the file")))?;
                if parent.level != level {
                    return Err(err(format!("parent {p} is a {}, expected a {}", parent.level.key(), level.key())));
                }
                if u.level == GridLevel::Cell && !u.code.starts_with(&parent.code) {
                    return Err(err(format!("cell code must start with its community code {p}")));
                }
                let (child, outer) = (to_geo(&u.polygons), to_geo(&parent.polygons));
                if !outer.contains(&child) {
                    let outside = child.difference(&outer).unsigned_area();
                    if outside > 1e-4 * child.unsigned_area().max(1.0) {
                        return Err(err(format!("not inside its parent {p}: {outside:.1} m² lie outside")));
                    }
                }
            }
        }
    }
    Ok(GridHierarchy {
        units,
        source: format!("user:{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("grids.geojson")),
    })
}

/// Fills the household and building estimates of user grids from the buildings.
pub fn estimate_occupancy(grids: &mut GridHierarchy, buildings: &[Occupancy]) {
    for u in &mut grids.units {
        let mp = to_geo(&u.polygons);
        let inside: Vec<&Occupancy> = buildings.iter().filter(|o| mp.contains(&Coord { x: o.x, y: o.y })).collect();
        u.households = inside.iter().map(|o| o.households).sum::<f64>().round();
        u.buildings = inside.len() as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_hierarchy_nests_and_sizes_cells() {
        // 40 × 40 blocks of 4 households each over 2 km: 6,400 households.
        let mut occ = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                occ.push(Occupancy { x: f64::from(i) * 50.0 + 25.0, y: f64::from(j) * 50.0 + 25.0, households: 4.0 });
            }
        }
        // A north-south major road at x = 1010.
        let roads = vec![([1010.0, 0.0], [1010.0, 2000.0])];
        let g = generate([0.0, 0.0, 2000.0, 2000.0], &occ, &roads, "370783");
        assert_eq!(g.count(GridLevel::Street), 1);
        assert!(g.count(GridLevel::Community) >= 3);
        let cells: Vec<_> = g.units.iter().filter(|u| u.level == GridLevel::Cell).collect();
        assert!(cells.iter().all(|c| c.households <= CELL_MAX_HOUSEHOLDS));
        let total: f64 = cells.iter().map(|c| c.households).sum();
        assert_eq!(total, 6400.0);
        let mean = total / cells.len() as f64;
        assert!((250.0..=500.0).contains(&mean), "mean {mean}");
        // The first community split snaps to the road.
        let comms: Vec<_> = g.units.iter().filter(|u| u.level == GridLevel::Community).collect();
        assert!(comms.iter().any(|c| c.polygons[0][0].iter().any(|p| (p[0] - 1010.0).abs() < 1e-9)));
        for c in &cells {
            let parent = c.parent.as_ref().unwrap();
            assert!(c.code.starts_with(parent) && c.code.len() == parent.len() + 3);
            let p = g.units.iter().find(|u| &u.code == parent).unwrap();
            assert!(
                to_geo(&p.polygons).contains(&to_geo(&c.polygons))
                    || to_geo(&c.polygons).difference(&to_geo(&p.polygons)).unsigned_area() < 1e-6
            );
        }
    }
}
