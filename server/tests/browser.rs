//! The web display in a real browser: Debian's chromium (software `WebGL2` through `SwiftShader`),
//! driven by playwright-core (`tools/web-test/shot.mjs`), opens a real server's page, the Bevy
//! app built for wasm32 (`scripts/build-web`, which `scripts/test` runs first) starts, says it is
//! ready, and draws the city's buildings. The capture is kept under `GRIDWALL_TEST_SHOTS`.

use std::path::Path;
use std::process::Command;

use gridwall_testkit::server::TestServer as Server;
use gridwall_testkit::shots::{Shot, is_building, keep};

#[test]
fn the_web_display_draws_the_city_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
    let dist = root.join("web/dist");
    assert!(
        dist.join("gridwall_bg.wasm").is_file(),
        "the web display is not built in {}: run scripts/build-web (scripts/test does)",
        dist.display()
    );
    let s = Server::start(move |c| c.web = Some(dist));
    let out = tempfile::tempdir().unwrap();
    let shot = out.path().join("web-city.png");
    let run = Command::new("node")
        .current_dir(root.join("tools/web-test"))
        .args(["shot.mjs", &format!("http://{}/", s.addr), shot.to_str().unwrap(), "240"])
        .output()
        .expect("node runs (scripts/setup-debian.sh installs it and playwright-core)");
    let log = String::from_utf8_lossy(&run.stdout);
    eprintln!("{log}{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the browser run failed");
    assert!(log.lines().any(|l| l.starts_with("stage gridwall-ready")), "the page never said it was ready");
    keep("web-city.png", &shot);
    let shot = Shot::read(&shot);
    assert_eq!((shot.w, shot.h), (1280, 720));
    // The city fills the middle of the view: buildings there, in the theme's blues.
    let built = shot.count((320, 180, 960, 540), |p| is_building(p.map(|v| u8::try_from(v).unwrap_or(0))));
    let share = built as f64 / (640.0 * 360.0);
    assert!(share > 0.08, "only {:.1} % of the middle looks built", share * 100.0);
}
