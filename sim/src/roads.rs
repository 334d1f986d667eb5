//! The road network the simulated patrols walk: a graph of the scene's road polylines, joined
//! where they share a vertex, with shortest routes (A*). Only its largest connected part is
//! walked (an extract's cut-off paths and islands would leave routes unreachable).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use gridwall_scene::RoadClass;

/// A road graph in local metres.
#[derive(Debug, Default)]
pub struct RoadGraph {
    pub nodes: Vec<[f64; 2]>,
    /// Adjacency: (neighbour, length in metres).
    pub edges: Vec<Vec<(u32, f64)>>,
}

impl RoadGraph {
    /// Builds the graph; polylines that share a vertex (to the centimetre) are connected there.
    pub fn from_roads(roads: &[(RoadClass, Vec<[f64; 2]>)]) -> Self {
        let mut g = Self::default();
        let mut ids: HashMap<(i64, i64), u32> = HashMap::new();
        let mut node = |g: &mut Self, p: [f64; 2]| -> u32 {
            *ids.entry(((p[0] * 100.0).round() as i64, (p[1] * 100.0).round() as i64)).or_insert_with(|| {
                g.nodes.push(p);
                g.edges.push(Vec::new());
                (g.nodes.len() - 1) as u32
            })
        };
        for (_, pts) in roads {
            for w in pts.windows(2) {
                let (a, b) = (node(&mut g, w[0]), node(&mut g, w[1]));
                let len = (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]);
                if a != b && len > 0.01 {
                    g.edges[a as usize].push((b, len));
                    g.edges[b as usize].push((a, len));
                }
            }
        }
        g.keep_largest_part();
        g
    }

    /// Drops the edges of every node outside the largest connected part, so that every node
    /// with edges can reach every other.
    fn keep_largest_part(&mut self) {
        let n = self.nodes.len();
        let mut part = vec![u32::MAX; n];
        let mut sizes = Vec::new();
        for start in 0..n {
            if part[start] != u32::MAX || self.edges[start].is_empty() {
                continue;
            }
            let id = sizes.len() as u32;
            let (mut stack, mut size) = (vec![start], 0usize);
            part[start] = id;
            while let Some(u) = stack.pop() {
                size += 1;
                for &(v, _) in &self.edges[u] {
                    if part[v as usize] == u32::MAX {
                        part[v as usize] = id;
                        stack.push(v as usize);
                    }
                }
            }
            sizes.push(size);
        }
        let Some(largest) = (0..sizes.len()).max_by_key(|&i| sizes[i]) else { return };
        for (i, edges) in self.edges.iter_mut().enumerate() {
            if part[i] != largest as u32 {
                edges.clear();
            }
        }
    }

    pub(super) fn distance(&self, a: u32, b: u32) -> f64 {
        let (p, q) = (self.nodes[a as usize], self.nodes[b as usize]);
        (p[0] - q[0]).hypot(p[1] - q[1])
    }

    /// Shortest path (A*), as node ids from `from` to `to` inclusive; `None` if unreachable.
    pub fn route(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        let n = self.nodes.len();
        let mut best = vec![f64::INFINITY; n];
        let mut prev = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        best[from as usize] = 0.0;
        // Keys are millimetres so they order as integers.
        heap.push(Reverse(((self.distance(from, to) * 1000.0) as u64, from)));
        while let Some(Reverse((_, u))) = heap.pop() {
            if u == to {
                let mut path = vec![to];
                let mut v = to;
                while v != from {
                    v = prev[v as usize];
                    path.push(v);
                }
                path.reverse();
                return Some(path);
            }
            for &(v, len) in &self.edges[u as usize] {
                let d = best[u as usize] + len;
                if d < best[v as usize] {
                    best[v as usize] = d;
                    prev[v as usize] = u;
                    heap.push(Reverse((((d + self.distance(v, to)) * 1000.0) as u64, v)));
                }
            }
        }
        None
    }

    /// The walkable node nearest to a point (linear scan; once per dispatch, not per tick).
    pub fn nearest_node(&self, p: [f64; 2]) -> Option<u32> {
        let d2 = |i: u32| {
            let q = self.nodes[i as usize];
            (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2)
        };
        (0..self.nodes.len() as u32)
            .filter(|&i| !self.edges[i as usize].is_empty())
            .min_by(|&a, &b| d2(a).total_cmp(&d2(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_largest_connected_part_is_walked() {
        let mut roads = vec![(RoadClass::Residential, vec![[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])];
        roads.push((RoadClass::Residential, vec![[500.0, 500.0], [510.0, 500.0]]));
        let g = RoadGraph::from_roads(&roads);
        assert_eq!(
            g.nearest_node([505.0, 500.0]).map(|n| g.nodes[n as usize]),
            Some([200.0, 0.0]),
            "the island is cut off"
        );
        assert!(g.route(0, 2).is_some());
    }

    #[test]
    fn routes_follow_the_roads() {
        let g = crate::tests::lattice();
        assert_eq!(g.nodes.len(), 49);
        let a = g.nearest_node([0.0, 0.0]).unwrap();
        let b = g.nearest_node([300.0, 200.0]).unwrap();
        let path = g.route(a, b).unwrap();
        let len: f64 = path.windows(2).map(|w| g.distance(w[0], w[1])).sum();
        assert!((len - 500.0).abs() < 1e-6, "Manhattan distance on a lattice: {len}");
    }
}
