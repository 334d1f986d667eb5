//! The detail panel on the right: what is selected, with (for an incident) its stage, the
//! running countdown to the stage's time limit, the workflow timeline and the nearest on-duty
//! patrols, each with a one-click 派遣 (assign) that sends a command to the server.

use bevy::prelude::*;
use gridwall_protocol::api::IncidentDetail;
use gridwall_protocol::{ClientMessage, IncidentStage};

use crate::AppSystems;
use crate::map::{
    CastRequest, ComponentMarker, GridMap, IncidentMarker, Incidents, PatrolMarker, Presentation, Selection, Target,
    TimeRequest,
};
use crate::net::{MayCommand, Outbound, ServerClock};
use crate::theme::prelude::*;

/// How wide a photo is shown (two fit side by side).
const PHOTO_WIDTH: f32 = 240.0;

#[derive(Component)]
struct Panel;
#[derive(Component)]
struct PanelCountdown;

/// A 派遣 button: assign this patrol to this incident.
#[derive(Component, Debug, Clone, Copy)]
pub struct AssignButton {
    pub incident: u64,
    pub patrol: u32,
}

/// The request number of the next command.
#[derive(Resource, Default)]
struct NextRequest(u64);

pub struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<NextRequest>()
            .init_resource::<Selection>()
            .init_resource::<Incidents>()
            .init_resource::<GridMap>()
            .init_resource::<ServerClock>()
            .init_resource::<Lang>()
            .add_message::<Outbound>()
            .add_systems(Startup, spawn_panel)
            .init_resource::<Presentation>()
            .init_resource::<MayCommand>()
            .add_message::<CastRequest>()
            .add_message::<TimeRequest>()
            .add_systems(Update, (press_assign, press_cast, press_replay).in_set(AppSystems::Input))
            .add_systems(Update, (show_panel, count_down).chain().in_set(AppSystems::Present));
    }
}

fn press_assign(
    buttons: Query<(&Interaction, &AssignButton), Changed<Interaction>>,
    mut selection: ResMut<Selection>,
    mut next: ResMut<NextRequest>,
    mut outbound: MessageWriter<Outbound>,
    lang: Res<Lang>,
) {
    for (interaction, b) in &buttons {
        if *interaction == Interaction::Pressed && selection.assigning.is_none() {
            next.0 += 1;
            outbound.write(Outbound(ClientMessage::Assign {
                request: next.0,
                incident: b.incident,
                patrol: b.patrol,
                actor: lang.pick("指挥长", "commander").to_owned(),
            }));
            selection.assigning = Some((next.0, b.patrol));
            selection.note = Some(lang.pick("派遣指令已发送…", "assignment sent…").to_owned());
        }
    }
}

/// The panel's width at 1080 p, and how much larger it is when cast onto a wall.
const PANEL_WIDTH: f32 = 520.0;
const CAST_SIZE: f32 = 1.8;

/// A 投屏 / 收回 button.
#[derive(Component, Debug, Clone, Copy)]
struct CastButton(CastRequest);

/// The 回放此事件 button: play the incident's life, then back to live.
#[derive(Component, Debug, Clone, Copy)]
struct ReplayButton(TimeRequest);

fn press_replay(
    buttons: Query<(&Interaction, &ReplayButton), Changed<Interaction>>,
    mut requests: MessageWriter<TimeRequest>,
) {
    for (interaction, b) in &buttons {
        if *interaction == Interaction::Pressed {
            requests.write(b.0);
        }
    }
}

/// An incident's life as a replay: from a minute before it was accepted to a minute after its
/// last step (an open one plays on until the replay reaches now).
pub fn incident_replay(d: &IncidentDetail) -> TimeRequest {
    let from_ms = d.incident.created_ms - 60_000;
    let last = d.timeline.iter().map(|s| s.at_ms).max().unwrap_or(d.incident.created_ms);
    let to_ms = if d.incident.stage == IncidentStage::Closed { last + 60_000 } else { i64::MAX };
    TimeRequest::Incident { from_ms, to_ms: to_ms.max(from_ms + 120_000) }
}

