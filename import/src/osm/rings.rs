//! Rings from way fragments, and holes given to the outer ring that holds them.

use super::{Area, Ring};

/// Joins way fragments end to end into closed rings. `None` if some fragment cannot be closed.
pub fn assemble_rings(mut parts: Vec<Vec<(f64, f64)>>) -> Option<Vec<Ring>> {
    let mut rings = Vec::new();
    parts.retain(|p| p.len() >= 2);
    while let Some(mut ring) = parts.pop() {
        while ring.first() != ring.last() {
            let end = *ring.last()?;
            let pos = parts.iter().position(|p| p.first() == Some(&end) || p.last() == Some(&end))?;
            let mut next = parts.swap_remove(pos);
            if next.first() != Some(&end) {
                next.reverse();
            }
            ring.extend_from_slice(&next[1..]);
        }
        if ring.len() >= 4 {
            rings.push(ring);
        }
    }
    Some(rings)
}

/// Even-odd point in ring test (lon/lat or metres alike).
pub fn point_in_ring(p: (f64, f64), ring: &[(f64, f64)]) -> bool {
    let mut inside = false;
    let mut j = ring.len().wrapping_sub(1);
    for i in 0..ring.len() {
        let (xi, yi) = ring[i];
        let (xj, yj) = ring[j];
        if (yi > p.1) != (yj > p.1) && p.0 < (xj - xi) * (p.1 - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Gives each inner ring to the outer ring that contains it.
pub(super) fn group_holes(outers: Vec<Ring>, inners: Vec<Ring>) -> Vec<Area> {
    let mut areas: Vec<Area> = outers.into_iter().map(|outer| Area { outer, holes: Vec::new() }).collect();
    for inner in inners {
        if let Some(area) = areas.iter_mut().find(|a| point_in_ring(inner[0], &a.outer)) {
            area.holes.push(inner);
        }
    }
    areas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_assemble_from_fragments_in_any_direction() {
        let a = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)];
        let b = vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]; // reversed relative to the ring
        let rings = assemble_rings(vec![a, b]).unwrap();
        assert_eq!(rings.len(), 1);
        assert_eq!(rings[0].len(), 5);
        assert_eq!(rings[0].first(), rings[0].last());
        assert!(assemble_rings(vec![vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]]).is_none());
    }

    #[test]
    fn holes_go_to_the_outer_that_contains_them() {
        let sq = |x: f64, s: f64| vec![(x, 0.0), (x + s, 0.0), (x + s, s), (x, s), (x, 0.0)];
        let areas = group_holes(vec![sq(0.0, 10.0), sq(20.0, 10.0)], vec![sq(22.0, 2.0)]);
        assert_eq!(areas[0].holes.len(), 0);
        assert_eq!(areas[1].holes.len(), 1);
    }
}
