//! Filters: a bar at the bottom right toggles incident stages and component categories (and
//! the heatmap); a grid filter keeps only the incidents and patrols of one street, community or
//! cell. The bar also holds the [`search`] line (press `/`; in a browser its text comes from the
//! page's field, `page_input`, so input methods and paste work).

#[cfg(target_arch = "wasm32")]
mod page_input;
pub mod search;

use std::collections::HashSet;

use bevy::prelude::*;
use gridwall_protocol::{ComponentCategory, IncidentStage};

use crate::AppSystems;
use crate::map::{ComponentMarker, Filters, FoldedUnits, HeatmapOn, IncidentMarker, PatrolMarker, Presentation};
use crate::theme::prelude::*;
use gridwall_protocol::wall::Highlight;

/// A toggle in the filter bar.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Stage(IncidentStage),
    Category(ComponentCategory),
    Heatmap,
}

pub struct FiltersPlugin;

impl Plugin for FiltersPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Filters>()
            .init_resource::<Presentation>()
            .init_resource::<HeatmapOn>()
            .init_resource::<Lang>()
            .add_systems(Startup, spawn_filter_bar)
            .add_systems(Update, press_toggles.in_set(AppSystems::Input))
            .add_systems(Update, (show_toggles, apply_filters).in_set(AppSystems::Filter))
            .add_plugins(search::SearchPlugin);
    }
}

fn spawn_filter_bar(mut commands: Commands, ui: Option<Res<UiFont>>, lang: Res<Lang>) {
    let font = |px: f32| font(ui.as_deref(), px);
    let l = *lang;
    let button = |label: &str, color: Color, toggle: Toggle| {
        (
            Button,
            toggle,
            Node { padding: UiRect::axes(hpx(8.0), hpx(3.0)), border: UiRect::all(hpx(1.5)), ..default() },
            BorderColor::all(color),
            BackgroundColor(palette::BUTTON),
            children![(Text::new(label.to_owned()), font(15.0), TextColor(color))],
        )
    };
    let row = || Node {
        flex_direction: FlexDirection::Row,
        flex_wrap: FlexWrap::Wrap,
        column_gap: hpx(6.0),
        row_gap: hpx(6.0),
        ..default()
    };
    commands
        .spawn((
            Node { right: hpx(24.0), bottom: hpx(24.0), max_width: Val::Vw(60.0), ..panel_node(10.0, 6.0) },
            BackgroundColor(palette::PANEL),
            Name::new("filter bar"),
            Place::Filters,
            OVER_MAP,
        ))
        .with_children(|p| {
            p.spawn((Text::new(""), font(17.0), TextColor(palette::BODY), search::SearchLine));
            p.spawn(row()).with_children(|row| {
                for s in [
                    IncidentStage::Accepted,
                    IncidentStage::Dispatched,
                    IncidentStage::Resolved,
                    IncidentStage::Reviewed,
                ] {
                    row.spawn(button(l.pick(s.name_zh(), s.name_en()), stage_color(s), Toggle::Stage(s)));
                }
                row.spawn(button(l.pick("热力图", "heatmap"), Color::srgb(1.0, 0.5, 0.3), Toggle::Heatmap));
            });
            p.spawn(row()).with_children(|row| {
                for c in ComponentCategory::ALL {
                    row.spawn(button(l.pick(c.name_zh(), c.name_en()), category_color(c), Toggle::Category(c)));
                }
            });
        });
}

fn press_toggles(
    buttons: Query<(&Interaction, &Toggle), Changed<Interaction>>,
    mut filters: ResMut<Filters>,
    mut heatmap: ResMut<HeatmapOn>,
) {
    for (interaction, toggle) in &buttons {
        if *interaction != Interaction::Pressed {
            continue;
        }
        match *toggle {
            Toggle::Stage(s) => flip(&mut filters.hidden_stages, s),
            Toggle::Category(c) => flip(&mut filters.hidden_categories, c),
            Toggle::Heatmap => heatmap.0 = !heatmap.0,
        }
    }
}

fn flip<T: std::hash::Hash + Eq>(set: &mut HashSet<T>, v: T) {
    if !set.remove(&v) {
        set.insert(v);
    }
}

/// Shown toggles are bright, hidden ones dim.
fn show_toggles(filters: Res<Filters>, heatmap: Res<HeatmapOn>, mut buttons: Query<(&Toggle, &mut BackgroundColor)>) {
    if !filters.is_changed() && !heatmap.is_changed() {
        return;
    }
    for (toggle, mut bg) in &mut buttons {
        let on = match *toggle {
            Toggle::Stage(s) => !filters.hidden_stages.contains(&s),
            Toggle::Category(c) => !filters.hidden_categories.contains(&c),
            Toggle::Heatmap => heatmap.0,
        };
        bg.0 = if on { palette::TOGGLE_ON } else { palette::TOGGLE_OFF };
    }
}

