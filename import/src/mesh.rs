//! Triangle meshes for the city: extruded buildings, road ribbons, flat water.
//!
//! Input is in local metres (x east, y north). Output vertices are in glTF's frame: +X east,
//! +Y up, +Z south (right-handed, so north is -Z), relative to a tile centre.

/// Polygon in local metres; rings closed or not (a closing duplicate point is ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalArea {
    pub outer: Vec<[f64; 2]>,
    pub holes: Vec<Vec<[f64; 2]>>,
}

/// Positions, normals and triangle indices of one mesh primitive.
#[derive(Debug, Default, Clone)]
pub struct MeshData {
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    pub indices: Vec<u32>,
}

/// Signed area (positive when counter-clockwise seen from above).
pub fn signed_area(ring: &[[f64; 2]]) -> f64 {
    let n = ring.len();
    let mut a = 0.0;
    for i in 0..n {
        let p = ring[i];
        let q = ring[(i + 1) % n];
        a += p[0] * q[1] - q[0] * p[1];
    }
    a / 2.0
}

/// Drops the closing duplicate and consecutive duplicates.
fn open_ring(ring: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(ring.len());
    for &p in ring {
        if out.last().is_none_or(|l| (l[0] - p[0]).abs() > 1e-6 || (l[1] - p[1]).abs() > 1e-6) {
            out.push(p);
        }
    }
    while out.len() > 1 && {
        let (f, l) = (out[0], out[out.len() - 1]);
        (f[0] - l[0]).abs() <= 1e-6 && (f[1] - l[1]).abs() <= 1e-6
    } {
        out.pop();
    }
    out
}

/// Ring area of a polygon with holes, in m².
pub fn area_m2(area: &LocalArea) -> f64 {
    signed_area(&area.outer).abs() - area.holes.iter().map(|h| signed_area(h).abs()).sum::<f64>()
}

impl MeshData {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    fn vertex(&mut self, p: [f64; 3], n: [f32; 3]) -> u32 {
        let i = self.positions.len() as u32;
        self.positions.push([p[0] as f32, p[1] as f32, p[2] as f32]);
        self.normals.push(n);
        i
    }

