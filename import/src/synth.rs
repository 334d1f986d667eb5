//! A seeded synthetic city, written as a real `.osm.pbf`, for scale tests of the importer and the
//! display (the brief's 200,000 buildings). It goes through exactly the same import as real data.
//!
//! Layout: a square lattice of 100 m blocks separated by roads (every 5th line secondary, every
//! 10th primary, the rest residential); each block holds up to 8 buildings of random footprint
//! and height (`building:levels` mostly, some `height`, some untagged), and one in a hundred
//! buildings is a multipolygon with a courtyard.

use std::io::{BufWriter, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::pbf_write::{MemberType, PbfWriter};
use crate::progress::Progress;

const BLOCK_M: f64 = 100.0;
const PER_BLOCK: usize = 8;

/// Settings of a synthetic city.
#[derive(Debug, Clone)]
pub struct SynthCity {
    pub buildings: usize,
    pub seed: u64,
    /// Centre (lon, lat); default Shouguang, Shandong.
    pub centre: (f64, f64),
}

impl Default for SynthCity {
    fn default() -> Self {
        Self { buildings: 10_000, seed: 1, centre: (118.791, 36.8868) }
    }
}

/// Counts of what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthStats {
    pub buildings: usize,
    pub roads: usize,
    pub nodes: usize,
    pub blocks_per_side: usize,
}

/// Writes the city to `path`.
pub fn write_city(city: &SynthCity, path: &Path, progress: Progress) -> std::io::Result<SynthStats> {
    let mut rng = ChaCha8Rng::seed_from_u64(city.seed);
    let blocks = city.buildings.div_ceil(PER_BLOCK);
    let side = (blocks as f64).sqrt().ceil() as usize;
    let half = side as f64 * BLOCK_M / 2.0;
    let (lon0, lat0) = city.centre;
    let m_per_deg_lat = 111_320.0;
    let m_per_deg_lon = 111_320.0 * lat0.to_radians().cos();
    let to_geo = |x: f64, y: f64| (lon0 + (x - half) / m_per_deg_lon, lat0 + (y - half) / m_per_deg_lat);

    let mut w = PbfWriter::new();
    let mut next_node = 1i64;
    let mut next_way = 1i64;
    // Road lattice: intersection nodes shared by the crossing ways.
    let node_at = |i: usize, j: usize| 1 + (i * (side + 1) + j) as i64;
    for i in 0..=side {
        for j in 0..=side {
            let (lon, lat) = to_geo(i as f64 * BLOCK_M, j as f64 * BLOCK_M);
            w.node(node_at(i, j), lon, lat, &[]);
        }
    }
    next_node += ((side + 1) * (side + 1)) as i64;
    let class = |k: usize| {
        if k.is_multiple_of(10) {
            "primary"
        } else if k.is_multiple_of(5) {
            "secondary"
        } else {
            "residential"
        }
    };
    let mut roads = 0;
    for k in 0..=side {
        let ns: Vec<i64> = (0..=side).map(|j| node_at(k, j)).collect();
        w.way(next_way, &ns, &[("highway", class(k)), ("name", &format!("经{k}路"))]);
        let ew: Vec<i64> = (0..=side).map(|i| node_at(i, k)).collect();
        w.way(next_way + 1, &ew, &[("highway", class(k)), ("name", &format!("纬{k}路"))]);
        next_way += 2;
        roads += 2;
    }

    let bar = progress.count("synthesize buildings", city.buildings as u64);
    let mut next_rel = 1i64;
    let mut placed = 0;
    'blocks: for bi in 0..side {
        for bj in 0..side {
            // 2 rows × 4 columns of lots inside a 10 m setback.
            for lot in 0..PER_BLOCK {
                if placed == city.buildings {
                    break 'blocks;
                }
                let (col, row) = ((lot % 4) as f64, (lot / 4) as f64);
                let lot_w = (BLOCK_M - 20.0) / 4.0;
                let lot_h = (BLOCK_M - 20.0) / 2.0;
                let x0 = bi as f64 * BLOCK_M + 10.0 + col * lot_w;
                let y0 = bj as f64 * BLOCK_M + 10.0 + row * lot_h;
                let bw = rng.random_range(0.55..0.9) * lot_w;
                let bh = rng.random_range(0.5..0.9) * lot_h;
                let (x, y) = (x0 + (lot_w - bw) / 2.0, y0 + (lot_h - bh) / 2.0);
                let levels = (1.0 + rng.random::<f64>().powi(3) * 30.0).round() as u32;
                let levels_s = levels.to_string();
                let height_s = format!("{:.1}", f64::from(levels) * 3.2);
                let r: f64 = rng.random();
                let tags: Vec<(&str, &str)> = if r < 0.7 {
                    vec![("building", "apartments"), ("building:levels", &levels_s)]
                } else if r < 0.85 {
                    vec![("building", "yes"), ("height", &height_s)]
                } else {
                    vec![("building", "yes")]
                };
                let mut ring = |x: f64, y: f64, w_: f64, h_: f64, w: &mut PbfWriter| {
                    let ids: Vec<i64> = (0..4).map(|k| next_node + k).collect();
                    for (k, (dx, dy)) in [(0.0, 0.0), (w_, 0.0), (w_, h_), (0.0, h_)].into_iter().enumerate() {
                        let (lon, lat) = to_geo(x + dx, y + dy);
                        w.node(ids[k], lon, lat, &[]);
                    }
                    next_node += 4;
                    let mut refs = ids;
                    refs.push(refs[0]);
                    refs
                };
                if placed % 100 == 99 {
                    let outer = ring(x, y, bw, bh, &mut w);
                    let inner = ring(x + bw * 0.3, y + bh * 0.3, bw * 0.4, bh * 0.4, &mut w);
                    w.way(next_way, &outer, &[]);
                    w.way(next_way + 1, &inner, &[]);
                    let mut rel_tags = vec![("type", "multipolygon")];
                    rel_tags.extend(tags.iter().copied());
                    w.relation(
                        next_rel,
                        &[(MemberType::Way, next_way, "outer"), (MemberType::Way, next_way + 1, "inner")],
                        &rel_tags,
                    );
                    next_way += 2;
                    next_rel += 1;
                } else {
                    let refs = ring(x, y, bw, bh, &mut w);
                    w.way(next_way, &refs, &tags);
                    next_way += 1;
                }
                placed += 1;
                if placed % 10_000 == 0 {
                    bar.set_position(placed as u64);
                }
            }
        }
    }
    bar.set_position(placed as u64);
    bar.finish();
    let nodes = w.node_count();
    let write = progress.count("write .osm.pbf", 1);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    w.write(&mut out)?;
    out.flush()?;
    write.inc(1);
    write.finish();
    Ok(SynthStats { buildings: placed, roads, nodes, blocks_per_side: side })
}
