//! `gridwall-server import` (the `gridwall-import` crate) end to end: the real Helsinki extract, a seeded synthetic city, and
//! every kind of bad input.

use std::path::Path;

use geo::{BooleanOps, Contains, unary_union};
use gridwall_import::import::{ImportError, ImportOptions, import};
use gridwall_import::progress::Progress;
use gridwall_import::synth::{SynthCity, write_city};
use gridwall_scene::SceneManifest;
use gridwall_scene::coords::SceneFrame;
use gridwall_testkit::paths::{helsinki_pbf, repo};

fn import_helsinki(dir: &Path) -> SceneManifest {
    import(
        &ImportOptions {
            display_name: Some("赫尔辛基中心".into()),
            ..ImportOptions::new(helsinki_pbf(), dir.join("helsinki"))
        },
        Progress::hidden(),
    )
    .unwrap()
}

/// Vertices of one material's primitives in local metres (x east, y north, h up).
fn vertices_of(glb: &Path, material: &str) -> Vec<[f64; 3]> {
    let (doc, buffers, _) = gltf::import(glb).unwrap();
    let mut out = Vec::new();
    for node in doc.nodes() {
        let t = node.transform().decomposed().0;
        let Some(mesh) = node.mesh() else { continue };
        for prim in mesh.primitives() {
            if prim.material().name() != Some(material) {
                continue;
            }
            let reader = prim.reader(|b| Some(&buffers[b.index()]));
            for p in reader.read_positions().unwrap() {
                let (x, h, z) = (f64::from(p[0] + t[0]), f64::from(p[1] + t[1]), f64::from(p[2] + t[2]));
                out.push([x, -z, h]);
            }
        }
    }
    out
}

#[test]
fn helsinki_imports_with_buildings_roads_grids_and_components() {
    let tmp = tempfile::tempdir().unwrap();
    let m = import_helsinki(tmp.path());
    let dir = tmp.path().join("helsinki");
    let c = &m.counts;

    // The extract holds ~500 building outlines; those clipped by its edge cannot be closed.
    assert!((420..=520).contains(&c.buildings), "{} buildings", c.buildings);
    assert!(c.building_heights_from_levels >= 130 && c.building_heights_from_height_tag >= 15, "{c:?}");
    assert!(c.roads > 2000 && c.water > 0, "{c:?}");
    assert_eq!(m.crs, "EPSG:32635");
    assert!(m.attribution.contains("OpenStreetMap"));
    assert!(c.streets >= 1 && c.communities >= 2 && c.cells >= 10, "{c:?}");
    assert!(c.components_osm > 500, "{c:?}");

    // The .glb reads back; every building vertex lies inside the scene bounds.
    let b = m.bounds.local;
    let buildings = vertices_of(&dir.join("city.glb"), "building");
    assert!(!buildings.is_empty());
    for v in &buildings {
        assert!(
            v[0] >= b[0] - 0.01 && v[0] <= b[2] + 0.01 && v[1] >= b[1] - 0.01 && v[1] <= b[3] + 0.01,
            "{v:?} outside {b:?}"
        );
    }
    let tallest = buildings.iter().map(|v| v[2]).fold(0.0, f64::max);
    assert!(tallest > 20.0, "tallest {tallest}");
    assert!(!vertices_of(&dir.join("city.glb"), "road").is_empty());
    let (doc, _, _) = gltf::import(dir.join("city.glb")).unwrap();
    assert_eq!(doc.nodes().count(), c.tiles);

    // WGS84 bounds contain the data's published extent centre, and the frame round-trips.
    let frame = m.frame().unwrap();
    let (x, y) = frame.to_local(24.9384, 60.1699).unwrap();
    // cs2cs: EPSG:4326 → EPSG:32635 of (60.1699 N, 24.9384 E) = 385611.3167 E, 6672118.3803 N.
    assert!((x + m.origin[0] - 385611.3167).abs() < 0.01 && (y + m.origin[1] - 6672118.3803).abs() < 0.01);

    // Grids: three levels, unique codes, every unit inside its parent.
    let gj: geojson::FeatureCollection = std::fs::read_to_string(dir.join("grids.geojson")).unwrap().parse().unwrap();
    let mut polys = std::collections::HashMap::new();
    for f in &gj.features {
        let code = f.property("code").unwrap().as_str().unwrap().to_owned();
        let poly: geo_types::Geometry<f64> = f.geometry.clone().unwrap().try_into().unwrap();
        assert!(polys.insert(code, (f.property("parent").and_then(|p| p.as_str()).map(str::to_owned), poly)).is_none());
    }
    for (code, (parent, poly)) in &polys {
        let Some(parent) = parent else { continue };
        assert!(code.starts_with(parent.as_str()) && code.len() == parent.len() + 3);
        let outer = &polys[parent].1;
        let (geo_types::Geometry::Polygon(p), geo_types::Geometry::Polygon(o)) = (poly, outer) else { panic!() };
        let outside = geo::Area::unsigned_area(&p.difference(o));
        assert!(outer.contains(poly) || outside < 1e-12, "{code} not in {parent}");
    }
    // Cells cover the whole scene.
    let cells: Vec<geo_types::Polygon<f64>> = gj
        .features
        .iter()
        .filter(|f| f.property("level").unwrap() == "cell")
        .map(|f| geo_types::Polygon::try_from(f.geometry.clone().unwrap()).unwrap())
        .collect();
    let union = unary_union(&cells);
    let w = m.bounds.wgs84;
    assert!(union.contains(&geo_types::Point::new(f64::midpoint(w[0], w[2]), f64::midpoint(w[1], w[3]))));

    // Components: 16-digit unique codes with the county prefix.
    let mut rdr = csv::Reader::from_path(dir.join("components.csv")).unwrap();
    let codes: Vec<String> = rdr.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(codes.len(), c.components);
    assert!(codes.iter().all(|c| c.len() == 16 && c.starts_with("370783") && c.bytes().all(|b| b.is_ascii_digit())));
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len());
}

