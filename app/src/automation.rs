//! Scripted use of the display, for captures, tests, docs and benchmarks. Everything here
//! starts when the display enters [`Readiness::Ready`] (or, for a capture without `--wait-ready`,
//! once shaders are compiled):
//! * `--click X,Y` and `--search TEXT` act as a commander would; a capture then waits until the
//!   camera has landed and the server's answers are in.
//! * `--screenshot FILE` and `--record DIR --frames N --every-ms MS` render without a window into
//!   an image ([`Offscreen`]) and save PNGs, then exit.
//! * `--bench-frames N` times N frames and prints the statistics, then exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::ui::IsDefaultUiCamera;

use crate::AppSystems;
use crate::loading::{LoadProgress, Readiness, SETTLE_FRAMES};
use crate::map::{Click, Flight, OrbitCamera, Search, Selection, Tile};

/// What to capture.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureKind {
    /// One frame to this PNG.
    Screenshot(PathBuf),
    /// `frames` frames, `every` apart, to `DIR/frame-0000.png`, `frame-0001.png`, …
    Record { dir: PathBuf, frames: u32, every: Duration },
}

/// What the display is to do by itself (from the command line).
#[derive(Resource, Debug, Clone, Default)]
pub struct Script {
    /// Click at this point of the view once ready.
    pub click: Option<Vec2>,
    /// Search for this once ready.
    pub search: Option<String>,
    /// Capture, then exit.
    pub capture: Option<CaptureKind>,
    /// Before the first capture, wait for everything to load (not only for shaders).
    pub wait_ready: bool,
    /// Time this many frames once ready, print the statistics, exit.
    pub bench_frames: Option<usize>,
    /// The window or image size (for the benchmark's report).
    pub size: (u32, u32),
    /// A tour is shown at a fixed time (`--tour-at` with a capture): wait for its step's
    /// incident and flight like for a click.
    pub tour_at: bool,
}

impl Script {
    fn acts(&self) -> bool {
        self.click.is_some() || self.search.is_some() || self.tour_at
    }
}

/// Rendering without a window: every camera draws into an image of this size (a panel's).
#[derive(Resource, Debug, Clone, Copy)]
pub struct Offscreen {
    pub size: UVec2,
}

/// The image a camera renders into when there is no window, and what its captures are called.
#[derive(Component, Debug, Clone)]
pub struct CaptureImage {
    pub image: Handle<Image>,
    /// `-C-R` after the file name when several panels are captured, else nothing.
    pub suffix: String,
}

/// A render-target image of `size` for windowless capture.
fn offscreen_image(images: &mut Assets<Image>, size: UVec2) -> Handle<Image> {
    let mut image = Image::new_target_texture(size.x, size.y, TextureFormat::Rgba8UnormSrgb, None);
    image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    images.add(image)
}

/// `out.png` with a suffix: `out-1-0.png`.
fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return path.to_owned();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}{ext}"))
}

/// How the scripted actions are doing.
#[derive(Resource, Debug, Default)]
struct Progress {
    /// Frames in a row with the actions played out (`None` before they ran).
    settled: Option<u32>,
    captures_requested: u32,
    captures_saved: Arc<AtomicUsize>,
    last_capture: Option<Duration>,
    frame_times_ms: Vec<f64>,
}

impl Progress {
    /// No action to wait for, or the actions ran, the camera landed and the answers are in.
    fn settled(&self, script: &Script) -> bool {
        !script.acts() || self.settled.is_some_and(|n| n >= SETTLE_FRAMES)
    }
}

pub struct AutomationPlugin;

impl Plugin for AutomationPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Script>()
            .init_resource::<Progress>()
            .add_message::<Click>()
            .add_message::<Search>()
            .add_systems(PostStartup, render_offscreen.run_if(resource_exists::<Offscreen>))
            .add_systems(OnEnter(Readiness::Ready), act)
            .add_systems(Update, (settle, capture, time_frames).chain().in_set(AppSystems::Present));
    }
}

/// Points every camera at an image of its own (the first one also draws the UI that names no
/// camera).
fn render_offscreen(
    mut commands: Commands,
    offscreen: Res<Offscreen>,
    mut images: ResMut<Assets<Image>>,
    cameras: Query<(Entity, &Tile), With<OrbitCamera>>,
) {
    let mut cameras: Vec<(Entity, UVec2)> = cameras.iter().map(|(e, t)| (e, t.0)).collect();
    cameras.sort_by_key(|(_, t)| (t.y, t.x));
    let several = cameras.len() > 1;
    for (i, (cam, tile)) in cameras.into_iter().enumerate() {
        let image = offscreen_image(&mut images, offscreen.size);
        let suffix = if several { format!("-{}-{}", tile.x, tile.y) } else { String::new() };
        let mut e = commands.entity(cam);
        e.insert((RenderTarget::Image(image.clone().into()), CaptureImage { image, suffix }));
        if i == 0 {
            e.insert(IsDefaultUiCamera);
        }
    }
}

