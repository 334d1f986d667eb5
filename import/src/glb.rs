//! Baking the city into a binary glTF (`city.glb`): one node per square tile, so a client can cull
//! and stream by tile. Each tile node carries a mesh with up to three primitives, one per material
//! (`building`, `road`, `water`), its vertices relative to the tile centre (small floats keep
//! precision far from the origin). The node's translation is the tile centre in glTF's frame
//! (+X east, +Y up, +Z south); its extras say which tile it is.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use gltf_json as json;
use json::validation::Checked::Valid;
use json::validation::USize64;

use crate::mesh::{LocalArea, MeshData};

#[derive(Debug, thiserror::Error)]
pub enum GlbError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the city is too large for one .glb ({0} bytes > 4 GiB); use a larger region split")]
    TooLarge(usize),
    #[error("glTF serialisation failed: {0}")]
    Json(String),
}

/// The three surface kinds of a tile; the index is the material index in the .glb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Surface {
    Building = 0,
    Road = 1,
    Water = 2,
}

/// Material name, base colour and emissive colour of each surface: the dark "big screen"
/// theme, with roads glowing faintly cyan so the street network reads from across a room.
const SURFACES: [(Surface, &str, [f32; 4], [f32; 3]); 3] = [
    (Surface::Building, "building", [0.09, 0.15, 0.30, 1.0], [0.0, 0.0, 0.0]),
    (Surface::Road, "road", [0.05, 0.20, 0.30, 1.0], [0.02, 0.16, 0.24]),
    (Surface::Water, "water", [0.01, 0.04, 0.10, 1.0], [0.0, 0.01, 0.03]),
];

#[derive(Debug, Default)]
struct Tile {
    meshes: [MeshData; 3],
    buildings: u32,
}

/// Counts of what was baked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlbStats {
    pub tiles: usize,
    pub triangles: usize,
    pub vertices: usize,
    pub bytes: usize,
}

/// The city, tiled, ready to bake.
#[derive(Debug)]
pub struct CityModel {
    tile_size: f64,
    tiles: BTreeMap<(i32, i32), Tile>,
}

impl CityModel {
    pub fn new(tile_size: f64) -> Self {
        Self { tile_size, tiles: BTreeMap::new() }
    }

    pub fn tile_size(&self) -> f64 {
        self.tile_size
    }

    fn key(&self, p: [f64; 2]) -> (i32, i32) {
        ((p[0] / self.tile_size).floor() as i32, (p[1] / self.tile_size).floor() as i32)
    }

    fn centre(&self, key: (i32, i32)) -> [f64; 2] {
        [(f64::from(key.0) + 0.5) * self.tile_size, (f64::from(key.1) + 0.5) * self.tile_size]
    }

    fn tile_for(&mut self, anchor: [f64; 2]) -> ([f64; 2], &mut Tile) {
        let key = self.key(anchor);
        let centre = self.centre(key);
        (centre, self.tiles.entry(key).or_default())
    }

    /// Adds an extruded building; false if its footprint cannot be triangulated.
    pub fn add_building(&mut self, area: &LocalArea, bottom: f64, top: f64) -> bool {
        let (centre, tile) = self.tile_for(bbox_centre(&area.outer));
        let ok = tile.meshes[Surface::Building as usize].add_extrusion(area, bottom, top, centre);
        tile.buildings += u32::from(ok);
        ok
    }

    /// Adds a road ribbon at a small height so major roads draw over minor ones. Long lines are
    /// cut into one piece per tile, so a tile's bounds stay tight.
    pub fn add_road(&mut self, points: &[[f64; 2]], width: f64, h: f64) -> bool {
        self.add_line(Surface::Road, points, width, h)
    }

    fn add_line(&mut self, surface: Surface, points: &[[f64; 2]], width: f64, h: f64) -> bool {
        let mut any = false;
        for piece in self.split_by_tile(points) {
            let (centre, tile) = self.tile_for(piece[piece.len() / 2]);
            any |= tile.meshes[surface as usize].add_ribbon(&piece, width, h, centre);
        }
        any
    }