#[test]
fn the_committed_demo_scene_is_what_the_importer_makes() {
    let tmp = tempfile::tempdir().unwrap();
    import_helsinki(tmp.path());
    let fresh = tmp.path().join("helsinki");
    let shipped = repo().join("scenes/helsinki");
    for file in ["scene.toml", "city.glb", "grids.geojson", "components.csv", "roads.geojson"] {
        assert!(
            std::fs::read(fresh.join(file)).unwrap() == std::fs::read(shipped.join(file)).unwrap(),
            "scenes/helsinki/{file} is stale: re-run the import in the README"
        );
    }
}

#[test]
fn bad_pbf_files_are_refused_and_an_existing_scene_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let good = import_helsinki(tmp.path());
    let out = tmp.path().join("helsinki");
    let bytes = std::fs::read(helsinki_pbf()).unwrap();

    let truncated = tmp.path().join("truncated.osm.pbf");
    std::fs::write(&truncated, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let not_pbf = tmp.path().join("notes.osm.pbf");
    std::fs::write(&not_pbf, "this is not a protobuf file at all, just some text\n".repeat(20)).unwrap();
    let empty = tmp.path().join("empty.osm.pbf");
    std::fs::write(&empty, b"").unwrap();

    for (file, expect) in
        [(&truncated, "truncated or corrupt"), (&not_pbf, "not a valid OSM PBF"), (&empty, "no OSMHeader")]
    {
        let err = import(&ImportOptions::new(file, &out), Progress::hidden()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(expect) && msg.contains(file.file_name().unwrap().to_str().unwrap()), "{msg}");
        // The scene that was there is untouched, and no staging folder is left behind.
        assert_eq!(SceneManifest::load(&out).unwrap(), good);
        assert!(!tmp.path().join(".helsinki.importing").exists());
    }

    // A folder that is not a scene is never overwritten.
    let precious = tmp.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.txt"), "keep me").unwrap();
    let err = import(&ImportOptions::new(helsinki_pbf(), &precious), Progress::hidden()).unwrap_err();
    assert!(matches!(err, ImportError::NotAScene(_)));
    assert_eq!(std::fs::read_to_string(precious.join("thesis.txt")).unwrap(), "keep me");
}

