//! The time bar (时间轴): the retention window as a track to click or
//! drag to any moment, play and pause, a minute back and forth, 1× 10× 60× 600×, and 实时 (live);
//! while it replays, a badge across the top says "回放 2026-11-24 21:30:05" so nobody takes the
//! past for live.
//!
//! The server does the replaying (the same snapshot and delta messages as live, so every layer
//! shows the past without a second code path); this plugin turns [`TimeRequest`]s (from the bar,
//! keys, an incident panel's 回放此事件, a wall's leader) into `replay`/`live` messages, and
//! shows the server's `timeline`. The time every countdown follows is
//! [`ServerClock::shown_ms`](crate::net::ServerClock::shown_ms).
//!
//! Keys: `Space` play/pause, `[` and `]` a minute back and forth, `L` live. The bar sits at the
//! top centre (the bottom corners hold the ticker and the filters).

use bevy::prelude::*;
use bevy::ui::RelativeCursorPosition;
use gridwall_protocol::wall::WallReplay;
use gridwall_protocol::{ClientMessage, ServerMessage};

use crate::AppSystems;
use crate::loading::LoadProgress;
use crate::map::{TimeRequest, Typing};
use crate::net::{Outbound, ServerClock, ServerFrame};
use crate::theme::prelude::*;
use crate::wall::sync::{GroupView, WallRole};

mod view;

use view::{TimeButton, Track, show_bar, show_time, spawn_timebar};

/// The speeds offered (replay ms per server ms).
pub const SPEEDS: [f64; 4] = [1.0, 10.0, 60.0, 600.0];

/// A step of `[` and `]`.
const STEP_MS: i64 = 60_000;

/// A click on the bar while live starts the replay this long before now if the click is
/// (almost) at its right end.
const LATEST_REPLAY_MS: i64 = 5_000;

/// What the display shows and can show.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    /// The oldest moment the server can replay.
    pub earliest_ms: i64,
    /// The speed the last replay ran at (play after a pause resumes at it).
    pub last_speed: f64,
    /// The server's time when `earliest_ms` was said (the history kept slides with it).
    pub said_ms: i64,
}

impl Timeline {
    /// The oldest moment the server can replay at server time `now_ms`, a little later to
    /// leave the request time to arrive (the history kept slides on meanwhile, 30 times as fast
    /// on a demo server at ×30).
    pub fn earliest_at(&self, now_ms: i64, rate: f64) -> i64 {
        let slid = if self.said_ms > 0 { (now_ms - self.said_ms).max(0) } else { 0 };
        self.earliest_ms + slid + (2_000.0 * rate.max(1.0)) as i64
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self { earliest_ms: 0, last_speed: 60.0, said_ms: 0 }
    }
}

/// `--replay-at`: start in replay at this time (RFC 3339, checked by the server) and speed.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct ReplayStart {
    pub at: String,
    pub speed: f64,
}

/// The server's last refusal of a replay, shown on the bar for a while.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
struct Refused(Option<(String, f32)>);

/// How long a refusal stays on the bar (seconds).
const REFUSAL_SHOWN_S: f32 = 6.0;

/// An incident's life being played (回放此事件): back to live after `until_ms`.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
struct Playing {
    until_ms: Option<i64>,
}

/// The replay a wall follower last asked for on its leader's behalf.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
struct Followed(Option<WallReplay>);

/// What readiness waits for with `--replay-at`.
const REPLAY_SNAPSHOT: &str = "replay snapshot";

pub struct TimebarPlugin;

impl Plugin for TimebarPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Timeline>()
            .init_resource::<Lang>()
            .init_resource::<Playing>()
            .init_resource::<Followed>()
            .init_resource::<Refused>()
            .init_resource::<ServerClock>()
            .init_resource::<Typing>()
            .init_resource::<LoadProgress>()
            .init_resource::<GroupView>()
            .add_message::<TimeRequest>()
            .add_message::<Outbound>()
            .add_message::<ServerFrame>()
            .add_systems(Startup, (spawn_timebar, wait_for_replay.run_if(resource_exists::<ReplayStart>)))
            .add_systems(Update, read_timeline.in_set(AppSystems::Apply))
            .add_systems(
                Update,
                (
                    press_buttons,
                    seek_on_track,
                    time_keys.run_if(resource_exists::<ButtonInput<KeyCode>>),
                    follow_leader.run_if(follows_a_wall),
                )
                    .in_set(AppSystems::Input),
            )
            .add_systems(Update, (request_time, end_incident_replay).chain().in_set(AppSystems::Select))
            .add_systems(Update, (show_time, show_bar).in_set(AppSystems::Present));
    }
}

fn follows_a_wall(role: Option<Res<WallRole>>) -> bool {
    role.is_some_and(|r| !r.lead)
}

