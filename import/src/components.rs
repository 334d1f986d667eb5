//! City components (城市部件): categories, GB/T 30428-style 16-digit codes, and the three ways a
//! scene gets them: tagged OSM nodes, a user's CSV/GeoJSON file, and a seeded synthesizer that
//! places realistic components along the road network for scale tests.
//!
//! Code layout (GB/T 30428.2 "管理部件" scheme): 6-digit county code + 2-digit major class +
//! 2-digit minor class + 6-digit serial, e.g. `3707830101000001` = county 370783, 公用设施 (01) /
//! 上水井盖 (01), serial 1. Major classes follow the standard (01 公用设施, 02 道路交通,
//! 03 市容环境, 04 园林绿化); the minor numbers are gridwall's table below, modelled on it.

use std::path::Path;

use gridwall_protocol::{ComponentCategory, ComponentState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::osm::PointFeature;
use gridwall_scene::RoadClass;
use gridwall_scene::coords::{InputCrs, SceneFrame};

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("{file}: {item}: {reason}")]
    Item { file: String, item: String, reason: String },
    #[error("more than 999999 components of class {0:04} in one county: the 6-digit serial is exhausted")]
    SerialExhausted(u16),
    #[error("county code {0:?} must be exactly 6 digits")]
    CountyCode(String),
}

/// One component as the importer writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub code: String,
    pub category: ComponentCategory,
    /// Major × 100 + minor class.
    pub class: u16,
    pub x: f64,
    pub y: f64,
    pub lon: f64,
    pub lat: f64,
    pub state: ComponentState,
    /// `osm:n123`, `user:<line>` or `synthetic`.
    pub source: String,
}

/// Major/minor class of a category (manholes by their `manhole=*` type where known).
pub fn class_code(category: ComponentCategory, manhole_kind: Option<&str>) -> u16 {
    use ComponentCategory as C;
    match category {
        C::Manhole => match manhole_kind {
            Some("sewer" | "sewerage") => 102,
            Some("drain" | "storm" | "stormwater") => 103,
            Some("power" | "electricity") => 105,
            Some("telecom" | "telecommunication") => 107,
            Some("heating" | "district_heating") => 110,
            Some("gas") => 111,
            _ => 101,
        },
        C::FireHydrant => 116,
        C::ElectricalBox => 117,
        C::StreetLight => 120,
        C::Camera => 130,
        C::BusStop => 203,
        C::TrafficSignal => 207,
        C::PublicToilet => 301,
        C::TrashBin => 304,
        C::RecyclingBin => 310,
        C::Bench => 404,
    }
}

/// Classifies an OSM point; `None` if it is no component.
pub fn classify_osm(tags: &[(String, String)]) -> Option<(ComponentCategory, u16)> {
    use ComponentCategory as C;
    let get = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let category = match () {
        () if get("highway") == Some("street_lamp") => C::StreetLight,
        () if get("emergency") == Some("fire_hydrant") => C::FireHydrant,
        () if get("highway") == Some("traffic_signals") => C::TrafficSignal,
        () if get("highway") == Some("bus_stop") => C::BusStop,
        () if get("man_made") == Some("surveillance") => C::Camera,
        () if get("man_made") == Some("manhole") || get("manhole").is_some() => C::Manhole,
        () if get("man_made") == Some("street_cabinet")
            || matches!(get("power"), Some("substation" | "transformer")) =>
        {
            C::ElectricalBox
        }
        () if matches!(get("amenity"), Some("waste_basket" | "waste_disposal")) => C::TrashBin,
        () if get("amenity") == Some("recycling") => C::RecyclingBin,
        () if get("amenity") == Some("toilets") => C::PublicToilet,
        () if get("amenity") == Some("bench") => C::Bench,
        () => return None,
    };
    Some((category, class_code(category, get("manhole"))))
}

/// Hands out 16-digit codes in order, one serial sequence per class.
#[derive(Debug)]
pub struct Coder {
    county: String,
    next: std::collections::HashMap<u16, u32>,
}

impl Coder {
    pub fn new(county: &str) -> Result<Self, ComponentError> {
        if county.len() != 6 || !county.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ComponentError::CountyCode(county.to_owned()));
        }
        Ok(Self { county: county.to_owned(), next: std::collections::HashMap::new() })
    }

    pub fn code(&mut self, class: u16) -> Result<String, ComponentError> {
        let serial = self.next.entry(class).or_insert(0);
        *serial += 1;
        if *serial > 999_999 {
            return Err(ComponentError::SerialExhausted(class));
        }
        Ok(format!("{}{:04}{:06}", self.county, class, serial))
    }
}

