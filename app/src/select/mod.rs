//! Drill-in for the commander: a click ([`picking`]) or a search selects an incident, a patrol,
//! a component or a grid unit; the camera flies there and the [`panel`] shows it. For an
//! incident the server is asked for its timeline and the nearest on-duty patrols; assigning one
//! is a command to the server, and the panel changes when the resulting event arrives, not
//! before. Residents' photos of an incident come after its detail ([`photos`]).

pub mod panel;
pub mod photos;
pub mod picking;

use bevy::prelude::*;
use gridwall_protocol::{EventKind, ServerMessage};

use crate::AppSystems;
use crate::map::grid::centroid;
use crate::map::{FlyTo, GridMap, Pickable, Select, Selection, Target, to_world};
use crate::net::{Answer, Ask, ServerFrame};
use crate::theme::prelude::*;

/// How close a flight brings the camera (metres), unless it is already closer.
pub const CLOSE_UP: f32 = 450.0;
/// Patrols listed for an incident.
pub const NEAREST_K: usize = 5;

pub struct SelectPlugin;

impl Plugin for SelectPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Selection>()
            .init_resource::<photos::Decoding>()
            .init_resource::<GridMap>()
            .init_resource::<Lang>()
            .add_message::<Select>()
            .add_message::<FlyTo>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .add_message::<ServerFrame>()
            .add_systems(
                Update,
                (
                    select_target,
                    take_answers,
                    photos::ask_photos,
                    photos::take_photos,
                    photos::finish_photos,
                    follow_events,
                )
                    .chain()
                    .in_set(AppSystems::Select),
            )
            .add_plugins((picking::PickingPlugin, panel::PanelPlugin));
    }
}

/// Where a target is on the map (ground level).
fn locate(target: &Target, markers: &Query<(&Pickable, &Transform)>, grids: &GridMap) -> Option<Vec3> {
    if let Target::Grid(code) = target {
        let unit = grids.unit(code)?;
        let c = centroid(unit.rings.first()?);
        return Some(to_world(c[0], c[1], 0.0));
    }
    markers.iter().find(|(p, _)| p.0 == *target).map(|(_, tf)| tf.translation * Vec3::new(1.0, 0.0, 1.0))
}

