//! `gridwall`: the display.

use std::path::PathBuf;

use bevy::app::ScheduleRunnerPlugin;
use bevy::asset::AssetPlugin;
use bevy::prelude::*;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use clap::Parser;
use gridwall::automation::{CaptureKind, Script};
use gridwall::map::{HeatmapOn, OrbitCamera, StartView};
use gridwall::net::NetConfig;
use gridwall::scene::SceneInfo;
use gridwall::theme::lang::Lang;

#[derive(Parser)]
#[command(name = "gridwall", version, about = "gridwall display: the 3D command-center view of a scene")]
struct Cli {
    /// The backend, e.g. `ws://127.0.0.1:7878`: the scene is fetched from it and the live layers
    /// stream from it. Without it the display shows a local scene folder only.
    #[arg(long)]
    server: Option<String>,
    /// Scene folder (made by `gridwall-server import`), when no --server is given.
    #[arg(long, default_value = "scenes/helsinki")]
    scene: PathBuf,
    /// Render without a window, save one frame to this PNG and exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Render without a window and save `--frames` frames to this folder (frame-0000.png, …).
    #[arg(long, conflicts_with = "screenshot")]
    record: Option<PathBuf>,
    /// How many frames `--record` saves.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    frames: u32,
    /// At least this many milliseconds between two recorded frames.
    #[arg(long, default_value_t = 0)]
    every_ms: u64,
    /// Before the first capture, wait until the city is loaded and the first live snapshot has
    /// arrived (shaders are always compiled first). Without it the capture shows whatever is
    /// there once the shaders are ready, e.g. the "connecting" state.
    #[arg(long)]
    wait_ready: bool,
    /// Start view: `X,Y,HEADING,PITCH,DISTANCE` (focus in local metres, degrees, metres); the
    /// default is an overview of the whole scene.
    #[arg(long, value_parser = OrbitCamera::parse, allow_hyphen_values = true)]
    camera: Option<OrbitCamera>,
    /// Once ready, click at this point of the view (`X,Y` in pixels from the top left), as a
    /// commander would; a capture then waits for the camera flight and the detail panel.
    #[arg(long, value_parser = parse_point)]
    click: Option<Vec2>,
    /// Once ready, search for an incident id, a grid code or a grid name (as typed after `/`).
    #[arg(long)]
    search: Option<String>,
    /// Start with the incident heatmap shown (`H` toggles it).
    #[arg(long)]
    heatmap: bool,
    /// Once everything is loaded, time this many frames, print the frame-time statistics and exit.
    #[arg(long)]
    bench_frames: Option<usize>,
    /// HUD language: zh (default) or en.
    #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
    lang: String,
    /// Window size, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
    size: (u32, u32),
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT, e.g. 1920x1080")?;
    let w: u32 = w.parse().map_err(|_| format!("bad width {w:?}"))?;
    let h: u32 = h.parse().map_err(|_| format!("bad height {h:?}"))?;
    if w == 0 || h == 0 || w > 16_384 || h > 16_384 {
        return Err("size must be between 1x1 and 16384x16384".into());
    }
    Ok((w, h))
}

fn parse_point(s: &str) -> Result<Vec2, String> {
    let (x, y) = s.split_once(',').ok_or("expected X,Y")?;
    let x: f32 = x.trim().parse().map_err(|_| format!("bad x {x:?}"))?;
    let y: f32 = y.trim().parse().map_err(|_| format!("bad y {y:?}"))?;
    Ok(Vec2::new(x, y))
}

fn absolute(path: PathBuf) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() { path } else { std::env::current_dir()?.join(path) })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (scene, net) = match &cli.server {
        Some(server) => {
            let cache =
                std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from).join(".cache/gridwall/scenes");
            let remote = gridwall::remote::fetch_scene(server, &cache)?;
            (remote.info, Some(NetConfig { url: remote.ws_url }))
        }
        None => (SceneInfo::load(&cli.scene)?, None),
    };
    let title = format!("gridwall — {} ({})", scene.manifest.display_name, scene.manifest.attribution);
    let capture = match (cli.screenshot, cli.record) {
        (Some(path), _) => Some(CaptureKind::Screenshot(absolute(path)?)),
        (None, Some(dir)) => {
            let dir = absolute(dir)?;
            std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            Some(CaptureKind::Record { dir, frames: cli.frames, every: std::time::Duration::from_millis(cli.every_ms) })
        }
        (None, None) => None,
    };
    let mut app = App::new();
    let assets = AssetPlugin { file_path: scene.dir.display().to_string(), ..default() };
    if capture.is_some() {
        // Captures render into an image: no window, no display server needed.
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: None,
                    exit_condition: ExitCondition::DontExit,
                    close_when_requested: false,
                    ..default()
                })
                .set(assets)
                .disable::<WinitPlugin>(),
        )
        .add_plugins(ScheduleRunnerPlugin::run_loop(std::time::Duration::ZERO));
        let mut images = app.world_mut().resource_mut::<Assets<Image>>();
        let offscreen = gridwall::automation::offscreen_image(&mut images, UVec2::new(cli.size.0, cli.size.1));
        app.insert_resource(offscreen);
    } else {
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title,
                        resolution: WindowResolution::new(cli.size.0, cli.size.1),
                        ..default()
                    }),
                    ..default()
                })
                .set(assets),
        );
    }
    app.insert_resource(scene)
        .insert_resource(if cli.lang == "en" { Lang::En } else { Lang::Zh })
        .add_plugins(gridwall::AppPlugin);
    if let Some(net) = net {
        app.insert_resource(net);
    }
    if let Some(view) = cli.camera {
        app.insert_resource(StartView(view));
    }
    app.insert_resource(HeatmapOn(cli.heatmap));
    app.insert_resource(Script {
        click: cli.click,
        search: cli.search,
        capture,
        wait_ready: cli.wait_ready,
        bench_frames: cli.bench_frames.filter(|&n| n > 0),
        size: cli.size,
    });
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => anyhow::bail!("display exited with code {code}"),
    }
}
