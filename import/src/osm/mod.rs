//! Reading what a city scene needs out of any `.osm.pbf`: building footprints (ways and
//! multipolygon relations, holes kept), roads, water, and point features that are city components.
//!
//! Two passes over the file: the first collects the multipolygon relations we care about (they
//! sit at the end of a sorted PBF), the second keeps node coordinates, the interesting ways and
//! the member ways of those relations. Everything stays in WGS84 here; projecting is the
//! importer's job.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use osmpbf::{BlobDecode, BlobReader, Element, RelMemberType};

use gridwall_scene::RoadClass;

mod rings;
mod tags;

use rings::group_holes;
pub use rings::{assemble_rings, point_in_ring};
pub use tags::{LEVEL_HEIGHT_M, default_levels, is_component_candidate, parse_length};
use tags::{building_heights, is_water_area, owned_tags, tag, water_line_width};

use crate::progress::Progress;

/// A ring of WGS84 (lon, lat) points, closed (first == last).
pub type Ring = Vec<(f64, f64)>;

#[derive(Debug, thiserror::Error)]
pub enum OsmError {
    #[error("{file}: cannot open: {source}")]
    Open { file: PathBuf, source: std::io::Error },
    #[error(
        "{file}: not a valid OSM PBF file ({reason}); a truncated or corrupt file is refused, never imported in part"
    )]
    Corrupt { file: PathBuf, reason: String },
    #[error("{file}: not an OSM PBF file: it has no OSMHeader block")]
    NoHeader { file: PathBuf },
    #[error("{file}: the file requires the PBF feature {feature:?}, which gridwall does not support")]
    UnsupportedFeature { file: PathBuf, feature: String },
}

/// A polygon with optional holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    pub outer: Ring,
    pub holes: Vec<Ring>,
}

/// Where a building's height came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeightSource {
    /// The `height` tag.
    Height,
    /// `building:levels` × 3 m.
    Levels,
    /// The documented default for the building type.
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    /// `w123` or `r456`.
    pub osm_id: String,
    pub area: Area,
    pub height: f64,
    pub min_height: f64,
    pub height_source: HeightSource,
    pub kind: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Road {
    pub osm_id: i64,
    pub class: RoadClass,
    pub points: Vec<(f64, f64)>,
    pub name: Option<String>,
}

/// A water surface: an area, or a river/canal line drawn with a width.
#[derive(Debug, Clone, PartialEq)]
pub enum Water {
    Area(Area),
    Line { points: Vec<(f64, f64)>, width: f64 },
}

