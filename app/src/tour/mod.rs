//! The delegation tour (`--tour FILE.toml`): a looping [`script`] of camera keyframes reached on
//! eased flights, captions in Chinese and English, highlights, the heatmap and an incident's
//! panel. It starts when the display is ready (at `--tour-at` seconds into the script), pauses at
//! any key or click so a visitor can explore, and resumes `idle_resume_s` after the last one,
//! flying on to the next step. On a wall the leader plays it: its flights go to the group as one
//! eased motion each, its caption and highlights with the view.

pub mod script;

use bevy::input::mouse::AccumulatedMouseScroll;
use bevy::prelude::*;
use gridwall_protocol::wall::Caption;

use crate::AppSystems;
use crate::loading::Readiness;
use crate::map::{
    AnalysisShown, Flight, HeatmapOn, IncidentMarker, OrbitCamera, Presentation, Select, Selection, Target, to_world,
};
use crate::net::{Answer, Ask};
pub use script::{IncidentPick, Step, TourScript};

/// A tour being played, and where it is.
#[derive(Resource, Debug)]
pub struct Tour {
    pub script: TourScript,
    /// Seconds into the script (grows past one round; the script wraps it).
    pub clock: f64,
    /// Stay at `clock` (a capture at `--tour-at`): the camera is set, not flown.
    pub frozen: bool,
    /// The step shown, once the tour started.
    step: Option<usize>,
    /// Paused by a visitor: the time (seconds of this display) of their last input.
    paused_at: Option<f32>,
    /// The incident the current step shows, once known.
    incident: Option<u64>,
    /// The step asked the server for the newest closed incident and waits for the answer.
    asking: bool,
    /// The camera went to the step's closed incident (later answers only refresh its panel).
    flown: bool,
}

impl Tour {
    pub fn new(script: TourScript, start_at: f64, frozen: bool) -> Self {
        Self {
            script,
            clock: start_at,
            frozen,
            step: None,
            paused_at: None,
            incident: None,
            asking: false,
            flown: false,
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }
}

/// Said while a visitor explores.
fn paused_caption(idle_s: f64) -> Caption {
    Caption {
        zh: format!("导览已暂停 · 无操作 {idle_s:.0} 秒后继续"),
        en: format!("Tour paused · resumes after {idle_s:.0} s without input"),
    }
}

pub struct TourPlugin;

impl Plugin for TourPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<Select>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .init_resource::<Presentation>()
            .init_resource::<HeatmapOn>()
            .init_resource::<AnalysisShown>()
            .init_resource::<Selection>()
            .add_systems(OnEnter(Readiness::Ready), start_tour.run_if(resource_exists::<Tour>))
            .add_systems(
                Update,
                (
                    pause_on_input.in_set(AppSystems::Input),
                    (play_tour, find_incident).chain().in_set(AppSystems::Select),
                )
                    .run_if(resource_exists::<Tour>.and_then(in_state(Readiness::Ready))),
            );
    }
}

fn start_tour(mut tour: ResMut<Tour>) {
    info!(
        "tour of {} steps ({:.0} s a round), from {:.1} s",
        tour.script.steps.len(),
        tour.script.length(),
        tour.clock
    );
    tour.step = None;
}

/// Any key, click or wheel turn pauses the tour (the visitor takes over); it resumes after
/// `idle_resume_s` of quiet.
fn pause_on_input(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    buttons: Option<Res<ButtonInput<MouseButton>>>,
    scroll: Option<Res<AccumulatedMouseScroll>>,
    time: Res<Time>,
    mut tour: ResMut<Tour>,
    mut presentation: ResMut<Presentation>,
    mut commands: Commands,
    flights: Query<Entity, With<Flight>>,
) {
    // A click can be pressed and released between two frames (at a frame a second it usually
    // is): it shows only as just released.
    let input = keys.is_some_and(|k| k.get_pressed().next().is_some() || k.get_just_released().next().is_some())
        || buttons.is_some_and(|b| b.get_pressed().next().is_some() || b.get_just_released().next().is_some())
        || scroll.is_some_and(|s| s.delta != Vec2::ZERO);
    if !input || tour.step.is_none() {
        return;
    }
    if tour.paused_at.is_none() {
        info!("tour paused for a visitor");
        // The visitor's hand, not the tour's flight, moves the camera now.
        for cam in &flights {
            commands.entity(cam).remove::<Flight>();
        }
        *presentation = Presentation { caption: Some(paused_caption(tour.script.idle_resume_s)), ..default() };
    }
    tour.paused_at = Some(time.elapsed_secs());
}

