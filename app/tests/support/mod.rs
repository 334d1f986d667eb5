//! What the display's rendering tests share: running the real `gridwall` binary, pointing it at
//! a server, where things land on a capture, and a server with an incident to look at.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

use gridwall::map::OrbitCamera;
use gridwall::scene::SceneInfo;
use gridwall_testkit::photos::multipart;
use gridwall_testkit::server::{BackgroundServer, helsinki_config, helsinki_frame};
use gridwall_testkit::shots::Shot;

/// The display binary, windowless (no X display), with `HOME` (its scene cache) in `home`.
pub fn gridwall<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(home: &Path, args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gridwall"));
    c.env_remove("DISPLAY").env("WGPU_BACKEND", "vulkan").env("HOME", home).args(args);
    c
}

/// Runs the display to completion; it must succeed.
pub fn run_gridwall<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(home: &Path, args: &[S]) {
    let status = gridwall(home, args).status().expect("run gridwall");
    assert!(status.success(), "gridwall {args:?} failed: {status}");
}

/// The display's arguments for the server at `addr` and a `w`×`h` picture, then `rest`.
pub fn live(addr: std::net::SocketAddr, (w, h): (usize, usize), rest: &[&str]) -> Vec<String> {
    let mut args = vec!["--server".to_owned(), format!("ws://{addr}"), "--size".to_owned(), format!("{w}x{h}")];
    args.extend(rest.iter().map(|a| (*a).to_owned()));
    args
}

/// Where a local point (x east, y north, `up` metres high) lands on a `w`×`h` capture of the
/// overview camera (the display's default view; Bevy's default 45° vertical field of view).
pub fn project(scene: &SceneInfo, w: usize, h: usize, x: f64, y: f64, up: f32) -> (f32, f32) {
    project_from(&OrbitCamera::overview(scene), w, h, x, y, up)
}

pub fn project_from(orbit: &OrbitCamera, w: usize, h: usize, x: f64, y: f64, up: f32) -> (f32, f32) {
    use bevy::math::{Mat4, Vec3, Vec4Swizzles};
    let view = orbit.transform().to_matrix().inverse();
    let proj = Mat4::perspective_rh(std::f32::consts::FRAC_PI_4, w as f32 / h as f32, 0.1, 100_000.0);
    let clip = proj * view * Vec3::new(x as f32, up, -(y as f32)).extend(1.0);
    let ndc = clip.xy() / clip.w;
    (f32::midpoint(ndc.x, 1.0) * w as f32, (1.0 - ndc.y) / 2.0 * h as f32)
}

/// Red pixels (an accepted incident's marker) within `r` pixels of a point.
pub fn red_near(shot: &Shot, at: (f32, f32), r: i32) -> usize {
    shot.count_near(at, r, |[r, g, b]| r > 140 && r > g + 70 && r > b + 70)
}

/// Where a display run with `HOME=home` keeps the scene it fetched from the server at `addr`.
pub fn cached_scene(home: &Path, addr: std::net::SocketAddr) -> PathBuf {
    home.join(format!(".cache/gridwall/scenes/{}", addr.to_string().replace(':', "_")))
}

/// A server on the shipped scene with one manhole incident reported through Open311 at the
/// local point (`ix`, `iy`).
pub fn server_with_incident(data: &Path, ix: f64, iy: f64) -> BackgroundServer {
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), helsinki_config(data), 1).unwrap();
    let (lon, lat) = helsinki_frame().to_wgs84(ix, iy).unwrap();
    // As a resident's app reports it: the manhole's attributes and a photo (a magenta one, for
    // the panel's pixels to be found).
    let (lat, lon) = (lat.to_string(), lon.to_string());
    let (ctype, body) = multipart(
        &[
            ("service_code", "manhole_damage"),
            ("lat", &lat),
            ("long", &lon),
            ("description", "井盖破损"),
            ("attribute[cover_type]", "sewage"),
            ("attribute[fault]", "broken"),
        ],
        &[("media", "photo.png", "image/png", &magenta_png())],
    );
    let res = ureq::post(format!("http://{}/open311/v2/requests.json", server.addr))
        .header("content-type", &ctype)
        .send(&body[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    server
}

/// A photo of one saturated colour, 320 × 240.
pub fn magenta_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(320, 240, image::Rgb([255, 0, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// A server on the shipped scene with a manhole incident reported through Open311 at each local
/// point (four reporters at once, as a busy day's intake would).
pub fn server_with_incidents(data: &Path, points: &[(f64, f64)]) -> BackgroundServer {
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), helsinki_config(data), 2).unwrap();
    let url = format!("http://{}/open311/v2/requests.json", server.addr);
    let frame = helsinki_frame();
    let lonlat: Vec<(f64, f64)> = points.iter().map(|&(x, y)| frame.to_wgs84(x, y).unwrap()).collect();
    std::thread::scope(|scope| {
        for part in lonlat.chunks(lonlat.len().div_ceil(4).max(1)) {
            let url = &url;
            scope.spawn(move || {
                for &(lon, lat) in part {
                    let form = format!(
                        "service_code=manhole_damage&lat={lat}&long={lon}&description=x&attribute[cover_type]=rain&attribute[fault]=missing"
                    );
                    let res = ureq::post(url).header("content-type", "application/x-www-form-urlencoded").send(form);
                    assert_eq!(res.unwrap().status().as_u16(), 201);
                }
            });
        }
    });
    server
}

/// Six blocked pipes reported over Open311 a few metres apart from local point (x, y) eastwards:
/// a burst the server's analysis warns.
pub fn report_pipe_burst(addr: std::net::SocketAddr, x: f64, y: f64, step_m: f64) {
    let frame = helsinki_frame();
    for k in 0..6 {
        let (lon, lat) = frame.to_wgs84(x + f64::from(k) * step_m, y).unwrap();
        let form = format!("service_code=pipe_blockage&lat={lat}&long={lon}&description=x");
        let res = ureq::post(format!("http://{addr}/open311/v2/requests.json"))
            .header("content-type", "application/x-www-form-urlencoded")
            .send(form)
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
    }
}
