//! The grid units analysed: the city (unit 0), its streets, communities and cells, each with the
//! chain of units it counts in, and which cells touch (the neighbours of Getis-Ord Gi*).

use geo::{Area, BoundingRect, Centroid, Distance, Euclidean};
use gridwall_protocol::GridLevel;
use gridwall_scene::grids::GridUnit;
use rstar::{AABB, RTree, RTreeObject};
use rustc_hash::FxHashMap;

/// Cells whose boundaries come closer than this (metres) are neighbours.
const TOUCH_M: f64 = 1.0;

/// One unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub level: GridLevel,
    /// The unit one level up (the city's is none).
    pub parent: Option<u32>,
    /// Its centroid, local metres.
    pub centroid: [f64; 2],
    /// Its area, square metres.
    pub area_m2: f64,
}

/// Every unit of a scene, indexed.
#[derive(Debug, Clone)]
pub struct Units {
    all: Vec<Unit>,
    by_code: FxHashMap<String, u32>,
    /// Per unit: itself, its parents, then the city.
    chains: Vec<Vec<u32>>,
    /// The cells, and per cell (by its place in `cells`) the cells it touches.
    cells: Vec<u32>,
    neighbours: Vec<Vec<u32>>,
}

struct Boxed {
    at: usize,
    env: AABB<[f64; 2]>,
}

impl RTreeObject for Boxed {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.env
    }
}

impl Units {
    /// The units of a scene's grids; unit 0 is the city (code `""`, 全市).
    pub fn new(grids: &[GridUnit]) -> Self {
        let mut units = vec![Unit {
            code: String::new(),
            name: "全市".into(),
            level: GridLevel::City,
            parent: None,
            centroid: [0.0, 0.0],
            area_m2: 0.0,
        }];
        let mut by_code = FxHashMap::default();
        for g in grids {
            by_code.insert(g.code.clone(), units.len() as u32);
            let c = g.shape.centroid().map_or([0.0, 0.0], |p| [p.x(), p.y()]);
            units.push(Unit {
                code: g.code.clone(),
                name: g.name.clone(),
                level: g.level,
                parent: None,
                centroid: c,
                area_m2: g.shape.unsigned_area(),
            });
        }
        for (i, g) in grids.iter().enumerate() {
            units[i + 1].parent = Some(g.parent.as_ref().and_then(|p| by_code.get(p).copied()).unwrap_or(0));
        }
        let chains = (0..units.len() as u32)
            .map(|u| {
                let mut chain = vec![u];
                let mut at = units[u as usize].parent;
                // Parents nest; the bound guards a scene whose parents loop.
                while let Some(p) = at.filter(|_| chain.len() < 8) {
                    chain.push(p);
                    at = units[p as usize].parent;
                }
                if chain.last() != Some(&0) {
                    chain.push(0);
                }
                chain
            })
            .collect();
        let cells: Vec<u32> = (1..units.len() as u32).filter(|&u| units[u as usize].level == GridLevel::Cell).collect();
        let shapes: Vec<&GridUnit> = cells.iter().map(|&u| &grids[u as usize - 1]).collect();
        let boxes: Vec<Boxed> = shapes
            .iter()
            .enumerate()
            .filter_map(|(at, g)| {
                let r = g.shape.bounding_rect()?;
                let env = AABB::from_corners(
                    [r.min().x - TOUCH_M, r.min().y - TOUCH_M],
                    [r.max().x + TOUCH_M, r.max().y + TOUCH_M],
                );
                Some(Boxed { at, env })
            })
            .collect();
        let tree = RTree::bulk_load(boxes);
        let mut neighbours = vec![Vec::new(); cells.len()];
        for b in &tree {
            for o in tree.locate_in_envelope_intersecting(&b.env) {
                if o.at != b.at && Euclidean.distance(&shapes[b.at].shape, &shapes[o.at].shape) <= TOUCH_M {
                    neighbours[b.at].push(o.at as u32);
                }
            }
        }
        for n in &mut neighbours {
            n.sort_unstable();
        }
        Self { all: units, by_code, chains, cells, neighbours }
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.len() <= 1
    }

    pub fn get(&self, u: u32) -> &Unit {
        &self.all[u as usize]
    }

    /// The unit of a code (`""`: the city).
    pub fn find(&self, code: &str) -> Option<u32> {
        if code.is_empty() { Some(0) } else { self.by_code.get(code).copied() }
    }

    /// The units a cell's incidents count in: itself, its parents, the city (a code the scene
    /// does not have: the city's only).
    pub fn chain_of(&self, code: &str) -> &[u32] {
        self.by_code.get(code).map_or(&self.chains[0], |&u| &self.chains[u as usize])
    }

    /// The chain of unit `u` (itself, its parents, the city).
    pub fn chain(&self, u: u32) -> &[u32] {
        &self.chains[u as usize]
    }

    /// Units at a level, in code order.
    pub fn at_level(&self, level: GridLevel) -> impl Iterator<Item = u32> + '_ {
        (0..self.all.len() as u32).filter(move |&u| self.all[u as usize].level == level)
    }

    /// The cells (their unit numbers), in scene order.
    pub fn cells(&self) -> &[u32] {
        &self.cells
    }

    /// The cells touching cell number `i` of [`Units::cells`] (as numbers into it).
    pub fn neighbours(&self, i: usize) -> &[u32] {
        &self.neighbours[i]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use geo::{MultiPolygon, polygon};

    /// A street of one community of `n` × `n` square cells 100 m wide, codes `s`, `s-c`,
    /// `s-c-<row>-<col>`.
    pub(crate) fn square_grid(n: usize) -> Vec<GridUnit> {
        let unit = |level, code: String, parent: Option<&str>, shape| GridUnit {
            level,
            name: format!("名{code}"),
            code,
            parent: parent.map(Into::into),
            shape,
        };
        let side = 100.0 * n as f64;
        let square = |x: f64, y: f64, w: f64| {
            MultiPolygon::new(vec![polygon![(x: x, y: y), (x: x + w, y: y), (x: x + w, y: y + w), (x: x, y: y + w)]])
        };
        let mut g = vec![
            unit(GridLevel::Street, "s".into(), None, square(0.0, 0.0, side)),
            unit(GridLevel::Community, "s-c".into(), Some("s"), square(0.0, 0.0, side)),
        ];
        for r in 0..n {
            for c in 0..n {
                let shape = square(c as f64 * 100.0, r as f64 * 100.0, 100.0);
                g.push(unit(GridLevel::Cell, format!("s-c-{r}-{c}"), Some("s-c"), shape));
            }
        }
        g
    }

    #[test]
    fn chains_levels_and_touching_cells() {
        let u = Units::new(&square_grid(3));
        assert_eq!(u.len(), 1 + 2 + 9);
        let cell = u.find("s-c-1-1").unwrap();
        let chain: Vec<&str> = u.chain_of("s-c-1-1").iter().map(|&c| u.get(c).code.as_str()).collect();
        assert_eq!(chain, ["s-c-1-1", "s-c", "s", ""]);
        assert_eq!(u.chain_of("nowhere"), &[0]);
        assert_eq!(u.at_level(GridLevel::Community).count(), 1);
        // The middle cell touches all eight around it (corners touch too: queen contiguity).
        let i = u.cells().iter().position(|&c| c == cell).unwrap();
        assert_eq!(u.neighbours(i).len(), 8);
        let corner = u.cells().iter().position(|&c| u.get(c).code == "s-c-0-0").unwrap();
        assert_eq!(u.neighbours(corner).len(), 3);
    }
}
