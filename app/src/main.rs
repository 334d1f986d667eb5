//! `gridwall`: the display.

use std::path::PathBuf;

use bevy::asset::AssetPlugin;
use bevy::prelude::*;
use bevy::window::WindowResolution;
use clap::Parser;
use gridwall::capture::{CaptureRequest, FrameBench};
use gridwall::hud::Lang;
use gridwall::net::NetConfig;
use gridwall::scene::SceneInfo;

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
    /// Render, save one frame to this PNG once everything is loaded, and exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (scene, net) = match &cli.server {
        Some(server) => {
            let cache = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from).join(".cache/gridwall/scenes");
            let remote = gridwall::remote::fetch_scene(server, &cache)?;
            (remote.info, Some(NetConfig { url: remote.ws_url }))
        }
        None => (SceneInfo::load(&cli.scene)?, None),
    };
    let title = format!("gridwall — {} ({})", scene.display_name, scene.attribution);
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window { title, resolution: WindowResolution::new(cli.size.0, cli.size.1), ..default() }),
                ..default()
            })
            .set(AssetPlugin { file_path: scene.dir.display().to_string(), ..default() }),
    )
    .insert_resource(scene)
    .add_plugins(gridwall::AppPlugin);
    if let Some(net) = net {
        app.insert_resource(net);
    }
    app.insert_resource(if cli.lang == "en" { Lang::En } else { Lang::Zh });
    if let Some(n) = cli.bench_frames.filter(|&n| n > 0) {
        app.insert_resource(FrameBench::new(n, cli.size));
    }
    if let Some(path) = cli.screenshot {
        let path = if path.is_absolute() { path } else { std::env::current_dir()?.join(path) };
        app.insert_resource(CaptureRequest { path });
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => anyhow::bail!("display exited with code {code}"),
    }
}
