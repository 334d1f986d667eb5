//! Drill-in for the commander: click an incident, a patrol, a component or a grid cell; the camera
//! flies there on an eased path and a panel shows its details. For an incident: stage, time left,
//! escalation level, the workflow timeline and the nearest on-duty patrols with their distance
//! (both asked from the server), each with a one-click "派遣" (assign). The assignment is a
//! command to the server; the panel changes when the resulting event arrives, not before.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use gridwall_protocol::api::{IncidentDetail, NearestAnswer};
use gridwall_protocol::{ClientMessage, EventKind, GridLevel, IncidentStage, ServerMessage};

use crate::camera::OrbitCamera;
use crate::grids::{GridOutlines, centroid};
use crate::hud::{HudFont, Lang, ServerClock};
use crate::incidents::{IncidentMarker, Incidents, stage_color};
use crate::net::{Answer, Ask, Command, ServerFrame};
use crate::patrols::{PatrolMarker, to_world};

/// What can be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Incident(u64),
    Patrol(u32),
    Component(u32),
    /// A grid unit, by code.
    Grid(String),
}

/// Marks a map object that a click can select.
#[derive(Component, Debug, Clone, PartialEq, Eq)]
pub struct Pickable(pub Target);

/// A click at a point of the main camera's viewport (logical pixels), from the mouse or a script.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub struct Click(pub Vec2);

/// Select something (or nothing): from a click, a search, or a script.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct Select(pub Option<Target>);

/// What is selected and what the server said about it.
#[derive(Resource, Debug, Default)]
pub struct Selection {
    pub target: Option<Target>,
    pub detail: Option<IncidentDetail>,
    pub nearest: Option<NearestAnswer>,
    /// Questions sent and not yet answered.
    pub asked: u32,
    /// The assignment sent and not yet replied to: (request, patrol).
    pub assigning: Option<(u64, u32)>,
    /// The last outcome or error to show.
    pub note: Option<String>,
}

/// An eased camera move.
#[derive(Component, Debug, Clone, Copy)]
pub struct Flight {
    pub from: OrbitCamera,
    pub to: OrbitCamera,
    pub start: f32,
    pub duration: f32,
}

impl Flight {
    pub const SECONDS: f32 = 1.2;

    /// The view `t` seconds into the flight (ease in and out; the distance changes
    /// geometrically so zooming feels even).
    pub fn at(&self, now: f32) -> OrbitCamera {
        let t = ((now - self.start) / self.duration).clamp(0.0, 1.0);
        let e = if t < 0.5 { 4.0 * t * t * t } else { 1.0 - (-2.0 * t + 2.0).powi(3) / 2.0 };
        OrbitCamera {
            focus: self.from.focus.lerp(self.to.focus, e),
            yaw: self.from.yaw + (self.to.yaw - self.from.yaw) * e,
            pitch: self.from.pitch + (self.to.pitch - self.from.pitch) * e,
            distance: self.from.distance * (self.to.distance / self.from.distance).powf(e),
        }
    }

    pub fn done(&self, now: f32) -> bool {
        now >= self.start + self.duration
    }
}

/// A click to make once everything is ready (`--click X,Y`), for captures and tests.
#[derive(Resource, Debug, Clone, Copy)]
pub struct ScriptedClick(pub Vec2);

/// Present when a scripted action (`--click`, `--search`) is to run: tracks it until it has
/// played out, so a capture shows its result.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct Scripted {
    /// Frames since the camera arrived and the answers came in (`None` before the action).
    settled: Option<u32>,
}

impl Scripted {
    /// The action has run, the camera has arrived, the answers are in and the panel laid out.
    pub fn is_done(&self) -> bool {
        self.settled.is_some_and(|n| n >= 3)
    }

    /// Marks the action as started.
    pub fn start(&mut self) {
        self.settled = Some(0);
    }
}

/// Screen distance (logical pixels) within which a click hits a marker.
const HIT_PX: f32 = 18.0;
/// How close a flight brings the camera (metres), unless it is already closer.
const CLOSE_UP: f32 = 450.0;
/// Patrols listed for an incident.
const NEAREST_K: usize = 5;

#[derive(Component)]
struct Panel;
#[derive(Component)]
struct PanelCountdown;
#[derive(Component, Debug, Clone, Copy)]
pub struct AssignButton {
    pub incident: u64,
    pub patrol: u32,
}

