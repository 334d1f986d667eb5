//! The web display in a real browser: Debian's chromium (software `WebGL2` through `SwiftShader`)
//! driven by playwright-core (`testkit::browser`), against a real server serving the app built
//! for wasm32 (`scripts/build-web`, which `scripts/test` runs first). It draws the city and the
//! incident where the native display does; a commander signs in, clicks the incident and
//! assigns the nearest patrol (the server's record says so); a viewer sees no 派遣 and the server
//! refuses it anyway; a wrong token is told why; the page reconnects after the server restarts;
//! a search typed in Chinese finds its community.
//! Captures are kept under `GRIDWALL_TEST_SHOTS`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gridwall::scene::SceneInfo;
use gridwall_testkit::browser::{Browser, web_dist};
use gridwall_testkit::paths::CELL;
use gridwall_testkit::server::{BackgroundServer, RoleTokens, call_with, helsinki_config, helsinki_frame, urlencode};
use gridwall_testkit::shots::{Shot, is_building, keep};
use gridwall_testkit::{now_ms, now_ts};
use serde_json::{Value, json};
use support::{cached_scene, live, project, red_near, run_gridwall};

const W: usize = 1280;
const H: usize = 720;
const READY: Duration = Duration::from_mins(5);

/// The share of the middle of a capture that looks built.
fn built_share(shot: &Shot) -> f64 {
    let built =
        shot.count((W / 4, H / 4, W * 3 / 4, H * 3 / 4), |p| is_building(p.map(|v| u8::try_from(v).unwrap_or(0))));
    built as f64 / (W as f64 / 2.0 * H as f64 / 2.0)
}

/// Opens a manhole incident through Open311 at local (`x`, `y`); its id.
fn report(addr: SocketAddr, token: Option<&str>, (x, y): (f64, f64)) -> u64 {
    let (lon, lat) = helsinki_frame().to_wgs84(x, y).unwrap();
    let form = format!(
        "service_code=manhole_damage&lat={lat}&long={lon}&description={}&attribute[cover_type]=rain&attribute[fault]=broken",
        urlencode("井盖破损")
    );
    let url = format!("http://{addr}/open311/v2/requests.json");
    let (status, body) = call_with("POST", &url, token, "application/x-www-form-urlencoded", form.as_bytes());
    assert_eq!(status, 201, "{body}");
    body[0]["service_request_id"].as_str().unwrap().parse().unwrap()
}

/// The scene as the native display caches it (a windowless run against `addr`), and its capture.
fn native_capture(home: &Path, addr: SocketAddr, token: Option<&str>, out: &Path) -> SceneInfo {
    let mut rest = vec!["--wait-ready", "--screenshot", out.to_str().unwrap()];
    if let Some(t) = token {
        rest.extend(["--token", t]);
    }
    run_gridwall(home, &live(addr, (W, H), &rest));
    SceneInfo::load(&cached_scene(home, addr)).unwrap()
}

#[test]
fn the_browser_draws_the_city_and_the_incident_where_the_native_display_does() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut config = helsinki_config(data.path());
    config.web = Some(web_dist());
    let server = BackgroundServer::start("127.0.0.1:0".parse().unwrap(), config, 2).unwrap();
    let spot = (150.0, -200.0);
    report(server.addr, None, spot);

    let native = home.path().join("native.png");
    let scene = native_capture(home.path(), server.addr, None, &native);
    let mut browser = Browser::start();
    browser.open("desk", &format!("http://{}/", server.addr));
    let seconds = browser.ready("desk", READY);
    let web = home.path().join("web.png");
    let page = browser.shot("desk", &web);
    let (frames, mean_ms, p95_ms) = browser.frames("desk", 10);
    eprintln!("ready after {seconds:.1} s; {frames} frames in 10 s, mean {mean_ms:.0} ms, p95 {p95_ms:.0} ms");
    keep("web-city.png", &web);
    keep("web-city-native.png", &native);
    let native = Shot::read(&native);
    assert_eq!((page.w, page.h), (W, H));
    let at = project(&scene, W, H, spot.0, spot.1, 15.0);
    for (name, shot) in [("native", &native), ("browser", &page)] {
        let share = built_share(shot);
        assert!(share > 0.08, "{name}: only {:.1} % of the middle looks built", share * 100.0);
        let red = red_near(shot, at, 8);
        assert!(red >= 4, "{name}: {red} red pixels where the incident is ({at:?})");
    }
    // And the same city: the two pictures' built areas agree.
    let (a, b) = (built_share(&native), built_share(&page));
    assert!((a - b).abs() < 0.25 * a.max(b), "built {:.1} % natively, {:.1} % in the browser", a * 100.0, b * 100.0);
}

