//! Keeping a wall group in step through the server. A leader (`--lead NAME`: a commander's desk
//! or a panel) publishes its view — camera, selection, filters, heatmap, a tour's caption, the
//! 研判 panel — and
//! every follower panel (`--wall … --wall-id NAME`) shows the group's view at the server time it
//! is stamped with: the camera is a motion over server time, evaluated at this display's estimate
//! of the server's clock, so panels agree however late a message arrives. A desk casts its
//! selection onto a wall (`C`, 投屏到大屏) and takes it back (`Shift+C`, 收回).

use bevy::prelude::*;
use gridwall_protocol::wall::{CameraMotion, Orbit, Selected, WallView};
use gridwall_protocol::{ClientMessage, ServerMessage};

use crate::AppSystems;
use crate::loading::LoadProgress;
use crate::map::{
    CameraControl, CastRequest, Filters, Flight, HeatmapOn, OrbitCamera, Presentation, Select, Selection,
    SharedAnalysis, Target, Typing,
};
use crate::net::{Outbound, ServerClock, ServerFrame};

/// This display's part in a wall group.
#[derive(Resource, Debug, Clone, PartialEq, Eq)]
pub struct WallRole {
    pub wall: String,
    pub lead: bool,
}

/// The wall group a commander's desk casts to.
#[derive(Resource, Debug, Clone, PartialEq, Eq)]
pub struct CastTarget(pub String);

/// Where a panel writes, each frame, this machine's clock and the server time of the camera
/// state it shows (`--sync-log FILE`: to measure the skew between panels, see `scripts/bench-wall`).
#[derive(Resource)]
pub struct SyncLog(pub std::fs::File);

/// The wall group's view as last received: the server time it became current, and the view.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct GroupView(pub Option<(i64, WallView)>);

/// A leader publishes at most this often by hand, in real time (flights and tours go as one
/// motion each).
const PUBLISH_EVERY_MS: i64 = 100;

/// What the leader last published.
#[derive(Resource, Debug, Default)]
struct Published {
    view: Option<WallView>,
    at_ms: i64,
}

pub struct WallSyncPlugin;

impl Plugin for WallSyncPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<GroupView>()
            .init_resource::<Published>()
            .init_resource::<Selection>()
            .init_resource::<Filters>()
            .init_resource::<HeatmapOn>()
            .init_resource::<SharedAnalysis>()
            .init_resource::<Presentation>()
            .init_resource::<ServerClock>()
            .init_resource::<Typing>()
            .init_resource::<LoadProgress>()
            .add_message::<CastRequest>()
            .add_message::<Outbound>()
            .add_message::<ServerFrame>()
            .add_message::<Select>()
            .add_systems(Startup, join_wall.run_if(resource_exists::<WallRole>))
            .add_systems(
                Update,
                (receive_views, follow_view, log_sync.run_if(resource_exists::<SyncLog>))
                    .chain()
                    .in_set(AppSystems::Apply),
            )
            .add_systems(Update, cast_keys.run_if(resource_exists::<ButtonInput<KeyCode>>).in_set(AppSystems::Input))
            .add_systems(Update, (publish_view.run_if(leads), send_casts).in_set(AppSystems::Present));
    }
}

fn leads(role: Option<Res<WallRole>>) -> bool {
    role.is_some_and(|r| r.lead)
}

/// What a follower waits for before it is ready: its group's view (or, when nobody has led the
/// wall yet, a few seconds of hearing nothing).
const GROUP_VIEW: &str = "wall group view";
const GROUP_VIEW_WAIT_S: f32 = 5.0;

fn join_wall(role: Res<WallRole>, mut outbound: MessageWriter<Outbound>, mut progress: ResMut<LoadProgress>) {
    outbound.write(Outbound(ClientMessage::JoinWall { wall: role.wall.clone(), lead: role.lead }));
    if !role.lead {
        progress.wait_for(GROUP_VIEW);
    }
}

fn receive_views(
    mut frames: MessageReader<ServerFrame>,
    role: Option<Res<WallRole>>,
    mut group: ResMut<GroupView>,
    mut progress: ResMut<LoadProgress>,
    time: Res<Time>,
) {
    for ServerFrame(m) in frames.read() {
        if let ServerMessage::WallView { wall, time_ms, view } = m
            && role.as_ref().is_some_and(|r| r.wall == *wall)
        {
            group.0 = Some((*time_ms, (**view).clone()));
        }
    }
    if progress.is_pending(GROUP_VIEW) && (group.0.is_some() || time.elapsed_secs() > GROUP_VIEW_WAIT_S) {
        progress.done(GROUP_VIEW);
    }
}