#[derive(Resource, Default)]
struct ClickStart(Option<Vec2>);

#[derive(Resource, Default)]
struct NextRequest(u64);

pub struct SelectPlugin;

impl Plugin for SelectPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Selection>()
            .init_resource::<ClickStart>()
            .init_resource::<NextRequest>()
            .init_resource::<Lang>()
            .init_resource::<ServerClock>()
            .init_resource::<GridOutlines>()
            .init_resource::<Incidents>()
            .add_message::<Click>()
            .add_message::<Select>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .add_message::<Command>()
            .add_message::<ServerFrame>()
            .add_systems(Startup, spawn_panel.after(crate::hud::load_font))
            .add_systems(
                Update,
                (
                    click_with_mouse.run_if(resource_exists::<ButtonInput<MouseButton>>),
                    click_scripted.run_if(resource_exists::<ScriptedClick>.and_then(resource_exists::<Scripted>)),
                    pick_clicked,
                    select_target,
                    take_answers,
                    follow_events,
                    press_assign,
                    fly_camera,
                    show_panel,
                    count_down,
                    settle_scripted.run_if(resource_exists::<Scripted>),
                )
                    .chain(),
            );
    }
}

/// A left click that did not drag (a drag orbits the camera) and is not on the panel.
fn click_with_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    ui: Query<&Interaction>,
    mut start: ResMut<ClickStart>,
    mut clicks: MessageWriter<Click>,
) {
    let Some(cursor) = windows.single().ok().and_then(Window::cursor_position) else { return };
    if buttons.just_pressed(MouseButton::Left) {
        start.0 = Some(cursor);
    }
    if buttons.just_released(MouseButton::Left)
        && let Some(from) = start.0.take()
        && from.distance(cursor) < 5.0
        && ui.iter().all(|i| *i == Interaction::None)
    {
        clicks.write(Click(cursor));
    }
}

fn click_scripted(ready: Option<Res<crate::capture::Readiness>>, click: Res<ScriptedClick>, mut script: ResMut<Scripted>, mut clicks: MessageWriter<Click>, mut sent: Local<bool>) {
    if !*sent && ready.is_some_and(|r| r.is_ready()) {
        *sent = true;
        info!("scripted click at {}", click.0);
        clicks.write(Click(click.0));
        script.start();
    }
}

fn settle_scripted(mut script: ResMut<Scripted>, selection: Res<Selection>, flights: Query<(), With<Flight>>) {
    if let Some(n) = script.settled {
        let busy = selection.asked > 0 || !flights.is_empty();
        script.settled = Some(if busy { 0 } else { n.saturating_add(1) });
    }
}

/// The pickable marker on screen within [`HIT_PX`] (incidents first, then patrols, then
/// components; the nearest within a kind), else the grid cell under the cursor, else nothing.
pub fn pick(camera: &Camera, cam_tf: &GlobalTransform, at: Vec2, markers: impl Iterator<Item = (Target, Vec3)>, grids: &GridOutlines) -> Option<Target> {
    // Incidents before patrols before components (a commander clicking near an incident means
    // the incident, not the manhole cover under it); the nearest on screen within a kind.
    let rank = |t: &Target| match t {
        Target::Incident(_) => 0,
        Target::Patrol(_) => 1,
        Target::Component(_) | Target::Grid(_) => 2,
    };
    let hit = markers
        .filter_map(|(t, p)| camera.world_to_viewport(cam_tf, p).ok().map(|s| (t, s.distance(at))))
        .filter(|(_, d)| *d <= HIT_PX)
        .min_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.1.total_cmp(&b.1)))
        .map(|(t, _)| t);
    hit.or_else(|| {
        let ray = camera.viewport_to_world(cam_tf, at).ok()?;
        let d = ray.intersect_plane(Vec3::ZERO, InfinitePlane3d::new(Vec3::Y))?;
        let p = ray.get_point(d);
        grids.unit_at(GridLevel::Cell, f64::from(p.x), f64::from(-p.z)).map(|u| Target::Grid(u.code.clone()))
    })
}

