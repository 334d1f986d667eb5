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

use crate::progress::Progress;

/// A ring of WGS84 (lon, lat) points, closed (first == last).
pub type Ring = Vec<(f64, f64)>;

#[derive(Debug, thiserror::Error)]
pub enum OsmError {
    #[error("{file}: cannot open: {source}")]
    Open { file: PathBuf, source: std::io::Error },
    #[error("{file}: not a valid OSM PBF file ({reason}); a truncated or corrupt file is refused, never imported in part")]
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

/// Tags of a point node worth keeping as a candidate component.
pub fn is_component_candidate(tags: &[(&str, &str)]) -> bool {
    tags.iter().any(|&(k, v)| {
        matches!(
            (k, v),
            ("highway", "street_lamp" | "bus_stop" | "traffic_signals")
                | ("emergency", "fire_hydrant")
                | ("amenity", "waste_basket" | "bench" | "recycling" | "toilets" | "waste_disposal")
                | ("man_made", "surveillance" | "manhole" | "street_cabinet")
                | ("manhole", _)
                | ("power", "substation" | "transformer")
        )
    })
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Parses OSM length values: `12`, `12.5 m`, `12,5`, `40'` (feet).
pub fn parse_length(value: &str) -> Option<f64> {
    let v = value.trim().replace(',', ".");
    if let Some(feet) = v.strip_suffix('\'') {
        return feet.trim().parse::<f64>().ok().map(|f| f * 0.3048).filter(|h| h.is_finite() && *h >= 0.0);
    }
    let num: String = v.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-').collect();
    num.parse::<f64>().ok().filter(|h| h.is_finite() && *h >= 0.0)
}

/// Storey height used with `building:levels`.
pub const LEVEL_HEIGHT_M: f64 = 3.0;

/// Default number of storeys when a building has neither `height` nor `building:levels`:
/// 1 for garages, sheds, kiosks, roofs and the like; 2 for houses; 3 otherwise.
pub fn default_levels(kind: &str) -> f64 {
    match kind {
        "garage" | "garages" | "shed" | "kiosk" | "roof" | "carport" | "hut" | "cabin" | "toilets" | "service" => 1.0,
        "house" | "detached" | "semidetached_house" | "terrace" | "bungalow" | "farm" => 2.0,
        _ => 3.0,
    }
}

fn building_heights(tags: &[(String, String)]) -> (f64, f64, HeightSource) {
    let kind = tag(tags, "building").unwrap_or("yes");
    let min_height = tag(tags, "min_height")
        .and_then(parse_length)
        .or_else(|| tag(tags, "building:min_level").and_then(parse_length).map(|l| l * LEVEL_HEIGHT_M))
        .unwrap_or(0.0);
    let roof_levels = tag(tags, "roof:levels").and_then(parse_length).unwrap_or(0.0);
    let (height, source) = if let Some(h) = tag(tags, "height").and_then(parse_length).filter(|h| *h > 0.0) {
        (h, HeightSource::Height)
    } else if let Some(l) = tag(tags, "building:levels").and_then(parse_length).filter(|l| *l > 0.0) {
        ((l + roof_levels) * LEVEL_HEIGHT_M, HeightSource::Levels)
    } else {
        (default_levels(kind) * LEVEL_HEIGHT_M, HeightSource::Default)
    };
    let height = height.max(min_height + 1.0);
    (height, min_height, source)
}

fn is_water_area(tags: &[(String, String)]) -> bool {
    tag(tags, "natural") == Some("water")
        || tag(tags, "waterway") == Some("riverbank")
        || tag(tags, "water").is_some()
        || matches!(tag(tags, "landuse"), Some("reservoir" | "basin"))
        || tag(tags, "leisure") == Some("swimming_pool") && tag(tags, "indoor") != Some("yes")
}

fn water_line_width(tags: &[(String, String)]) -> Option<f64> {
    if tag(tags, "tunnel").is_some() || tag(tags, "location") == Some("underground") {
        return None;
    }
    let default = match tag(tags, "waterway")? {
        "river" => 20.0,
        "canal" => 10.0,
        "stream" => 3.0,
        _ => return None,
    };
    Some(tag(tags, "width").and_then(parse_length).unwrap_or(default))
}

fn owned_tags<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    it.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
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
                points.push(PointFeature { osm_id: id, lon: f64::from(lon) * 1e-7, lat: f64::from(lat) * 1e-7, tags: owned_tags(tags.into_iter()) });
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
                    extract.roads.push(Road { osm_id: *id, class, points: std::mem::take(&mut run), name: tag(tags, "name").map(str::to_owned) });
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
fn group_holes(outers: Vec<Ring>, inners: Vec<Ring>) -> Vec<Area> {
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
    fn lengths_parse_like_osm_writes_them() {
        assert_eq!(parse_length("12"), Some(12.0));
        assert_eq!(parse_length("12.5 m"), Some(12.5));
        assert_eq!(parse_length("7,5"), Some(7.5));
        assert!((parse_length("10'").unwrap() - 3.048).abs() < 1e-9);
        assert_eq!(parse_length("tall"), None);
    }

    #[test]
    fn heights_prefer_height_then_levels_then_default() {
        let t = |pairs: &[(&str, &str)]| owned_tags(pairs.iter().copied());
        assert_eq!(building_heights(&t(&[("building", "yes"), ("height", "21"), ("building:levels", "3")])).0, 21.0);
        let (h, _, src) = building_heights(&t(&[("building", "yes"), ("building:levels", "5")]));
        assert_eq!((h, src), (15.0, HeightSource::Levels));
        let (h, _, src) = building_heights(&t(&[("building", "garage")]));
        assert_eq!((h, src), (3.0, HeightSource::Default));
    }

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
