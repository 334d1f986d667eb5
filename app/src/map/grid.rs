//! The grid units of the scene (街道, 社区, 网格) as the server outlines them, in local metres,
//! and their lines in world space.

use bevy::prelude::*;
use gridwall_protocol::GridLevel;
use gridwall_protocol::api::GridOutline;

/// The grid units and their outlines as lines in world space.
#[derive(Resource, Debug, Default)]
pub struct GridMap {
    pub units: Vec<GridOutline>,
    pub lines: Vec<(GridLevel, Vec<Vec<Vec3>>)>,
}

impl GridMap {
    /// The unit of `level` that contains the local point (x east, y north).
    pub fn unit_at(&self, level: GridLevel, x: f64, y: f64) -> Option<&GridOutline> {
        self.units.iter().filter(|u| u.level == level).find(|u| {
            // Inside the outer ring and in no hole (even-odd over all rings).
            u.rings.iter().filter(|r| contains(r, x, y)).count() % 2 == 1
        })
    }

    pub fn unit(&self, code: &str) -> Option<&GridOutline> {
        self.units.iter().find(|u| u.code == code)
    }

    /// Whether `code` is a unit of `level`.
    pub fn is_unit(&self, code: &str, level: GridLevel) -> bool {
        self.units.iter().any(|u| u.level == level && u.code == code)
    }
}

/// Even-odd point-in-ring test.
pub fn contains(ring: &[[f64; 2]], x: f64, y: f64) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let ([x0, y0], [x1, y1]) = (w[0], w[1]);
        if (y0 > y) != (y1 > y) && x < x0 + (y - y0) / (y1 - y0) * (x1 - x0) {
            inside = !inside;
        }
    }
    inside
}

/// Area-weighted centroid of a ring (its vertex mean if degenerate).
pub fn centroid(ring: &[[f64; 2]]) -> [f64; 2] {
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for w in ring.windows(2) {
        let cross = w[0][0] * w[1][1] - w[1][0] * w[0][1];
        a += cross;
        cx += (w[0][0] + w[1][0]) * cross;
        cy += (w[0][1] + w[1][1]) * cross;
    }
    if a.abs() < 1e-9 {
        let n = ring.len().max(1) as f64;
        return [ring.iter().map(|p| p[0]).sum::<f64>() / n, ring.iter().map(|p| p[1]).sum::<f64>() / n];
    }
    [cx / (3.0 * a), cy / (3.0 * a)]
}

/// A unit's area as a flat mesh (holes kept), `up` metres above the ground.
pub fn area_mesh(rings: &[Vec<[f64; 2]>], up: f32) -> Option<Mesh> {
    let open = |r: &Vec<[f64; 2]>| {
        let n = if r.len() > 1 && r.first() == r.last() { r.len() - 1 } else { r.len() };
        r[..n].to_vec()
    };
    let rings: Vec<Vec<[f64; 2]>> = rings.iter().map(open).filter(|r| r.len() >= 3).collect();
    let mut flat = Vec::new();
    let mut holes = Vec::new();
    for (i, r) in rings.iter().enumerate() {
        if i > 0 {
            holes.push(flat.len() / 2);
        }
        flat.extend(r.iter().flat_map(|p| [p[0], p[1]]));
    }
    let triangles = earcutr::earcut(&flat, &holes, 2).ok().filter(|t| !t.is_empty())?;
    let positions: Vec<[f32; 3]> = flat.chunks_exact(2).map(|p| super::to_world(p[0], p[1], up).to_array()).collect();
    let normals = vec![[0.0, 1.0, 0.0]; positions.len()];
    let indices = triangles.into_iter().map(|i| i as u32).collect();
    Some(
        Mesh::new(bevy::mesh::PrimitiveTopology::TriangleList, bevy::asset::RenderAssetUsages::default())
            .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
            .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
            .with_inserted_indices(bevy::mesh::Indices::U32(indices)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroids_and_containment_with_holes() {
        let square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]];
        assert_eq!(centroid(&square), [5.0, 5.0]);
        let clockwise: Vec<[f64; 2]> = square.iter().rev().copied().collect();
        assert_eq!(centroid(&clockwise), [5.0, 5.0]);
        assert!(contains(&square, 5.0, 5.0) && !contains(&square, 15.0, 5.0) && !contains(&square, 5.0, -1.0));
        let hole = vec![[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]];
        let map = GridMap {
            units: vec![GridOutline {
                code: "c1".into(),
                name: "一".into(),
                level: GridLevel::Cell,
                parent: None,
                rings: vec![square.to_vec(), hole],
            }],
            lines: vec![],
        };
        assert_eq!(map.unit_at(GridLevel::Cell, 1.0, 1.0).map(|u| u.code.as_str()), Some("c1"));
        assert!(map.unit_at(GridLevel::Cell, 5.0, 5.0).is_none(), "in the hole");
        assert!(map.unit_at(GridLevel::Community, 1.0, 1.0).is_none());
    }
}