fn press_cast(
    buttons: Query<(&Interaction, &CastButton), Changed<Interaction>>,
    mut requests: MessageWriter<CastRequest>,
) {
    for (interaction, b) in &buttons {
        if *interaction == Interaction::Pressed {
            requests.write(b.0);
        }
    }
}

fn spawn_panel(mut commands: Commands) {
    commands.spawn((
        Node { right: hpx(24.0), top: hpx(20.0), width: hpx(PANEL_WIDTH), ..panel_node(14.0, 5.0) },
        BackgroundColor(palette::PANEL_STRONG),
        BorderColor::all(Color::srgb(0.3, 0.6, 1.0)),
        Visibility::Hidden,
        Panel,
        Name::new("panel"),
        Place::Detail,
        OVER_MAP,
    ));
}

fn show_panel(
    mut commands: Commands,
    selection: Res<Selection>,
    panel: Query<Entity, With<Panel>>,
    incidents: Res<Incidents>,
    incident_markers: Query<&IncidentMarker>,
    patrols: Query<&PatrolMarker>,
    components: Query<&ComponentMarker>,
    grids: Res<GridMap>,
    ui: Option<Res<UiFont>>,
    lang: Res<Lang>,
    changed_incidents: Query<&IncidentMarker, Changed<IncidentMarker>>,
    presentation: Res<Presentation>,
    rights: Res<MayCommand>,
    mut nodes: Query<&mut Node>,
) {
    let Ok(panel) = panel.single() else { return };
    // Rebuild only for a change the panel shows: rebuilding respawns the assign buttons, and a
    // busy city changes some incident every tick.
    let shown_changed = match &selection.target {
        Some(Target::Incident(id)) => changed_incidents.iter().any(|m| m.0.id == *id),
        Some(Target::Grid(code)) => changed_incidents.iter().any(|m| m.0.grid.starts_with(code.as_str())),
        _ => false,
    };
    if !selection.is_changed() && !shown_changed && !presentation.is_changed() && !rights.is_changed() {
        return;
    }
    // Cast onto a wall, the panel is read from the back of the room.
    let big = if presentation.cast { CAST_SIZE } else { 1.0 };
    if let Ok(mut node) = nodes.get_mut(panel) {
        node.width = hpx(PANEL_WIDTH * big);
    }
    commands.entity(panel).despawn_related::<Children>();
    let Some(target) = &selection.target else {
        commands.entity(panel).insert(Visibility::Hidden);
        return;
    };
    commands.entity(panel).insert(Visibility::Inherited);
    let l = *lang;
    let font = |px: f32| font(ui.as_deref(), px * big);
    let (title, body, dim) = (palette::ACCENT, palette::BODY, palette::DIM);
    commands.entity(panel).with_children(|p| {
        let line = |p: &mut ChildSpawnerCommands, text: String, size: f32, color: Color| {
            p.spawn((Text::new(text), font(size), TextColor(color)));
        };
        match target {
            Target::Incident(id) => {
                let state = incidents
                    .by_id
                    .get(id)
                    .and_then(|&e| incident_markers.get(e).ok())
                    .map(|m| m.0.clone())
                    .or_else(|| selection.detail.as_ref().map(|d| d.incident.clone()));
                let Some(s) = state else {
                    line(p, format!("{} #{id}", l.pick("事件", "incident")), 26.0, title);
                    line(p, l.pick("加载中…", "loading…").to_owned(), 20.0, dim);
                    return;
                };
                line(
                    p,
                    format!(
                        "{} #{} · {}",
                        l.pick("事件", "incident"),
                        s.id,
                        l.pick(s.category.name_zh(), s.category.name_en())
                    ),
                    26.0,
                    title,
                );
                p.spawn((
                    Text::new(format!("■ {}", l.pick(s.stage.name_zh(), s.stage.name_en()))),
                    font(22.0),
                    TextColor(stage_color(s.stage)),
                ));
                line(
                    p,
                    format!(
                        "{} {} · {} {} · {} {}",
                        l.pick("网格", "cell"),
                        s.grid,
                        l.pick("处置层级", "handled by"),
                        l.pick(s.level.name_zh(), s.level.name_en()),
                        l.pick("优先级", "priority"),
                        s.priority
                    ),
                    18.0,
                    body,
                );
                line(
                    p,
                    format!("{} {}", l.pick("来源", "source"), l.pick(s.source.name_zh(), s.source.name_en())),
                    18.0,
                    body,
                );
                if !s.description.is_empty() {
                    line(p, s.description.clone(), 18.0, body);
                }
                // What it was filed with: the service's attributes, then the photos.
                for a in selection.detail.iter().flat_map(|d| &d.attributes) {
                    let label = if l == Lang::Zh { &a.label_zh } else { &a.label_en };
                    line(p, label.clone(), 16.0, body);
                }
                if !selection.photos.is_empty() {
                    p.spawn(Node { flex_direction: FlexDirection::Row, column_gap: hpx(8.0), ..default() })
                        .with_children(|row| {
                            for photo in &selection.photos {
                                row.spawn((
                                    ImageNode::new(photo.clone()),
                                    Node { width: hpx(PHOTO_WIDTH * big), ..default() },
                                    Name::new("photo"),
                                ));
                            }
                        });
                }
                if s.stage != IncidentStage::Closed {
                    p.spawn((Text::new(""), font(22.0), TextColor(Color::WHITE), PanelCountdown));
                }
                if let Some(d) = &selection.detail {
                    line(p, l.pick("办理流程", "timeline").to_owned(), 20.0, title);
                    for step in &d.timeline {
                        let note = if step.note.is_empty() { String::new() } else { format!(" · {}", step.note) };
                        line(
                            p,
                            format!(
                                "{} {} → {} ({}){note}",
                                clock_text(step.at_ms),
                                l.pick(step.from.name_zh(), step.from.name_en()),
                                l.pick(step.to.name_zh(), step.to.name_en()),
                                step.actor
                            ),
                            16.0,
                            body,
                        );
                    }
                    p.spawn((
                        Button,
                        ReplayButton(incident_replay(d)),
                        Node {
                            padding: UiRect::axes(hpx(10.0), hpx(3.0)),
                            margin: UiRect::top(hpx(4.0)),
                            align_self: AlignSelf::FlexStart,
                            ..default()
                        },
                        BackgroundColor(palette::BUTTON),
                    ))
                    .with_child((
                        Text::new(l.pick("▶ 回放此事件", "▶ replay this incident")),
                        font(16.0),
                        TextColor(palette::ACCENT),
                    ));
                }
                if let Some(near) = &selection.nearest {
                    line(p, l.pick("最近在岗巡查力量", "nearest on-duty patrols").to_owned(), 20.0, title);
                    if near.patrols.is_empty() {
                        line(p, l.pick("无在岗人员", "none on duty").to_owned(), 16.0, dim);
                    }
                    for n in &near.patrols {
                        let role = n.role.map_or("", |r| l.pick(r.name_zh(), r.name_en()));
                        let assigned = s.assignee == Some(n.id);
                        p.spawn(Node {
                            flex_direction: FlexDirection::Row,
                            column_gap: hpx(10.0),
                            align_items: AlignItems::Center,
                            ..default()
                        })
                        .with_children(|row| {
                            let open = matches!(s.stage, IncidentStage::Accepted | IncidentStage::Dispatched);
                            if open && !assigned && rights.0 {
                                row.spawn((
                                    Button,
                                    AssignButton { incident: s.id, patrol: n.id },
                                    Node { padding: UiRect::axes(hpx(10.0), hpx(3.0)), ..default() },
                                    BackgroundColor(palette::ACTION),
                                ))
                                .with_child((
                                    Text::new(l.pick("派遣", "assign")),
                                    font(16.0),
                                    TextColor(Color::WHITE),
                                ));
                            }
                            let who = n.name.clone().unwrap_or_else(|| n.patrol_id.clone());
                            let mark = if assigned { l.pick(" ✓ 已派遣", " ✓ assigned") } else { "" };
                            row.spawn((
                                Text::new(format!("{who} · {role} · {:.0} m{mark}", n.distance_m)),
                                font(16.0),
                                TextColor(body),
                            ));
                        });
                    }
                }
            }
            Target::Patrol(id) => {
                let Some(m) = patrols.iter().find(|m| m.id == *id) else {
                    line(p, l.pick("巡查人员已离开视野", "patrol out of view").to_owned(), 20.0, dim);
                    return;
                };
                line(
                    p,
                    format!("{} · {}", m.name, l.pick(m.role.name_zh(), m.role.name_en())),
                    26.0,
                    role_color(m.role),
                );
                line(
                    p,
                    format!("{} {}", l.pick("状态", "status"), l.pick(m.status.name_zh(), m.status.name_en())),
                    18.0,
                    body,
                );
                line(p, format!("{} {}", l.pick("责任网格", "assigned cell"), m.grid), 18.0, body);
            }
            Target::Component(id) => {
                let Some(c) = components.iter().find(|c| c.id == *id) else { return };
                line(p, format!("{} · {}", l.pick(c.category.name_zh(), c.category.name_en()), c.code), 24.0, title);
                line(
                    p,
                    format!("{} {}", l.pick("状态", "state"), l.pick(c.state.name_zh(), c.state.name_en())),
                    18.0,
                    body,
                );
            }
            Target::Grid(code) => {
                let Some(u) = grids.unit(code) else { return };
                line(
                    p,
                    format!("{} · {}", u.name, l.pick(u.level.name_zh(), u.level.name_en())),
                    24.0,
                    level_color(u.level),
                );
                line(p, format!("{} {code}", l.pick("编码", "code")), 18.0, body);
                let open = incident_markers.iter().filter(|m| m.0.grid.starts_with(code.as_str())).count();
                let here = patrols.iter().filter(|m| m.grid.starts_with(code.as_str())).count();
                line(
                    p,
                    format!(
                        "{} {open} · {} {here}",
                        l.pick("在办事件", "open incidents"),
                        l.pick("责任巡查人员", "patrols assigned")
                    ),
                    18.0,
                    body,
                );
            }
        }
        if let Some(note) = &selection.note {
            line(p, note.clone(), 18.0, palette::NOTE);
        }
        // A desk sends what it shows to the wall, and takes it back.
        if !presentation.cast && rights.0 {
            p.spawn(Node {
                flex_direction: FlexDirection::Row,
                column_gap: hpx(10.0),
                margin: UiRect::top(hpx(4.0)),
                ..default()
            })
            .with_children(|row| {
                for (label, request) in [
                    (l.pick("投屏到大屏 (C)", "cast to wall (C)"), CastRequest::Cast),
                    (l.pick("收回 (Shift+C)", "take back (Shift+C)"), CastRequest::TakeBack),
                ] {
                    row.spawn((
                        Button,
                        CastButton(request),
                        Node { padding: UiRect::axes(hpx(10.0), hpx(3.0)), ..default() },
                        BackgroundColor(palette::BUTTON),
                    ))
                    .with_child((Text::new(label), font(16.0), TextColor(palette::ACCENT)));
                }
            });
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
    let Some(now) = clock.shown_ms(time.elapsed_secs()) else { return };
    let (shown, overdue) = time_left_text(m.0.deadline_ms, now, *lang);
    for (mut t, mut c) in &mut text {
        if t.0 != shown {
            t.0.clone_from(&shown);
            c.0 = if overdue { palette::OVERDUE } else { Color::WHITE };
        }
    }
}
