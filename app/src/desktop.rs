//! The native display: its flags, and the app they set up.

use std::path::PathBuf;

use bevy::app::ScheduleRunnerPlugin;
use bevy::asset::AssetPlugin;
use bevy::prelude::*;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use clap::Parser;
use gridwall::automation::{CaptureKind, Script};
use gridwall::map::{CameraControl, HeatmapOn, OrbitCamera, StartView, WallShape};
use gridwall::net::NetConfig;
use gridwall::scene::SceneInfo;
use gridwall::theme::lang::Lang;
use gridwall::theme::widgets::HudVisible;
use gridwall::tour::{Tour, TourScript};
use gridwall::wall::WallLayout;
use gridwall::wall::sync::{CastTarget, SyncLog, WallRole};

#[derive(Parser)]
#[command(name = "gridwall", version, about = "gridwall display: the 3D command-center view of a scene")]
struct Cli {
    /// The backend, e.g. `ws://127.0.0.1:7878`: the scene is fetched from it and the live layers
    /// stream from it. Without it the display shows a local scene folder only.
    #[arg(long)]
    server: Option<String>,
    /// The token for a server that checks them (`gridwall-server token add --role viewer` for a
    /// wall, `commander` for a desk); default: the `GRIDWALL_TOKEN` environment variable.
    #[arg(long)]
    token: Option<String>,
    /// For a `wss://` server with its own certificate authority: trust only the CA
    /// certificates in this PEM file (default: the usual web roots).
    #[arg(long)]
    ca_file: Option<PathBuf>,
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
    /// Window size, `WIDTHxHEIGHT` (on a wall: the size of one panel).
    #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
    size: (u32, u32),
    /// A video wall of `COLSxROWS` panels showing one view; give `--tile C,R` (this process is
    /// one panel) or `--all-tiles` (one window per panel). Panels follow the wall group
    /// `--wall-id` unless this display leads it (`--lead`).
    #[arg(long, value_parser = parse_size)]
    wall: Option<(u32, u32)>,
    /// The panel this process shows, `C,R` from the top left (0,0).
    #[arg(long, value_parser = parse_tile, requires = "wall", conflicts_with = "all_tiles")]
    tile: Option<(u32, u32)>,
    /// Open one window per panel (one PC driving the whole wall).
    #[arg(long, requires = "wall")]
    all_tiles: bool,
    /// Pixels hidden between neighbouring panels, `X,Y` (the bezels), so lines run straight across.
    #[arg(long, value_parser = parse_tile, requires = "wall")]
    bezel: Option<(u32, u32)>,
    /// Where the HUD goes on the wall and how large it is (a TOML file; see README).
    #[arg(long, requires = "wall")]
    wall_layout: Option<PathBuf>,
    /// The wall group to follow.
    #[arg(long, default_value = "main")]
    wall_id: String,
    /// Lead this wall group: this display's view (camera, selection, filters, heatmap, tour) is
    /// shown by every panel that follows the group.
    #[arg(long)]
    lead: Option<String>,
    /// The wall group `C` (投屏到大屏) casts the selection to.
    #[arg(long, default_value = "main")]
    cast_to: String,
    /// `off` hides the HUD and the map's labels (clean captures).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    hud: String,
    /// Play this tour (a TOML script; see README) once loaded, looping; any key or click pauses
    /// it. On a wall, give it to the leader.
    #[arg(long)]
    tour: Option<PathBuf>,
    /// Write each frame's local clock and the server time of the wall view shown to this file
    /// (measuring the skew between panels; see scripts/bench-wall).
    #[arg(long, requires = "wall")]
    sync_log: Option<PathBuf>,
    /// Start the tour this many seconds into its script; with `--screenshot` the tour stays there.
    #[arg(long, requires = "tour", value_parser = parse_seconds)]
    tour_at: Option<f64>,
    /// Start in replay: the city as it was at this time (RFC 3339, e.g.
    /// `2026-11-24T21:30:00+08:00`), within the history the server keeps. With `--screenshot
    /// --wait-ready` the capture shows the replay.
    #[arg(long, requires = "server")]
    replay_at: Option<String>,
    /// Open the 研判 panel at start on this page: trend, ranking or warnings (`J` opens and
    /// closes it). With `--screenshot --wait-ready` the capture waits for its answers.
    #[arg(long, value_parser = clap::value_parser!(gridwall::map::AnalysisTab))]
    analysis: Option<gridwall::map::AnalysisTab>,
    /// How fast `--replay-at` plays: replay ms per server ms (0 pauses; 1, 10, 60, 600…).
    #[arg(long, default_value_t = 0.0, requires = "replay_at", value_parser = parse_speed)]
    replay_speed: f64,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3_600.0).contains(&v) => Ok(v),
        _ => Err("a speed from 0 to 3600".into()),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err("seconds from 0 to 86400".into()),
    }
}

