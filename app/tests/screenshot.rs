//! Rendering tests: the real `gridwall` binary renders the shipped scene with Mesa's software
//! Vulkan (windowless captures into an image; the frame-time run in a window under Xvfb) and we
//! look at the pixels.

mod support;

use std::path::Path;
use std::process::Command;

use gridwall::map::OrbitCamera;
use gridwall::scene::SceneInfo;
use gridwall_testkit::now_ts;
use gridwall_testkit::paths::{helsinki, helsinki_pbf};
use gridwall_testkit::server::{BackgroundServer, helsinki_config, helsinki_frame};
use gridwall_testkit::shots::{Shot, keep};
use support::{cached_scene, gridwall, live, project, project_from, red_near, run_gridwall, server_with_incident};

fn capture(scene: &Path, size: &str, out: &Path) -> Shot {
    let home = tempfile::tempdir().unwrap();
    run_gridwall(
        home.path(),
        &["--scene", scene.to_str().unwrap(), "--size", size, "--wait-ready", "--screenshot", out.to_str().unwrap()],
    );
    Shot::read(out)
}

#[test]
fn the_helsinki_scene_renders_dark_background_and_lit_city() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("helsinki.png");
    let shot = capture(&helsinki(), "640x360", &out);
    assert_eq!((shot.w, shot.h), (640, 360));

    // Corners show the deep-blue background of the theme.
    for (x0, y0) in [(0, 0), (shot.w - 16, 0)] {
        let m = shot.mean(x0, y0, x0 + 16, y0 + 16);
        assert!(m.iter().all(|&c| c < 30.0) && m[2] >= m[0], "corner ({x0},{y0}) is {m:?}, expected dark blue");
    }

    // The middle of the picture is the city: many pixels much brighter than the background, blue
    // dominant (buildings), and some cyan-ish ones (glowing roads).
    let (x0, y0, x1, y1) = (shot.w / 3, shot.h / 3, 2 * shot.w / 3, 2 * shot.h / 3);
    let mut lit = 0;
    let mut roads = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let [r, g, b] = shot.at(x, y).map(i32::from);
            if b > 80 && b > r + 20 {
                lit += 1;
            }
            if g > 100 && b > 120 && g > r + 40 {
                roads += 1;
            }
        }
    }
    let total = (x1 - x0) * (y1 - y0);
    assert!(lit * 3 > total, "only {lit} of {total} centre pixels show buildings");
    assert!(roads * 50 > total, "only {roads} of {total} centre pixels show roads");
}

#[test]
fn a_display_connected_to_a_server_shows_its_incident_where_it_is() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // One incident at a known place, reported through Open311 in WGS84.
    let (ix, iy) = (150.0, -200.0);
    let server = server_with_incident(data.path(), ix, iy);
    let addr = server.addr;
    let (w, h) = (960, 540);
    let out = home.path().join("live.png");
    run_gridwall(home.path(), &live(addr, (w, h), &["--wait-ready", "--screenshot", out.to_str().unwrap()]));
    drop(server);

    // The scene was fetched from the server into the display's cache.
    let cached = cached_scene(home.path(), addr);
    assert!(cached.join("city.glb").is_file() && cached.join("scene.toml").is_file());
    let shot = Shot::read(&out);
    let scene = SceneInfo::load(&cached).unwrap();
    // The marker (a 30 m red column) stands where the incident is…
    let at = project(&scene, w, h, ix, iy, 15.0);
    let here = red_near(&shot, at, 6);
    assert!(here >= 4, "{here} red pixels near the incident's screen position {at:?}");
    // …and nowhere else: a mirrored spot of the scene has none.
    let elsewhere = red_near(&shot, project(&scene, w, h, -ix, -iy, 15.0), 6);
    assert_eq!(elsewhere, 0, "red pixels where there is no incident");

    // The HUD's Chinese title (赫尔辛基中心 · 网格化管理指挥中心, light blue, 30/1080 of the
    // height) is drawn with the CJK font: without it this build draws no text at all.
    let mut title = 0;
    for y in h * 3 / 100..h * 7 / 100 {
        for x in w * 2 / 100..w * 30 / 100 {
            let [r, g, b] = shot.at(x, y).map(i32::from);
            if b > 200 && g > 160 && r < 200 {
                title += 1;
            }
        }
    }
    assert!(title > 150, "only {title} title-coloured pixels in the HUD");

    // The street boundaries (the heaviest, amber lines) outline the scene.
    let amber = shot.rgb.iter().filter(|p| p[0] > 200 && p[1] > 160 && p[2] < 130 && p[0] >= p[1]).count();
    assert!(amber > 1_000, "only {amber} amber pixels of street boundaries");
}