fn pick_clicked(
    mut clicks: MessageReader<Click>,
    cameras: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    markers: Query<(&Pickable, &GlobalTransform, &InheritedVisibility)>,
    grids: Res<GridOutlines>,
    mut select: MessageWriter<Select>,
) {
    let Ok((camera, cam_tf)) = cameras.single() else { return };
    for Click(at) in clicks.read() {
        let visible = markers.iter().filter(|(_, _, v)| v.get()).map(|(p, tf, _)| (p.0.clone(), tf.translation()));
        select.write(Select(pick(camera, cam_tf, *at, visible, &grids)));
    }
}

/// Where a target is on the map (ground level).
fn locate(target: &Target, markers: &Query<(&Pickable, &Transform)>, grids: &GridOutlines) -> Option<Vec3> {
    if let Target::Grid(code) = target {
        let unit = grids.unit(code)?;
        let c = centroid(unit.rings.first()?);
        return Some(to_world(c[0], c[1], 0.0));
    }
    markers.iter().find(|(p, _)| p.0 == *target).map(|(_, tf)| tf.translation * Vec3::new(1.0, 0.0, 1.0))
}

fn select_target(
    mut commands: Commands,
    mut select: MessageReader<Select>,
    mut selection: ResMut<Selection>,
    markers: Query<(&Pickable, &Transform)>,
    grids: Res<GridOutlines>,
    mut cameras: Query<(Entity, &OrbitCamera)>,
    time: Res<Time>,
    mut asks: MessageWriter<Ask>,
) {
    let Some(Select(target)) = select.read().last() else { return };
    *selection = Selection { target: target.clone(), ..default() };
    let Some(target) = target else { return };
    if let Target::Incident(id) = target {
        asks.write(Ask::Incident(*id));
        asks.write(Ask::Nearest { incident: *id, k: NEAREST_K });
        selection.asked = 2;
    }
    if let Some(at) = locate(target, &markers, &grids) {
        for (cam, orbit) in &mut cameras {
            let to = OrbitCamera { focus: at, distance: orbit.distance.min(CLOSE_UP), ..*orbit };
            commands.entity(cam).insert(Flight { from: *orbit, to, start: time.elapsed_secs(), duration: Flight::SECONDS });
        }
    }
}

fn fly_camera(mut commands: Commands, time: Res<Time>, mut cameras: Query<(Entity, &Flight, &mut OrbitCamera)>) {
    let now = time.elapsed_secs();
    for (cam, flight, mut orbit) in &mut cameras {
        *orbit = flight.at(now);
        if flight.done(now) {
            commands.entity(cam).remove::<Flight>();
        }
    }
}

fn take_answers(mut answers: MessageReader<Answer>, mut selection: ResMut<Selection>, lang: Res<Lang>) {
    for a in answers.read() {
        let Some(Target::Incident(selected)) = selection.target else { continue };
        match a {
            Answer::Incident(d) if d.incident.id == selected => selection.detail = Some((**d).clone()),
            Answer::Nearest { incident, answer } if *incident == selected => selection.nearest = Some(answer.clone()),
            Answer::Failed { ask: Ask::Incident(id) | Ask::Nearest { incident: id, .. }, error } if *id == selected => {
                selection.note = Some(format!("{}{error}", lang.pick("查询失败：", "query failed: ")));
            }
            _ => continue,
        }
        selection.asked = selection.asked.saturating_sub(1);
    }
}

/// Keeps the panel current: a change of the selected incident asks again; the reply to our
/// assignment is shown.
fn follow_events(mut frames: MessageReader<ServerFrame>, mut selection: ResMut<Selection>, mut asks: MessageWriter<Ask>, lang: Res<Lang>) {
    for ServerFrame(m) in frames.read() {
        let Some(Target::Incident(selected)) = selection.target else { continue };
        match m {
            ServerMessage::Delta { events, .. } => {
                let touched = events.iter().any(|e| match &e.kind {
                    EventKind::IncidentChanged { incident, .. } => incident.id == selected,
                    EventKind::IncidentEscalated { incident, .. } => *incident == selected,
                    _ => false,
                });
                if touched {
                    asks.write(Ask::Incident(selected));
                    asks.write(Ask::Nearest { incident: selected, k: NEAREST_K });
                    selection.asked += 2;
                }
            }
            ServerMessage::Reply { request, ok, error } if selection.assigning.is_some_and(|(r, _)| r == *request) => {
                selection.assigning = None;
                selection.note = Some(if *ok { lang.pick("派遣指令已执行", "assignment done").to_owned() } else { format!("{}{}", lang.pick("派遣被拒绝：", "assignment refused: "), error.clone().unwrap_or_default()) });
            }
            _ => {}
        }
    }
}