/// A follower shows the group's view: the camera where the group's motion is at the server's
/// time now, and the group's selection, filters, heatmap, caption, cast and 研判 panel.
#[allow(clippy::too_many_arguments)]
fn follow_view(
    control: Res<CameraControl>,
    group: Res<GroupView>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    mut cameras: Query<&mut OrbitCamera>,
    selection: Res<Selection>,
    mut select: MessageWriter<Select>,
    mut filters: ResMut<Filters>,
    mut heatmap: ResMut<HeatmapOn>,
    mut presentation: ResMut<Presentation>,
    mut analysis: ResMut<SharedAnalysis>,
) {
    if *control != CameraControl::Wall {
        return;
    }
    let Some((_, view)) = &group.0 else { return };
    if let Some(now) = clock.now_ms(time.elapsed_secs()) {
        let orbit = OrbitCamera::from_wire(&view.camera.at(now));
        for mut cam in &mut cameras {
            cam.set_if_neq(orbit);
        }
    }
    if !group.is_changed() {
        return;
    }
    let target = view.selection.as_ref().map(target_of);
    if selection.target != target {
        select.write(Select(target));
    }
    let wanted = Filters {
        hidden_stages: view.hidden_stages.iter().copied().collect(),
        hidden_categories: view.hidden_categories.iter().copied().collect(),
        grid: view.grid_filter.clone(),
    };
    filters.set_if_neq(wanted);
    heatmap.set_if_neq(HeatmapOn(view.heatmap));
    analysis.set_if_neq(SharedAnalysis(view.analysis.clone()));
    presentation.set_if_neq(Presentation {
        caption: view.caption.clone(),
        highlight: view.highlight.clone(),
        cast: view.cast,
    });
}

/// One line a frame: `LOCAL_MS SERVER_MS` (both since the Unix epoch).
fn log_sync(mut log: ResMut<SyncLog>, clock: Res<ServerClock>, time: Res<Time>, group: Res<GroupView>) {
    use std::io::Write as _;
    if let (Some(now), Some(_)) = (clock.now_ms(time.elapsed_secs()), &group.0)
        && let Err(e) = writeln!(log.0, "{} {now}", crate::net::local_ms())
    {
        warn!("sync log: {e}");
    }
}

fn target_of(s: &Selected) -> Target {
    match s {
        Selected::Incident(id) => Target::Incident(*id),
        Selected::Patrol(id) => Target::Patrol(*id),
        Selected::Component(id) => Target::Component(*id),
        Selected::Grid(code) => Target::Grid(code.clone()),
    }
}

fn selected_of(t: &Target) -> Selected {
    match t {
        Target::Incident(id) => Selected::Incident(*id),
        Target::Patrol(id) => Selected::Patrol(*id),
        Target::Component(id) => Selected::Component(*id),
        Target::Grid(code) => Selected::Grid(code.clone()),
    }
}

/// The view this display shows, as a wall would: a flight under way goes as one eased motion
/// (with its start in server time), anything else as a still view of where the camera is.
fn view_of(
    orbit: &OrbitCamera,
    flight: Option<&Flight>,
    elapsed_s: f32,
    (server_now, rate): (i64, f64),
    selection: &Selection,
    filters: &Filters,
    heatmap: bool,
    presentation: &Presentation,
    replay: Option<gridwall_protocol::wall::WallReplay>,
    analysis: &SharedAnalysis,
) -> WallView {
    let camera = match flight {
        Some(f) => CameraMotion {
            from: f.from.to_wire(),
            to: f.to.to_wire(),
            // In server time (a demo server's clock may run faster than real time).
            start_ms: server_now - (f64::from(elapsed_s - f.start) * 1000.0 * rate).round() as i64,
            duration_ms: (f64::from(f.duration) * 1000.0 * rate).round().clamp(0.0, f64::from(u32::MAX)) as u32,
            eased: true,
        },
        None => CameraMotion::still(orbit.to_wire(), server_now),
    };
    let mut hidden_stages: Vec<_> = filters.hidden_stages.iter().copied().collect();
    hidden_stages.sort_unstable();
    let mut hidden_categories: Vec<_> = filters.hidden_categories.iter().copied().collect();
    hidden_categories.sort_unstable();
    WallView {
        camera,
        selection: selection.target.as_ref().map(selected_of),
        cast: false,
        hidden_stages,
        hidden_categories,
        grid_filter: filters.grid.clone(),
        heatmap,
        caption: presentation.caption.clone(),
        highlight: presentation.highlight.clone(),
        replay,
        analysis: analysis.0.clone(),
    }
}