fn square(lon: f64, lat: f64, d: f64) -> serde_json::Value {
    serde_json::json!([[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]])
}

fn feature(level: &str, code: &str, parent: Option<&str>, coords: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"type": "Feature", "properties": {"level": level, "code": code, "name": code, "parent": parent},
        "geometry": {"type": "Polygon", "coordinates": coords}})
}

#[test]
fn user_grids_are_used_when_valid_and_refused_with_the_feature_named() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, features: Vec<serde_json::Value>| {
        let p = tmp.path().join(name);
        std::fs::write(&p, serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
        p
    };
    let (lon, lat) = (24.936, 60.165);
    let valid = vec![
        feature("street", "370783001", None, square(lon, lat, 0.016)),
        feature("community", "370783001001", Some("370783001"), square(lon, lat, 0.008)),
        feature("cell", "370783001001001", Some("370783001001"), square(lon, lat, 0.004)),
        feature("cell", "370783001001002", Some("370783001001"), square(lon + 0.004, lat, 0.004)),
    ];
    let good = write("good.geojson", valid.clone());
    let opts = ImportOptions { grids: Some(good), ..ImportOptions::new(helsinki_pbf(), tmp.path().join("s")) };
    let m = import(&opts, Progress::hidden()).unwrap();
    assert_eq!((m.counts.streets, m.counts.communities, m.counts.cells), (1, 1, 2));
    assert_eq!(m.grids.source, "user:good.geojson");

    let mut unclosed = valid.clone();
    unclosed[2]["geometry"]["coordinates"][0][4] = serde_json::json!([lon + 0.001, lat]);
    let mut bowtie = valid.clone();
    bowtie[3]["geometry"]["coordinates"] = serde_json::json!([[
        [lon + 0.004, lat],
        [lon + 0.008, lat + 0.004],
        [lon + 0.008, lat],
        [lon + 0.004, lat + 0.004],
        [lon + 0.004, lat]
    ]]);
    let mut outside = valid.clone();
    outside[3]["geometry"]["coordinates"] = square(lon + 0.006, lat, 0.004);
    let mut orphan = valid.clone();
    orphan[3]["properties"]["parent"] = serde_json::json!("370783009009");
    let mut misnamed = valid.clone();
    misnamed[3]["properties"]["code"] = serde_json::json!("999999001001002");
    let cases = [
        ("unclosed", unclosed, "370783001001001", "not closed"),
        ("bowtie", bowtie, "370783001001002", "invalid geometry"),
        ("outside", outside, "370783001001002", "not inside its parent"),
        ("orphan", orphan, "370783001001002", "not in the file"),
        ("misnamed", misnamed, "999999001001002", "must start with its community code"),
    ];
    for (name, features, culprit, reason) in cases {
        let file = write(&format!("{name}.geojson"), features);
        let opts = ImportOptions { grids: Some(file), ..ImportOptions::new(helsinki_pbf(), tmp.path().join(name)) };
        let msg = import(&opts, Progress::hidden()).unwrap_err().to_string();
        assert!(msg.contains(culprit) && msg.contains(reason), "{name}: {msg}");
        assert!(!tmp.path().join(name).exists(), "{name}: a refused import must leave no scene");
    }
}