/// The commander's scripted actions, once everything is there to act on.
fn act(
    script: Res<Script>,
    mut progress: ResMut<Progress>,
    mut clicks: MessageWriter<Click>,
    mut searches: MessageWriter<Search>,
) {
    if let Some(at) = script.click {
        info!("scripted click at {at}");
        clicks.write(Click(at));
    }
    if let Some(text) = &script.search {
        info!("scripted search for {text:?}");
        searches.write(Search(text.clone()));
    }
    if script.acts() {
        progress.settled = Some(0);
    }
}

/// Counts the frames since the actions played out: no flight, no question unanswered.
fn settle(mut progress: ResMut<Progress>, selection: Res<Selection>, flights: Query<(), With<Flight>>) {
    if let Some(n) = progress.settled {
        let busy = selection.asked > 0 || !flights.is_empty();
        progress.settled = Some(if busy { 0 } else { n.saturating_add(1) });
    }
}

fn capture(
    mut commands: Commands,
    script: Res<Script>,
    state: Res<State<Readiness>>,
    loading: Res<LoadProgress>,
    targets: Query<&CaptureImage>,
    time: Res<Time<Real>>,
    mut progress: ResMut<Progress>,
) {
    let Some(kind) = &script.capture else { return };
    let (total, every) = match kind {
        CaptureKind::Screenshot(_) => (1, Duration::ZERO),
        CaptureKind::Record { frames, every, .. } => (*frames, *every),
    };
    if progress.captures_requested >= total {
        return;
    }
    if progress.captures_requested == 0 {
        let wanted = if script.wait_ready { Readiness::Ready } else { Readiness::Loading };
        if *state.get() < wanted || !loading.is_compiled() || !progress.settled(&script) {
            return;
        }
    }
    let now = time.elapsed();
    if progress.last_capture.is_some_and(|t| now < t + every) {
        return;
    }
    let path = match kind {
        CaptureKind::Screenshot(p) => p.clone(),
        CaptureKind::Record { dir, .. } => dir.join(format!("frame-{:04}.png", progress.captures_requested)),
    };
    progress.captures_requested += 1;
    progress.last_capture = Some(now);
    // One file per panel (windowless), or the primary window's picture.
    let shots: Vec<(Screenshot, PathBuf)> = if targets.is_empty() {
        vec![(Screenshot::primary_window(), path)]
    } else {
        targets.iter().map(|t| (Screenshot::image(t.image.clone()), with_suffix(&path, &t.suffix))).collect()
    };
    let expected = total as usize * shots.len();
    for (screenshot, path) in shots {
        info!("capturing {} ({}/{total})", path.display(), progress.captures_requested);
        let saved = progress.captures_saved.clone();
        commands.spawn(screenshot).observe(save_to_disk(path)).observe(
            move |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                // The file is written by the observer before this one; exit once the last is out.
                if saved.fetch_add(1, Ordering::SeqCst) + 1 == expected {
                    exit.write(AppExit::Success);
                }
            },
        );
    }
}

fn time_frames(
    script: Res<Script>,
    state: Res<State<Readiness>>,
    time: Res<Time<Real>>,
    mut progress: ResMut<Progress>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(frames) = script.bench_frames else { return };
    if *state.get() != Readiness::Ready || progress.frame_times_ms.len() >= frames {
        return;
    }
    progress.frame_times_ms.push(time.delta_secs_f64() * 1000.0);
    if progress.frame_times_ms.len() == frames {
        let mut t = progress.frame_times_ms.clone();
        t.sort_by(f64::total_cmp);
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        let at = |q: f64| t[((t.len() - 1) as f64 * q) as usize];
        println!(
            "frame time over {} frames at {}x{}: mean {mean:.1} ms ({:.1} fps), p50 {:.1} ms, p99 {:.1} ms",
            t.len(),
            script.size.0,
            script.size.1,
            1000.0 / mean,
            at(0.5),
            at(0.99)
        );
        exit.write(AppExit::Success);
    }
}