#[test]
fn frame_times_are_measured_once_ready() {
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_gridwall"))
        .arg("--scene")
        .arg(helsinki())
        .args(["--size", "320x180", "--bench-frames", "3"])
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("frame time over 3 frames at 320x180: mean "), "{text}");
}

#[test]
fn clicking_an_incident_flies_to_it_and_opens_its_panel() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (ix, iy) = (150.0, -200.0);
    let server = server_with_incident(data.path(), ix, iy);
    let addr = server.addr;
    // Fetch the scene once without clicking, to know the default view.
    let (w, h) = (960, 540);
    let scene_dir = cached_scene(home.path(), addr);
    let run = |args: &[&str]| run_gridwall(home.path(), &live(addr, (w, h), &[&["--wait-ready"], args].concat()));
    let before = home.path().join("before.png");
    run(&["--screenshot", before.to_str().unwrap()]);
    let scene = SceneInfo::load(&scene_dir).unwrap();
    let at = project(&scene, w, h, ix, iy, 15.0);
    let after = home.path().join("after.png");
    run(&["--click", &format!("{},{}", at.0, at.1), "--screenshot", after.to_str().unwrap()]);
    drop(server);
    keep("click-after.png", &after);
    let (before, after) = (Shot::read(&before), Shot::read(&after));

    // The camera flew to the incident: its red marker is now in the middle of the picture…
    let centre = (w as f32 / 2.0, h as f32 / 2.0);
    assert!(
        red_near(&after, centre, 30) > 50,
        "no incident marker at the centre after the flight ({} red px)",
        red_near(&after, centre, 30)
    );
    assert!(red_near(&before, centre, 30) < 5, "the incident was at the centre before the click already");
    // …and the panel on the right shows its details: the panel's dark-blue box with light text
    // where the scene was before.
    let text_px = |s: &Shot| {
        s.count((w * 56 / 100, h * 4 / 100, w * 97 / 100, h * 40 / 100), |[r, g, b]| r > 150 && g > 170 && b > 200)
    };
    assert!(text_px(&after) > 400, "panel text pixels: {}", text_px(&after));
    assert!(text_px(&before) < 100, "text on the right before any click: {}", text_px(&before));
    // The resident's photo (all magenta) is shown in the panel.
    let magenta = |s: &Shot| s.count((w * 56 / 100, 0, w, h), |[r, g, b]| r > 200 && g < 80 && b > 200);
    assert!(magenta(&after) > 2_000, "photo pixels in the panel: {}", magenta(&after));
    assert!(magenta(&before) < 20, "magenta before any click: {}", magenta(&before));
}

