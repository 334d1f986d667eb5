//! The display in a browser (`wasm32`): the page's own server is the server. Before the app
//! starts it fetches what the native display downloads into its cache — the scene's manifest,
//! the grid outlines, the CJK font — then starts the same [`crate::AppPlugin`] on the page's
//! canvas (`#gridwall`), the model loaded over HTTP from `/scene/`. The page's address sets
//! the rest: `?lang=en`, `?analysis=trend`. The browser's sign-in cookie (`/login` or
//! `/?token=`, server/src/srv/signin.rs) goes with every request and the socket: the app holds
//! no token.
//! A start that fails says why on the page.

use std::path::PathBuf;

use bevy::asset::{AssetMetaCheck, AssetPlugin};
use bevy::prelude::*;
use bevy::window::WindowPlugin;
use gridwall_scene::SceneManifest;
use wasm_bindgen::prelude::*;

use crate::automation::Script;
use crate::loading::Readiness;
use crate::map::HeatmapOn;
use crate::net::NetConfig;
use crate::scene::{GridsText, SceneInfo};
use crate::theme::lang::Lang;
use crate::theme::widgets::HudVisible;
use crate::wall::WallLayout;
use crate::wall::sync::CastTarget;

/// Where the page's CJK font is (subset to the text the display uses, `scripts/build-web`).
const FONT_URL: &str = "web/font.ttf";

/// Starts the display on the page (called by the wasm binary's `main`).
pub fn start() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        match prepare().await {
            Ok(mut app) => {
                app.run();
            }
            Err(e) => say(&format!("gridwall: {e}")),
        }
    });
}

/// Puts a message where the page shows the display's state.
fn say(text: &str) {
    web_sys::console::error_1(&text.into());
    let status = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("status"));
    if let Some(el) = status {
        el.set_text_content(Some(text));
        let _ = el.set_attribute("class", "error");
    }
}

/// GETs `url` (the browser adds its sign-in cookie): its body, or why not, in the server's words.
async fn get(url: &str) -> Result<Vec<u8>, String> {
    let (status, body) = crate::net::web_get(url).await?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let why = serde_json::from_slice::<gridwall_protocol::api::ErrorBody>(&body)
        .map_or_else(|_| format!("HTTP {status}"), |b| b.error.message);
    Err(match status {
        401 => format!("请登录 · sign in: {why}"),
        403 => format!("此令牌无权查看城市 · this token may not read the city: {why}"),
        _ => format!("{url}: {why}"),
    })
}

/// The app, once the scene, the grids and the font are here.
async fn prepare() -> Result<App, String> {
    let window = web_sys::window().ok_or("no window")?;
    let location = window.location();
    let origin = location.origin().map_err(|e| format!("{e:?}"))?;
    let params =
        web_sys::UrlSearchParams::new_with_str(&location.search().unwrap_or_default()).map_err(|e| format!("{e:?}"))?;
    let lang = if params.get("lang").as_deref() == Some("en") { Lang::En } else { Lang::Zh };
    let analysis = params.get("analysis").and_then(|a| a.parse::<crate::map::AnalysisTab>().ok());
    let manifest = get(&format!("{origin}/scene/scene.toml")).await?;
    let manifest = SceneManifest::parse(&String::from_utf8_lossy(&manifest)).map_err(|e| e.to_string())?;
    let grids = get(&format!("{origin}/api/v1/grids")).await?;
    match get(&format!("{origin}/{FONT_URL}")).await {
        Ok(font) => crate::theme::font::provide_font(font),
        Err(e) => web_sys::console::warn_1(&format!("gridwall: no CJK font ({e})").into()),
    }
    let ws = origin.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1) + "/ws";
    let (w, h) = (window.inner_width(), window.inner_height());
    let size = |v: Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).map_or(1280, |v| v as u32);
    let title = format!("gridwall — {} ({})", manifest.display_name, manifest.attribution);
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title,
                    canvas: Some("#gridwall".into()),
                    fit_canvas_to_parent: true,
                    prevent_default_event_handling: true,
                    ..default()
                }),
                ..default()
            })
            .set(AssetPlugin { file_path: "scene".into(), meta_check: AssetMetaCheck::Never, ..default() }),
    );
    app.insert_resource(SceneInfo { manifest, dir: PathBuf::from("scene") })
        .insert_resource(GridsText(String::from_utf8_lossy(&grids).into_owned()))
        .insert_resource(lang)
        .add_plugins(crate::AppPlugin)
        .insert_resource(NetConfig { url: ws })
        .insert_resource(HeatmapOn(false))
        .insert_resource(HudVisible(true))
        .insert_resource(WallLayout::default())
        .insert_resource(CastTarget("main".into()))
        .insert_resource(Script {
            click: None,
            search: None,
            capture: None,
            wait_ready: false,
            bench_frames: None,
            size: (size(w), size(h)),
            tour_at: false,
        });
    if let Some(tab) = analysis {
        app.insert_resource(crate::analysis::AnalysisStart(tab));
    }
    app.add_systems(OnExit(Readiness::Compiling), || page_event("gridwall-drawing"))
        .add_systems(OnEnter(Readiness::Ready), || page_event("gridwall-ready"));
    Ok(app)
}

/// Tells the page (and a test driving it) how far the display got.
fn page_event(name: &str) {
    if let (Some(w), Ok(e)) = (web_sys::window(), web_sys::Event::new(name)) {
        let _ = w.dispatch_event(&e);
    }
}