/// The 派遣 buttons' orange (`palette::ACTION`) in the detail panel's part of a capture; their
/// centre, if any.
fn assign_button(shot: &Shot) -> Option<(f32, f32)> {
    let (mut n, mut sx, mut sy) = (0usize, 0usize, 0usize);
    for y in 0..H * 3 / 4 {
        for x in W * 2 / 3..W {
            let [r, g, b] = shot.at(x, y).map(i32::from);
            if (r - 230).abs() < 30 && (g - 89).abs() < 30 && b < 70 {
                n += 1;
                sx += x;
                sy += y;
            }
        }
    }
    (n > 60).then(|| (sx as f32 / n as f32, sy as f32 / n as f32))
}

/// Light text in the detail panel's part of a capture (the panel is open).
fn panel_text(shot: &Shot) -> usize {
    shot.count((W * 56 / 100, H * 4 / 100, W * 97 / 100, H * 60 / 100), |[r, g, b]| r > 150 && g > 170 && b > 200)
}

/// `GET path` with a token: the JSON answer.
fn get(addr: SocketAddr, token: &str, path: &str) -> (u16, Value) {
    call_with("GET", &format!("http://{addr}{path}"), Some(token), "", b"")
}

fn serve(data: &Path, tokens: &RoleTokens, addr: SocketAddr) -> BackgroundServer {
    let mut config = helsinki_config(data);
    config.web = Some(web_dist());
    config.auth = Some(tokens.file.clone());
    BackgroundServer::start(addr, config, 2).unwrap()
}

