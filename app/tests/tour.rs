//! The delegation tour on the software renderer: a capture at a tour time shows that step's
//! caption and its camera keyframe; a tour file with an error is refused before anything opens.

mod support;

use gridwall_testkit::server::{BackgroundServer, helsinki_config};
use gridwall_testkit::shots::{Shot, keep};
use support::{gridwall, live, run_gridwall};

const TOUR: &str = r#"
idle_resume_s = 20

[[step]]
fly_s = 0
hold_s = 5
camera = { x = 300, y = 500, heading = -60, pitch = 35, distance = 700 }
caption = { zh = "第一步", en = "Step one" }

[[step]]
fly_s = 4
hold_s = 10
camera = { x = 0, y = 0, heading = 20, pitch = 60, distance = 900 }
caption = { zh = "第二步：全景", en = "Step two: the whole view" }
"#;

/// Pixels that differ noticeably (any channel by more than 40) between the same rows of two
/// captures.
fn differing_rows(a: &Shot, b: &Shot, rows: std::ops::Range<usize>) -> usize {
    rows.flat_map(|y| (0..a.w).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let (p, q) = (a.at(x, y), b.at(x, y));
            (0..3).any(|k| (i32::from(p[k]) - i32::from(q[k])).abs() > 40)
        })
        .count()
}

/// Near-white pixels (caption text) in a box.
fn white(s: &Shot, x: std::ops::Range<usize>, y: std::ops::Range<usize>) -> usize {
    y.flat_map(|y| x.clone().map(move |x| (x, y))).filter(|&(x, y)| s.at(x, y).iter().all(|&c| c > 200)).count()
}

#[test]
fn a_capture_at_a_tour_time_shows_its_caption_and_keyframe() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let s = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), helsinki_config(data.path()), 1).unwrap();
    let tour = home.path().join("tour.toml");
    std::fs::write(&tour, TOUR).unwrap();
    let (w, h) = (960, 540);
    let shot = |name: &str, extra: &[&str]| {
        let path = home.path().join(name);
        let mut args = vec!["--wait-ready", "--screenshot", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_gridwall(home.path(), &live(s.addr, (w, h), &args));
        keep(&format!("tour-{name}"), &path);
        Shot::read(&path)
    };
    let tour_arg = tour.to_str().unwrap();
    // 12 s in: step two has landed (5 s of step one, 4 s of flight) and holds its keyframe.
    let step_two = shot("at-12.png", &["--tour", tour_arg, "--tour-at", "12"]);
    let keyframe = shot("keyframe.png", &["--camera", "0,0,20,60,900"]);
    let step_one = shot("at-2.png", &["--tour", tour_arg, "--tour-at", "2"]);
    // The map between the HUD and the caption: as the keyframe shows it, and not as step one.
    let band = h * 3 / 10..h * 6 / 10;
    let pixels = band.len() * w;
    let off_keyframe = differing_rows(&step_two, &keyframe, band.clone());
    let off_step_one = differing_rows(&step_two, &step_one, band.clone());
    assert!(off_keyframe * 200 < pixels, "{off_keyframe} of {pixels} pixels differ from the keyframe");
    assert!(off_step_one * 10 > pixels, "step one looks elsewhere: only {off_step_one} of {pixels} differ");
    // The caption across the bottom centre (150 px above the bottom at 1080p, two lines).
    let (cx, cy) = (w / 2 - w / 6..w / 2 + w / 6, h - h * 250 / 1080..h - h * 150 / 1080);
    let text = white(&step_two, cx.clone(), cy.clone());
    let plain = white(&keyframe, cx, cy);
    assert!(text > 150 && text > 5 * plain.max(1), "caption text: {text} white pixels, {plain} without a tour");
}

#[test]
fn a_bad_tour_is_refused_before_anything_opens() {
    let home = tempfile::tempdir().unwrap();
    let tour = home.path().join("bad.toml");
    std::fs::write(&tour, TOUR.replace("pitch = 60", "pitch = 95")).unwrap();
    // No server is listening there: the tour is refused before the display tries to connect.
    let out =
        gridwall(home.path(), &["--server", "ws://127.0.0.1:9", "--tour", tour.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.toml line 13: step 2: camera"), "{err}");
    // A follower panel does not play a tour; its leader does.
    std::fs::write(&tour, TOUR).unwrap();
    let out =
        gridwall(home.path(), &["--wall", "2x1", "--tile", "0,0", "--tour", tour.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give the tour to the leader"));
}
