//! The display against a server that checks tokens: with a viewer token it fetches the city and
//! streams the live layers (the incident's marker is on the capture); without one, or with an
//! unknown one, it stops at once saying why, instead of showing a cached city that can never
//! connect.

mod support;

use gridwall::scene::SceneInfo;
use gridwall_testkit::server::{BackgroundServer, RoleTokens, call_with, helsinki_config, helsinki_frame};
use gridwall_testkit::shots::Shot;
use support::{cached_scene, gridwall, live, project, red_near, run_gridwall};

#[test]
fn a_wall_shows_the_city_with_its_viewer_token_and_says_why_without_one() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let tokens = RoleTokens::new();
    let mut config = helsinki_config(data.path());
    config.auth = Some(tokens.file.clone());
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), config, 1).unwrap();
    let (ix, iy) = (150.0, -200.0);
    let (lon, lat) = helsinki_frame().to_wgs84(ix, iy).unwrap();
    let form = format!("service_code=manhole_damage&lat={lat}&long={lon}");
    let url = format!("http://{}/open311/v2/requests.json", server.addr);
    let (status, body) =
        call_with("POST", &url, Some(&tokens.intake), "application/x-www-form-urlencoded", form.as_bytes());
    assert_eq!(status, 201, "{body}");

    let (w, h) = (640, 360);
    let out = home.path().join("wall.png");
    let with_token =
        live(server.addr, (w, h), &["--token", &tokens.viewer, "--wait-ready", "--screenshot", out.to_str().unwrap()]);
    run_gridwall(home.path(), &with_token);
    let scene = SceneInfo::load(&cached_scene(home.path(), server.addr)).unwrap();
    let here = red_near(&Shot::read(&out), project(&scene, w, h, ix, iy, 15.0), 6);
    assert!(here >= 4, "{here} red pixels at the incident: the live layers came over the socket");

    // Now with a city in the cache: still refused at once, never "reconnecting" forever.
    for (args, says) in [
        (vec![], "--token"),
        (vec!["--token", "gw_not-a-token"], "does not know this token"),
        (vec!["--token", tokens.device.as_str()], "viewer token"),
    ] {
        let mut rest = args.clone();
        rest.extend(["--screenshot", out.to_str().unwrap()]);
        let run = gridwall(home.path(), &live(server.addr, (w, h), &rest)).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} started");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