#[test]
fn a_commander_assigns_in_the_browser_a_viewer_cannot_and_the_page_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let tokens = RoleTokens::new();
    let server = serve(data.path(), &tokens, "127.0.0.1:0".parse().unwrap());
    let addr = server.addr;
    let spot = (150.0, -200.0);
    let incident = report(addr, Some(&tokens.intake), spot);
    // 喆 is outside the page's font subset: the full font behind it draws the name.
    let patrol = json!([{"patrol_id": "P-1", "name": "网格员陈喆", "role": "grid_worker", "grid": CELL}]);
    let url = |p: &str| format!("http://{addr}{p}");
    let post = |path: &str, token: &str, body: &Value| {
        call_with("POST", &url(path), Some(token), "application/json", body.to_string().as_bytes())
    };
    let (s, b) = post("/api/v1/patrols", &tokens.admin, &patrol);
    assert_eq!(s, 200, "{b}");
    let (lon, lat) = helsinki_frame().to_wgs84(spot.0 + 60.0, spot.1 + 40.0).unwrap();
    let (s, b) = post(
        "/api/v1/positions",
        &tokens.device,
        &json!([{"patrol_id": "P-1", "lon": lon, "lat": lat, "ts": now_ts()}]),
    );
    assert_eq!(s, 202, "{b}");
    let scene = native_capture(home.path(), addr, Some(&tokens.viewer), &home.path().join("native.png"));
    let target = project(&scene, W, H, spot.0, spot.1, 15.0);
    let shots = |name: &str| home.path().join(name);
    let mut browser = Browser::start();

    // A wrong token: the page says why and offers the sign-in form; no cookie is set.
    let landed = browser.open("stranger", &url("/?token=gw_not-a-token&lang=en"));
    assert!(landed.ends_with("/?lang=en&signin=refused"), "{landed}");
    let (status, shown) = browser.text("stranger", "#status");
    assert!(shown && status.as_deref().is_some_and(|s| s.contains("does not know this token")), "{status:?}");
    assert!(browser.text("stranger", "#login").1, "the sign-in form is shown");
    assert!(browser.cookies("stranger").is_empty());
    browser.close("stranger");

    // A viewer (a wall's kiosk address): signed in by cookie, the token gone from the address.
    let landed = browser.open("viewer", &url(&format!("/?token={}", tokens.viewer)));
    assert_eq!(landed, url("/"));
    let cookies = browser.cookies("viewer");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!((cookies[0]["httpOnly"].as_bool(), cookies[0]["sameSite"].as_str()), (Some(true), Some("Strict")));
    browser.ready("viewer", READY);
    browser.click("viewer", target);
    browser
        .until("viewer", &shots("viewer-panel.png"), Duration::from_secs(90), |s| panel_text(s) > 400)
        .unwrap_or_else(|s| panic!("no panel for the viewer ({} text px)", panel_text(&s)));
    // Give the nearest patrols time to arrive, then look again: still no 派遣.
    std::thread::sleep(Duration::from_secs(5));
    let panel = browser.shot("viewer", &shots("viewer-panel.png"));
    keep("web-viewer-panel.png", &shots("viewer-panel.png"));
    assert_eq!(assign_button(&panel), None, "a viewer is shown 派遣");
    let step = json!({"action": "dispatch", "assignee": "P-1", "actor": "大屏"}).to_string();
    let transitions = url(&format!("/api/v1/incidents/{incident}/transitions"));
    let (s, b) = call_with("POST", &transitions, Some(&tokens.viewer), "application/json", step.as_bytes());
    assert_eq!(s, 403, "the server took a viewer's command: {b}");
    browser.close("viewer");

    // A commander, through the sign-in form's route: click, panel, 派遣.
    browser.open("desk", &url(&format!("/?token={}", tokens.commander)));
    browser.ready("desk", READY);
    browser.click("desk", target);
    let panel = browser
        .until("desk", &shots("desk-panel.png"), Duration::from_secs(90), |s| assign_button(s).is_some())
        .unwrap_or_else(|s| panic!("no 派遣 in the commander's panel ({} text px)", panel_text(&s)));
    keep("web-desk-panel.png", &shots("desk-panel.png"));
    assert_eq!(browser.responses("desk", "/web/font-full.ttc"), [200], "the full font behind the subset");
    browser.click("desk", assign_button(&panel).unwrap());
    let deadline = now_ms() + 60_000;
    loop {
        let (s, detail) = get(addr, &tokens.commander, &format!("/api/v1/incidents/{incident}"));
        assert_eq!(s, 200, "{detail}");
        if detail["assignee"] == "P-1" {
            let step = &detail["timeline"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(step["to"], "dispatched", "{detail}");
            break;
        }
        assert!(now_ms() < deadline, "the click on 派遣 assigned nothing: {detail}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The server restarts on the same address; the page reconnects (with its cookie) and shows
    // an incident reported after the restart, in the middle where the camera flew.
    let before = browser.shot("desk", &shots("before-restart.png"));
    let middle = (W as f32 / 2.0, H as f32 / 2.0);
    let red_before = red_near(&before, middle, 200);
    drop(server);
    std::thread::sleep(Duration::from_secs(2));
    let server = serve(data.path(), &tokens, addr);
    report(server.addr, Some(&tokens.intake), (spot.0 + 25.0, spot.1 + 15.0));
    browser
        .until("desk", &shots("after-restart.png"), Duration::from_mins(2), |s| {
            red_near(s, middle, 200) > red_before + 30
        })
        .unwrap_or_else(|s| {
            panic!("no new incident after the restart ({} red px, {red_before} before)", red_near(&s, middle, 200))
        });
    keep("web-after-restart.png", &shots("after-restart.png"));

    // Search in Chinese: Esc closes the panel; `/` opens the box, whose text the page's field
    // takes (as an input method commits it); Enter finds the community and opens its panel.
    browser.press("desk", "Escape");
    browser
        .until("desk", &shots("closed.png"), Duration::from_mins(1), |s| panel_text(s) < 100)
        .unwrap_or_else(|s| panic!("Esc left the panel open ({} text px)", panel_text(&s)));
    browser.press("desk", "/");
    std::thread::sleep(Duration::from_secs(3));
    browser.type_text("desk", "第1街道第6社区");
    std::thread::sleep(Duration::from_secs(3));
    browser.press("desk", "Enter");
    browser
        .until("desk", &shots("searched.png"), Duration::from_mins(1), |s| panel_text(s) > 400)
        .unwrap_or_else(|s| panic!("the search opened no panel ({} text px)", panel_text(&s)));
    keep("web-search.png", &shots("searched.png"));
}
