//! Spatial indexes, all in local metres.
//!
//! * [`PointIndex`]: static points (city components), an rstar R-tree bulk-loaded once;
//!   `locate_in_envelope` answers viewport queries.
//! * [`MovingIndex`]: points that move every second (patrols). A uniform bucket grid: an update is
//!   two hash look-ups and a swap-remove, which keeps ingest far above the 500k updates/s the brief
//!   asks for, where an R-tree would pay a removal and a re-insertion per update. k-nearest
//!   searches rings of buckets outward until no closer point can remain.
//! * [`CellIndex`]: grid-cell polygons; an R-tree of bounding boxes, then an exact
//!   point-in-polygon test with `geo`.

use geo::{Contains, Coord, MultiPolygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use rustc_hash::FxHashMap;

/// A static point with an id.
pub type IdPoint = GeomWithData<[f64; 2], u32>;

/// Static points, bulk-loaded.
#[derive(Debug)]
pub struct PointIndex {
    tree: RTree<IdPoint>,
}

impl PointIndex {
    pub fn new(points: impl IntoIterator<Item = (u32, [f64; 2])>) -> Self {
        Self { tree: RTree::bulk_load(points.into_iter().map(|(id, p)| IdPoint::new(p, id)).collect()) }
    }

    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Ids of the points inside `[min x, min y, max x, max y]` (edges included).
    pub fn locate_in_envelope(&self, bbox: [f64; 4]) -> impl Iterator<Item = u32> + '_ {
        self.tree.locate_in_envelope(&AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]])).map(|p| p.data)
    }
}

/// Points that move, in buckets of a fixed size.
#[derive(Debug)]
pub struct MovingIndex {
    bucket: f64,
    buckets: FxHashMap<(i32, i32), Vec<u32>>,
    /// id → (position, bucket key, slot in the bucket).
    where_: FxHashMap<u32, ([f64; 2], (i32, i32), usize)>,
    /// Bucket keys ever used: min x, min y, max x, max y (grows only; bounds the k-NN search).
    extent: [i32; 4],
}

impl MovingIndex {
    /// `bucket`: edge of a bucket in metres (about the spacing of the points works well).
    pub fn new(bucket: f64) -> Self {
        Self {
            bucket,
            buckets: FxHashMap::default(),
            where_: FxHashMap::default(),
            extent: [i32::MAX, i32::MAX, i32::MIN, i32::MIN],
        }
    }

    fn key(&self, p: [f64; 2]) -> (i32, i32) {
        ((p[0] / self.bucket).floor() as i32, (p[1] / self.bucket).floor() as i32)
    }

    pub fn len(&self) -> usize {
        self.where_.len()
    }

    pub fn is_empty(&self) -> bool {
        self.where_.is_empty()
    }

    pub fn position(&self, id: u32) -> Option<[f64; 2]> {
        self.where_.get(&id).map(|w| w.0)
    }

    /// Inserts or moves a point.
    pub fn upsert(&mut self, id: u32, p: [f64; 2]) {
        let key = self.key(p);
        if let Some(entry) = self.where_.get_mut(&id)
            && entry.1 == key
        {
            entry.0 = p;
            return;
        }
        self.remove(id);
        self.extent = [
            self.extent[0].min(key.0),
            self.extent[1].min(key.1),
            self.extent[2].max(key.0),
            self.extent[3].max(key.1),
        ];
        let bucket = self.buckets.entry(key).or_default();
        bucket.push(id);
        self.where_.insert(id, (p, key, bucket.len() - 1));
    }

    pub fn remove(&mut self, id: u32) -> Option<[f64; 2]> {
        let (p, key, slot) = self.where_.remove(&id)?;
        let bucket = self.buckets.get_mut(&key).expect("indexed point has a bucket");
        bucket.swap_remove(slot);
        if let Some(&moved) = bucket.get(slot) {
            self.where_.get_mut(&moved).expect("bucket member is indexed").2 = slot;
        }
        if bucket.is_empty() {
            self.buckets.remove(&key);
        }
        Some(p)
    }

    /// Ids inside the box.
    pub fn locate_in_envelope(&self, bbox: [f64; 4]) -> Vec<u32> {
        let (k0, k1) = (self.key([bbox[0], bbox[1]]), self.key([bbox[2], bbox[3]]));
        let mut out = Vec::new();
        let cells = i64::from(k1.0 - k0.0 + 1) * i64::from(k1.1 - k0.1 + 1);
        let mut visit = |ids: &Vec<u32>| {
            for &id in ids {
                let p = self.where_[&id].0;
                if p[0] >= bbox[0] && p[0] <= bbox[2] && p[1] >= bbox[1] && p[1] <= bbox[3] {
                    out.push(id);
                }
            }
        };
        if cells as usize > self.buckets.len() {
            self.buckets
                .iter()
                .filter(|(k, _)| k.0 >= k0.0 && k.0 <= k1.0 && k.1 >= k0.1 && k.1 <= k1.1)
                .for_each(|(_, v)| visit(v));
        } else {
            for x in k0.0..=k1.0 {
                for y in k0.1..=k1.1 {
                    if let Some(ids) = self.buckets.get(&(x, y)) {
                        visit(ids);
                    }
                }
            }
        }
        out
    }

