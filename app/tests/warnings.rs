//! 预警 on the map, as the real display renders it (Mesa's software Vulkan, windowless
//! captures): a burst of reports in one community is warned by the server, and the display
//! outlines that community in the warning's colour where it showed the usual cyan line before.

mod support;

use std::time::{Duration, Instant};

use gridwall::scene::SceneInfo;
use gridwall_testkit::server::{BackgroundServer, helsinki_config};
use gridwall_testkit::shots::{Shot, keep};
use support::{cached_scene, live, project, report_pipe_burst, run_gridwall};

fn get(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let mut res = ureq::get(format!("http://{addr}{path}")).call().unwrap();
    serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn a_warned_community_is_outlined_in_its_warning_colour() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut config = helsinki_config(data.path());
    // A fresh store has no history: warn from the first day (any burst is beyond nothing).
    config.live.analysis.min_history_days = 0.0;
    config.live.analysis.every_s = 0.2;
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), config, 2).unwrap();
    let addr = server.addr;
    let (w, h) = (960, 540);
    let before = home.path().join("before.png");
    run_gridwall(home.path(), &live(addr, (w, h), &["--wait-ready", "--screenshot", before.to_str().unwrap()]));

    // Six blocked pipes reported at one place.
    report_pipe_burst(addr, 150.0, -200.0, 4.0);
    let end = Instant::now() + Duration::from_secs(30);
    let warned = loop {
        let list = get(addr, "/api/v1/warnings");
        if let Some(w) = list["warnings"].as_array().unwrap().iter().find(|w| w["kind"] == "volume") {
            break w.clone();
        }
        assert!(Instant::now() < end, "no volume warning: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let scope = warned["scope"].as_str().unwrap().to_owned();
    let outlines = get(addr, "/api/v1/grids");
    let unit = outlines["grids"].as_array().unwrap().iter().find(|g| g["code"] == scope.as_str()).unwrap().clone();
    let after = home.path().join("after.png");
    run_gridwall(home.path(), &live(addr, (w, h), &["--wait-ready", "--screenshot", after.to_str().unwrap()]));
    drop(server);
    keep("warned-community.png", &after);
    let scene = SceneInfo::load(&cached_scene(home.path(), addr)).unwrap();
    let (before, after) = (Shot::read(&before), Shot::read(&after));

    // Along the warned community's outline: the warning's red or orange (pulsing, bright), where
    // the capture before had the community's cyan line.
    let warm = |[r, g, b]: [i32; 3]| r > 190 && b < 110 && r > g + 60;
    let ring: Vec<[f64; 2]> =
        unit["rings"][0].as_array().unwrap().iter().map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]).collect();
    let (mut lit, mut was_lit, mut seen) = (0, 0, 0);
    for pair in ring.windows(2) {
        let mid = [f64::midpoint(pair[0][0], pair[1][0]), f64::midpoint(pair[0][1], pair[1][1])];
        let at = project(&scene, w, h, mid[0], mid[1], 2.0);
        if at.0 < 8.0 || at.1 < 8.0 || at.0 > w as f32 - 8.0 || at.1 > h as f32 - 8.0 {
            continue;
        }
        seen += 1;
        lit += usize::from(after.count_near(at, 4, warm) >= 3);
        was_lit += usize::from(before.count_near(at, 4, warm) >= 3);
    }
    assert!(seen >= 4, "the community's outline is on screen ({seen} edges)");
    assert!(lit * 3 >= seen * 2, "{lit} of {seen} edges of {scope} in the warning's colour");
    assert!(was_lit * 3 < seen, "{was_lit} of {seen} edges were warm before the warning");
}