fn wait_for_replay(mut progress: ResMut<LoadProgress>) {
    progress.wait_for(REPLAY_SNAPSHOT);
}

/// The server's `timeline`: how far back it can replay; with `--replay-at`, the first live
/// snapshot is the moment to ask for the replay, and its snapshot makes the display ready (a
/// refused `--replay-at` ends the display with the server's reason).
#[allow(clippy::too_many_arguments)]
fn read_timeline(
    mut frames: MessageReader<ServerFrame>,
    mut timeline: ResMut<Timeline>,
    clock: Res<ServerClock>,
    start: Option<Res<ReplayStart>>,
    mut progress: ResMut<LoadProgress>,
    mut refused: ResMut<Refused>,
    time: Res<Time>,
    mut outbound: MessageWriter<Outbound>,
    mut exit: MessageWriter<AppExit>,
) {
    for ServerFrame(m) in frames.read() {
        match m {
            ServerMessage::Error { code, message } if code == "replay" => {
                if progress.is_pending(REPLAY_SNAPSHOT) {
                    error!("--replay-at refused: {message}");
                    exit.write(AppExit::error());
                }
                warn!("replay refused: {message}");
                refused.0 = Some((message.clone(), time.elapsed_secs()));
            }
            ServerMessage::Timeline { earliest_ms, live, speed, server_ms, .. } => {
                timeline.earliest_ms = *earliest_ms;
                timeline.said_ms = *server_ms;
                if !live && *speed > 0.0 {
                    timeline.last_speed = *speed;
                }
            }
            ServerMessage::Snapshot { .. } if progress.is_pending(REPLAY_SNAPSHOT) => {
                if clock.replay().is_some() {
                    progress.done(REPLAY_SNAPSHOT);
                } else if let Some(s) = &start {
                    outbound.write(Outbound(ClientMessage::Replay { at: s.at.clone(), speed: s.speed }));
                }
            }
            _ => {}
        }
    }
}

/// The time the bar's buttons act on: the replay's, or now.
fn shown(clock: &ServerClock, time: &Time) -> Option<i64> {
    clock.shown_ms(time.elapsed_secs())
}

fn press_buttons(
    buttons: Query<(&Interaction, &TimeButton), Changed<Interaction>>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    timeline: Res<Timeline>,
    mut requests: MessageWriter<TimeRequest>,
) {
    for (i, b) in &buttons {
        if *i != Interaction::Pressed {
            continue;
        }
        if let Some(r) = button_request(*b, &clock, &time, &timeline) {
            requests.write(r);
        }
    }
}

fn button_request(b: TimeButton, clock: &ServerClock, time: &Time, timeline: &Timeline) -> Option<TimeRequest> {
    let now = clock.now_ms(time.elapsed_secs())?;
    let at = shown(clock, time)?;
    let speed = clock.replay().map_or(0.0, |r| r.speed);
    Some(match b {
        TimeButton::Live => TimeRequest::Live,
        TimeButton::PlayPause if clock.replay().is_some() && speed > 0.0 => {
            TimeRequest::Replay { at_ms: at, speed: 0.0 }
        }
        TimeButton::PlayPause if clock.replay().is_some() => {
            TimeRequest::Replay { at_ms: at, speed: timeline.last_speed }
        }
        // Pause on live: the picture stands still at now.
        TimeButton::PlayPause => TimeRequest::Replay { at_ms: now, speed: 0.0 },
        TimeButton::Back => TimeRequest::Replay { at_ms: (at - STEP_MS).max(timeline.earliest_ms), speed },
        TimeButton::Forward if clock.replay().is_none() => return None,
        TimeButton::Forward => TimeRequest::Replay { at_ms: (at + STEP_MS).min(now), speed },
        // From live, a speed replays the last hour at it.
        TimeButton::Speed(s) if clock.replay().is_none() => {
            TimeRequest::Replay { at_ms: (now - 3_600_000).max(timeline.earliest_ms), speed: s }
        }
        TimeButton::Speed(s) => TimeRequest::Replay { at_ms: at, speed: s },
    })
}

