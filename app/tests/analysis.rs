//! The 研判 panel as the real display renders it (Mesa's software Vulkan, windowless captures),
//! over a server with three weeks of synthesized history and a burst of blocked pipes warned in
//! one community: the trend page draws the observed line over its band and the weekday × hour
//! calendar; the ranking page its score bars; the warnings page the warning in its level's
//! colour, and finding the warned community opens it. Without the panel the same corner shows
//! only its small 研判 button.

mod support;

use std::time::{Duration, Instant};

use gridwall_testkit::server::{BackgroundServer, helsinki_config, helsinki_past};
use gridwall_testkit::shots::{Shot, keep};
use support::{live, report_pipe_burst, run_gridwall};

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    match ureq::get(format!("http://{addr}{path}")).call() {
        Ok(mut res) => (200, serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap()),
        Err(ureq::Error::StatusCode(code)) => (code, serde_json::Value::Null),
        Err(e) => panic!("{path}: {e}"),
    }
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < end, "waited a minute for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Near an egui colour (the panel is drawn in sRGB; blending moves it a little).
fn near(c: [i32; 3], want: [i32; 3], tol: i32) -> bool {
    (0..3).all(|k| (c[k] - want[k]).abs() <= tol)
}

#[test]
fn the_analysis_panel_draws_the_trend_the_ranking_and_a_warning() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    helsinki_past(data.path(), 21, 150, 11);
    let mut config = helsinki_config(data.path());
    config.live.analysis.every_s = 0.2;
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), config, 2).unwrap();
    let addr = server.addr;
    wait("the analysis to read the store", || (get(addr, "/api/v1/analysis/trend?hours=24").0 == 200).then_some(()));

    // Six blocked pipes at one place: a volume warning for that community.
    report_pipe_burst(addr, 40.0, 60.0, 3.0);
    let scope = wait("a volume warning", || {
        let (_, list) = get(addr, "/api/v1/warnings");
        list["warnings"]
            .as_array()?
            .iter()
            .find(|w| w["kind"] == "volume")
            .map(|w| w["scope"].as_str().unwrap().to_owned())
    });

    let (w, h) = (1280, 720);
    let shot = |name: &str, extra: &[&str]| {
        let path = home.path().join(name);
        let mut args = vec!["--wait-ready", "--screenshot", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_gridwall(home.path(), &live(addr, (w, h), &args));
        keep(&format!("analysis-{name}"), &path);
        Shot::read(&path)
    };
    let closed = shot("closed.png", &[]);
    let trend = shot("trend.png", &["--analysis", "trend"]);
    let ranking = shot("ranking.png", &["--analysis", "ranking"]);
    let warnings = shot("warnings.png", &["--analysis", "warnings"]);
    // A click on the warned community (here: finding it) opens its warning in the panel.
    let opened = shot("opened.png", &["--search", scope.as_str()]);
    drop(server);

    // The panel: 500 × ~560 points under the title at 1080 p (here two thirds of that), a dark
    // translucent frame over the map.
    let scale = h as f64 / 1080.0;
    let px = |v: f64| (v * scale) as usize;
    let panel = (px(16.0), px(250.0), px(510.0), px(880.0));
    let (x0, y0, x1, y1) = panel;
    let differ = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let (a, b) = (trend.at(x, y), closed.at(x, y));
            (0..3).map(|k| (i32::from(a[k]) - i32::from(b[k])).abs()).max().unwrap_or(0) > 30
        })
        .count();
    assert!(differ * 4 > (x1 - x0) * (y1 - y0), "the panel covers the corner: {differ} pixels differ");
    let observed = |c: [i32; 3]| near(c, [140, 217, 255], 30);
    let (t, c) = (trend.count(panel, observed), closed.count(panel, observed));
    assert!(t > 150 && c * 10 < t, "the observed line: {t} pixels, {c} without the panel");
    // The calendar's hottest tiles (yellow to red) in its rows at the panel's foot.
    let hot = |[r, g, b]: [i32; 3]| r > 200 && g > 120 && b < 110;
    let rows = (x0, px(700.0), x1, px(880.0));
    assert!(trend.count(rows, hot) > 20, "the calendar's hot tiles: {}", trend.count(rows, hot));

    // The ranking's score bars (the theme's toggle blue) and the warnings page's level chip.
    let bar = |c: [i32; 3]| near(c, [20, 51, 107], 18);
    assert!(ranking.count(panel, bar) > 400, "score bars: {}", ranking.count(panel, bar));
    assert!(closed.count(panel, bar) < ranking.count(panel, bar) / 4);
    let chip = |[r, g, b]: [i32; 3]| r > 220 && b < 80 && g > 10;
    assert!(warnings.count(panel, chip) > 80, "the warning's level chip: {}", warnings.count(panel, chip));
    assert!(opened.count(panel, chip) > 80, "the warning opened: {}", opened.count(panel, chip));
    assert!(closed.count(panel, chip) < 20, "nothing of it with the panel closed");
}