/// Hides what the filters exclude: everything when the filters change, new markers otherwise. A
/// tour pointing at one unit's patrols shows only those; incidents folded into their unit's
/// aggregate hide too.
fn apply_filters(
    filters: Res<Filters>,
    presentation: Res<Presentation>,
    folded: Res<FoldedUnits>,
    mut incidents: Query<(Ref<IncidentMarker>, &mut Visibility), (Without<PatrolMarker>, Without<ComponentMarker>)>,
    mut patrols: Query<(Ref<PatrolMarker>, &mut Visibility), (Without<IncidentMarker>, Without<ComponentMarker>)>,
    mut components: Query<(Ref<ComponentMarker>, &mut Visibility), (Without<IncidentMarker>, Without<PatrolMarker>)>,
) {
    let all = filters.is_changed() || presentation.is_changed() || folded.is_changed();
    let only = match &presentation.highlight {
        Some(Highlight::Patrols(code)) => Some(code.as_str()),
        _ => None,
    };
    let shown = |b: bool| if b { Visibility::Inherited } else { Visibility::Hidden };
    for (m, mut vis) in &mut incidents {
        if all || m.is_changed() {
            vis.set_if_neq(shown(filters.shows_incident(m.0.stage, &m.0.grid) && !folded.folds(&m.0.grid)));
        }
    }
    for (m, mut vis) in &mut patrols {
        if all || m.is_changed() {
            vis.set_if_neq(shown(filters.shows_patrol(&m.grid) && only.is_none_or(|c| m.grid.starts_with(c))));
        }
    }
    for (m, mut vis) in &mut components {
        if all || m.is_added() {
            vis.set_if_neq(shown(filters.shows_component(m.category)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::search::SearchBox;
    use super::*;
    use crate::layers::{components::ComponentsPlugin, incidents::IncidentsPlugin, patrols::PatrolsPlugin};
    use crate::map::{GridMap, Search, Select, Target};
    use crate::net::ServerFrame;
    use crate::testing::app_with;
    use gridwall_protocol::{ComponentState, EventKind, GridLevel, IncidentState, PatrolState};
    use gridwall_testkit::fixtures::{component, events, incident, patrol, snapshot};

    fn shown(app: &mut App) -> (Vec<u64>, Vec<u32>, Vec<u32>) {
        let vis = |v: &Visibility| *v != Visibility::Hidden;
        let mut i: Vec<u64> = app
            .world_mut()
            .query::<(&IncidentMarker, &Visibility)>()
            .iter(app.world())
            .filter(|(_, v)| vis(v))
            .map(|(m, _)| m.0.id)
            .collect();
        let mut p: Vec<u32> = app
            .world_mut()
            .query::<(&PatrolMarker, &Visibility)>()
            .iter(app.world())
            .filter(|(_, v)| vis(v))
            .map(|(m, _)| m.id)
            .collect();
        let mut c: Vec<u32> = app
            .world_mut()
            .query::<(&ComponentMarker, &Visibility)>()
            .iter(app.world())
            .filter(|(_, v)| vis(v))
            .map(|(m, _)| m.id)
            .collect();
        i.sort_unstable();
        p.sort_unstable();
        c.sort_unstable();
        (i, p, c)
    }

    #[test]
    fn stage_category_and_grid_filters_and_search() {
        let mut app = app_with((IncidentsPlugin, PatrolsPlugin, ComponentsPlugin, FiltersPlugin));
        app.world_mut().resource_mut::<GridMap>().units = vec![
            search::tests::unit("370783001", "第1街道", GridLevel::Street),
            search::tests::unit("370783001002", "第1街道第2社区", GridLevel::Community),
            search::tests::unit("370783002", "第2街道", GridLevel::Street),
        ];
        let in_cell = |id: u64, stage, grid: &str| IncidentState { grid: grid.into(), ..incident(id, stage) };
        let patrol_in = |id: u32, grid: &str| PatrolState { grid: grid.into(), ..patrol(id, 0.0, 0.0) };
        app.world_mut().write_message(ServerFrame(snapshot(
            vec![patrol_in(1, "370783001002003"), patrol_in(2, "370783002001001")],
            vec![
                in_cell(10, IncidentStage::Accepted, "370783001002003"),
                in_cell(11, IncidentStage::Resolved, "370783002001001"),
            ],
            vec![
                component(5, ComponentCategory::Manhole, ComponentState::Intact),
                component(6, ComponentCategory::Bench, ComponentState::Intact),
            ],
        )));
        app.update();
        app.update();
        assert_eq!(shown(&mut app), (vec![10, 11], vec![1, 2], vec![5, 6]));

        // Toggles in the bar: hide resolved incidents and benches.
        for t in [Toggle::Stage(IncidentStage::Resolved), Toggle::Category(ComponentCategory::Bench)] {
            let e = app.world_mut().query::<(Entity, &Toggle)>().iter(app.world()).find(|(_, x)| **x == t).unwrap().0;
            app.world_mut().entity_mut(e).insert(Interaction::Pressed);
        }
        app.update();
        assert_eq!(shown(&mut app), (vec![10], vec![1, 2], vec![5]));

        // Searching a community by name filters incidents and patrols to it and selects it.
        app.world_mut().write_message(Search("第2社区".into()));
        app.update();
        assert_eq!(app.world().resource::<Filters>().grid.as_deref(), Some("370783001002"));
        assert_eq!(shown(&mut app), (vec![10], vec![1], vec![5]));
        let selected: Vec<Select> = app.world_mut().resource_mut::<Messages<Select>>().drain().collect();
        assert_eq!(selected, [Select(Some(Target::Grid("370783001002".into())))]);

        // An incident id selects the incident; a miss says so and changes nothing.
        app.world_mut().write_message(Search("#10".into()));
        app.update();
        let selected: Vec<Select> = app.world_mut().resource_mut::<Messages<Select>>().drain().collect();
        assert_eq!(selected, [Select(Some(Target::Incident(10)))]);
        app.world_mut().write_message(Search("nowhere".into()));
        app.update();
        assert!(app.world().resource::<SearchBox>().result.as_deref().unwrap().starts_with("未找到"));
        assert_eq!(app.world().resource::<Filters>().grid.as_deref(), Some("370783001002"));

        // New markers respect the filters already set.
        app.world_mut().write_message(ServerFrame(events(vec![EventKind::IncidentOpened {
            incident: in_cell(12, IncidentStage::Accepted, "370783002001001"),
        }])));
        app.update();
        app.update();
        assert_eq!(shown(&mut app).0, vec![10]);
    }
}
