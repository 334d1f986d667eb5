//! Capture for tests, docs and demos. `--screenshot out.png` and `--record DIR --frames N` render
//! without a window into an image target; `--wait-ready` holds the first capture until the scene
//! is loaded and the first live snapshot has arrived (when connected to a server). Every capture
//! waits until no render pipeline is left to compile. `--bench-frames N` times frames in a window.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::{PipelineCache, TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::render::{Render, RenderApp};
use bevy::ui::IsDefaultUiCamera;

use crate::camera::OrbitCamera;
use crate::city::CityModel;
use crate::net::{LiveStatus, NetConfig};

/// Frames that must pass with nothing left to compile (and, with `wait_ready`, everything
/// loaded) before the first capture.
const SETTLE_FRAMES: u32 = 3;

/// What to capture.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureKind {
    /// One frame to this PNG.
    Screenshot(PathBuf),
    /// `frames` frames, `every` apart, to `DIR/frame-0000.png`, `frame-0001.png`, …
    Record { dir: PathBuf, frames: u32, every: Duration },
}

/// A capture to make, then exit.
#[derive(Resource, Debug, Clone)]
pub struct CaptureRequest {
    pub kind: CaptureKind,
    /// Also wait for the city model and the first live snapshot before the first frame.
    pub wait_ready: bool,
}

/// The offscreen image the camera renders into when there is no window.
#[derive(Resource, Debug, Clone)]
pub struct Offscreen {
    pub image: Handle<Image>,
    pub size: UVec2,
}

/// Pipelines still compiling, as last seen by the render world.
#[derive(Resource, Clone, Default)]
pub struct WaitingPipelines(Arc<AtomicUsize>);

/// How many frames in a row have had everything loaded and nothing left to compile.
#[derive(Resource, Default, Debug)]
pub struct Readiness {
    settled: u32,
    compiled: u32,
}

impl Readiness {
    /// Scene loaded, first snapshot in (when live) and shaders compiled, for a few frames.
    pub fn is_ready(&self) -> bool {
        self.settled >= SETTLE_FRAMES
    }

    /// Shaders compiled for a few frames (the scene or live data may still be on their way).
    pub fn is_compiled(&self) -> bool {
        self.compiled >= SETTLE_FRAMES
    }
}

/// `--bench-frames N`: once ready, time N frames, print the statistics and exit.
#[derive(Resource, Debug)]
pub struct FrameBench {
    pub frames: usize,
    pub size: (u32, u32),
    times_ms: Vec<f64>,
}

impl FrameBench {
    pub fn new(frames: usize, size: (u32, u32)) -> Self {
        Self { frames, size, times_ms: Vec::with_capacity(frames) }
    }
}

#[derive(Resource, Default)]
struct CaptureProgress {
    requested: u32,
    saved: Arc<AtomicUsize>,
    last_at: Option<Duration>,
}

pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        let waiting = WaitingPipelines(Arc::new(AtomicUsize::new(usize::MAX)));
        app.insert_resource(waiting.clone())
            .init_resource::<CaptureProgress>()
            .init_resource::<Readiness>()
            .add_systems(PostStartup, render_offscreen.run_if(resource_exists::<Offscreen>))
            .add_systems(Update, (track_readiness, capture_when_ready, time_frames).chain());
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app.insert_resource(waiting).add_systems(Render, count_waiting_pipelines);
        }
    }
}

/// A render-target image of `size` for windowless capture.
pub fn offscreen_image(images: &mut Assets<Image>, size: UVec2) -> Offscreen {
    let mut image = Image::new_target_texture(size.x, size.y, TextureFormat::Rgba8UnormSrgb, None);
    image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    Offscreen { image: images.add(image), size }
}

/// Points the camera (and the UI) at the offscreen image.
fn render_offscreen(mut commands: Commands, offscreen: Res<Offscreen>, cameras: Query<Entity, With<OrbitCamera>>) {
    for cam in &cameras {
        commands.entity(cam).insert((RenderTarget::Image(offscreen.image.clone().into()), IsDefaultUiCamera));
    }
}

