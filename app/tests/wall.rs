//! Video walls on the software renderer: panels are exact parts of one logical view (bezels
//! included), `--all-tiles` renders every panel, a follower panel shows the view its leader
//! moved to, and a cast from a desk puts the incident's panel, large, on the wall.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use gridwall_protocol::wall::{Orbit, Selected, WallView};
use gridwall_protocol::{ClientMessage, ServerMessage};
use gridwall_testkit::display::DisplayClient;
use gridwall_testkit::server::{BackgroundServer, helsinki_config};
use gridwall_testkit::shots::{Shot, keep};
use support::{live, red_near, run_gridwall, server_with_incident};

/// How many pixels of two equally sized captures differ noticeably (any channel by more than 40).
fn differing(a: &Shot, b: &Shot) -> usize {
    assert_eq!((a.w, a.h), (b.w, b.h));
    a.rgb.iter().zip(&b.rgb).filter(|(p, q)| (0..3).any(|k| (i32::from(p[k]) - i32::from(q[k])).abs() > 40)).count()
}

/// Columns `x0..x1` of a capture.
fn columns(s: &Shot, x0: usize, x1: usize) -> Shot {
    let rgb = (0..s.h).flat_map(|y| (x0..x1).map(move |x| (x, y))).map(|(x, y)| s.at(x, y)).collect();
    Shot { w: x1 - x0, h: s.h, rgb }
}

fn server(data: &Path) -> BackgroundServer {
    BackgroundServer::start("127.0.0.1:0".parse().unwrap(), helsinki_config(data), 1).unwrap()
}

const VIEW: &str = "0,0,20,60,900";

/// Renders the same view as one wide picture and as the two panels of a 2×1 wall; with `bezel`
/// pixels hidden between the panels, the wide picture includes them.
fn wide_and_panels(addr: SocketAddr, home: &Path, bezel: usize) -> (Shot, Shot, Shot) {
    let (w, h) = (480, 270);
    let wide = home.join(format!("wide-{bezel}.png"));
    run_gridwall(
        home,
        &live(
            addr,
            (2 * w + bezel, h),
            &["--hud", "off", "--wait-ready", "--camera", VIEW, "--screenshot", wide.to_str().unwrap()],
        ),
    );
    let tiles = home.join(format!("tiles-{bezel}.png"));
    let bezel_flag = format!("{bezel},0");
    let args = [
        "--wall",
        "2x1",
        "--all-tiles",
        "--bezel",
        &bezel_flag,
        "--hud",
        "off",
        "--wait-ready",
        "--camera",
        VIEW,
        "--screenshot",
        tiles.to_str().unwrap(),
    ];
    run_gridwall(home, &live(addr, (w, h), &args));
    let left = home.join(format!("tiles-{bezel}-0-0.png"));
    let right = home.join(format!("tiles-{bezel}-1-0.png"));
    keep(&format!("wall-wide-{bezel}.png"), &wide);
    keep(&format!("wall-left-{bezel}.png"), &left);
    keep(&format!("wall-right-{bezel}.png"), &right);
    (Shot::read(&wide), Shot::read(&left), Shot::read(&right))
}

#[test]
fn two_panels_are_the_two_halves_of_one_wide_view_bezels_included() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let s = server(data.path());
    for bezel in [0, 40] {
        let (wide, left, right) = wide_and_panels(s.addr, home.path(), bezel);
        let w = left.w;
        let (a, b) = (columns(&wide, 0, w), columns(&wide, w + bezel, 2 * w + bezel));
        let total = w * wide.h;
        let (dl, dr) = (differing(&a, &left), differing(&b, &right));
        assert!(dl * 200 < total && dr * 200 < total, "bezel {bezel}: {dl} and {dr} of {total} pixels differ");
        // And the panels are not simply alike: the halves differ from each other.
        assert!(differing(&left, &right) * 10 > total, "both panels show the same picture");
    }
}