/// A click or a drag on the track seeks there (at most five seeks a second while dragging).
fn seek_on_track(
    track: Query<(&Interaction, &RelativeCursorPosition), With<Track>>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    timeline: Res<Timeline>,
    mut last: Local<Option<(f32, f32)>>,
    mut requests: MessageWriter<TimeRequest>,
) {
    let Some(now) = clock.now_ms(time.elapsed_secs()) else { return };
    for (i, pos) in &track {
        if *i != Interaction::Pressed {
            *last = None;
            continue;
        }
        let Some(p) = pos.normalized else { continue };
        let f = (p.x + 0.5).clamp(0.0, 1.0);
        let t = time.elapsed_secs();
        if last.is_some_and(|(lf, lt)| (lf - f).abs() < 0.002 || t - lt < 0.2) {
            continue;
        }
        *last = Some((f, t));
        let earliest = timeline.earliest_ms.min(now);
        let at = (earliest + (f64::from(f) * (now - earliest) as f64) as i64).min(now - LATEST_REPLAY_MS);
        // From live a seek plays at 1× (as it happened); while replaying it keeps the speed.
        let speed = clock.replay().map_or(1.0, |r| r.speed);
        requests.write(TimeRequest::Replay { at_ms: at.max(earliest), speed });
    }
}

fn time_keys(
    keys: Res<ButtonInput<KeyCode>>,
    typing: Res<Typing>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    timeline: Res<Timeline>,
    mut requests: MessageWriter<TimeRequest>,
) {
    if typing.0 {
        return;
    }
    for (key, b) in [
        (KeyCode::Space, TimeButton::PlayPause),
        (KeyCode::BracketLeft, TimeButton::Back),
        (KeyCode::BracketRight, TimeButton::Forward),
        (KeyCode::KeyL, TimeButton::Live),
    ] {
        if keys.just_pressed(key)
            && let Some(r) = button_request(b, &clock, &time, &timeline)
        {
            requests.write(r);
        }
    }
}

/// A wall follower replays what its leader replays, and returns to live with it.
fn follow_leader(
    group: Res<GroupView>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    mut followed: ResMut<Followed>,
    mut requests: MessageWriter<TimeRequest>,
) {
    let Some((_, view)) = &group.0 else { return };
    if view.replay == followed.0 {
        return;
    }
    let Some(now) = clock.now_ms(time.elapsed_secs()) else { return };
    followed.0 = view.replay;
    requests.write(match view.replay {
        Some(r) => TimeRequest::Replay { at_ms: r.at(now), speed: r.speed },
        None => TimeRequest::Live,
    });
}

/// Sends what was asked for.
fn request_time(
    mut requests: MessageReader<TimeRequest>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    timeline: Res<Timeline>,
    mut playing: ResMut<Playing>,
    mut outbound: MessageWriter<Outbound>,
) {
    for r in requests.read() {
        let msg = match *r {
            TimeRequest::Live => {
                playing.until_ms = None;
                ClientMessage::Live
            }
            TimeRequest::Replay { at_ms, speed } => {
                ClientMessage::Replay { at: rfc3339_ms(at_ms), speed: speed.clamp(0.0, 3_600.0) }
            }
            TimeRequest::Incident { from_ms, to_ms } => {
                // (An incident, or a span brushed on the 研判 trend, that began before the
                // history kept plays from the oldest moment kept; one wholly before it is asked
                // for as it is, and the server's refusal says why on the bar.)
                let now = clock.now_ms(time.elapsed_secs()).unwrap_or(from_ms);
                let earliest = timeline.earliest_at(now, clock.rate());
                let from_ms = if to_ms > earliest { from_ms.max(earliest).min(now) } else { from_ms };
                let span = to_ms.min(now) - from_ms;
                let speed = incident_speed(span, clock.rate());
                playing.until_ms = Some(to_ms);
                ClientMessage::Replay { at: rfc3339_ms(from_ms), speed }
            }
        };
        outbound.write(Outbound(msg));
    }
}

/// The offered speed that plays `span_ms` of history in about a minute or more of real time
/// on a server whose clock runs at `rate`.
pub fn incident_speed(span_ms: i64, rate: f64) -> f64 {
    let wanted = span_ms as f64 / 60_000.0 / rate.max(1e-3);
    SPEEDS.iter().copied().rev().find(|s| *s <= wanted).unwrap_or(SPEEDS[0])
}