fn count_waiting_pipelines(cache: Res<PipelineCache>, waiting: Res<WaitingPipelines>) {
    waiting.0.store(cache.waiting_pipelines().count(), Ordering::Relaxed);
}

fn track_readiness(city: Option<Res<CityModel>>, assets: Res<AssetServer>, waiting: Res<WaitingPipelines>, net: Option<Res<NetConfig>>, live: Option<Res<LiveStatus>>, mut ready: ResMut<Readiness>) {
    let compiled = waiting.0.load(Ordering::Relaxed) == 0;
    ready.compiled = if compiled { ready.compiled.saturating_add(1) } else { 0 };
    let live_ready = net.is_none() || live.is_some_and(|l| l.snapshots > 0);
    let city_ready = city.is_some_and(|c| assets.is_loaded_with_dependencies(c.0.id()));
    ready.settled = if compiled && live_ready && city_ready { ready.settled.saturating_add(1) } else { 0 };
}

fn capture_when_ready(
    mut commands: Commands,
    request: Option<Res<CaptureRequest>>,
    ready: Res<Readiness>,
    offscreen: Option<Res<Offscreen>>,
    script: Option<Res<crate::select::Scripted>>,
    time: Res<Time<Real>>,
    mut progress: ResMut<CaptureProgress>,
) {
    let Some(request) = request else { return };
    let (total, every) = match &request.kind {
        CaptureKind::Screenshot(_) => (1, Duration::ZERO),
        CaptureKind::Record { frames, every, .. } => (*frames, *every),
    };
    if progress.requested >= total {
        return;
    }
    if progress.requested == 0 && !(if request.wait_ready { ready.is_ready() } else { ready.is_compiled() }) {
        return;
    }
    if progress.requested == 0 && script.is_some_and(|s| !s.is_done()) {
        return;
    }
    let now = time.elapsed();
    if progress.last_at.is_some_and(|t| now < t + every) {
        return;
    }
    let path = match &request.kind {
        CaptureKind::Screenshot(p) => p.clone(),
        CaptureKind::Record { dir, .. } => dir.join(format!("frame-{:04}.png", progress.requested)),
    };
    progress.requested += 1;
    progress.last_at = Some(now);
    info!("capturing {} ({}/{total})", path.display(), progress.requested);
    let screenshot = match &offscreen {
        Some(o) => Screenshot::image(o.image.clone()),
        None => Screenshot::primary_window(),
    };
    let saved = progress.saved.clone();
    commands.spawn(screenshot).observe(save_to_disk(path)).observe(move |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
        // The file is written by the observer before this one; exit once the last one is out.
        if saved.fetch_add(1, Ordering::SeqCst) + 1 == total as usize {
            exit.write(AppExit::Success);
        }
    });
}

fn time_frames(bench: Option<ResMut<FrameBench>>, ready: Res<Readiness>, time: Res<Time<Real>>, mut exit: MessageWriter<AppExit>) {
    let Some(mut bench) = bench else { return };
    if !ready.is_ready() || bench.times_ms.len() >= bench.frames {
        return;
    }
    bench.times_ms.push(time.delta_secs_f64() * 1000.0);
    if bench.times_ms.len() == bench.frames {
        let mut t = bench.times_ms.clone();
        t.sort_by(f64::total_cmp);
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        let at = |q: f64| t[((t.len() - 1) as f64 * q) as usize];
        println!(
            "frame time over {} frames at {}x{}: mean {mean:.1} ms ({:.1} fps), p50 {:.1} ms, p99 {:.1} ms",
            t.len(),
            bench.size.0,
            bench.size.1,
            1000.0 / mean,
            at(0.5),
            at(0.99)
        );
        exit.write(AppExit::Success);
    }
}