/// Builds a component in local metres from WGS84.
fn located(
    frame: &SceneFrame,
    category: ComponentCategory,
    class: u16,
    lon: f64,
    lat: f64,
    state: ComponentState,
    source: String,
) -> Option<Component> {
    let (x, y) = frame.to_local(lon, lat).ok()?;
    Some(Component { code: String::new(), category, class, x, y, lon, lat, state, source })
}

/// Components from tagged OSM nodes, in OSM id order.
pub fn from_osm(points: &[PointFeature], frame: &SceneFrame) -> Vec<Component> {
    let mut pts: Vec<&PointFeature> = points.iter().collect();
    pts.sort_by_key(|p| p.osm_id);
    pts.into_iter()
        .filter_map(|p| {
            let (category, class) = classify_osm(&p.tags)?;
            located(frame, category, class, p.lon, p.lat, ComponentState::Intact, format!("osm:n{}", p.osm_id))
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct CsvRow {
    category: String,
    lon: f64,
    lat: f64,
    #[serde(default)]
    crs: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

fn parse_category(s: &str) -> Result<(ComponentCategory, u16), String> {
    if let Ok(cat) = s.parse::<ComponentCategory>() {
        return Ok((cat, class_code(cat, None)));
    }
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        let class: u16 = s.parse().map_err(|_| format!("bad class code {s:?}"))?;
        let cat = ComponentCategory::ALL
            .iter()
            .copied()
            .find(|&c| {
                class_code(c, None) == class || (c == ComponentCategory::Manhole && (101..=115).contains(&class))
            })
            .ok_or_else(|| format!("class code {s} is not in gridwall's component table"))?;
        return Ok((cat, class));
    }
    Err(format!(
        "unknown category {s:?} (expected one of: {})",
        ComponentCategory::ALL.map(ComponentCategory::key).join(", ")
    ))
}

/// Reads a user's components file: CSV with columns `category,lon,lat[,crs][,state]`, or `GeoJSON`
/// Point features with `category` (and optional `state`, `crs`) properties. `category` is a
/// gridwall key (`manhole`, `street_light`, …) or a 4-digit class code (`0102`). Any bad row
/// refuses the whole file, naming the row and the reason.
pub fn from_user_file(path: &Path, frame: &SceneFrame, bounds: [f64; 4]) -> Result<Vec<Component>, ComponentError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ComponentError::File { file: file.clone(), reason: e.to_string() })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut rows: Vec<(String, String, f64, f64, Option<String>, Option<String>)> = Vec::new();
    if ext == "csv" {
        let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        for (i, row) in rdr.deserialize::<CsvRow>().enumerate() {
            let item = format!("line {}", i + 2);
            let row = row.map_err(|e| ComponentError::Item {
                file: file.clone(),
                item: item.clone(),
                reason: e.to_string(),
            })?;
            rows.push((item, row.category, row.lon, row.lat, row.crs, row.state));
        }
    } else if ext == "geojson" || ext == "json" {
        let gj: geojson::GeoJson = text
            .parse()
            .map_err(|e: geojson::Error| ComponentError::File { file: file.clone(), reason: e.to_string() })?;
        let geojson::GeoJson::FeatureCollection(fc) = gj else {
            return Err(ComponentError::File { file, reason: "expected a FeatureCollection".into() });
        };
        for (i, f) in fc.features.iter().enumerate() {
            let item = format!("feature {i}");
            let err = |reason: &str| ComponentError::Item {
                file: file.clone(),
                item: item.clone(),
                reason: reason.to_owned(),
            };
            let Some(geojson::Value::Point(p)) = f.geometry.as_ref().map(|g| &g.value) else {
                return Err(err("geometry must be a Point"));
            };
            if p.len() < 2 {
                return Err(err("point needs two coordinates"));
            }
            let prop = |k: &str| f.property(k).and_then(|v| v.as_str()).map(str::to_owned);
            let category = prop("category").ok_or_else(|| err("missing property \"category\""))?;
            rows.push((item, category, p[0], p[1], prop("crs"), prop("state")));
        }
    } else {
        return Err(ComponentError::File { file, reason: "expected a .csv or .geojson file".into() });
    }
    let mut out = Vec::with_capacity(rows.len());
    for (item, category, lon, lat, crs, state) in rows {
        let err = |reason: String| ComponentError::Item { file: file.clone(), item: item.clone(), reason };
        let (category, class) = parse_category(&category).map_err(&err)?;
        let crs: InputCrs = crs
            .as_deref()
            .unwrap_or("wgs84")
            .parse()
            .map_err(|e: gridwall_scene::coords::CoordError| err(e.to_string()))?;
        let state = match state.as_deref() {
            None | Some("") => ComponentState::Intact,
            Some(s) => s.parse().map_err(|e: gridwall_protocol::UnknownKey| err(e.to_string()))?,
        };
        let (wlon, wlat) = gridwall_scene::coords::to_wgs84(crs, lon, lat).map_err(|e| err(e.to_string()))?;
        let (x, y) = frame.to_local(wlon, wlat).map_err(|e| err(e.to_string()))?;
        if x < bounds[0] || y < bounds[1] || x > bounds[2] || y > bounds[3] {
            return Err(err(format!("({lon}, {lat}) lies outside the scene bounds")));
        }
        out.push(Component {
            code: String::new(),
            category,
            class,
            x,
            y,
            lon: wlon,
            lat: wlat,
            state,
            source: format!("user:{item}"),
        });
    }
    Ok(out)
}

/// Category mix of synthesized components and where they stand relative to the carriageway.
const SYNTH_MIX: [(ComponentCategory, f64); 11] = [
    (ComponentCategory::Manhole, 0.34),
    (ComponentCategory::StreetLight, 0.28),
    (ComponentCategory::TrashBin, 0.10),
    (ComponentCategory::FireHydrant, 0.06),
    (ComponentCategory::ElectricalBox, 0.05),
    (ComponentCategory::Camera, 0.05),
    (ComponentCategory::Bench, 0.04),
    (ComponentCategory::TrafficSignal, 0.03),
    (ComponentCategory::BusStop, 0.02),
    (ComponentCategory::RecyclingBin, 0.02),
    (ComponentCategory::PublicToilet, 0.01),
];

const MANHOLE_KINDS: [&str; 7] = ["water", "sewer", "drain", "power", "telecom", "heating", "gas"];

/// Places `n` components along `roads` (local metres, with class), seeded and deterministic.
///
/// A point is drawn uniformly by road length; manholes and traffic signals stand on the
/// carriageway, everything else on the sidewalk 1.5 m beyond the kerb, on either side. State:
/// 95 % 完好 intact, 3 % 破损 damaged, 1 % 丢失 missing, 1 % 占用 occupied. Without roads,
/// components are spread uniformly over `bounds`.
pub fn synthesize(
    n: usize,
    roads: &[(RoadClass, Vec<[f64; 2]>)],
    bounds: [f64; 4],
    seed: u64,
    frame: &SceneFrame,
    progress: &crate::progress::Progress,
) -> Vec<Component> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Cumulative length over drivable segments (paths carry no street furniture here).
    let mut segments: Vec<([f64; 2], [f64; 2], f64)> = Vec::new();
    let mut cumulative = Vec::new();
    let mut total = 0.0;
    for (class, pts) in roads.iter().filter(|(c, _)| *c != RoadClass::Path) {
        for w in pts.windows(2) {
            let len = ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt();
            if len > 0.5 {
                total += len;
                segments.push((w[0], w[1], class.width()));
                cumulative.push(total);
            }
        }
    }
    let bar = progress.count("synthesize components", n as u64);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r: f64 = rng.random();
        let mut acc = 0.0;
        let category = SYNTH_MIX.iter().find(|(_, w)| {
            acc += w;
            r < acc
        });
        let category = category.map_or(ComponentCategory::Manhole, |c| c.0);
        let manhole_kind =
            (category == ComponentCategory::Manhole).then(|| MANHOLE_KINDS[rng.random_range(0..MANHOLE_KINDS.len())]);
        let (x, y) = if segments.is_empty() {
            (rng.random_range(bounds[0]..bounds[2]), rng.random_range(bounds[1]..bounds[3]))
        } else {
            let at = rng.random_range(0.0..total);
            let k = cumulative.partition_point(|&c| c < at).min(segments.len() - 1);
            let (a, b, width) = segments[k];
            let t: f64 = rng.random();
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len = (dx * dx + dy * dy).sqrt();
            let (nx, ny) = (-dy / len, dx / len);
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let offset = match category {
                ComponentCategory::Manhole | ComponentCategory::TrafficSignal => {
                    rng.random_range(-width / 4.0..=width / 4.0)
                }
                _ => side * (width / 2.0 + 1.5),
            };
            (a[0] + dx * t + nx * offset, a[1] + dy * t + ny * offset)
        };
        let x = x.clamp(bounds[0], bounds[2]);
        let y = y.clamp(bounds[1], bounds[3]);
        let s: f64 = rng.random();
        let state = match s {
            s if s < 0.95 => ComponentState::Intact,
            s if s < 0.98 => ComponentState::Damaged,
            s if s < 0.99 => ComponentState::Missing,
            _ => ComponentState::Occupied,
        };
        let (lon, lat) = frame.to_wgs84(x, y).unwrap_or((f64::NAN, f64::NAN));
        out.push(Component {
            code: String::new(),
            category,
            class: class_code(category, manhole_kind),
            x,
            y,
            lon,
            lat,
            state,
            source: "synthetic".into(),
        });
        if i % 10_000 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.set_position(n as u64);
    bar.finish();
    out
}