#[test]
fn user_components_are_coded_and_bad_rows_named() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("parts.csv");
    std::fs::write(&good, "category,lon,lat,crs,state\nmanhole,24.9440,60.1700,wgs84,damaged\n0102,24.9450,60.1710,,\n消防栓,24.9420,60.1690,gcj02,\n").unwrap();
    let opts = ImportOptions { components: Some(good), ..ImportOptions::new(helsinki_pbf(), tmp.path().join("s")) };
    let m = import(&opts, Progress::hidden()).unwrap();
    assert_eq!(m.counts.components_user, 3);
    let text = std::fs::read_to_string(tmp.path().join("s/components.csv")).unwrap();
    let user: Vec<&str> = text.lines().filter(|l| l.contains("user:")).collect();
    assert_eq!(user.len(), 3);
    assert!(user[0].contains(",manhole,0101,井盖,") && user[0].contains(",damaged,"));
    assert!(user[1].contains(",manhole,0102,"));
    assert!(user[2].contains(",fire_hydrant,0116,"));

    for (name, body, expect) in [
        ("badcat.csv", "category,lon,lat\nbench,24.944,60.17\nspaceship,24.944,60.17\n", "line 3: unknown category"),
        ("far.csv", "category,lon,lat\nbench,118.79,36.88\n", "line 2: (118.79, 36.88) lies outside the scene bounds"),
        ("nan.csv", "category,lon,lat\nbench,abc,60.17\n", "line 2"),
        (
            "badstate.csv",
            "category,lon,lat,crs,state\nbench,24.944,60.17,wgs84,melted\n",
            "line 2: unknown ComponentState",
        ),
    ] {
        let file = tmp.path().join(name);
        std::fs::write(&file, body).unwrap();
        let opts = ImportOptions {
            components: Some(file),
            ..ImportOptions::new(helsinki_pbf(), tmp.path().join(name).with_extension("scene"))
        };
        let msg = import(&opts, Progress::hidden()).unwrap_err().to_string();
        assert!(msg.contains(name) && msg.contains(expect), "{msg}");
    }
}

#[test]
fn a_seeded_synthetic_city_imports_whole_with_synthetic_components() {
    let tmp = tempfile::tempdir().unwrap();
    let pbf = tmp.path().join("synth.osm.pbf");
    let city = SynthCity { buildings: 3_000, seed: 5, ..SynthCity::default() };
    let stats = write_city(&city, &pbf, Progress::hidden()).unwrap();
    assert_eq!(stats.buildings, 3_000);
    let again = tmp.path().join("again.osm.pbf");
    write_city(&city, &again, Progress::hidden()).unwrap();
    assert_eq!(std::fs::read(&pbf).unwrap(), std::fs::read(&again).unwrap(), "same seed, same file");

    let opts = ImportOptions {
        crs: Some("EPSG:4549".into()),
        synthesize_components: 20_000,
        seed: 5,
        ..ImportOptions::new(&pbf, tmp.path().join("synth"))
    };
    let m = import(&opts, Progress::hidden()).unwrap();
    assert_eq!(m.counts.buildings, 3_000, "every building, the 30 courtyard multipolygons included");
    assert_eq!(m.counts.components_synthetic, 20_000);
    assert_eq!(m.crs, "EPSG:4549");
    // Shouguang lies 1.2° west of 120°E: easting below the 500 km false easting.
    assert!(m.origin[0] < 500_000.0 && m.origin[0] > 300_000.0, "{:?}", m.origin);
    let frame = SceneFrame::new("EPSG:4549", (0.0, 0.0)).unwrap();
    let (e, n) = frame.project(118.7910, 36.8868).unwrap();
    assert!((e - 392223.3108).abs() < 0.01 && (n - 4084631.0120).abs() < 0.01);
    assert!(m.counts.cells > 10);
    // Courtyards survive as holes: a box building is 4 roof + 16 wall vertices, a holed one
    // 8 roof + 32 wall vertices.
    let verts = vertices_of(&tmp.path().join("synth/city.glb"), "building");
    assert_eq!(verts.len(), 2_970 * 20 + 30 * 40);
}