/// Advances the tour's clock and enters each step as it comes: a flight to its keyframe, its
/// caption, highlight, heatmap and incident.
#[allow(clippy::too_many_arguments)]
fn play_tour(
    mut commands: Commands,
    time: Res<Time>,
    mut tour: ResMut<Tour>,
    mut cameras: Query<(Entity, &mut OrbitCamera)>,
    mut presentation: ResMut<Presentation>,
    mut heatmap: ResMut<HeatmapOn>,
    mut analysis: ResMut<AnalysisShown>,
    markers: Query<&IncidentMarker>,
    mut select: MessageWriter<Select>,
    mut asks: MessageWriter<Ask>,
    mut selection: ResMut<Selection>,
) {
    let now = time.elapsed_secs();
    if let Some(at) = tour.paused_at {
        if f64::from(now - at) < tour.script.idle_resume_s {
            return;
        }
        info!("tour resumes");
        tour.paused_at = None;
        // On to the next step, flown to from wherever the visitor left the camera.
        let (i, into) = tour.script.step_at(tour.clock);
        let s = &tour.script.steps[i];
        tour.clock += s.fly_s + s.hold_s - into;
        tour.step = None;
    } else if tour.step.is_some() && !tour.frozen {
        tour.clock += f64::from(time.delta_secs());
    }
    let (i, into) = tour.script.step_at(tour.clock);
    if tour.step == Some(i) {
        return;
    }
    let starting = tour.step.is_none();
    tour.step = Some(i);
    let step = tour.script.steps[i].clone();
    info!("tour step {}: {}", i + 1, step.caption.as_ref().map_or("", |c| c.en.as_str()));
    *presentation = Presentation { caption: step.caption.clone(), highlight: step.highlight.clone(), cast: false };
    heatmap.set_if_neq(HeatmapOn(step.heatmap));
    analysis.set_if_neq(AnalysisShown { open: step.analysis.is_some(), tab: step.analysis.unwrap_or_default() });
    tour.incident = None;
    tour.asking = false;
    tour.flown = false;
    let focus = match step.incident {
        None => {
            if matches!(selection.target, Some(Target::Incident(_))) {
                select.write(Select(None));
            }
            None
        }
        Some(IncidentPick::Open) => {
            // The oldest open incident: the one furthest along its workflow.
            let oldest = markers.iter().min_by_key(|m| (m.0.created_ms, m.0.id)).map(|m| &m.0);
            if let Some(inc) = oldest {
                tour.incident = Some(inc.id);
                select.write(Select(Some(Target::Incident(inc.id))));
            }
            oldest.map(|inc| to_world(inc.x, inc.y, 0.0))
        }
        Some(IncidentPick::Closed) => {
            asks.write(Ask::NewestClosed);
            tour.asking = true;
            selection.asked += 1;
            None
        }
    };
    let to = view_of(&step, focus);
    // The start of a tour (or a frozen one) shows the view at once; a step flies there.
    let (fly, at) = if starting || tour.frozen {
        (0.0, if focus.is_some() { to } else { OrbitCamera::from_wire(&tour.script.camera_at(tour.clock)) })
    } else {
        ((step.fly_s - into) as f32, to)
    };
    for (cam, mut orbit) in &mut cameras {
        if fly > 0.05 {
            commands.entity(cam).insert(Flight { from: *orbit, to: at, start: now, duration: fly });
        } else {
            commands.entity(cam).remove::<Flight>();
            *orbit = at;
        }
    }
}

/// The step's keyframe, centred on its incident when it shows one.
fn view_of(step: &Step, focus: Option<Vec3>) -> OrbitCamera {
    let keyframe = OrbitCamera::from_wire(&step.camera);
    focus.map_or(keyframe, |focus| OrbitCamera { focus, ..keyframe })
}

