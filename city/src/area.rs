//! A grid cell's shape prepared for the question every position fix asks: is this point in the
//! patrol's cell? A raster over the shape's bounding box marks each box as wholly inside, wholly
//! outside, or crossed by the boundary. Only a point in a boundary box is tested against the
//! polygon; any other answers with one array read, whatever the number of vertices.
//!
//! Answers are exactly `geo::Intersects` (the boundary counts as inside): a box is "boundary" when
//! a segment of any ring touches it (grown by a hair against rounding), so a box that is not is
//! wholly interior or wholly exterior, and its centre says which.

use geo::{BoundingRect, Coord, Intersects, Line, MultiPolygon, Rect};

/// Boxes a side of the raster.
const SIDE: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Outside,
    Inside,
    Boundary,
}

/// A shape and its raster (see the module's text).
#[derive(Debug, Clone)]
pub struct PreparedArea {
    shape: MultiPolygon<f64>,
    /// Min x, min y, and the size of one box (x, y); `None` for an empty shape.
    grid: Option<([f64; 2], [f64; 2])>,
    /// The shape's bounding box: min x, min y, max x, max y.
    bbox: [f64; 4],
    classes: Vec<Class>,
}

impl PreparedArea {
    pub fn new(shape: MultiPolygon<f64>) -> Self {
        let Some(r) = shape.bounding_rect() else {
            return Self { shape, grid: None, bbox: [0.0; 4], classes: Vec::new() };
        };
        // A degenerate side (a line) still gets boxes of a positive size.
        let size = [(r.width() / SIDE as f64).max(1e-9), (r.height() / SIDE as f64).max(1e-9)];
        let origin = [r.min().x, r.min().y];
        let mut classes = vec![Class::Outside; SIDE * SIDE];
        let hair = [size[0] * 1e-6, size[1] * 1e-6];
        let rect_of = |i: usize, j: usize| {
            Rect::new(
                Coord { x: origin[0] + i as f64 * size[0] - hair[0], y: origin[1] + j as f64 * size[1] - hair[1] },
                Coord {
                    x: origin[0] + (i + 1) as f64 * size[0] + hair[0],
                    y: origin[1] + (j + 1) as f64 * size[1] + hair[1],
                },
            )
        };
        let index = |v: f64, o: f64, s: f64| (((v - o) / s).floor().max(0.0) as usize).min(SIDE - 1);
        for poly in &shape {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for line in ring.lines() {
                    let (lo, hi) = (
                        [line.start.x.min(line.end.x), line.start.y.min(line.end.y)],
                        [line.start.x.max(line.end.x), line.start.y.max(line.end.y)],
                    );
                    // One box of slack each way: the hair may reach a neighbour.
                    let (i0, i1) = (
                        index(lo[0], origin[0], size[0]).saturating_sub(1),
                        (index(hi[0], origin[0], size[0]) + 1).min(SIDE - 1),
                    );
                    let (j0, j1) = (
                        index(lo[1], origin[1], size[1]).saturating_sub(1),
                        (index(hi[1], origin[1], size[1]) + 1).min(SIDE - 1),
                    );
                    for j in j0..=j1 {
                        for i in i0..=i1 {
                            let c = &mut classes[j * SIDE + i];
                            if *c != Class::Boundary && Line::intersects(&line, &rect_of(i, j)) {
                                *c = Class::Boundary;
                            }
                        }
                    }
                }
            }
        }
        for j in 0..SIDE {
            for i in 0..SIDE {
                let c = &mut classes[j * SIDE + i];
                if *c == Class::Outside {
                    let centre =
                        Coord { x: origin[0] + (i as f64 + 0.5) * size[0], y: origin[1] + (j as f64 + 0.5) * size[1] };
                    if shape.intersects(&centre) {
                        *c = Class::Inside;
                    }
                }
            }
        }
        let bbox = [r.min().x, r.min().y, r.max().x, r.max().y];
        Self { shape, grid: Some((origin, size)), bbox, classes }
    }

    /// Whether `p` lies inside the shape or on its boundary.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        let Some((origin, size)) = self.grid else { return false };
        // Strictly outside the bounding box (no arithmetic, so no rounding): outside.
        let r = self.bbox;
        if p[0] < r[0] || p[1] < r[1] || p[0] > r[2] || p[1] > r[3] {
            return false;
        }
        let (fx, fy) = ((p[0] - origin[0]) / size[0], (p[1] - origin[1]) / size[1]);
        // Outside the bounding box (NaN included) is outside, but for rounding at its very edge.
        if !(fx >= 0.0 && fy >= 0.0 && fx < SIDE as f64 && fy < SIDE as f64) {
            return self.shape.intersects(&Coord { x: p[0], y: p[1] });
        }
        match self.classes[fy as usize * SIDE + fx as usize] {
            Class::Inside => true,
            Class::Outside => false,
            Class::Boundary => self.shape.intersects(&Coord { x: p[0], y: p[1] }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, Polygon, polygon};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Random points, every vertex, and points on and just off every edge: the raster's answer is
    /// always the polygon's.
    fn agrees_everywhere(shape: MultiPolygon<f64>, seed: u64) {
        let area = PreparedArea::new(shape.clone());
        let r = shape.bounding_rect().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut points: Vec<[f64; 2]> = (0..20_000)
            .map(|_| {
                let (w, h) = (r.width() * 1.2, r.height() * 1.2);
                [r.min().x - w * 0.1 + rng.random::<f64>() * w, r.min().y - h * 0.1 + rng.random::<f64>() * h]
            })
            .collect();
        for poly in &shape {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for line in ring.lines() {
                    for t in [0.0, 0.25, 0.5, 0.999] {
                        let (x, y) = (
                            line.start.x + (line.end.x - line.start.x) * t,
                            line.start.y + (line.end.y - line.start.y) * t,
                        );
                        points.extend([[x, y], [x + 1e-7, y], [x, y - 1e-7], [x - 1e-3, y + 1e-3]]);
                    }
                }
            }
        }
        let mut inside = 0;
        for p in points {
            let want = shape.intersects(&Coord { x: p[0], y: p[1] });
            assert_eq!(area.contains(p), want, "{p:?}");
            inside += usize::from(want);
        }
        assert!(inside > 1_000, "the test reaches the inside ({inside})");
    }

    #[test]
    fn a_concave_cell_with_a_hole_answers_as_the_polygon() {
        let outer: LineString<f64> =
            vec![(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (50.0, 40.0), (0.0, 100.0), (0.0, 0.0)].into();
        let hole: LineString<f64> = vec![(20.0, 10.0), (40.0, 10.0), (40.0, 30.0), (20.0, 30.0), (20.0, 10.0)].into();
        let far = polygon![(x: 200.0, y: 0.0), (x: 210.0, y: 0.0), (x: 205.0, y: 9.0)];
        agrees_everywhere(MultiPolygon(vec![Polygon::new(outer, vec![hole]), far]), 1);
    }

    #[test]
    fn the_scenes_cells_answer_as_their_polygons() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes/helsinki");
        let w = crate::world::World::load(&dir, crate::workflow::TimeLimits::default()).unwrap();
        let cells: Vec<_> = w.grids.iter().filter(|g| g.level == gridwall_protocol::GridLevel::Cell).collect();
        assert!(cells.len() > 10);
        for (k, g) in cells.iter().take(40).enumerate() {
            agrees_everywhere(g.shape.clone(), k as u64);
        }
    }

    #[test]
    fn an_empty_shape_holds_nothing() {
        let a = PreparedArea::new(MultiPolygon(vec![]));
        assert!(!a.contains([0.0, 0.0]));
        assert!(!a.contains([f64::NAN, 1.0]));
    }
}