fn parse_tile(s: &str) -> Result<(u32, u32), String> {
    let (c, r) = s.split_once(',').ok_or("expected C,R, e.g. 1,0")?;
    let c: u32 = c.trim().parse().map_err(|_| format!("bad column {c:?}"))?;
    let r: u32 = r.trim().parse().map_err(|_| format!("bad row {r:?}"))?;
    if c > 10_000 || r > 10_000 {
        return Err("numbers up to 10000".into());
    }
    Ok((c, r))
}

/// The wall this display is part of, from the flags.
fn wall_shape(cli: &Cli) -> anyhow::Result<Option<WallShape>> {
    let Some((cols, rows)) = cli.wall else { return Ok(None) };
    anyhow::ensure!(cols <= 16 && rows <= 16, "--wall: at most 16 panels a side");
    let tiles = match (cli.tile, cli.all_tiles) {
        (Some((c, r)), false) => {
            anyhow::ensure!(c < cols && r < rows, "--tile {c},{r} is not a panel of a {cols}x{rows} wall");
            vec![UVec2::new(c, r)]
        }
        (None, true) => (0..rows).flat_map(|r| (0..cols).map(move |c| UVec2::new(c, r))).collect(),
        _ => anyhow::bail!("--wall needs --tile C,R (one panel) or --all-tiles (every panel)"),
    };
    let bezel = cli.bezel.map_or(UVec2::ZERO, |(x, y)| UVec2::new(x, y));
    Ok(Some(WallShape { cols, rows, panel: UVec2::new(cli.size.0, cli.size.1), bezel, tiles }))
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

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A bad wall flag or layout is refused before anything opens.
    let wall = wall_shape(&cli)?;
    let layout = cli.wall_layout.as_deref().map(WallLayout::load).transpose()?.unwrap_or_default();
    // So is a bad tour, or a tour on a panel that follows its group (the leader plays it).
    let tour = cli.tour.as_deref().map(TourScript::load).transpose()?;
    anyhow::ensure!(
        tour.is_none() || cli.wall.is_none() || cli.lead.is_some(),
        "--tour on a wall panel that follows its group: give the tour to the leader (--lead), or add --lead to this panel"
    );
    if wall.as_ref().is_some_and(WallShape::is_wall) {
        gridwall::theme::widgets::set_ui_scale(layout.scale);
    }
    let (scene, net) = match &cli.server {
        Some(server) => {
            let cache =
                std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from).join(".cache/gridwall/scenes");
            let token = cli.token.clone().or_else(|| std::env::var("GRIDWALL_TOKEN").ok()).filter(|t| !t.is_empty());
            let trust = match &cli.ca_file {
                Some(path) => gridwall::remote::Trust::from_ca_file(path)?,
                None => gridwall::remote::Trust::default(),
            };
            let remote = gridwall::remote::fetch_scene(server, &cache, token.as_deref(), &trust)?;
            (remote.info, Some(NetConfig { url: remote.ws_url, token, trust }))
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
        app.insert_resource(gridwall::automation::Offscreen { size: UVec2::new(cli.size.0, cli.size.1) });
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
    app.insert_resource(HudVisible(cli.hud == "on"))
        .insert_resource(layout)
        .insert_resource(CastTarget(cli.cast_to.clone()));
    match (&cli.lead, &wall) {
        (Some(lead), _) => {
            app.insert_resource(WallRole { wall: lead.clone(), lead: true });
        }
        (None, Some(_)) => {
            app.insert_resource(WallRole { wall: cli.wall_id.clone(), lead: false })
                .insert_resource(CameraControl::Wall);
        }
        (None, None) => {}
    }
    if let Some(shape) = wall {
        app.insert_resource(shape);
    }
    if let Some(path) = &cli.sync_log {
        let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        app.insert_resource(SyncLog(file));
    }
    if let Some(at) = cli.replay_at {
        app.insert_resource(gridwall::timebar::ReplayStart { at, speed: cli.replay_speed });
    }
    if let Some(tab) = cli.analysis {
        app.insert_resource(gridwall::analysis::AnalysisStart(tab));
    }
    let tour_at = cli.tour_at.is_some() && matches!(capture, Some(CaptureKind::Screenshot(_)));
    if let Some(script) = tour {
        app.insert_resource(Tour::new(script, cli.tour_at.unwrap_or(0.0), tour_at));
    }
    app.insert_resource(Script {
        click: cli.click,
        search: cli.search,
        capture,
        wait_ready: cli.wait_ready,
        bench_frames: cli.bench_frames.filter(|&n| n > 0),
        size: cli.size,
        tour_at,
    });
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => anyhow::bail!("display exited with code {code}"),
    }
}