    /// Cuts a polyline into runs whose segments' midpoints fall in the same tile (segments longer
    /// than half a tile are subdivided first). Consecutive runs share their joining point.
    fn split_by_tile(&self, points: &[[f64; 2]]) -> Vec<Vec<[f64; 2]>> {
        let step = self.tile_size / 2.0;
        let mut dense: Vec<[f64; 2]> = Vec::with_capacity(points.len());
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let n = ((b[0] - a[0]).hypot(b[1] - a[1]) / step).ceil().max(1.0) as usize;
            for k in 0..n {
                let t = k as f64 / n as f64;
                dense.push([a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]);
            }
        }
        if let Some(&last) = points.last() {
            dense.push(last);
        }
        let mut pieces: Vec<Vec<[f64; 2]>> = Vec::new();
        let mut current_key = None;
        for w in dense.windows(2) {
            let key = self.key([f64::midpoint(w[0][0], w[1][0]), f64::midpoint(w[0][1], w[1][1])]);
            if current_key != Some(key) {
                pieces.push(vec![w[0]]);
                current_key = Some(key);
            }
            if let Some(p) = pieces.last_mut() {
                p.push(w[1]);
            }
        }
        pieces
    }

    pub fn add_water_area(&mut self, area: &LocalArea) -> bool {
        let (centre, tile) = self.tile_for(bbox_centre(&area.outer));
        tile.meshes[Surface::Water as usize].add_flat(area, 0.02, centre)
    }

    pub fn add_water_line(&mut self, points: &[[f64; 2]], width: f64) -> bool {
        self.add_line(Surface::Water, points, width, 0.02)
    }

    pub fn tile_count(&self) -> usize {
        self.tiles.len()
    }

    /// Writes the .glb. `scene_extras` lands in the glTF scene's extras (CRS, origin, …).
    pub fn write_glb(&self, path: &Path, scene_extras: &serde_json::Value) -> Result<GlbStats, GlbError> {
        let mut root = json::Root {
            asset: json::Asset { generator: Some("gridwall-server import".into()), ..Default::default() },
            ..Default::default()
        };
        let mut bin: Vec<u8> = Vec::new();
        let buffer =
            root.push(json::Buffer { byte_length: USize64(0), extensions: None, extras: None, name: None, uri: None });
        // Only the materials some tile uses (a city without water gets no water material).
        let used: Vec<bool> =
            SURFACES.iter().map(|(s, ..)| self.tiles.values().any(|t| !t.meshes[*s as usize].is_empty())).collect();
        let materials: Vec<Option<json::Index<json::Material>>> = SURFACES
            .iter()
            .zip(&used)
            .map(|((_, name, color, emissive), &used)| {
                used.then(|| {
                    root.push(json::Material {
                        name: Some((*name).to_owned()),
                        emissive_factor: json::material::EmissiveFactor(*emissive),
                        pbr_metallic_roughness: json::material::PbrMetallicRoughness {
                            base_color_factor: json::material::PbrBaseColorFactor(*color),
                            metallic_factor: json::material::StrengthFactor(0.0),
                            roughness_factor: json::material::StrengthFactor(0.9),
                            ..Default::default()
                        },
                        ..Default::default()
                    })
                })
            })
            .collect();

        let mut stats = GlbStats::default();
        let mut nodes = Vec::new();
        for (&key, tile) in &self.tiles {
            let mut primitives = Vec::new();
            for (surface, _, _, _) in SURFACES {
                let mesh = &tile.meshes[surface as usize];
                if mesh.is_empty() {
                    continue;
                }
                stats.triangles += mesh.indices.len() / 3;
                stats.vertices += mesh.positions.len();
                let (min, max) = mesh.bounds();
                let pos = push_accessor(
                    &mut root,
                    &mut bin,
                    buffer,
                    bytes_of_vec3(&mesh.positions),
                    mesh.positions.len(),
                    json::accessor::Type::Vec3,
                    json::accessor::ComponentType::F32,
                    Some((min.to_vec(), max.to_vec())),
                    json::buffer::Target::ArrayBuffer,
                );
                let nrm = push_accessor(
                    &mut root,
                    &mut bin,
                    buffer,
                    bytes_of_vec3(&mesh.normals),
                    mesh.normals.len(),
                    json::accessor::Type::Vec3,
                    json::accessor::ComponentType::F32,
                    None,
                    json::buffer::Target::ArrayBuffer,
                );
                let idx_bytes: Vec<u8> = mesh.indices.iter().flat_map(|i| i.to_le_bytes()).collect();
                let idx = push_accessor(
                    &mut root,
                    &mut bin,
                    buffer,
                    idx_bytes,
                    mesh.indices.len(),
                    json::accessor::Type::Scalar,
                    json::accessor::ComponentType::U32,
                    None,
                    json::buffer::Target::ElementArrayBuffer,
                );
                let mut attributes = BTreeMap::new();
                attributes.insert(Valid(json::mesh::Semantic::Positions), pos);
                attributes.insert(Valid(json::mesh::Semantic::Normals), nrm);
                primitives.push(json::mesh::Primitive {
                    attributes,
                    extensions: None,
                    extras: None,
                    indices: Some(idx),
                    material: materials[surface as usize],
                    mode: Valid(json::mesh::Mode::Triangles),
                    targets: None,
                });
            }
            if primitives.is_empty() {
                continue;
            }
            let name = format!("tile_{}_{}", key.0, key.1);
            let mesh = root.push(json::Mesh {
                extensions: None,
                extras: None,
                name: Some(name.clone()),
                primitives,
                weights: None,
            });
            let centre = self.centre(key);
            let extras = serde_json::json!({
                "tile": [key.0, key.1],
                "tile_size_m": self.tile_size,
                "centre_local_m": centre,
                "buildings": tile.buildings,
            });
            nodes.push(root.push(json::Node {
                mesh: Some(mesh),
                name: Some(name),
                translation: Some([centre[0] as f32, 0.0, -centre[1] as f32]),
                extras: Some(raw(&extras)?),
                ..Default::default()
            }));
            stats.tiles += 1;
        }
        root.buffers[buffer.value()].byte_length = USize64(bin.len() as u64);
        let scene = root.push(json::Scene {
            extensions: None,
            extras: Some(raw(scene_extras)?),
            name: Some("city".into()),
            nodes,
        });
        root.scene = Some(scene);

        let json_string = json::serialize::to_string(&root).map_err(|e| GlbError::Json(e.to_string()))?;
        let total = json_string.len().div_ceil(4) * 4 + bin.len() + 28;
        let length = u32::try_from(total).map_err(|_| GlbError::TooLarge(total))?;
        let glb = gltf::binary::Glb {
            header: gltf::binary::Header { magic: *b"glTF", version: 2, length },
            json: Cow::Owned(json_string.into_bytes()),
            bin: if bin.is_empty() { None } else { Some(Cow::Owned(bin)) },
        };
        let io = |source| GlbError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        glb.to_writer(&mut w).map_err(|e| GlbError::Json(e.to_string()))?;
        w.flush().map_err(io)?;
        stats.bytes = usize::try_from(std::fs::metadata(path).map_err(io)?.len()).unwrap_or(usize::MAX);
        Ok(stats)
    }
}

