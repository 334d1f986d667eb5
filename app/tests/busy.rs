//! A busy day on the software renderer: with two thousand open incidents, the overview shows
//! one aggregate per community (its area tinted, a badge with its numbers), not two thousand
//! columns; closer in, the markers are back.

mod support;

use gridwall::map::OrbitCamera;
use gridwall::map::grid::centroid;
use gridwall::scene::SceneInfo;
use gridwall_protocol::GridLevel;
use gridwall_protocol::api::GridOutlines;
use gridwall_testkit::shots::{Shot, keep};
use support::{cached_scene, live, project_from, run_gridwall, server_with_incidents};

/// Bright red pixels: an accepted incident's glowing column (a tinted area is darker).
fn marker_red(s: &Shot) -> usize {
    s.rgb.iter().filter(|[r, g, b]| *r > 200 && *g < 110 && *b < 110).count()
}

#[test]
fn thousands_of_incidents_fold_into_their_communities_at_the_overview() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // A 2,000-incident day: a lattice over the scene, 30 m apart.
    let points: Vec<(f64, f64)> = (0..40)
        .flat_map(|i| (0..50).map(move |j| (-500.0 + 25.0 * f64::from(i), -800.0 + 32.0 * f64::from(j))))
        .collect();
    let s = server_with_incidents(data.path(), &points);
    let (w, h) = (1280, 720);
    let shot = |name: &str, extra: &[&str]| {
        let path = home.path().join(name);
        let mut args = vec!["--wait-ready", "--screenshot", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_gridwall(home.path(), &live(s.addr, (w, h), &args));
        keep(&format!("busy-{name}"), &path);
        Shot::read(&path)
    };
    let overview = shot("overview.png", &[]);
    let close = shot("close.png", &["--camera", "0,0,20,55,700"]);
    let (folded, markers) = (marker_red(&overview), marker_red(&close));
    assert!(markers > 20 * folded.max(100), "columns at 700 m: {markers} red pixels; at the overview: {folded}");

    // Every community's badge stands over its centre: white numbers on a dark box.
    let scene = SceneInfo::load(&cached_scene(home.path(), s.addr)).unwrap();
    let outlines: GridOutlines =
        ureq::get(format!("http://{}/api/v1/grids", s.addr)).call().unwrap().body_mut().read_json().unwrap();
    let orbit = OrbitCamera::overview(&scene);
    let communities: Vec<_> = outlines.grids.iter().filter(|g| g.level == GridLevel::Community).collect();
    let badged = communities
        .iter()
        .filter(|c| {
            let [x, y] = centroid(&c.rings[0]);
            let at = project_from(&orbit, w, h, x, y, 10.0);
            overview.count_near(at, 60, |p| p.iter().all(|v| *v > 200)) > 40
        })
        .count();
    assert!(badged * 3 >= communities.len() * 2, "{badged} of {} communities show a badge", communities.len());
}
