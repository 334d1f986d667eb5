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
    let form =
        format!("service_code=manhole_damage&lat={lat}&long={lon}&attribute[cover_type]=rain&attribute[fault]=missing");
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

#[test]
fn a_display_streams_over_tls_when_it_trusts_the_servers_ca() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let certs = gridwall_testkit::tls::certs();
    let mut config = helsinki_config(data.path());
    config.tls_cert = Some(certs.join("server.pem"));
    config.tls_key = Some(certs.join("server.key"));
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), config, 1).unwrap();
    let (w, h) = (480, 270);
    let out = home.path().join("tls.png");
    let url = format!("wss://{}", server.addr);
    let ca = certs.join("ca.pem");
    let args = ["--server", &url, "--size", &format!("{w}x{h}"), "--ca-file", ca.to_str().unwrap()];
    let mut with_ca = args.to_vec();
    with_ca.extend(["--wait-ready", "--screenshot", out.to_str().unwrap()]);
    run_gridwall(home.path(), &with_ca);
    assert!(Shot::read(&out).rgb.len() == w * h, "a capture of the city over wss://");
    // Without the CA the certificate is not trusted: refused, saying why.
    let run = gridwall(home.path(), &["--server", &url, "--screenshot", out.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "an untrusted server was used");
    assert!(stderr.to_lowercase().contains("certificate") || stderr.contains("UnknownIssuer"), "{stderr}");
}