/// A new selection: forget the old one, ask the server about an incident, fly there.
fn select_target(
    mut select: MessageReader<Select>,
    mut selection: ResMut<Selection>,
    markers: Query<(&Pickable, &Transform)>,
    grids: Res<GridMap>,
    mut asks: MessageWriter<Ask>,
    mut fly: MessageWriter<FlyTo>,
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
        fly.write(FlyTo { focus: at, max_distance: CLOSE_UP });
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
fn follow_events(
    mut frames: MessageReader<ServerFrame>,
    mut selection: ResMut<Selection>,
    mut asks: MessageWriter<Ask>,
    lang: Res<Lang>,
) {
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
                selection.note = Some(if *ok {
                    lang.pick("派遣指令已执行", "assignment done").to_owned()
                } else {
                    format!(
                        "{}{}",
                        lang.pick("派遣被拒绝：", "assignment refused: "),
                        error.clone().unwrap_or_default()
                    )
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::incidents::IncidentsPlugin;
    use crate::map::IncidentMarker;
    use crate::net::Outbound;
    use crate::testing::app_with;
    use gridwall_protocol::api::NearestAnswer;
    use gridwall_protocol::{ClientMessage, IncidentStage, IncidentState};
    use gridwall_testkit::fixtures::{self, snapshot};

    fn incident(id: u64, stage: IncidentStage, assignee: Option<u32>) -> IncidentState {
        IncidentState {
            priority: 2,
            x: 300.0,
            y: 400.0,
            deadline_ms: 600_000,
            assignee,
            ..fixtures::incident(id, stage)
        }
    }

    fn changed(i: IncidentState) -> ServerFrame {
        ServerFrame(fixtures::events(vec![EventKind::IncidentChanged {
            incident: i,
            actor: "指挥长".into(),
            note: String::new(),
        }]))
    }

    #[test]
    fn selecting_an_incident_asks_flies_lists_patrols_and_assigns_through_the_server() {
        use gridwall_protocol::api::NearPatrol;
        let mut app = app_with((IncidentsPlugin, SelectPlugin));
        // A commander's display: the server's welcome said it may command.
        app.insert_resource(crate::net::MayCommand(true));
        app.update();
        app.world_mut().write_message(ServerFrame(snapshot(
            vec![],
            vec![incident(7, IncidentStage::Accepted, None), incident(8, IncidentStage::Accepted, None)],
            vec![],
        )));
        app.update();

        app.world_mut().write_message(Select(Some(Target::Incident(7))));
        app.update();
        let asks: Vec<Ask> = app.world_mut().resource_mut::<Messages<Ask>>().drain().collect();
        assert_eq!(asks, [Ask::Incident(7), Ask::Nearest { incident: 7, k: NEAREST_K }]);
        let flights: Vec<FlyTo> = app.world_mut().resource_mut::<Messages<FlyTo>>().drain().collect();
        assert_eq!(
            flights,
            [FlyTo { focus: Vec3::new(300.0, 0.0, -400.0), max_distance: CLOSE_UP }],
            "the camera is asked to fly there"
        );

        // The server answers: the panel lists the nearest patrol with an assign button.
        let near = NearestAnswer {
            x: 300.0,
            y: 400.0,
            patrols: vec![NearPatrol {
                id: 3,
                patrol_id: "W-3".into(),
                distance_m: 42.0,
                name: Some("张伟".into()),
                role: None,
                status: None,
            }],
        };
        app.world_mut().write_message(Answer::Nearest { incident: 7, answer: near });
        app.world_mut().write_message(Answer::Failed { ask: Ask::Incident(7), error: "gone".into() });
        app.update();
        assert_eq!(app.world().resource::<Selection>().asked, 0);
        assert!(app.world().resource::<Selection>().note.as_deref().unwrap().contains("gone"));
        let assign_button = |app: &mut App| {
            app.world_mut().query::<(Entity, &panel::AssignButton)>().single(app.world()).map(|(e, b)| (e, *b)).unwrap()
        };
        let button = assign_button(&mut app);
        assert_eq!((button.1.incident, button.1.patrol), (7, 3));
        // A viewer's token (the welcome said no): the same panel without 派遣.
        app.insert_resource(crate::net::MayCommand(false));
        app.update();
        assert_eq!(app.world_mut().query::<&panel::AssignButton>().iter(app.world()).count(), 0);
        app.insert_resource(crate::net::MayCommand(true));
        app.update();
        let button = assign_button(&mut app);
        // Another incident changing leaves the panel (and its button) alone.
        app.world_mut().write_message(changed(incident(8, IncidentStage::Dispatched, Some(9))));
        app.update();
        let _ = app.world_mut().resource_mut::<Messages<Ask>>().drain();
        assert!(app.world().get_entity(button.0).is_ok(), "the panel was rebuilt for an unrelated incident");

        // One click: a command goes out; nothing changes until the server's event.
        app.world_mut().entity_mut(button.0).insert(Interaction::Pressed);
        app.update();
        let sent: Vec<Outbound> = app.world_mut().resource_mut::<Messages<Outbound>>().drain().collect();
        assert!(
            matches!(&sent[..], [Outbound(ClientMessage::Assign { request: 1, incident: 7, patrol: 3, .. })]),
            "{sent:?}"
        );
        assert_eq!(app.world().resource::<Selection>().assigning, Some((1, 3)));
        let stage = |app: &mut App| {
            app.world_mut().query::<&IncidentMarker>().iter(app.world()).find(|m| m.0.id == 7).unwrap().0.stage
        };
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
        let vis = *app
            .world_mut()
            .query::<(&Name, &Visibility)>()
            .iter(app.world())
            .find(|(n, _)| n.as_str() == "panel")
            .unwrap()
            .1;
        assert_eq!(vis, Visibility::Hidden);
    }
}