#[test]
fn all_tiles_of_a_two_by_two_wall_are_four_captures() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let s = server(data.path());
    let out = home.path().join("wall.png");
    let args = ["--wall", "2x2", "--all-tiles", "--wait-ready", "--screenshot", out.to_str().unwrap()];
    run_gridwall(home.path(), &live(s.addr, (320, 180), &args));
    let shots: Vec<Shot> =
        ["0-0", "1-0", "0-1", "1-1"].iter().map(|t| Shot::read(&home.path().join(format!("wall-{t}.png")))).collect();
    for (i, a) in shots.iter().enumerate() {
        assert_eq!((a.w, a.h), (320, 180));
        for b in &shots[i + 1..] {
            assert!(differing(a, b) > 320 * 18, "two panels show the same picture");
        }
    }
}

/// The leader's view, published over the socket as a leading display would.
fn lead(addr: SocketAddr, view: WallView) -> DisplayClient {
    let mut leader = DisplayClient::connect(addr, false);
    leader.send(&ClientMessage::JoinWall { wall: "main".into(), lead: true });
    leader.send(&ClientMessage::LeadWall { view: Box::new(view) });
    // Echoed to the leader too once it is the group's view.
    leader.until("the group's view", |m| matches!(m, ServerMessage::WallView { .. }).then_some(()));
    leader
}

#[test]
fn a_follower_panel_shows_the_view_its_leader_moved_to() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let s = server(data.path());
    let orbit = Orbit { x: 120.0, y: 250.0, heading: 0.5, pitch: 1.1, distance: 600.0 };
    let _leader = lead(s.addr, WallView::at(orbit, 0));
    let (w, h) = (480, 270);
    let follower = home.path().join("follower.png");
    run_gridwall(
        home.path(),
        &live(
            s.addr,
            (w, h),
            &[
                "--wall",
                "1x1",
                "--tile",
                "0,0",
                "--hud",
                "off",
                "--wait-ready",
                "--screenshot",
                follower.to_str().unwrap(),
            ],
        ),
    );
    // The same view asked for directly (heading and pitch in degrees).
    let camera = format!("120,250,{},{},600", -orbit.heading.to_degrees(), orbit.pitch.to_degrees());
    let direct = home.path().join("direct.png");
    run_gridwall(
        home.path(),
        &live(
            s.addr,
            (w, h),
            &["--hud", "off", "--wait-ready", "--camera", &camera, "--screenshot", direct.to_str().unwrap()],
        ),
    );
    let overview = home.path().join("overview.png");
    run_gridwall(
        home.path(),
        &live(s.addr, (w, h), &["--hud", "off", "--wait-ready", "--screenshot", overview.to_str().unwrap()]),
    );
    keep("wall-follower.png", &follower);
    let (f, d, o) = (Shot::read(&follower), Shot::read(&direct), Shot::read(&overview));
    let total = w * h;
    assert!(
        differing(&f, &d) * 200 < total,
        "the follower's picture is not the leader's view: {} px differ",
        differing(&f, &d)
    );
    assert!(differing(&f, &o) * 10 > total, "the follower still shows the overview");
}

#[test]
fn a_cast_from_the_desk_flies_the_wall_there_and_shows_the_incident_large() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (ix, iy) = (150.0, -200.0);
    let s = server_with_incident(data.path(), ix, iy);
    // The desk casts incident 1, seen from 450 m straight above-ish.
    let mut desk = DisplayClient::connect(s.addr, false);
    let mut view = WallView::at(Orbit { x: ix, y: iy, heading: 0.0, pitch: 1.2, distance: 450.0 }, 0);
    view.selection = Some(Selected::Incident(1));
    desk.send(&ClientMessage::Cast { wall: "main".into(), view: Some(Box::new(view)) });
    std::thread::sleep(std::time::Duration::from_millis(300));

    let (w, h) = (960, 540);
    let wall = home.path().join("cast.png");
    let args = ["--wall", "1x1", "--tile", "0,0", "--wait-ready", "--screenshot", wall.to_str().unwrap()];
    run_gridwall(home.path(), &live(s.addr, (w, h), &args));
    keep("wall-cast.png", &wall);
    let shot = Shot::read(&wall);
    // The wall flew to the incident: its red column is at the centre…
    assert!(red_near(&shot, (w as f32 / 2.0, h as f32 / 2.0), 40) > 50, "no incident at the centre of the wall");
    // …and its panel fills most of the right half, in large type: lots of light text there.
    let text = shot.count((w / 2, 0, w, h * 3 / 4), |[r, g, b]| r > 150 && g > 170 && b > 200);
    assert!(text > 2_500, "only {text} text pixels of a large incident panel");
}