    /// The `k` nearest points to `p` that pass `keep`, nearest first, with their distances.
    ///
    /// Rings of buckets are searched outward from `p`, starting at the first ring that touches
    /// the buckets in use. The work is bounded by the number of points whatever `p` is: once the
    /// rings would visit more keys than there are buckets (a point far outside the city, or
    /// few points passing `keep`), every point is looked at once instead.
    pub fn nearest(&self, p: [f64; 2], k: usize, keep: impl Fn(u32) -> bool) -> Vec<(u32, f64)> {
        if k == 0 || self.where_.is_empty() || !(p[0].is_finite() && p[1].is_finite()) {
            return Vec::new();
        }
        let (cx, cy) = self.key(p);
        let (cx, cy) = (i64::from(cx), i64::from(cy));
        let [x0, y0, x1, y1] = self.extent.map(i64::from);
        let first = (x0 - cx).max(cx - x1).max(y0 - cy).max(cy - y1).max(0);
        let last = (cx - x0).abs().max((x1 - cx).abs()).max((cy - y0).abs()).max((cy - y1).abs());
        let budget = 2 * self.buckets.len() as i64 + 64;
        let mut visited = 0i64;
        let mut found: Vec<(u32, f64)> = Vec::new();
        let by_distance = |a: &(u32, f64), b: &(u32, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
        for ring in first..=last {
            visited += if ring == 0 { 1 } else { 8 * ring };
            if visited > budget {
                return self.nearest_by_scan(p, k, keep);
            }
            for key in ring_keys((cx, cy), ring, self.extent) {
                if let Some(ids) = self.buckets.get(&key) {
                    for &id in ids {
                        if keep(id) {
                            let q = self.where_[&id].0;
                            found.push((id, (q[0] - p[0]).hypot(q[1] - p[1])));
                        }
                    }
                }
            }
            if found.len() >= k {
                found.sort_by(by_distance);
                // Anything in ring r+1 or beyond is at least r × bucket away.
                if found[k - 1].1 <= ring as f64 * self.bucket {
                    break;
                }
            }
        }
        found.sort_by(by_distance);
        found.truncate(k);
        found
    }

    /// [`Self::nearest`] by looking at every point once.
    fn nearest_by_scan(&self, p: [f64; 2], k: usize, keep: impl Fn(u32) -> bool) -> Vec<(u32, f64)> {
        let mut found: Vec<(u32, f64)> = self
            .where_
            .iter()
            .filter(|&(&id, _)| keep(id))
            .map(|(&id, w)| (id, (w.0[0] - p[0]).hypot(w.0[1] - p[1])))
            .collect();
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(k);
        found
    }
}

/// Keys at Chebyshev distance `r` from `c` that lie inside `extent` (min x, min y, max x, max y).
fn ring_keys(c: (i64, i64), r: i64, extent: [i32; 4]) -> impl Iterator<Item = (i32, i32)> {
    let [x0, y0, x1, y1] = extent.map(i64::from);
    let sides = if r == 0 {
        vec![(c.0, c.1)]
    } else {
        let mut keys = Vec::with_capacity(8 * r as usize);
        for d in -r..=r {
            keys.push((c.0 + d, c.1 - r));
            keys.push((c.0 + d, c.1 + r));
        }
        for d in (-r + 1)..r {
            keys.push((c.0 - r, c.1 + d));
            keys.push((c.0 + r, c.1 + d));
        }
        keys
    };
    sides.into_iter().filter(move |&(x, y)| x >= x0 && x <= x1 && y >= y0 && y <= y1).map(|(x, y)| (x as i32, y as i32))
}

/// Grid-cell polygons: which cell is this point in?
#[derive(Debug)]
pub struct CellIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    polygons: Vec<MultiPolygon<f64>>,
}

