//! `gridwall-server import`: an `.osm.pbf` → a scene folder.
//!
//! Phases (each with progress): read the PBF, project, bake `city.glb`, grids, components, write
//! the manifest. Everything is written into a sibling staging folder and moved into place only
//! when every phase succeeded, so a failed import never leaves a partial scene passed off as whole.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gridwall_protocol::GridLevel;
use serde_json::json;

use crate::components::{self, Coder, Component, ComponentError};
use crate::glb::{CityModel, GlbError};
use crate::grids::{self, GridError, Occupancy};
use crate::mesh::{LocalArea, area_m2};
use crate::osm::{self, HeightSource, OsmError, Water};
use crate::progress::Progress;
use gridwall_scene::coords::{CoordError, SceneFrame, utm_crs_for};
use gridwall_scene::{Bounds, Counts, Files, GridInfo, RoadClass, SceneError, SceneManifest};

pub const OSM_ATTRIBUTION: &str = "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Osm(#[from] OsmError),
    #[error(transparent)]
    Coord(#[from] CoordError),
    #[error(transparent)]
    Glb(#[from] GlbError),
    #[error(transparent)]
    Grid(#[from] GridError),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}: the file holds no buildings, roads or water to build a scene from")]
    Empty(PathBuf),
    #[error("{0} exists and is not a gridwall scene (no scene.toml); refusing to overwrite it")]
    NotAScene(PathBuf),
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub input: PathBuf,
    pub out: PathBuf,
    /// Projected CRS; default: the UTM zone of the data's centre.
    pub crs: Option<String>,
    /// Display name (e.g. Chinese); default: the folder name.
    pub display_name: Option<String>,
    pub grids: Option<PathBuf>,
    pub components: Option<PathBuf>,
    pub synthesize_components: usize,
    pub seed: u64,
    /// 6-digit administrative code prefixing grid and component codes.
    pub county_code: String,
    pub tile_size: f64,
}

impl ImportOptions {
    pub fn new(input: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            out: out.into(),
            crs: None,
            display_name: None,
            grids: None,
            components: None,
            synthesize_components: 0,
            seed: 1,
            county_code: "370783".into(),
            tile_size: 250.0,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.to_owned(), source }
}

fn expand(b: &mut [f64; 4], x: f64, y: f64) {
    b[0] = b[0].min(x);
    b[1] = b[1].min(y);
    b[2] = b[2].max(x);
    b[3] = b[3].max(y);
}

const EMPTY_BOUNDS: [f64; 4] = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];

/// Runs the whole import; returns the manifest written.
pub fn import(opts: &ImportOptions, progress: Progress) -> Result<SceneManifest, ImportError> {
    let started = Instant::now();
    let out = &opts.out;
    if out.exists()
        && !out.join(gridwall_scene::MANIFEST).exists()
        && std::fs::read_dir(out).map_err(io_err(out))?.next().is_some()
    {
        return Err(ImportError::NotAScene(out.clone()));
    }
    let mut coder = Coder::new(&opts.county_code)?;

    let data = osm::read_pbf(&opts.input, &progress)?;
    if data.buildings.is_empty() && data.roads.is_empty() && data.water.is_empty() {
        return Err(ImportError::Empty(opts.input.clone()));
    }

    // Extent of what we keep, in WGS84.
    let mut geo_bounds = EMPTY_BOUNDS;
    for b in &data.buildings {
        b.area.outer.iter().for_each(|p| expand(&mut geo_bounds, p.0, p.1));
    }
    for r in &data.roads {
        r.points.iter().for_each(|p| expand(&mut geo_bounds, p.0, p.1));
    }
    let centre = (f64::midpoint(geo_bounds[0], geo_bounds[2]), f64::midpoint(geo_bounds[1], geo_bounds[3]));
    let crs = opts.crs.clone().unwrap_or_else(|| utm_crs_for(centre.0, centre.1));
    let frame = SceneFrame::centred_on(&crs, centre.0, centre.1)?;
    let project_ring = |ring: &[(f64, f64)]| -> Result<Vec<[f64; 2]>, CoordError> {
        ring.iter().map(|&(lon, lat)| frame.to_local(lon, lat).map(|(x, y)| [x, y])).collect()
    };
    let project_area = |a: &osm::Area| -> Result<LocalArea, CoordError> {
        Ok(LocalArea {
            outer: project_ring(&a.outer)?,
            holes: a.holes.iter().map(|h| project_ring(h)).collect::<Result<_, _>>()?,
        })
    };

    // Buildings and the city model.
    let mut model = CityModel::new(opts.tile_size);
    let mut counts = Counts { dropped_features: data.stats.dropped.len(), ..Counts::default() };
    let mut local_bounds = EMPTY_BOUNDS;
    let mut occupancy = Vec::with_capacity(data.buildings.len());
    let bar = progress.count("bake buildings", data.buildings.len() as u64);
    for (i, b) in data.buildings.iter().enumerate() {
        let area = project_area(&b.area)?;
        let footprint = area_m2(&area);
        if footprint < 1.0 || !model.add_building(&area, b.min_height, b.height) {
            counts.dropped_features += 1;
            continue;
        }
        counts.buildings += 1;
        match b.height_source {
            HeightSource::Height => counts.building_heights_from_height_tag += 1,
            HeightSource::Levels => counts.building_heights_from_levels += 1,
            HeightSource::Default => counts.building_heights_default += 1,
        }
        let (mut cx, mut cy) = (0.0, 0.0);
        for p in &area.outer {
            expand(&mut local_bounds, p[0], p[1]);
            cx += p[0];
            cy += p[1];
        }
        let n = area.outer.len() as f64;
        occupancy.push(Occupancy {
            x: cx / n,
            y: cy / n,
            households: footprint * (b.height - b.min_height) / grids::M3_PER_HOUSEHOLD,
        });
        if i % 1000 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.set_position(data.buildings.len() as u64);
    bar.finish();

    let bar = progress.count("bake roads and water", (data.roads.len() + data.water.len()) as u64);
    let mut road_lines: Vec<(RoadClass, Vec<[f64; 2]>)> = Vec::with_capacity(data.roads.len());
    let mut major_segments = Vec::new();
    let mut road_features = Vec::with_capacity(data.roads.len());
    for r in &data.roads {
        let pts = project_ring(&r.points)?;
        // Major roads draw above minor ones.
        let h = 0.05 + 0.02 * f64::from(8 - r.class as u8);
        if model.add_road(&pts, r.class.width(), h) {
            counts.roads += 1;
            for p in &pts {
                expand(&mut local_bounds, p[0], p[1]);
            }
            if r.class.is_major() {
                major_segments.extend(pts.windows(2).map(|w| (w[0], w[1])));
            }
            road_features.push(json!({
                "type": "Feature",
                "properties": {"osm_id": r.osm_id, "class": r.class.name(), "width_m": r.class.width(), "name": r.name},
                "geometry": {"type": "LineString", "coordinates": r.points.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>()},
            }));
            road_lines.push((r.class, pts));
        }
        bar.inc(1);
    }
    for w in &data.water {
        let ok = match w {
            Water::Area(a) => model.add_water_area(&project_area(a)?),
            Water::Line { points, width } => model.add_water_line(&project_ring(points)?, *width),
        };
        counts.water += usize::from(ok);
        bar.inc(1);
    }
    bar.finish();
    if local_bounds == EMPTY_BOUNDS {
        return Err(ImportError::Empty(opts.input.clone()));
    }
    // Round the local bounds outward to whole metres.
    let local_bounds =
        [local_bounds[0].floor(), local_bounds[1].floor(), local_bounds[2].ceil(), local_bounds[3].ceil()];
    let sw = frame.to_wgs84(local_bounds[0], local_bounds[1])?;
    let ne = frame.to_wgs84(local_bounds[2], local_bounds[3])?;
    let nw = frame.to_wgs84(local_bounds[0], local_bounds[3])?;
    let se = frame.to_wgs84(local_bounds[2], local_bounds[1])?;
    let wgs84_bounds = [sw.0.min(nw.0), sw.1.min(se.1), ne.0.max(se.0), ne.1.max(nw.1)];

    // Staging folder beside the target.
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("scene").to_owned();
    let staging = out.with_file_name(format!(".{name}.importing"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    let mut guard = Staging(staging.clone(), false);

    let origin_wgs84 = frame.to_wgs84(0.0, 0.0)?;
    let bake = progress.count("write city.glb", model.tile_count() as u64);
    let glb_stats = model.write_glb(
        &staging.join("city.glb"),
        &json!({
            "gridwall_scene": name, "crs": crs, "origin": [frame.origin().0, frame.origin().1],
            "axes": "+X east, +Y up, +Z south; metres from origin", "attribution": OSM_ATTRIBUTION,
        }),
    )?;
    bake.set_position(glb_stats.tiles as u64);
    bake.finish();
    counts.tiles = glb_stats.tiles;
    counts.triangles = glb_stats.triangles;

    // Grids.
    let grid_phase = progress.count("grids", 1);
    let (grids, method) = match &opts.grids {
        Some(path) => {
            let mut g = grids::load_user(path, &frame)?;
            grids::estimate_occupancy(&mut g, &occupancy);
            (g, "user-supplied boundaries, validated (closed rings, valid polygons, nested in parents)".to_owned())
        }
        None => (
            grids::generate(local_bounds, &occupancy, &major_segments, &opts.county_code),
            format!(
                "recursive partition snapped to major roads; households estimated as building volume / {} m³; cells ≤ {} households",
                grids::M3_PER_HOUSEHOLD,
                grids::CELL_MAX_HOUSEHOLDS
            ),
        ),
    };
    grids::write_geojson(&staging.join("grids.geojson"), &grids, &frame)?;
    grid_phase.inc(1);
    grid_phase.finish();
    counts.streets = grids.count(GridLevel::Street);
    counts.communities = grids.count(GridLevel::Community);
    counts.cells = grids.count(GridLevel::Cell);

    // Components.
    let mut comps: Vec<Component> = components::from_osm(&data.points, &frame);
    comps.retain(|c| {
        c.x >= local_bounds[0] && c.y >= local_bounds[1] && c.x <= local_bounds[2] && c.y <= local_bounds[3]
    });
    counts.components_osm = comps.len();
    if let Some(path) = &opts.components {
        let user = components::from_user_file(path, &frame, local_bounds)?;
        counts.components_user = user.len();
        comps.extend(user);
    }
    if opts.synthesize_components > 0 {
        let synth =
            components::synthesize(opts.synthesize_components, &road_lines, local_bounds, opts.seed, &frame, &progress);
        counts.components_synthetic = synth.len();
        comps.extend(synth);
    }
    let write = progress.count("write components.csv", comps.len() as u64);
    components::write_csv(&staging.join("components.csv"), &mut comps, &mut coder)?;
    write.set_position(comps.len() as u64);
    write.finish();
    counts.components = comps.len();

    let roads_path = staging.join("roads.geojson");
    std::fs::write(
        &roads_path,
        serde_json::to_vec(&json!({"type": "FeatureCollection", "features": road_features})).unwrap_or_default(),
    )
    .map_err(io_err(&roads_path))?;

    let manifest = SceneManifest {
        format: gridwall_scene::FORMAT,
        name: name.clone(),
        display_name: opts.display_name.clone().unwrap_or_else(|| name.clone()),
        crs: crs.clone(),
        origin: [frame.origin().0, frame.origin().1],
        origin_wgs84: [origin_wgs84.0, origin_wgs84.1],
        county_code: opts.county_code.clone(),
        tile_size_m: opts.tile_size,
        source: opts.input.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(),
        attribution: OSM_ATTRIBUTION.to_owned(),
        generator: format!("gridwall-server {}", env!("CARGO_PKG_VERSION")),
        bounds: Bounds { wgs84: wgs84_bounds, local: local_bounds },
        grids: GridInfo { source: grids.source.clone(), method },
        files: Files {
            city: "city.glb".into(),
            grids: "grids.geojson".into(),
            components: "components.csv".into(),
            roads: "roads.geojson".into(),
        },
        counts,
    };
    manifest.save(&staging)?;

    // Swap into place.
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io_err(out))?;
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::rename(&staging, out).map_err(io_err(out))?;
    guard.1 = true;

    let c = &manifest.counts;
    progress.note(&format!(
        "imported {} → {} in {:.1} s\n  CRS {crs}, origin {:?}, {:.0} × {:.0} m\n  {} buildings ({} height tag, {} levels, {} default), {} roads, {} water, {} tiles, {} triangles\n  grids ({}): {} streets, {} communities, {} cells\n  components: {} ({} OSM, {} user, {} synthetic)\n  dropped features: {}",
        opts.input.display(),
        out.display(),
        started.elapsed().as_secs_f64(),
        manifest.origin,
        local_bounds[2] - local_bounds[0],
        local_bounds[3] - local_bounds[1],
        c.buildings,
        c.building_heights_from_height_tag,
        c.building_heights_from_levels,
        c.building_heights_default,
        c.roads,
        c.water,
        c.tiles,
        c.triangles,
        manifest.grids.source,
        c.streets,
        c.communities,
        c.cells,
        c.components,
        c.components_osm,
        c.components_user,
        c.components_synthetic,
        c.dropped_features,
    ));
    Ok(manifest)
}

/// Removes the staging folder unless the import completed.
struct Staging(PathBuf, bool);

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
