//! Readiness as a state: [`Readiness::Compiling`] until the first render pipelines are
//! compiled, [`Readiness::Loading`] until everything features said they wait for (the city
//! model, the first live snapshot) is in and nothing is left to compile, then
//! [`Readiness::Ready`] for good. Features say what they wait for with [`LoadProgress`]; the
//! render world reports pipelines still compiling.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy::prelude::*;
use bevy::render::render_resource::{DownlevelFlags, PipelineCache, PipelineDescriptor};
use bevy::render::renderer::RenderAdapter;
use bevy::render::{Render, RenderApp};

/// Frames in a row that must pass with nothing left to compile (and, for `Ready`, nothing left
/// to load) before the state moves on.
pub const SETTLE_FRAMES: u32 = 3;

#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Readiness {
    /// Shaders are compiling; nothing can be drawn yet.
    #[default]
    Compiling,
    /// Shaders are compiled; the scene or live data is still on its way (the display already
    /// shows what it has, e.g. "connecting").
    Loading,
    /// Everything is loaded and compiled.
    Ready,
}

/// What the display still waits for before it is ready, by name.
#[derive(Resource, Debug, Default)]
pub struct LoadProgress {
    pending: BTreeSet<&'static str>,
    compiled_frames: u32,
    settled_frames: u32,
}

impl LoadProgress {
    /// Readiness waits for this too.
    pub fn wait_for(&mut self, what: &'static str) {
        self.pending.insert(what);
    }

    /// It is in.
    pub fn done(&mut self, what: &'static str) {
        self.pending.remove(what);
    }

    pub fn is_pending(&self, what: &'static str) -> bool {
        self.pending.contains(what)
    }

    /// Nothing has been left to compile for a few frames now (pipelines can appear at any
    /// time, e.g. when a panel first opens).
    pub fn is_compiled(&self) -> bool {
        self.compiled_frames >= SETTLE_FRAMES
    }
}

/// Pipelines still compiling, as last seen by the render world (`usize::MAX` until it looked).
#[derive(Resource, Clone)]
struct WaitingPipelines(Arc<AtomicUsize>);

pub struct LoadingPlugin;

impl Plugin for LoadingPlugin {
    fn build(&self, app: &mut App) {
        let waiting = WaitingPipelines(Arc::new(AtomicUsize::new(usize::MAX)));
        app.init_state::<Readiness>()
            .init_resource::<LoadProgress>()
            .insert_resource(waiting)
            .add_systems(Last, advance_readiness);
    }

    /// The render world is looked at once it exists: in a browser the renderer starts
    /// asynchronously, after every plugin's `build`.
    fn finish(&self, app: &mut App) {
        let waiting = app.world().resource::<WaitingPipelines>().clone();
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app.insert_resource(waiting).add_systems(Render, count_waiting_pipelines);
        }
    }
}

/// Counts the pipelines still to compile. A compute pipeline counts only where the device runs
/// compute shaders: on WebGL2 Bevy still queues its own (the sparse buffer updater), which can
/// never be created there, and readiness would wait for it forever.
fn count_waiting_pipelines(cache: Res<PipelineCache>, adapter: Res<RenderAdapter>, waiting: Res<WaitingPipelines>) {
    let all = cache.waiting_pipelines().count();
    // Most frames nothing waits, and where compute runs everything counts: no need to look.
    if all == 0 || adapter.get_downlevel_capabilities().flags.contains(DownlevelFlags::COMPUTE_SHADERS) {
        waiting.0.store(all, Ordering::Relaxed);
        return;
    }
    let is_compute = |id: usize| {
        cache
            .pipelines()
            .nth(id)
            .is_some_and(|p| matches!(p.descriptor, PipelineDescriptor::ComputePipelineDescriptor(_)))
    };
    waiting.0.store(cache.waiting_pipelines().filter(|&id| !is_compute(id)).count(), Ordering::Relaxed);
}

fn advance_readiness(
    waiting: Res<WaitingPipelines>,
    mut progress: ResMut<LoadProgress>,
    state: Res<State<Readiness>>,
    mut next: ResMut<NextState<Readiness>>,
) {
    let compiled = waiting.0.load(Ordering::Relaxed) == 0;
    progress.compiled_frames = if compiled { progress.compiled_frames.saturating_add(1) } else { 0 };
    let settled = compiled && progress.pending.is_empty();
    progress.settled_frames = if settled { progress.settled_frames.saturating_add(1) } else { 0 };
    let want = if progress.settled_frames >= SETTLE_FRAMES {
        Readiness::Ready
    } else if progress.compiled_frames >= SETTLE_FRAMES {
        Readiness::Loading
    } else {
        Readiness::Compiling
    };
    // Only forward: a display that was ready stays ready (a lost link is the link's business).
    if want > *state.get() {
        next.set(want);
    }
}