/// A step showing the newest closed incident: select it once the server named it, and fly to
/// where it was once its detail (with its position) is in.
fn find_incident(
    mut commands: Commands,
    mut answers: MessageReader<Answer>,
    mut tour: ResMut<Tour>,
    mut select: MessageWriter<Select>,
    mut selection: ResMut<Selection>,
    mut cameras: Query<(Entity, &mut OrbitCamera)>,
    time: Res<Time>,
) {
    let Some(i) = tour.step else { return };
    for answer in answers.read() {
        match answer {
            Answer::NewestClosed(found) if tour.asking => {
                tour.asking = false;
                selection.asked = selection.asked.saturating_sub(1);
                if let Some(id) = found {
                    tour.incident = Some(*id);
                    select.write(Select(Some(Target::Incident(*id))));
                } else {
                    info!("tour: no closed incident to show yet");
                }
            }
            Answer::Failed { ask: Ask::NewestClosed, error } if tour.asking => {
                tour.asking = false;
                selection.asked = selection.asked.saturating_sub(1);
                warn!("tour: asking for a closed incident failed: {error}");
            }
            Answer::Incident(detail)
                if !tour.flown
                    && tour.incident == Some(detail.incident.id)
                    && tour.script.steps[i].incident == Some(IncidentPick::Closed) =>
            {
                let to = view_of(&tour.script.steps[i], Some(to_world(detail.incident.x, detail.incident.y, 0.0)));
                for (cam, mut orbit) in &mut cameras {
                    if tour.frozen || tour.is_paused() {
                        if !tour.is_paused() {
                            *orbit = to;
                        }
                    } else {
                        let from = *orbit;
                        commands.entity(cam).insert(Flight {
                            from,
                            to,
                            start: time.elapsed_secs(),
                            duration: Flight::SECONDS,
                        });
                    }
                }
                tour.flown = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::state::app::StatesPlugin;
    use bevy::time::TimeUpdateStrategy;
    use gridwall_protocol::IncidentStage;
    use gridwall_protocol::wall::Highlight;
    use gridwall_testkit::fixtures;

    use super::*;
    use crate::testing::app_with;

    const TOUR: &str = r#"
idle_resume_s = 2

[[step]]
fly_s = 0
hold_s = 1
camera = { x = 0, y = 0, heading = 0, pitch = 50, distance = 2000 }
caption = { zh = "全景", en = "Overview" }
highlight = "street"

[[step]]
fly_s = 1
hold_s = 1
camera = { x = 1000, y = 0, heading = 0, pitch = 60, distance = 300 }
caption = { zh = "一件事", en = "One case" }
incident = "open"
heatmap = true
"#;

    /// A tour app at 100 ms a frame, ready, with two open incidents; the camera's entity.
    fn tour_app() -> (App, Entity) {
        let mut app = app_with((StatesPlugin, TourPlugin));
        app.init_state::<Readiness>()
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(100)))
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<ButtonInput<MouseButton>>()
            .insert_resource(Tour::new(TourScript::parse(TOUR, "t").unwrap(), 0.0, false));
        let mut old = fixtures::incident(7, IncidentStage::Dispatched);
        (old.x, old.y, old.created_ms) = (400.0, 300.0, 1_000);
        let young = IncidentState { id: 8, created_ms: 9_000, ..fixtures::incident(8, IncidentStage::Accepted) };
        app.world_mut().spawn(IncidentMarker(old));
        app.world_mut().spawn(IncidentMarker(young));
        let cam = app.world_mut().spawn(OrbitCamera { focus: Vec3::ZERO, yaw: 0.0, pitch: 0.5, distance: 900.0 }).id();
        // What the select plugin would do: remember the selection.
        let select = |mut r: MessageReader<Select>, mut s: ResMut<Selected>, mut selection: ResMut<Selection>| {
            for Select(target) in r.read() {
                selection.target = target.clone();
                s.0.push(Select(target.clone()));
            }
        };
        app.init_resource::<Selected>().add_systems(Last, select);
        app.world_mut().resource_mut::<NextState<Readiness>>().set(Readiness::Ready);
        app.update();
        (app, cam)
    }

    /// Every selection the tour made.
    #[derive(Resource, Default)]
    struct Selected(Vec<Select>);

    fn run(app: &mut App, frames: usize) {
        for _ in 0..frames {
            app.update();
            // What the camera plugin would do with a flight.
            let now = app.world().resource::<Time>().elapsed_secs();
            let mut q = app.world_mut().query::<(&Flight, &mut OrbitCamera)>();
            for (f, mut o) in q.iter_mut(app.world_mut()) {
                *o = f.at(now);
            }
        }
    }

    use gridwall_protocol::IncidentState;

    #[test]
    fn steps_show_their_keyframe_caption_and_incident_in_turn() {
        let (mut app, cam) = tour_app();
        run(&mut app, 1);
        let p = app.world().resource::<Presentation>().clone();
        assert_eq!(p.caption.unwrap().en, "Overview");
        assert_eq!(p.highlight, Some(Highlight::GridLevel(gridwall_protocol::GridLevel::Street)));
        let o = *app.world().get::<OrbitCamera>(cam).unwrap();
        assert_eq!((o.focus, o.distance), (Vec3::ZERO, 2000.0), "the first keyframe at once");
        // Step two: a flight to the oldest open incident, seen as the keyframe says.
        run(&mut app, 12);
        assert_eq!(app.world().resource::<Presentation>().caption.as_ref().unwrap().en, "One case");
        assert!(app.world().resource::<HeatmapOn>().0);
        assert_eq!(app.world().resource::<Selected>().0, [Select(Some(Target::Incident(7)))], "the oldest");
        run(&mut app, 8);
        let o = *app.world().get::<OrbitCamera>(cam).unwrap();
        assert!(o.focus.distance(to_world(400.0, 300.0, 0.0)) < 1.0 && (o.distance - 300.0).abs() < 1.0, "{o:?}");
        // The tour loops: back to the overview.
        run(&mut app, 12);
        assert_eq!(app.world().resource::<Presentation>().caption.as_ref().unwrap().en, "Overview");
        assert_eq!(app.world().resource::<Selected>().0.last(), Some(&Select(None)), "the incident let go");
    }

    #[test]
    fn a_key_pauses_the_tour_and_quiet_resumes_it_at_the_next_step() {
        let (mut app, cam) = tour_app();
        run(&mut app, 2);
        app.world_mut().resource_mut::<ButtonInput<KeyCode>>().press(KeyCode::KeyW);
        run(&mut app, 1);
        app.world_mut().resource_mut::<ButtonInput<KeyCode>>().release(KeyCode::KeyW);
        app.world_mut().resource_mut::<ButtonInput<KeyCode>>().clear();
        let tour = app.world().resource::<Tour>();
        assert!(tour.is_paused());
        assert!(app.world().resource::<Presentation>().caption.as_ref().unwrap().en.contains("paused"));
        // The visitor moves the camera; the tour leaves it there while paused.
        app.world_mut().get_mut::<OrbitCamera>(cam).unwrap().focus = Vec3::new(-500.0, 0.0, 0.0);
        run(&mut app, 15);
        assert!(app.world().resource::<Tour>().is_paused());
        assert_eq!(app.world().get::<OrbitCamera>(cam).unwrap().focus.x, -500.0);
        // Two quiet seconds later it flies on to the next step.
        run(&mut app, 8);
        assert!(!app.world().resource::<Tour>().is_paused());
        assert_eq!(app.world().resource::<Presentation>().caption.as_ref().unwrap().en, "One case");
        assert!(app.world().get::<Flight>(cam).is_some() || app.world().get::<OrbitCamera>(cam).unwrap().focus.x > 0.0);
    }

    #[test]
    fn a_click_between_two_frames_pauses_the_tour() {
        let (mut app, _) = tour_app();
        run(&mut app, 2);
        // Pressed and released before the next frame: only `just_released` is left to see.
        let mut buttons = app.world_mut().resource_mut::<ButtonInput<MouseButton>>();
        buttons.press(MouseButton::Left);
        buttons.release(MouseButton::Left);
        run(&mut app, 1);
        assert!(app.world().resource::<Tour>().is_paused());
    }
}