#[test]
fn a_patrol_moves_between_two_recorded_frames_and_leaves_a_trail() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), helsinki_config(data.path()), 1).unwrap();
    let addr = server.addr;
    let frame = helsinki_frame();
    let post = |path: &str, body: String| {
        let res =
            ureq::post(format!("http://{addr}{path}")).header("content-type", "application/json").send(body).unwrap();
        assert!(res.status().is_success());
    };
    let report = |x: f64, y: f64| {
        let (lon, lat) = frame.to_wgs84(x, y).unwrap();
        let ts = now_ts();
        post("/api/v1/positions", format!(r#"[{{"patrol_id":"V-1","lon":{lon},"lat":{lat},"ts":"{ts}"}}]"#));
    };
    post("/api/v1/patrols", r#"[{"patrol_id":"V-1","role":"volunteer","grid":"370783001001001"}]"#.into());
    let (a, b) = ((-40.0, 40.0), (80.0, 40.0));
    report(a.0, a.1);

    // Two frames four seconds apart, looking down on the patrol's street.
    let (w, h) = (640, 360);
    let camera = "0,100,0,80,400";
    let dir = home.path().join("frames");
    let recording =
        ["--wait-ready", "--camera", camera, "--record", dir.to_str().unwrap(), "--frames", "2", "--every-ms", "4000"];
    let mut display = gridwall(home.path(), &live(addr, (w, h), &recording)).spawn().unwrap();
    // Once the first frame is on disk, the patrol walks 120 m east.
    let first = dir.join("frame-0000.png");
    let end = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while !first.is_file() || std::fs::metadata(&first).unwrap().len() == 0 {
        assert!(std::time::Instant::now() < end, "no first frame");
        assert!(display.try_wait().unwrap().is_none(), "the display exited before its first frame");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    report(f64::midpoint(a.0, b.0), a.1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    report(b.0, b.1);
    assert!(display.wait().unwrap().success());
    drop(server);
    keep("move-0.png", &first);
    keep("move-1.png", &dir.join("frame-0001.png"));
    let (f0, f1) = (Shot::read(&first), Shot::read(&dir.join("frame-0001.png")));

    // Pixels that changed between the frames, near a point.
    let orbit = OrbitCamera::parse(camera).unwrap();
    let changed_near = |(x, y): (f64, f64), r: i32| {
        let (cx, cy) = project_from(&orbit, w, h, x, y, 6.0);
        let mut n = 0;
        for dy in -r..=r {
            for dx in -r..=r {
                let (px, py) = ((cx as i32 + dx) as usize, (cy as i32 + dy) as usize);
                let (p, q) = (f0.at(px, py), f1.at(px, py));
                let diff: i32 = (0..3).map(|k| (i32::from(p[k]) - i32::from(q[k])).abs()).sum();
                if diff > 120 {
                    n += 1;
                }
            }
        }
        n
    };
    // The marker left A and arrived at B; the way between now carries its trail; elsewhere
    // nothing changed.
    let (at_a, at_b, between, elsewhere) =
        (changed_near(a, 10), changed_near(b, 10), changed_near((50.0, 40.0), 4), changed_near((0.0, 160.0), 10));
    assert!(at_b > 60, "only {at_b} changed pixels where the patrol went");
    assert!(at_a > 20, "only {at_a} changed pixels where the patrol was");
    assert!(between > 5, "no trail between the positions ({between} changed pixels)");
    assert!(elsewhere < 5, "{elsewhere} changed pixels away from the patrol");
}

#[test]
fn without_its_server_the_display_starts_from_its_cache_and_shows_it_is_reconnecting() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), helsinki_config(data.path()), 1).unwrap();
    let addr = server.addr;
    let (w, h) = (640, 360);
    let display = |args: &[&str]| run_gridwall(home.path(), &live(addr, (w, h), args));
    let online = home.path().join("online.png");
    display(&["--wait-ready", "--screenshot", online.to_str().unwrap()]);
    drop(server);

    // The server is gone: the display starts anyway from the scene it fetched before, and after
    // its first failed attempts says so across the top of the screen.
    let dir = home.path().join("offline");
    display(&["--record", dir.to_str().unwrap(), "--frames", "2", "--every-ms", "2500"]);
    keep("offline.png", &dir.join("frame-0001.png"));
    let (online, offline) = (Shot::read(&online), Shot::read(&dir.join("frame-0001.png")));
    let banner = |s: &Shot| {
        s.count((w * 35 / 100, h * 3 / 100, w * 65 / 100, h * 9 / 100), |[r, g, b]| r > 140 && g < 60 && b < 60)
    };
    let area = (h * 6 / 100) * (w * 30 / 100);
    assert!(banner(&offline) * 4 > area, "no reconnecting banner: {} of {area} pixels", banner(&offline));
    assert!(banner(&online) * 20 < area, "a banner while connected: {} of {area} pixels", banner(&online));
    // The city is there all the same.
    let lit = (h / 3..2 * h / 3).flat_map(|y| (w / 3..2 * w / 3).map(move |x| (x, y))).filter(|&(x, y)| {
        let [r, _, b] = offline.at(x, y).map(i32::from);
        b > 80 && b > r + 20
    });
    assert!(lit.count() * 3 > (h / 3) * (w / 3), "the cached city is not drawn");
}

/// A roof as drawn by the theme, about (66, 91, 144): blue well above green, green close to red.
/// Roads are a greener blue, about (71, 136, 174); water and ground are darker, red under 30.
use gridwall_testkit::shots::is_building;

#[test]
fn buildings_are_drawn_where_the_osm_data_has_them_and_nowhere_else() {
    use gridwall_import::osm::point_in_ring;
    let scene_dir = helsinki();
    let extract =
        gridwall_import::osm::read_pbf(&helsinki_pbf(), &gridwall_import::progress::Progress::hidden()).unwrap();
    let frame = helsinki_frame();
    let scene = SceneInfo::load(&scene_dir).unwrap();
    // Footprints in local metres, with their roof heights.
    let footprints: Vec<(Vec<(f64, f64)>, f64)> = extract
        .buildings
        .iter()
        .filter_map(|b| {
            Some((
                b.area.outer.iter().map(|&(lon, lat)| frame.to_local(lon, lat)).collect::<Result<Vec<_>, _>>().ok()?,
                b.height,
            ))
        })
        .collect();

    // Straight down on the middle of the scene.
    let (w, h) = (960, 540);
    let b = scene.bounds();
    let (cx, cy) = (f64::midpoint(b[0], b[2]), f64::midpoint(b[1], b[3]));
    let camera = format!("{cx:.1},{cy:.1},0,88,1100");
    let orbit = OrbitCamera::parse(&camera).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("top.png");
    run_gridwall(
        home.path(),
        &[
            "--scene",
            scene_dir.to_str().unwrap(),
            "--size",
            &format!("{w}x{h}"),
            "--wait-ready",
            "--camera",
            &camera,
            "--screenshot",
            out.to_str().unwrap(),
        ],
    );
    keep("top.png", &out);
    let shot = Shot::read(&out);
    // Only the middle of the picture: the HUD, ticker and filter bar cover the edges.
    let on_screen = |(x, y): (f32, f32)| {
        (w as f32 * 0.3..w as f32 * 0.7).contains(&x) && (h as f32 * 0.25..h as f32 * 0.72).contains(&y)
    };
    let building_px = |(x, y): (f32, f32)| {
        let mut n = 0;
        for dy in -1..=1 {
            for dx in -1..=1 {
                n += usize::from(is_building(shot.at((x as i32 + dx) as usize, (y as i32 + dy) as usize)));
            }
        }
        n >= 5
    };

    // Roofs: points well inside footprints of at least 400 m², seen from above at roof height.
    let mut roofs = (0, 0);
    for (ring, height) in &footprints {
        let n = ring.len() as f64;
        let c = (ring.iter().map(|p| p.0).sum::<f64>() / n, ring.iter().map(|p| p.1).sum::<f64>() / n);
        let area = gridwall_import::mesh::signed_area(&ring.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>()).abs();
        let inside = [(0.0, 0.0), (4.0, 0.0), (-4.0, 0.0), (0.0, 4.0), (0.0, -4.0)]
            .iter()
            .all(|d| point_in_ring((c.0 + d.0, c.1 + d.1), ring));
        let at = project_from(&orbit, w, h, c.0, c.1, *height as f32);
        if area >= 400.0 && inside && on_screen(at) {
            roofs.0 += 1;
            roofs.1 += usize::from(building_px(at));
        }
    }
    // Open ground: grid points 30 m or more from every footprint.
    let near_building = |p: (f64, f64)| {
        footprints.iter().any(|(ring, _)| {
            point_in_ring(p, ring)
                || ring.windows(2).any(|s| {
                    let (a, b) = (s[0], s[1]);
                    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
                    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / (dx * dx + dy * dy).max(1e-9)).clamp(0.0, 1.0);
                    (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy) < 30.0
                })
        })
    };
    let mut open = (0, 0);
    for i in 0..60 {
        for j in 0..60 {
            let p = (b[0] + (b[2] - b[0]) * f64::from(i) / 60.0, b[1] + (b[3] - b[1]) * f64::from(j) / 60.0);
            let at = project_from(&orbit, w, h, p.0, p.1, 0.0);
            if on_screen(at) && !near_building(p) {
                open.0 += 1;
                open.1 += usize::from(building_px(at));
            }
        }
    }
    eprintln!("roofs drawn {}/{}, open spots that look built {}/{}", roofs.1, roofs.0, open.1, open.0);
    assert!(roofs.0 >= 20 && open.0 >= 20, "too few sample points: {roofs:?} roofs, {open:?} open");
    assert!(roofs.1 * 10 >= roofs.0 * 9, "only {} of {} roofs drawn where the data has buildings", roofs.1, roofs.0);
    assert!(open.1 * 20 <= open.0, "{} of {} open spots look like buildings", open.1, open.0);
}