/// Whether two views show the same thing (a still camera's time stamp aside).
fn same(a: &WallView, b: &WallView) -> bool {
    let cam =
        |v: &WallView| if v.camera.duration_ms == 0 { (v.camera.to, None) } else { (v.camera.to, Some(v.camera)) };
    cam(a) == cam(b) && WallView { camera: b.camera, ..a.clone() } == *b
}

/// The leader publishes its view when it changed: at once when a flight starts or anything but
/// the camera changes, at most ten times a second while the camera is moved by hand.
#[allow(clippy::too_many_arguments)]
fn publish_view(
    cameras: Query<(&OrbitCamera, Option<&Flight>)>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    selection: Res<Selection>,
    filters: Res<Filters>,
    heatmap: Res<HeatmapOn>,
    presentation: Res<Presentation>,
    analysis: Res<SharedAnalysis>,
    mut published: ResMut<Published>,
    mut outbound: MessageWriter<Outbound>,
) {
    let (Some((orbit, flight)), Some(now)) = (cameras.iter().next(), clock.now_ms(time.elapsed_secs())) else { return };
    let at = (now, clock.rate());
    let view = view_of(
        orbit,
        flight,
        time.elapsed_secs(),
        at,
        &selection,
        &filters,
        heatmap.0,
        &presentation,
        clock.replay(),
        &analysis,
    );
    let urgent = match &published.view {
        None => true,
        Some(last) if same(last, &view) => return,
        Some(last) => {
            WallView { camera: last.camera, ..view.clone() } != *last
                || (view.camera.duration_ms > 0 && view.camera != last.camera)
        }
    };
    if !urgent && ((now - published.at_ms) as f64) < PUBLISH_EVERY_MS as f64 * clock.rate() {
        return;
    }
    published.at_ms = now;
    published.view = Some(view.clone());
    outbound.write(Outbound(ClientMessage::LeadWall { view: Box::new(view) }));
}

/// `C` casts the selection to the wall (投屏到大屏), `Shift+C` takes it back (收回).
fn cast_keys(keys: Res<ButtonInput<KeyCode>>, typing: Res<Typing>, mut requests: MessageWriter<CastRequest>) {
    if typing.0 || !keys.just_pressed(KeyCode::KeyC) {
        return;
    }
    let shift = keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight);
    requests.write(if shift { CastRequest::TakeBack } else { CastRequest::Cast });
}