/// Assigns codes in order and writes `components.csv`.
pub fn write_csv(path: &Path, components: &mut [Component], coder: &mut Coder) -> Result<(), ComponentError> {
    let file = path.display().to_string();
    let io = |e: csv::Error| ComponentError::File { file: file.clone(), reason: e.to_string() };
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record(["code", "category", "class", "name_zh", "x", "y", "lon", "lat", "state", "source"]).map_err(io)?;
    for c in components.iter_mut() {
        c.code = coder.code(c.class)?;
        w.write_record([
            c.code.as_str(),
            c.category.key(),
            &format!("{:04}", c.class),
            c.category.name_zh(),
            &format!("{:.2}", c.x),
            &format!("{:.2}", c.y),
            &format!("{:.7}", c.lon),
            &format!("{:.7}", c.lat),
            c.state.key(),
            &c.source,
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|e| ComponentError::File { file: file.clone(), reason: e.to_string() })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_16_digits_with_per_class_serials() {
        let mut c = Coder::new("370783").unwrap();
        assert_eq!(c.code(101).unwrap(), "3707830101000001");
        assert_eq!(c.code(101).unwrap(), "3707830101000002");
        assert_eq!(c.code(304).unwrap(), "3707830304000001");
        assert!(Coder::new("37078").is_err());
        assert!(Coder::new("37078x").is_err());
    }

    #[test]
    fn osm_tags_classify() {
        let t = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(classify_osm(&t("highway", "street_lamp")), Some((ComponentCategory::StreetLight, 120)));
        assert_eq!(classify_osm(&t("manhole", "sewer")), Some((ComponentCategory::Manhole, 102)));
        assert_eq!(classify_osm(&t("emergency", "fire_hydrant")), Some((ComponentCategory::FireHydrant, 116)));
        assert_eq!(classify_osm(&t("amenity", "cafe")), None);
    }

    #[test]
    fn categories_parse_by_key_or_class() {
        assert_eq!(parse_category("bench").unwrap(), (ComponentCategory::Bench, 404));
        assert_eq!(parse_category("0102").unwrap(), (ComponentCategory::Manhole, 102));
        assert!(parse_category("9999").is_err());
        assert!(parse_category("spaceship").unwrap_err().contains("unknown category"));
    }

    #[test]
    fn synthesis_is_seeded_and_stays_near_roads() {
        let frame = SceneFrame::centred_on("EPSG:32635", 24.94, 60.17).unwrap();
        let roads = vec![(RoadClass::Residential, vec![[-100.0, 0.0], [100.0, 0.0]])];
        let b = [-200.0, -200.0, 200.0, 200.0];
        let a = synthesize(500, &roads, b, 7, &frame, &crate::progress::Progress::hidden());
        let again = synthesize(500, &roads, b, 7, &frame, &crate::progress::Progress::hidden());
        assert_eq!(a, again);
        assert!(a.iter().all(|c| c.y.abs() <= 3.0 + 1.5 + 1e-9 && c.x.abs() <= 100.0 + 1e-9));
        let lamps = a.iter().filter(|c| c.category == ComponentCategory::StreetLight).count();
        assert!((100..200).contains(&lamps), "{lamps} lamps of 500");
        assert_ne!(a, synthesize(500, &roads, b, 8, &frame, &crate::progress::Progress::hidden()));
    }
}
