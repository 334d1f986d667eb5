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

#[derive(Resource, Default)]
struct CaptureProgress {
    settled: u32,
    taken: bool,
}

pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        let waiting = WaitingPipelines(Arc::new(AtomicUsize::new(usize::MAX)));
        app.insert_resource(waiting.clone()).init_resource::<CaptureProgress>().add_systems(Update, take_screenshot_when_ready);
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app.insert_resource(waiting).add_systems(Render, count_waiting_pipelines);
        }
    }
}

fn count_waiting_pipelines(cache: Res<PipelineCache>, waiting: Res<WaitingPipelines>) {
    waiting.0.store(cache.waiting_pipelines().count(), Ordering::Relaxed);
}

fn take_screenshot_when_ready(
    mut commands: Commands,
    request: Option<Res<CaptureRequest>>,
    city: Option<Res<CityModel>>,
    assets: Res<AssetServer>,
    waiting: Res<WaitingPipelines>,
    mut progress: ResMut<CaptureProgress>,
    net: Option<Res<NetConfig>>,
    live: Option<Res<LiveStatus>>,
) {
    let (Some(request), Some(city)) = (request, city) else { return };
    if progress.taken {
        return;
    }
    let live_ready = net.is_none() || live.is_some_and(|l| l.snapshots > 0);
    let loaded = live_ready && assets.is_loaded_with_dependencies(city.0.id());
    if loaded && waiting.0.load(Ordering::Relaxed) == 0 {
        progress.settled += 1;
    } else {
        progress.settled = 0;
    }
    if progress.settled < SETTLE_FRAMES {
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