fn press_assign(buttons: Query<(&Interaction, &AssignButton), Changed<Interaction>>, mut selection: ResMut<Selection>, mut next: ResMut<NextRequest>, mut commands: MessageWriter<Command>, lang: Res<Lang>) {
    for (interaction, b) in &buttons {
        if *interaction == Interaction::Pressed && selection.assigning.is_none() {
            next.0 += 1;
            commands.write(Command(ClientMessage::Assign { request: next.0, incident: b.incident, patrol: b.patrol, actor: lang.pick("指挥长", "commander").to_owned() }));
            selection.assigning = Some((next.0, b.patrol));
            selection.note = Some(lang.pick("派遣指令已发送…", "assignment sent…").to_owned());
        }
    }
}

fn spawn_panel(mut commands: Commands) {
    commands.spawn((
        Node {
            position_type: PositionType::Absolute,
            right: Val::Vh(24.0 / 10.8),
            top: Val::Vh(20.0 / 10.8),
            width: Val::Vh(520.0 / 10.8),
            flex_direction: FlexDirection::Column,
            row_gap: Val::Vh(5.0 / 10.8),
            padding: UiRect::all(Val::Vh(14.0 / 10.8)),
            ..default()
        },
        BackgroundColor(Color::srgba(0.01, 0.04, 0.12, 0.86)),
        BorderColor::all(Color::srgb(0.3, 0.6, 1.0)),
        Visibility::Hidden,
        Panel,
        Name::new("panel"),
            crate::hud::OVER_MAP,
    ));
}