/// Replay: a capture at a past moment shows the replay badge and an incident as it was then
/// (open), though it is closed now (and a live capture no longer shows it).
#[test]
fn a_replay_capture_shows_the_badge_and_an_incident_open_then_closed_now() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (ix, iy) = (150.0, -200.0);
    let server = server_with_incident(data.path(), ix, iy);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let then = gridwall_testkit::now_ms();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let url = format!("http://{}/api/v1/incidents/1/transitions", server.addr);
    for body in [
        r#"{"action":"dispatch","assignee":"W-9","actor":"指挥长"}"#,
        r#"{"action":"resolve","actor":"W-9"}"#,
        r#"{"action":"review_pass","actor":"审核员"}"#,
        r#"{"action":"close","actor":"回访员","satisfaction":5}"#,
    ] {
        let res = ureq::post(&url).header("content-type", "application/json").send(body).unwrap();
        assert_eq!(res.status().as_u16(), 200, "{body}");
    }
    let (w, h) = (960, 540);
    let at = gridwall_city::ingest::format_time_ms(then);
    let replayed = home.path().join("replay.png");
    let now = home.path().join("now.png");
    run_gridwall(
        home.path(),
        &live(server.addr, (w, h), &["--wait-ready", "--replay-at", &at, "--screenshot", replayed.to_str().unwrap()]),
    );
    run_gridwall(home.path(), &live(server.addr, (w, h), &["--wait-ready", "--screenshot", now.to_str().unwrap()]));
    let scene = SceneInfo::load(&cached_scene(home.path(), server.addr)).unwrap();
    drop(server);
    let (shot, live_now) = (Shot::read(&replayed), Shot::read(&now));
    keep("replay-at.png", &replayed);
    let spot = project(&scene, w, h, ix, iy, 15.0);
    let then_red = red_near(&shot, spot, 6);
    assert!(then_red >= 4, "{then_red} red pixels where the incident was open at {at}");
    assert_eq!(red_near(&live_now, spot, 6), 0, "the incident is closed now: no marker live");
    // The badge: an orange bar across the top centre ("回放 …"), absent live.
    let badge = |s: &Shot| {
        let mut n = 0;
        for y in h * 100 / 1080..h * 140 / 1080 {
            for x in w / 2 - h * 280 / 1080..w / 2 + h * 280 / 1080 {
                let [r, g, b] = s.at(x, y).map(i32::from);
                if r > 170 && (70..160).contains(&g) && b < 60 {
                    n += 1;
                }
            }
        }
        n
    };
    let (on, off) = (badge(&shot), badge(&live_now));
    assert!(on > 2_000, "only {on} badge-orange pixels in the replay capture");
    assert!(off < 50, "{off} badge-orange pixels live");
}