/// An incident's replay that reached its end returns to live.
fn end_incident_replay(
    clock: Res<ServerClock>,
    time: Res<Time>,
    mut playing: ResMut<Playing>,
    mut outbound: MessageWriter<Outbound>,
) {
    let Some(until) = playing.until_ms else { return };
    if clock.replay().is_some() && clock.shown_ms(time.elapsed_secs()).is_some_and(|t| t >= until) {
        playing.until_ms = None;
        outbound.write(Outbound(ClientMessage::Live));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;
    use gridwall_protocol::wall::{Orbit, WallView};

    fn sent(app: &mut App) -> Vec<ClientMessage> {
        app.world_mut().resource_mut::<Messages<Outbound>>().drain().map(|o| o.0).collect()
    }

    #[test]
    fn a_wall_follower_replays_what_its_leader_replays_and_goes_live_with_it() {
        let mut app = app_with(TimebarPlugin);
        app.insert_resource(WallRole { wall: "main".into(), lead: false });
        app.world_mut().resource_mut::<ServerClock>().set(1_790_000_600_000, 0.0);
        let orbit = Orbit { x: 0.0, y: 0.0, heading: 0.0, pitch: 0.9, distance: 900.0 };
        let mut view = WallView::at(orbit, 1_790_000_000_000);
        app.update();
        assert!(sent(&mut app).is_empty(), "no group view yet");
        // The leader replays 21:00 at 60× since server time …000_000: ten minutes on, that is 10 h later.
        view.replay = Some(WallReplay { at_ms: 1_789_960_000_000, server_ms: 1_790_000_000_000, speed: 60.0 });
        app.world_mut().resource_mut::<GroupView>().0 = Some((1_790_000_000_000, view.clone()));
        app.update();
        let got = sent(&mut app);
        let [ClientMessage::Replay { at, speed }] = got.as_slice() else { panic!("{got:?}") };
        // (The test's clock ran on a few ms since it was set: that many minutes at 60×.)
        let want = rfc3339_ms(1_789_960_000_000 + 600_000 * 60);
        assert_eq!((&at[..15], *speed), (&want[..15], 60.0), "{at} vs {want}");
        // Nothing more while the leader's replay stays the same (the camera may move).
        view.camera.to.x = 50.0;
        app.world_mut().resource_mut::<GroupView>().0 = Some((1_790_000_000_000, view.clone()));
        app.update();
        assert!(sent(&mut app).is_empty());
        // The leader goes live: so does the panel.
        view.replay = None;
        app.world_mut().resource_mut::<GroupView>().0 = Some((1_790_000_000_000, view));
        app.update();
        assert_eq!(sent(&mut app), [ClientMessage::Live]);
    }

    #[test]
    fn the_bar_turns_buttons_into_replay_requests() {
        let mut clock = ServerClock::default();
        clock.set(1_790_000_000_000, 0.0);
        let mut time = Time::<()>::default();
        time.advance_by(std::time::Duration::ZERO);
        let timeline = Timeline { earliest_ms: 1_789_920_000_000, last_speed: 60.0, said_ms: 0 };
        let at = |b| button_request(b, &clock, &time, &timeline);
        // From live: a speed replays the last hour; pause stands still at now; live is live.
        assert_eq!(at(TimeButton::Speed(600.0)), Some(TimeRequest::Replay { at_ms: 1_789_996_400_000, speed: 600.0 }));
        assert_eq!(at(TimeButton::PlayPause), Some(TimeRequest::Replay { at_ms: 1_790_000_000_000, speed: 0.0 }));
        assert_eq!(at(TimeButton::Forward), None, "nothing after now");
        // Replaying at 10×: a step back keeps the speed and never goes before the history kept.
        clock.set_replay(Some(WallReplay { at_ms: 1_789_920_030_000, server_ms: 1_790_000_000_000, speed: 10.0 }));
        let at = |b| button_request(b, &clock, &time, &timeline);
        assert_eq!(at(TimeButton::Back), Some(TimeRequest::Replay { at_ms: 1_789_920_000_000, speed: 10.0 }));
        assert_eq!(at(TimeButton::PlayPause), Some(TimeRequest::Replay { at_ms: 1_789_920_030_000, speed: 0.0 }));
        assert_eq!(at(TimeButton::Live), Some(TimeRequest::Live));
    }

    #[test]
    fn the_history_kept_slides_on_with_the_server_clock() {
        // Said at server time 5,000 s; a minute later on a ×30 server the oldest moment kept is a
        // minute later too, and a request leaves a minute of the server's time to arrive.
        let t = Timeline { earliest_ms: 1_000_000, last_speed: 60.0, said_ms: 5_000_000 };
        assert_eq!(t.earliest_at(5_060_000, 30.0), 1_000_000 + 60_000 + 60_000);
        assert_eq!(Timeline::default().earliest_at(5_000_000, 1.0), 2_000, "never said: no sliding");
    }

    #[test]
    fn an_incident_plays_in_about_a_minute_at_an_offered_speed() {
        // Two hours of a case at real time: 120× wanted, 60× offered.
        assert_eq!(incident_speed(2 * 3_600_000, 1.0), 60.0);
        // A ten-minute case plays at 10×; a day-long one at 600×; a short one at 1×.
        assert_eq!(incident_speed(600_000, 1.0), 10.0);
        assert_eq!(incident_speed(24 * 3_600_000, 1.0), 600.0);
        assert_eq!(incident_speed(30_000, 1.0), 1.0);
        // On a demo server whose clock runs 30×, two hours take four real minutes at 1×.
        assert_eq!(incident_speed(2 * 3_600_000, 30.0), 1.0);
    }
}