/// A tagged node that may be a city component; classification happens in `components`.
#[derive(Debug, Clone, PartialEq)]
pub struct PointFeature {
    pub osm_id: i64,
    pub lon: f64,
    pub lat: f64,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct OsmStats {
    pub nodes: u64,
    pub ways: u64,
    pub relations: u64,
    /// Way node references not present in the file (clipped extracts have some).
    pub missing_node_refs: u64,
    /// Features dropped because their geometry could not be assembled; with reasons.
    pub dropped: Vec<String>,
}

#[derive(Debug, Default)]
pub struct OsmExtract {
    pub buildings: Vec<Building>,
    pub roads: Vec<Road>,
    pub water: Vec<Water>,
    pub points: Vec<PointFeature>,
    pub stats: OsmStats,
}

/// A reader that counts the bytes it has handed out (for progress bars).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Walks every data block of the file, checking that it is a PBF with a header first.
fn for_each_block(
    path: &Path,
    progress: Progress,
    phase: &str,
    mut f: impl FnMut(&osmpbf::PrimitiveBlock),
) -> Result<(), OsmError> {
    let file = File::open(path).map_err(|source| OsmError::Open { file: path.to_owned(), source })?;
    let len = file.metadata().map_or(0, |m| m.len());
    let read = Arc::new(AtomicU64::new(0));
    let reader = BlobReader::new(BufReader::with_capacity(1 << 20, Counting { inner: file, read: read.clone() }));
    let bar = progress.bytes(phase, len);
    let corrupt = |e: osmpbf::Error| OsmError::Corrupt { file: path.to_owned(), reason: e.to_string() };
    let mut seen_header = false;
    for blob in reader {
        let blob = blob.map_err(corrupt)?;
        match blob.decode().map_err(corrupt)? {
            BlobDecode::OsmHeader(header) => {
                for feature in header.required_features() {
                    if !matches!(feature.as_str(), "OsmSchema-V0.6" | "DenseNodes") {
                        return Err(OsmError::UnsupportedFeature { file: path.to_owned(), feature: feature.clone() });
                    }
                }
                seen_header = true;
            }
            BlobDecode::OsmData(block) => {
                if !seen_header {
                    return Err(OsmError::NoHeader { file: path.to_owned() });
                }
                f(&block);
            }
            BlobDecode::Unknown(_) => {}
        }
        bar.set_position(read.load(Ordering::Relaxed));
    }
    bar.finish();
    if !seen_header {
        return Err(OsmError::NoHeader { file: path.to_owned() });
    }
    // Everything was consumed and decoded: a file cut inside a blob fails above with an
    // unexpected end of file; trailing garbage fails as a bad blob header.
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AreaKind {
    Building,
    Water,
}

struct RelationRec {
    id: i64,
    kind: AreaKind,
    tags: Vec<(String, String)>,
    members: Vec<(i64, bool)>, // (way id, is inner)
}

/// Reads a PBF file into the features a scene needs.
pub fn read_pbf(path: &Path, progress: &Progress) -> Result<OsmExtract, OsmError> {
    let mut stats = OsmStats::default();

    // Pass 1: multipolygon relations for buildings and water.
    let mut relations = Vec::new();
    for_each_block(path, *progress, "scan relations", |block| {
        for group in block.groups() {
            for rel in group.relations() {
                let tags = owned_tags(rel.tags());
                if tag(&tags, "type") != Some("multipolygon") {
                    continue;
                }
                let kind = if tag(&tags, "building").is_some() {
                    AreaKind::Building
                } else if is_water_area(&tags) {
                    AreaKind::Water
                } else {
                    continue;
                };
                let members = rel
                    .members()
                    .filter(|m| m.member_type == RelMemberType::Way)
                    .map(|m| (m.member_id, m.role().is_ok_and(|r| r == "inner")))
                    .collect();
                relations.push(RelationRec { id: rel.id(), kind, tags, members });
            }
        }
    })?;
    let member_ways: HashSet<i64> = relations.iter().flat_map(|r| r.members.iter().map(|m| m.0)).collect();

    // Pass 2: node coordinates, interesting ways, relation member ways, point features.
    let mut nodes: Vec<(i64, i32, i32)> = Vec::new();
    let mut points = Vec::new();
    let mut ways: Vec<(i64, Vec<(String, String)>, Vec<i64>)> = Vec::new();
    let mut member_refs: HashMap<i64, Vec<i64>> = HashMap::new();
    let (mut ways_seen, mut relations_seen) = (0u64, 0u64);
    for_each_block(path, *progress, "read nodes and ways", |block| {
        // Dense and plain nodes carry the same fields; both go through here.
        let mut add_node = |id: i64, lat: i32, lon: i32, tags: Vec<(&str, &str)>| {
            stats.nodes += 1;
            nodes.push((id, lat, lon));
            if !tags.is_empty() && is_component_candidate(&tags) {
                points.push(PointFeature {
                    osm_id: id,
                    lon: f64::from(lon) * 1e-7,
                    lat: f64::from(lat) * 1e-7,
                    tags: owned_tags(tags.into_iter()),
                });
            }
        };
        block.for_each_element(|element| match element {
            Element::DenseNode(n) => add_node(n.id(), n.decimicro_lat(), n.decimicro_lon(), n.tags().collect()),
            Element::Node(n) => add_node(n.id(), n.decimicro_lat(), n.decimicro_lon(), n.tags().collect()),
            Element::Way(w) => {
                ways_seen += 1;
                let tags = owned_tags(w.tags());
                let wanted = tag(&tags, "building").is_some_and(|b| b != "no")
                    || tag(&tags, "highway").is_some_and(|h| RoadClass::from_highway(h).is_some())
                    || is_water_area(&tags)
                    || water_line_width(&tags).is_some();
                if wanted {
                    ways.push((w.id(), tags, w.refs().collect()));
                }
                if member_ways.contains(&w.id()) {
                    member_refs.insert(w.id(), w.refs().collect());
                }
            }
            Element::Relation(_) => relations_seen += 1,
        });
    })?;
    stats.ways += ways_seen;
    stats.relations += relations_seen;

    if !nodes.is_sorted_by_key(|n| n.0) {
        nodes.sort_unstable_by_key(|n| n.0);
    }
    let lookup = |id: i64| -> Option<(f64, f64)> {
        nodes.binary_search_by_key(&id, |n| n.0).ok().map(|i| {
            let (_, lat, lon) = nodes[i];
            (f64::from(lon) * 1e-7, f64::from(lat) * 1e-7)
        })
    };
    let resolve = |refs: &[i64], stats: &mut OsmStats| -> Option<Vec<(f64, f64)>> {
        let mut pts = Vec::with_capacity(refs.len());
        let mut missing = 0;
        for &r in refs {
            match lookup(r) {
                Some(p) => pts.push(p),
                None => missing += 1,
            }
        }
        stats.missing_node_refs += missing;
        (missing == 0).then_some(pts)
    };

    let mut extract = OsmExtract { points, ..OsmExtract::default() };
    let bar = progress.count("assemble geometry", (ways.len() + relations.len()) as u64);
    for (id, tags, refs) in &ways {
        bar.inc(1);
        // Roads clipped by the extract boundary keep the runs of nodes that are present.
        if let Some(class) = tag(tags, "highway").and_then(RoadClass::from_highway)
            && tag(tags, "building").is_none()
        {
            if tag(tags, "area") == Some("yes") {
                continue;
            }
            let mut run: Vec<(f64, f64)> = Vec::new();
            for &r in refs.iter().chain(std::iter::once(&i64::MIN)) {
                if let Some(p) = (r != i64::MIN).then(|| lookup(r)).flatten() {
                    run.push(p);
                    continue;
                }
                if r != i64::MIN {
                    stats.missing_node_refs += 1;
                }
                if run.len() >= 2 {
                    extract.roads.push(Road {
                        osm_id: *id,
                        class,
                        points: std::mem::take(&mut run),
                        name: tag(tags, "name").map(str::to_owned),
                    });
                }
                run.clear();
            }
            continue;
        }
        let Some(pts) = resolve(refs, &mut stats) else {
            stats.dropped.push(format!("way {id}: references nodes missing from the extract"));
            continue;
        };
        let closed = pts.len() >= 4 && pts.first() == pts.last();
        if tag(tags, "building").is_some_and(|b| b != "no") {
            if closed {
                let (height, min_height, height_source) = building_heights(tags);
                extract.buildings.push(Building {
                    osm_id: format!("w{id}"),
                    area: Area { outer: pts, holes: Vec::new() },
                    height,
                    min_height,
                    height_source,
                    kind: tag(tags, "building").unwrap_or("yes").to_owned(),
                    name: tag(tags, "name").map(str::to_owned),
                });
            } else {
                stats.dropped.push(format!("way {id}: building outline is not closed"));
            }
        } else if is_water_area(tags) {
            if closed {
                extract.water.push(Water::Area(Area { outer: pts, holes: Vec::new() }));
            }
        } else if let Some(width) = water_line_width(tags) {
            extract.water.push(Water::Line { points: pts, width });
        }
    }

    for rel in &relations {
        bar.inc(1);
        let mut outer_parts = Vec::new();
        let mut inner_parts = Vec::new();
        let mut incomplete = false;
        for &(way_id, inner) in &rel.members {
            match member_refs.get(&way_id).and_then(|refs| resolve(refs, &mut stats)) {
                Some(pts) => (if inner { &mut inner_parts } else { &mut outer_parts }).push(pts),
                None => incomplete = true,
            }
        }
        if incomplete {
            stats.dropped.push(format!("relation {}: member ways missing from the extract", rel.id));
            continue;
        }
        let (Some(outers), Some(inners)) = (assemble_rings(outer_parts), assemble_rings(inner_parts)) else {
            stats.dropped.push(format!("relation {}: member ways do not form closed rings", rel.id));
            continue;
        };
        for area in group_holes(outers, inners) {
            match rel.kind {
                AreaKind::Building => {
                    let (height, min_height, height_source) = building_heights(&rel.tags);
                    extract.buildings.push(Building {
                        osm_id: format!("r{}", rel.id),
                        area,
                        height,
                        min_height,
                        height_source,
                        kind: tag(&rel.tags, "building").unwrap_or("yes").to_owned(),
                        name: tag(&rel.tags, "name").map(str::to_owned),
                    });
                }
                AreaKind::Water => extract.water.push(Water::Area(area)),
            }
        }
    }
    bar.finish();
    extract.stats = stats;
    Ok(extract)
}