impl CellIndex {
    pub fn new(polygons: Vec<MultiPolygon<f64>>) -> Self {
        let rects = polygons
            .iter()
            .enumerate()
            .filter_map(|(i, mp)| {
                let r = geo::BoundingRect::bounding_rect(mp)?;
                Some(GeomWithData::new(Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]), i))
            })
            .collect();
        Self { tree: RTree::bulk_load(rects), polygons }
    }

    /// Index of the polygon containing `p` (the lowest index if several do), if any.
    pub fn locate(&self, p: [f64; 2]) -> Option<usize> {
        let c = Coord { x: p[0], y: p[1] };
        self.tree
            .locate_all_at_point(&p)
            .map(|r| r.data)
            .filter(|&i| self.polygons[i].contains(&c) || geo::Intersects::intersects(&self.polygons[i], &c))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn static_points_answer_boxes() {
        let idx = PointIndex::new((0..100).map(|i| (i, [f64::from(i % 10) * 10.0, f64::from(i / 10) * 10.0])));
        let mut got: Vec<u32> = idx.locate_in_envelope([5.0, 5.0, 25.0, 15.0]).collect();
        got.sort_unstable();
        assert_eq!(got, vec![11, 12]);
        assert_eq!(idx.locate_in_envelope([0.0, 0.0, 90.0, 90.0]).count(), 100);
    }

    #[test]
    fn moving_points_match_brute_force_after_many_moves() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut idx = MovingIndex::new(50.0);
        let mut truth: std::collections::HashMap<u32, [f64; 2]> = std::collections::HashMap::new();
        for step in 0..20_000 {
            let id = rng.random_range(0..500u32);
            if step % 17 == 0 {
                assert_eq!(idx.remove(id), truth.remove(&id));
            } else {
                let p = [rng.random_range(-1000.0..1000.0), rng.random_range(-1000.0..1000.0)];
                idx.upsert(id, p);
                truth.insert(id, p);
            }
        }
        assert_eq!(idx.len(), truth.len());
        for _ in 0..50 {
            let q = [rng.random_range(-1200.0..1200.0), rng.random_range(-1200.0..1200.0)];
            let k = rng.random_range(1..8);
            let keep = |id: u32| !id.is_multiple_of(3);
            let mut brute: Vec<(u32, f64)> = truth
                .iter()
                .filter(|(id, _)| keep(**id))
                .map(|(&id, p)| (id, (p[0] - q[0]).hypot(p[1] - q[1])))
                .collect();
            brute.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            brute.truncate(k);
            assert_eq!(idx.nearest(q, k, keep), brute);
            let b = [q[0] - 300.0, q[1] - 200.0, q[0] + 300.0, q[1] + 200.0];
            let mut got = idx.locate_in_envelope(b);
            got.sort_unstable();
            let mut want: Vec<u32> = truth
                .iter()
                .filter(|(_, p)| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3])
                .map(|(&id, _)| id)
                .collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn far_away_points_get_the_right_answer_without_probing_empty_space() {
        let mut idx = MovingIndex::new(50.0);
        for i in 0..100u32 {
            idx.upsert(i, [f64::from(i % 10) * 40.0, f64::from(i / 10) * 40.0]);
        }
        // Far outside the city (the bucket keys saturate at the edge of i32): the answer is
        // still the truly nearest, found by one look at every point.
        for q in [[3e9, -7e8], [-1e300, 1e300], [1e12, 200.0], [5_000.0, 5_000.0]] {
            let got = idx.nearest(q, 3, |_| true);
            let mut brute: Vec<(u32, f64)> = (0..100u32)
                .map(|i| {
                    let p = idx.position(i).unwrap();
                    (i, (p[0] - q[0]).hypot(p[1] - q[1]))
                })
                .collect();
            brute.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            brute.truncate(3);
            assert_eq!(got, brute, "query {q:?}");
        }
        assert!(idx.nearest([f64::NAN, 0.0], 3, |_| true).is_empty());
        assert!(idx.nearest([f64::INFINITY, 0.0], 3, |_| true).is_empty());
        // None passing the filter: every point is looked at, none returned.
        assert!(idx.nearest([100.0, 100.0], 3, |_| false).is_empty());
    }

    #[test]
    fn cells_locate_points_exactly() {
        let square = |x: f64, y: f64, s: f64| {
            MultiPolygon::new(vec![geo::Polygon::new(
                vec![(x, y), (x + s, y), (x + s, y + s), (x, y + s), (x, y)].into(),
                vec![],
            )])
        };
        // An L-shaped cell's bounding box overlaps its neighbour's.
        let l = MultiPolygon::new(vec![geo::Polygon::new(
            vec![(0.0, 0.0), (20.0, 0.0), (20.0, 10.0), (10.0, 10.0), (10.0, 20.0), (0.0, 20.0), (0.0, 0.0)].into(),
            vec![],
        )]);
        let idx = CellIndex::new(vec![l, square(10.0, 10.0, 10.0)]);
        assert_eq!(idx.locate([5.0, 15.0]), Some(0));
        assert_eq!(idx.locate([15.0, 15.0]), Some(1));
        assert_eq!(idx.locate([15.0, 5.0]), Some(0));
        assert_eq!(idx.locate([25.0, 5.0]), None);
    }
}
