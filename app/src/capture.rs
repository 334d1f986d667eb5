//! `--screenshot out.png`: waits until the scene is loaded, the first live snapshot has arrived
//! (when connected to a server) and every render pipeline is compiled, then saves one frame of
//! the window and exits. Used for tests, docs and demos.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::render::{Render, RenderApp};

use crate::city::CityModel;
use crate::net::{LiveStatus, NetConfig};

/// Frames that must pass with nothing left to compile before the capture.
const SETTLE_FRAMES: u32 = 3;

/// Where to save the capture.
#[derive(Resource, Clone)]
pub struct CaptureRequest {
    pub path: PathBuf,
}

/// Pipelines still compiling, as last seen by the render world.
#[derive(Resource, Clone, Default)]
pub struct WaitingPipelines(Arc<AtomicUsize>);

/// How many frames in a row have had everything loaded and nothing left to compile.
#[derive(Resource, Default, Debug)]
pub struct Readiness {
    settled: u32,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.settled >= SETTLE_FRAMES
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
    taken: bool,
}

pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        let waiting = WaitingPipelines(Arc::new(AtomicUsize::new(usize::MAX)));
        app.insert_resource(waiting.clone())
            .init_resource::<CaptureProgress>()
            .init_resource::<Readiness>()
            .add_systems(Update, (track_readiness, take_screenshot_when_ready, time_frames).chain());
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app.insert_resource(waiting).add_systems(Render, count_waiting_pipelines);
        }
    }
}

fn count_waiting_pipelines(cache: Res<PipelineCache>, waiting: Res<WaitingPipelines>) {
    waiting.0.store(cache.waiting_pipelines().count(), Ordering::Relaxed);
}

fn track_readiness(city: Option<Res<CityModel>>, assets: Res<AssetServer>, waiting: Res<WaitingPipelines>, net: Option<Res<NetConfig>>, live: Option<Res<LiveStatus>>, mut ready: ResMut<Readiness>) {
    let Some(city) = city else { return };
    let live_ready = net.is_none() || live.is_some_and(|l| l.snapshots > 0);
    if live_ready && assets.is_loaded_with_dependencies(city.0.id()) && waiting.0.load(Ordering::Relaxed) == 0 {
        ready.settled = ready.settled.saturating_add(1);
    } else {
        ready.settled = 0;
    }
}

fn take_screenshot_when_ready(mut commands: Commands, request: Option<Res<CaptureRequest>>, ready: Res<Readiness>, mut progress: ResMut<CaptureProgress>) {
    let Some(request) = request else { return };
    if progress.taken || !ready.is_ready() {
        return;
    }
    progress.taken = true;
    info!("scene ready; capturing {}", request.path.display());
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(request.path.clone()))
        .observe(|_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
            exit.write(AppExit::Success);
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