    /// Adds a triangle whose front face looks along `normal` (counter-clockwise from that side).
    fn triangle(&mut self, a: u32, b: u32, c: u32, normal: [f32; 3]) {
        let pa = self.positions[a as usize];
        let pb = self.positions[b as usize];
        let pc = self.positions[c as usize];
        let u = [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]];
        let v = [pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]];
        let cross = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
        let dot = cross[0] * normal[0] + cross[1] * normal[1] + cross[2] * normal[2];
        if dot >= 0.0 {
            self.indices.extend([a, b, c]);
        } else {
            self.indices.extend([a, c, b]);
        }
    }

    /// Local (x east, y north, h up) relative to `centre` → glTF (x, y up, z south).
    fn to_gltf(p: [f64; 2], h: f64, centre: [f64; 2]) -> [f64; 3] {
        [p[0] - centre[0], h, -(p[1] - centre[1])]
    }

    /// A flat polygon at height `h`, facing up. Returns false if it cannot be triangulated.
    pub fn add_flat(&mut self, area: &LocalArea, h: f64, centre: [f64; 2]) -> bool {
        let outer = open_ring(&area.outer);
        if outer.len() < 3 {
            return false;
        }
        let holes: Vec<Vec<[f64; 2]>> = area.holes.iter().map(|h| open_ring(h)).filter(|h| h.len() >= 3).collect();
        let mut flat: Vec<f64> = Vec::with_capacity(2 * (outer.len() + holes.iter().map(Vec::len).sum::<usize>()));
        let mut hole_starts = Vec::with_capacity(holes.len());
        for p in &outer {
            flat.extend([p[0] - centre[0], p[1] - centre[1]]);
        }
        for hole in &holes {
            hole_starts.push(flat.len() / 2);
            for p in hole {
                flat.extend([p[0] - centre[0], p[1] - centre[1]]);
            }
        }
        let Ok(tris) = earcutr::earcut(&flat, &hole_starts, 2) else { return false };
        if tris.is_empty() {
            return false;
        }
        let up = [0.0, 1.0, 0.0];
        let base = self.positions.len() as u32;
        for pair in flat.chunks_exact(2) {
            self.vertex([pair[0], h, -pair[1]], up);
        }
        for t in tris.chunks_exact(3) {
            self.triangle(base + t[0] as u32, base + t[1] as u32, base + t[2] as u32, up);
        }
        true
    }

    /// An extruded prism from `bottom` to `top`: walls with flat normals, and a roof.
    pub fn add_extrusion(&mut self, area: &LocalArea, bottom: f64, top: f64, centre: [f64; 2]) -> bool {
        if !self.add_flat(area, top, centre) {
            return false;
        }
        let mut rings = vec![open_ring(&area.outer)];
        rings.extend(area.holes.iter().map(|h| open_ring(h)).filter(|h| h.len() >= 3));
        for (i, ring) in rings.iter().enumerate() {
            // Walls face away from the solid: outward for the outer ring (CCW), into the courtyard
            // for holes (CW).
            let ccw = signed_area(ring) > 0.0;
            let want_ccw = i == 0;
            let n = ring.len();
            for k in 0..n {
                let (p, q) = if ccw == want_ccw { (ring[k], ring[(k + 1) % n]) } else { (ring[(k + 1) % n], ring[k]) };
                let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
                let len = (dx * dx + dy * dy).sqrt();
                if len < 1e-6 {
                    continue;
                }
                // Right-hand normal of a CCW edge points outward: (dy, -dx) in (east, north).
                let normal = [(dy / len) as f32, 0.0, (dx / len) as f32];
                let a = self.vertex(Self::to_gltf(p, bottom, centre), normal);
                let b = self.vertex(Self::to_gltf(q, bottom, centre), normal);
                let c = self.vertex(Self::to_gltf(q, top, centre), normal);
                let d = self.vertex(Self::to_gltf(p, top, centre), normal);
                self.triangle(a, b, c, normal);
                self.triangle(a, c, d, normal);
            }
        }
        true
    }

    /// A ribbon of `width` along a polyline at height `h` (mitred joins, limited at sharp turns).
    pub fn add_ribbon(&mut self, points: &[[f64; 2]], width: f64, h: f64, centre: [f64; 2]) -> bool {
        let pts = open_polyline(points);
        if pts.len() < 2 {
            return false;
        }
        let half = width / 2.0;
        let up = [0.0, 1.0, 0.0];
        let seg_normal = |a: [f64; 2], b: [f64; 2]| {
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len = (dx * dx + dy * dy).sqrt().max(1e-9);
            [-dy / len, dx / len] // left normal
        };
        let base = self.positions.len() as u32;
        for i in 0..pts.len() {
            let n = if i == 0 {
                seg_normal(pts[0], pts[1])
            } else if i == pts.len() - 1 {
                seg_normal(pts[i - 1], pts[i])
            } else {
                let n0 = seg_normal(pts[i - 1], pts[i]);
                let n1 = seg_normal(pts[i], pts[i + 1]);
                let m = [n0[0] + n1[0], n0[1] + n1[1]];
                let mlen = (m[0] * m[0] + m[1] * m[1]).sqrt();
                if mlen < 1e-6 {
                    n0
                } else {
                    let m = [m[0] / mlen, m[1] / mlen];
                    // Miter length 1/cos(θ/2), capped at 2× so hairpins do not spike.
                    let scale = (1.0 / (m[0] * n0[0] + m[1] * n0[1]).max(0.5)).min(2.0);
                    [m[0] * scale, m[1] * scale]
                }
            };
            let p = pts[i];
            self.vertex(Self::to_gltf([p[0] + n[0] * half, p[1] + n[1] * half], h, centre), up);
            self.vertex(Self::to_gltf([p[0] - n[0] * half, p[1] - n[1] * half], h, centre), up);
        }
        for i in 0..(pts.len() as u32 - 1) {
            let (l0, r0, l1, r1) = (base + 2 * i, base + 2 * i + 1, base + 2 * i + 2, base + 2 * i + 3);
            self.triangle(l0, r0, r1, up);
            self.triangle(l0, r1, l1, up);
        }
        true
    }

    /// Axis-aligned bounds of the positions.
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        let mut min = [f32::MAX; 3];
        let mut max = [f32::MIN; 3];
        for p in &self.positions {
            for k in 0..3 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        (min, max)
    }
}