/// Casts go to the wall group named with `--cast-to` (default `main`): the selection, and where
/// this desk looks at it from (where its flight lands, if it is still flying).
fn send_casts(
    mut requests: MessageReader<CastRequest>,
    target: Option<Res<CastTarget>>,
    cameras: Query<(&OrbitCamera, Option<&Flight>)>,
    selection: Res<Selection>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    mut outbound: MessageWriter<Outbound>,
) {
    let wall = target.map_or_else(|| "main".to_owned(), |t| t.0.clone());
    for r in requests.read() {
        let view = match r {
            CastRequest::TakeBack => None,
            CastRequest::Cast => {
                let (Some(target), Some((orbit, flight))) = (&selection.target, cameras.iter().next()) else {
                    continue;
                };
                let at: Orbit = flight.map_or(*orbit, |f| f.to).to_wire();
                let now = clock.now_ms(time.elapsed_secs()).unwrap_or_default();
                let mut view = WallView::at(at, now);
                view.selection = Some(selected_of(target));
                Some(Box::new(view))
            }
        };
        outbound.write(Outbound(ClientMessage::Cast { wall: wall.clone(), view }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;

    fn orbit(x: f32) -> OrbitCamera {
        OrbitCamera { focus: Vec3::new(x, 0.0, -20.0), yaw: 0.2, pitch: 0.9, distance: 700.0 }
    }

    fn sent(app: &mut App) -> Vec<ClientMessage> {
        app.world_mut().resource_mut::<Messages<Outbound>>().drain().map(|o| o.0).collect()
    }

    #[test]
    fn a_leader_publishes_flights_whole_and_hand_moves_at_most_ten_times_a_second() {
        let mut app = app_with(WallSyncPlugin);
        app.insert_resource(WallRole { wall: "main".into(), lead: true });
        app.world_mut().resource_mut::<ServerClock>().set(1_000_000, 0.0);
        let cam = app.world_mut().spawn(orbit(0.0)).id();
        app.update();
        let first = sent(&mut app);
        assert!(
            matches!(&first[..], [ClientMessage::JoinWall { lead: true, .. }, ClientMessage::LeadWall { .. }]),
            "{first:?}"
        );
        // Nothing changed: nothing goes out.
        app.update();
        assert!(sent(&mut app).is_empty());
        // A flight goes as one eased motion, at once.
        let flight = Flight { from: orbit(0.0), to: orbit(300.0), start: 0.0, duration: 1.2 };
        app.world_mut().entity_mut(cam).insert(flight);
        app.update();
        let out = sent(&mut app);
        let [ClientMessage::LeadWall { view }] = &out[..] else { panic!("{out:?}") };
        assert!(view.camera.eased && view.camera.duration_ms == 1_200);
        assert_eq!(view.camera.to, orbit(300.0).to_wire());
        // The selection changes the view at once too.
        app.world_mut().entity_mut(cam).remove::<Flight>();
        app.world_mut().resource_mut::<Selection>().target = Some(Target::Incident(4));
        app.update();
        let out = sent(&mut app);
        let [ClientMessage::LeadWall { view }] = &out[..] else { panic!("{out:?}") };
        assert_eq!(view.selection, Some(Selected::Incident(4)));
        // So does the 研判 panel opened on the desk.
        let panel = gridwall_protocol::wall::WallAnalysis {
            tab: crate::map::AnalysisTab::Ranking,
            scope: None,
            category: None,
            hours: 72,
            level: gridwall_protocol::GridLevel::Street,
            desks: false,
            period: gridwall_protocol::AnalysisPeriod::Quarter,
            focus: None,
        };
        app.world_mut().resource_mut::<SharedAnalysis>().0 = Some(panel.clone());
        app.update();
        let out = sent(&mut app);
        let [ClientMessage::LeadWall { view }] = &out[..] else { panic!("{out:?}") };
        assert_eq!(view.analysis, Some(panel));
    }

    #[test]
    fn a_follower_shows_the_group_view_at_the_servers_time() {
        let mut app = app_with(WallSyncPlugin);
        app.insert_resource(WallRole { wall: "main".into(), lead: false }).insert_resource(CameraControl::Wall);
        let cam = app.world_mut().spawn(orbit(0.0)).id();
        app.update();
        let now = 5_000_000;
        let elapsed = app.world().resource::<Time>().elapsed_secs();
        app.world_mut().resource_mut::<ServerClock>().set(now, elapsed);
        // A flight that started a second ago and lasts two: the follower shows its middle.
        let mut view = WallView::at(orbit(0.0).to_wire(), now);
        view.camera = CameraMotion {
            from: orbit(0.0).to_wire(),
            to: orbit(200.0).to_wire(),
            start_ms: now - 1_000,
            duration_ms: 2_000,
            eased: true,
        };
        view.heatmap = true;
        view.selection = Some(Selected::Grid("370783001".into()));
        view.analysis = Some(gridwall_protocol::wall::WallAnalysis {
            tab: crate::map::AnalysisTab::Warnings,
            scope: Some("370783001".into()),
            category: None,
            hours: 168,
            level: gridwall_protocol::GridLevel::Community,
            desks: false,
            period: gridwall_protocol::AnalysisPeriod::Month,
            focus: Some(3),
        });
        app.world_mut().write_message(ServerFrame(ServerMessage::WallView {
            wall: "main".into(),
            time_ms: now - 1_000,
            view: Box::new(view),
        }));
        app.update();
        let shown = app.world().get::<OrbitCamera>(cam).unwrap().focus.x;
        assert!((shown - 100.0).abs() < 2.0, "{shown}");
        assert!(app.world().resource::<HeatmapOn>().0);
        let panel = app.world().resource::<SharedAnalysis>().0.clone().expect("the group's 研判 panel");
        assert_eq!((panel.tab, panel.focus), (crate::map::AnalysisTab::Warnings, Some(3)));
        let selected: Vec<Select> = app.world_mut().resource_mut::<Messages<Select>>().drain().collect();
        assert_eq!(selected, [Select(Some(Target::Grid("370783001".into())))]);
        // Another wall's views are not ours.
        app.world_mut().write_message(ServerFrame(ServerMessage::WallView {
            wall: "lobby".into(),
            time_ms: now,
            view: Box::new(WallView::at(orbit(900.0).to_wire(), now)),
        }));
        app.update();
        assert!((app.world().get::<OrbitCamera>(cam).unwrap().focus.x - 900.0).abs() > 100.0);
    }
}