fn raw(value: &serde_json::Value) -> Result<Box<serde_json::value::RawValue>, GlbError> {
    serde_json::value::to_raw_value(value).map_err(|e| GlbError::Json(e.to_string()))
}

fn bbox_centre(ring: &[[f64; 2]]) -> [f64; 2] {
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in ring {
        minx = minx.min(p[0]);
        miny = miny.min(p[1]);
        maxx = maxx.max(p[0]);
        maxy = maxy.max(p[1]);
    }
    [f64::midpoint(minx, maxx), f64::midpoint(miny, maxy)]
}

fn bytes_of_vec3(v: &[[f32; 3]]) -> Vec<u8> {
    v.iter().flat_map(|p| p.iter().flat_map(|c| c.to_le_bytes())).collect()
}

#[allow(clippy::too_many_arguments)]
fn push_accessor(
    root: &mut json::Root,
    bin: &mut Vec<u8>,
    buffer: json::Index<json::Buffer>,
    bytes: Vec<u8>,
    count: usize,
    type_: json::accessor::Type,
    component: json::accessor::ComponentType,
    min_max: Option<(Vec<f32>, Vec<f32>)>,
    target: json::buffer::Target,
) -> json::Index<json::Accessor> {
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let offset = bin.len();
    let len = bytes.len();
    bin.extend_from_slice(&bytes);
    let view = root.push(json::buffer::View {
        buffer,
        byte_length: USize64(len as u64),
        byte_offset: Some(USize64(offset as u64)),
        byte_stride: None,
        extensions: None,
        extras: None,
        name: None,
        target: Some(Valid(target)),
    });
    let (min, max) = match min_max {
        Some((min, max)) => (Some(json::Value::from(min)), Some(json::Value::from(max))),
        None => (None, None),
    };
    root.push(json::Accessor {
        buffer_view: Some(view),
        byte_offset: None,
        count: USize64(count as u64),
        component_type: Valid(json::accessor::GenericComponentType(component)),
        extensions: None,
        extras: None,
        type_: Valid(type_),
        min,
        max,
        name: None,
        normalized: false,
        sparse: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_per_tile_without_gaps() {
        let m = CityModel::new(100.0);
        let pieces = m.split_by_tile(&[[10.0, 10.0], [390.0, 10.0]]);
        assert_eq!(pieces.len(), 4);
        for w in pieces.windows(2) {
            assert_eq!(w[0].last(), w[1].first());
        }
        assert_eq!(pieces[0][0], [10.0, 10.0]);
        assert_eq!(*pieces[3].last().unwrap(), [390.0, 10.0]);
    }
}