fn open_polyline(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(points.len());
    for &p in points {
        if out.last().is_none_or(|l| (l[0] - p[0]).abs() > 1e-3 || (l[1] - p[1]).abs() > 1e-3) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f64, y: f64, s: f64) -> Vec<[f64; 2]> {
        vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]
    }

    fn faces_along_normals(m: &MeshData) -> bool {
        m.indices.chunks_exact(3).all(|t| {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| m.positions[i as usize]);
            let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
            let cr = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
            let n = m.normals[t[0] as usize];
            cr[0] * n[0] + cr[1] * n[1] + cr[2] * n[2] > 0.0
        })
    }

    #[test]
    fn a_box_building_has_roof_and_four_outward_walls() {
        let mut m = MeshData::default();
        // Clockwise input must come out the same as counter-clockwise.
        let mut ring = square(0.0, 0.0, 10.0);
        ring.reverse();
        assert!(m.add_extrusion(&LocalArea { outer: ring, holes: vec![] }, 0.0, 12.0, [0.0, 0.0]));
        assert_eq!(m.indices.len(), 3 * (2 + 8));
        assert!(faces_along_normals(&m));
        let (min, max) = m.bounds();
        assert_eq!((min[1], max[1]), (0.0, 12.0));
        // The east wall (x = 10) faces +X.
        let east: Vec<_> = m.positions.iter().zip(&m.normals).filter(|(p, n)| p[0] == 10.0 && n[0] != 0.0).collect();
        assert_eq!(east.len(), 4);
        assert!(east.iter().all(|(_, n)| n[0] == 1.0));
        // North is -Z.
        assert_eq!(min[2], -10.0);
    }

    #[test]
    fn courtyards_are_kept_and_walled() {
        let mut m = MeshData::default();
        let area = LocalArea { outer: square(0.0, 0.0, 30.0), holes: vec![square(10.0, 10.0, 10.0)] };
        assert!((area_m2(&area) - 800.0).abs() < 1e-9);
        assert!(m.add_extrusion(&area, 0.0, 9.0, [15.0, 15.0]));
        assert!(faces_along_normals(&m));
        // 8 roof triangles around the hole + 8 walls × 2.
        assert_eq!(m.indices.len() / 3, 8 + 16);
        // The courtyard's west wall (local x = 10, glTF x = -5) faces +X: into the courtyard,
        // away from the solid west of it.
        let wall: Vec<_> = m.positions.iter().zip(&m.normals).filter(|(p, n)| p[0] == -5.0 && n[0] != 0.0).collect();
        assert_eq!(wall.len(), 4);
        assert!(wall.iter().all(|(_, n)| n[0] == 1.0));
    }

    #[test]
    fn ribbons_have_the_requested_width_and_face_up() {
        let mut m = MeshData::default();
        assert!(m.add_ribbon(&[[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]], 8.0, 0.1, [0.0, 0.0]));
        assert!(faces_along_normals(&m));
        assert_eq!(m.positions[0], [0.0, 0.1, -4.0]);
        assert_eq!(m.positions[1], [0.0, 0.1, 4.0]);
        assert!(!m.add_ribbon(&[[1.0, 1.0], [1.0, 1.0]], 8.0, 0.1, [0.0, 0.0]));
    }
}
