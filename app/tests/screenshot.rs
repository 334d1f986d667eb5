//! Rendering test: the real `gridwall` binary renders the shipped scene on a virtual screen
//! (Mesa's software Vulkan under Xvfb) and we look at the pixels.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

struct Shot {
    w: usize,
    h: usize,
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.w + x]
    }

    /// Mean of a rectangle, per channel, 0..255.
    fn mean(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> [f64; 3] {
        let mut sum = [0.0; 3];
        for y in y0..y1 {
            for x in x0..x1 {
                let p = self.at(x, y);
                for k in 0..3 {
                    sum[k] += f64::from(p[k]);
                }
            }
        }
        let n = ((x1 - x0) * (y1 - y0)) as f64;
        sum.map(|s| s / n)
    }
}

fn capture(scene: &Path, size: &str, out: &Path) -> Shot {
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_gridwall"))
        .arg("--scene")
        .arg(scene)
        .args(["--size", size, "--screenshot"])
        .arg(out)
        .env("WGPU_BACKEND", "vulkan")
        .status()
        .expect("xvfb-run must be installed (scripts/setup-debian.sh installs it)");
    assert!(status.success(), "gridwall --screenshot failed: {status}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(out).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()].chunks_exact(channels).map(|c| [c[0], c[1], c[2]]).collect();
    Shot { w: info.width as usize, h: info.height as usize, rgb }
}

#[test]
fn the_helsinki_scene_renders_dark_background_and_lit_city() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("helsinki.png");
    let shot = capture(&repo().join("scenes/helsinki"), "640x360", &out);
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