/// `HH:MM:SS` of a duration in ms (sign dropped).
pub fn hms(ms: i64) -> String {
    let s = ms.abs() / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// "剩余 00:12:34" or "超期 00:05:00" for a deadline.
pub fn time_left_text(deadline_ms: i64, now_ms: i64, lang: Lang) -> (String, bool) {
    let left = deadline_ms - now_ms;
    if left >= 0 { (format!("{} {}", lang.pick("剩余时限", "time left"), hms(left)), false) } else { (format!("{} {}", lang.pick("已超期", "overdue by"), hms(left)), true) }
}

#[allow(clippy::too_many_arguments)]
fn show_panel(
    mut commands: Commands,
    selection: Res<Selection>,
    panel: Query<Entity, With<Panel>>,
    incidents: Res<Incidents>,
    incident_markers: Query<&IncidentMarker>,
    patrols: Query<&PatrolMarker>,
    components: Query<&crate::components::ComponentMarker>,
    grids: Res<GridOutlines>,
    font: Option<Res<HudFont>>,
    lang: Res<Lang>,
    changed_incidents: Query<&IncidentMarker, Changed<IncidentMarker>>,
) {
    let Ok(panel) = panel.single() else { return };
    // Rebuild only for a change the panel shows: rebuilding respawns the assign buttons, and a
    // busy city changes some incident every tick.
    let shown_changed = match &selection.target {
        Some(Target::Incident(id)) => changed_incidents.iter().any(|m| m.0.id == *id),
        Some(Target::Grid(code)) => changed_incidents.iter().any(|m| m.0.grid.starts_with(code.as_str())),
        _ => false,
    };
    if !selection.is_changed() && !shown_changed {
        return;
    }
    commands.entity(panel).despawn_related::<Children>();
    let Some(target) = &selection.target else {
        commands.entity(panel).insert(Visibility::Hidden);
        return;
    };
    commands.entity(panel).insert(Visibility::Inherited);
    let l = *lang;
    let font = |px: f32| TextFont { font: font.as_ref().map(|f| f.0.clone()).unwrap_or_default().into(), font_size: FontSize::Vh(px / 10.8), ..default() };
    let title = Color::srgb(0.55, 0.85, 1.0);
    let body = Color::srgb(0.85, 0.92, 1.0);
    let dim = Color::srgb(0.6, 0.7, 0.85);
    commands.entity(panel).with_children(|p| {
        let line = |p: &mut ChildSpawnerCommands, text: String, size: f32, color: Color| {
            p.spawn((Text::new(text), font(size), TextColor(color)));
        };
        match target {
            Target::Incident(id) => {
                let state = incidents.by_id.get(id).and_then(|&e| incident_markers.get(e).ok()).map(|m| m.0.clone()).or_else(|| selection.detail.as_ref().map(|d| d.incident.clone()));
                let Some(s) = state else {
                    line(p, format!("{} #{id}", l.pick("事件", "incident")), 26.0, title);
                    line(p, l.pick("加载中…", "loading…").to_owned(), 20.0, dim);
                    return;
                };
                line(p, format!("{} #{} · {}", l.pick("事件", "incident"), s.id, l.pick(s.category.name_zh(), s.category.name_en())), 26.0, title);
                p.spawn((Text::new(format!("■ {}", l.pick(s.stage.name_zh(), s.stage.name_en()))), font(22.0), TextColor(stage_color(s.stage))));
                line(p, 
                    format!("{} {} · {} {} · {} {}", l.pick("网格", "cell"), s.grid, l.pick("处置层级", "handled by"), l.pick(s.level.name_zh(), s.level.name_en()), l.pick("优先级", "priority"), s.priority),
                    18.0,
                    body,
                );
                line(p, format!("{} {}", l.pick("来源", "source"), l.pick(s.source.name_zh(), s.source.name_en())), 18.0, body);
                if !s.description.is_empty() {
                    line(p, s.description.clone(), 18.0, body);
                }
                if s.stage != IncidentStage::Closed {
                    p.spawn((Text::new(""), font(22.0), TextColor(Color::WHITE), PanelCountdown));
                }
                if let Some(d) = &selection.detail {
                    line(p, l.pick("办理流程", "timeline").to_owned(), 20.0, title);
                    for step in &d.timeline {
                        let note = if step.note.is_empty() { String::new() } else { format!(" · {}", step.note) };
                        line(p, format!("{} {} → {} ({}){note}", crate::hud::clock_text(step.at_ms), l.pick(step.from.name_zh(), step.from.name_en()), l.pick(step.to.name_zh(), step.to.name_en()), step.actor), 16.0, body);
                    }
                }
                if let Some(near) = &selection.nearest {
                    line(p, l.pick("最近在岗巡查力量", "nearest on-duty patrols").to_owned(), 20.0, title);
                    if near.patrols.is_empty() {
                        line(p, l.pick("无在岗人员", "none on duty").to_owned(), 16.0, dim);
                    }
                    for n in &near.patrols {
                        let role = n.role.map_or("", |r| l.pick(r.name_zh(), r.name_en()));
                        let assigned = s.assignee == Some(n.id);
                        p.spawn(Node { flex_direction: FlexDirection::Row, column_gap: Val::Vh(10.0 / 10.8), align_items: AlignItems::Center, ..default() }).with_children(|row| {
                            let open = matches!(s.stage, IncidentStage::Accepted | IncidentStage::Dispatched);
                            if open && !assigned {
                                row.spawn((
                                    Button,
                                    AssignButton { incident: s.id, patrol: n.id },
                                    Node { padding: UiRect::axes(Val::Vh(10.0 / 10.8), Val::Vh(3.0 / 10.8)), ..default() },
                                    BackgroundColor(Color::srgb(0.9, 0.35, 0.1)),
                                ))
                                .with_child((Text::new(l.pick("派遣", "assign")), font(16.0), TextColor(Color::WHITE)));
                            }
                            let who = n.name.clone().unwrap_or_else(|| n.patrol_id.clone());
                            let mark = if assigned { l.pick(" ✓ 已派遣", " ✓ assigned") } else { "" };
                            row.spawn((Text::new(format!("{who} · {role} · {:.0} m{mark}", n.distance_m)), font(16.0), TextColor(body)));
                        });
                    }
                }
            }
            Target::Patrol(id) => {
                let Some(m) = patrols.iter().find(|m| m.id == *id) else {
                    line(p, l.pick("巡查人员已离开视野", "patrol out of view").to_owned(), 20.0, dim);
                    return;
                };
                line(p, format!("{} · {}", m.name, l.pick(m.role.name_zh(), m.role.name_en())), 26.0, crate::patrols::role_color(m.role));
                line(p, format!("{} {}", l.pick("状态", "status"), l.pick(m.status.name_zh(), m.status.name_en())), 18.0, body);
                line(p, format!("{} {}", l.pick("责任网格", "assigned cell"), m.grid), 18.0, body);
            }
            Target::Component(id) => {
                let Some(c) = components.iter().find(|c| c.id == *id) else { return };
                line(p, format!("{} · {}", l.pick(c.category.name_zh(), c.category.name_en()), c.code), 24.0, title);
                line(p, format!("{} {}", l.pick("状态", "state"), l.pick(c.state.name_zh(), c.state.name_en())), 18.0, body);
            }
            Target::Grid(code) => {
                let Some(u) = grids.unit(code) else { return };
                line(p, format!("{} · {}", u.name, l.pick(u.level.name_zh(), u.level.name_en())), 24.0, crate::grids::level_color(u.level));
                line(p, format!("{} {code}", l.pick("编码", "code")), 18.0, body);
                let open = incident_markers.iter().filter(|m| m.0.grid.starts_with(code.as_str())).count();
                let here = patrols.iter().filter(|m| m.grid.starts_with(code.as_str())).count();
                line(p, format!("{} {open} · {} {here}", l.pick("在办事件", "open incidents"), l.pick("责任巡查人员", "patrols assigned")), 18.0, body);
            }
        }
        if let Some(note) = &selection.note {
            line(p, note.clone(), 18.0, Color::srgb(1.0, 0.8, 0.3));
        }
    });
}

fn count_down(
    selection: Res<Selection>,
    incidents: Res<Incidents>,
    markers: Query<&IncidentMarker>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    lang: Res<Lang>,
    mut text: Query<(&mut Text, &mut TextColor), With<PanelCountdown>>,
) {
    let Some(Target::Incident(id)) = selection.target else { return };
    let Some(m) = incidents.by_id.get(&id).and_then(|&e| markers.get(e).ok()) else { return };
    let Some(now) = clock.now_ms(time.elapsed_secs()) else { return };
    let (shown, overdue) = time_left_text(m.0.deadline_ms, now, *lang);
    for (mut t, mut c) in &mut text {
        if t.0 != shown {
            t.0.clone_from(&shown);
            c.0 = if overdue { Color::srgb(1.0, 0.3, 0.25) } else { Color::WHITE };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flights_ease_in_and_out_and_zoom_geometrically() {
        let from = OrbitCamera { focus: Vec3::ZERO, yaw: 0.0, pitch: 0.8, distance: 1600.0 };
        let to = OrbitCamera { focus: Vec3::new(100.0, 0.0, 0.0), yaw: 0.0, pitch: 0.8, distance: 400.0 };
        let f = Flight { from, to, start: 1.0, duration: 2.0 };
        assert_eq!(f.at(0.0), from);
        assert_eq!(f.at(3.5), to);
        let mid = f.at(2.0);
        assert!((mid.focus.x - 50.0).abs() < 1e-3 && (mid.distance - 800.0).abs() < 0.5, "{mid:?}");
        // Slow at both ends.
        assert!(f.at(1.2).focus.x < 2.0 && f.at(2.8).focus.x > 98.0);
        assert!(f.done(3.0) && !f.done(2.9));
    }

    fn incident(id: u64, stage: IncidentStage, assignee: Option<u32>) -> gridwall_protocol::IncidentState {
        gridwall_protocol::IncidentState {
            id,
            category: gridwall_protocol::IncidentCategory::Garbage,
            source: gridwall_protocol::IncidentSource::Hotline,
            stage,
            priority: 2,
            x: 300.0,
            y: 400.0,
            lon: None,
            lat: None,
            grid: "g".into(),
            level: GridLevel::Cell,
            created_ms: 0,
            deadline_ms: 600_000,
            assignee,
            description: String::new(),
        }
    }

    fn changed(i: gridwall_protocol::IncidentState) -> ServerFrame {
        ServerFrame(ServerMessage::Delta {
            tick: 2,
            time_ms: 1000,
            moved: vec![],
            entered: vec![],
            left: vec![],
            events: vec![gridwall_protocol::Event { seq: 2, time_ms: 1000, kind: EventKind::IncidentChanged { incident: i, actor: "指挥长".into(), note: String::new() } }],
        })
    }

    #[test]
    fn selecting_an_incident_asks_flies_lists_patrols_and_assigns_through_the_server() {
        use gridwall_protocol::api::NearPatrol;
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_plugins((crate::incidents::IncidentsPlugin, SelectPlugin));
        let start = OrbitCamera { focus: Vec3::ZERO, yaw: 0.0, pitch: 0.8, distance: 2000.0 };
        let cam = app.world_mut().spawn(start).id();
        app.update();
        app.world_mut().write_message(ServerFrame(ServerMessage::Snapshot { seq: 1, tick: 1, time_ms: 0, patrols: vec![], incidents: vec![incident(7, IncidentStage::Accepted, None), incident(8, IncidentStage::Accepted, None)], components: vec![] }));
        app.update();

        app.world_mut().write_message(Select(Some(Target::Incident(7))));
        app.update();
        let asks: Vec<Ask> = app.world_mut().resource_mut::<Messages<Ask>>().drain().collect();
        assert_eq!(asks, [Ask::Incident(7), Ask::Nearest { incident: 7, k: NEAREST_K }]);
        let flight = *app.world().get::<Flight>(cam).expect("the camera flies");
        assert_eq!(flight.to.focus, Vec3::new(300.0, 0.0, -400.0));
        assert_eq!(flight.to.distance, CLOSE_UP);

        // The server answers: the panel lists the nearest patrol with an assign button.
        let near = NearestAnswer { x: 300.0, y: 400.0, patrols: vec![NearPatrol { id: 3, patrol_id: "W-3".into(), distance_m: 42.0, name: Some("张伟".into()), role: None, status: None }] };
        app.world_mut().write_message(Answer::Nearest { incident: 7, answer: near });
        app.world_mut().write_message(Answer::Failed { ask: Ask::Incident(7), error: "gone".into() });
        app.update();
        assert_eq!(app.world().resource::<Selection>().asked, 0);
        assert!(app.world().resource::<Selection>().note.as_deref().unwrap().contains("gone"));
        let button = app.world_mut().query::<(Entity, &AssignButton)>().single(app.world()).map(|(e, b)| (e, *b)).unwrap();
        assert_eq!((button.1.incident, button.1.patrol), (7, 3));
        // Another incident changing leaves the panel (and its button) alone.
        app.world_mut().write_message(changed(incident(8, IncidentStage::Dispatched, Some(9))));
        app.update();
        let _ = app.world_mut().resource_mut::<Messages<Ask>>().drain();
        assert!(app.world().get_entity(button.0).is_ok(), "the panel was rebuilt for an unrelated incident");

        // One click: a command goes out; nothing changes until the server's event.
        app.world_mut().entity_mut(button.0).insert(Interaction::Pressed);
        app.update();
        let sent: Vec<Command> = app.world_mut().resource_mut::<Messages<Command>>().drain().collect();
        assert!(matches!(&sent[..], [Command(ClientMessage::Assign { request: 1, incident: 7, patrol: 3, .. })]), "{sent:?}");
        assert_eq!(app.world().resource::<Selection>().assigning, Some((1, 3)));
        let stage = |app: &mut App| app.world_mut().query::<&IncidentMarker>().iter(app.world()).find(|m| m.0.id == 7).unwrap().0.stage;
        assert_eq!(stage(&mut app), IncidentStage::Accepted);
        app.world_mut().write_message(ServerFrame(ServerMessage::Reply { request: 1, ok: true, error: None }));
        app.world_mut().write_message(changed(incident(7, IncidentStage::Dispatched, Some(3))));
        app.update();
        assert_eq!(stage(&mut app), IncidentStage::Dispatched);
        assert_eq!(app.world().resource::<Selection>().assigning, None);
        // The change makes the panel ask again (timeline and distances moved on).
        let asks: Vec<Ask> = app.world_mut().resource_mut::<Messages<Ask>>().drain().collect();
        assert_eq!(asks, [Ask::Incident(7), Ask::Nearest { incident: 7, k: NEAREST_K }]);

        // Selecting nothing hides the panel.
        app.world_mut().write_message(Select(None));
        app.update();
        let vis = *app.world_mut().query_filtered::<&Visibility, With<Panel>>().single(app.world()).unwrap();
        assert_eq!(vis, Visibility::Hidden);
    }

    #[test]
    fn countdown_text() {
        assert_eq!(time_left_text(10_000 + 3_723_000, 10_000, Lang::Zh), ("剩余时限 01:02:03".to_owned(), false));
        assert_eq!(time_left_text(0, 65_000, Lang::En), ("overdue by 00:01:05".to_owned(), true));
    }
}
