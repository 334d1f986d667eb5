//! Filters and search. A bar at the bottom toggles incident stages and component categories (and
//! the heatmap); a grid filter keeps only the incidents and patrols of one street, community or
//! cell. The search box (press `/`, type, Enter; Esc clears) finds an incident by id or a
//! grid unit by code or name: it selects it (the camera flies there) and, for a grid unit,
//! filters to it. `--search TEXT` does the same once the display is ready.

use std::collections::HashSet;

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use gridwall_protocol::{ComponentCategory, IncidentStage};

use crate::components::{ComponentMarker, category_color};
use crate::grids::GridOutlines;
use crate::hud::{HudFont, Lang};
use crate::incidents::{IncidentMarker, Incidents, stage_color};
use crate::patrols::PatrolMarker;
use crate::select::{Select, Target};

/// What the map shows.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub hidden_stages: HashSet<IncidentStage>,
    pub hidden_categories: HashSet<ComponentCategory>,
    /// Only incidents and patrols whose cell code starts with this grid code.
    pub grid: Option<String>,
}

impl Filters {
    pub fn shows_incident(&self, stage: IncidentStage, grid: &str) -> bool {
        !self.hidden_stages.contains(&stage) && self.grid.as_deref().is_none_or(|g| grid.starts_with(g))
    }

    pub fn shows_patrol(&self, grid: &str) -> bool {
        self.grid.as_deref().is_none_or(|g| grid.starts_with(g))
    }

    pub fn shows_component(&self, category: ComponentCategory) -> bool {
        !self.hidden_categories.contains(&category)
    }
}

/// The search box's text while it has the keyboard.
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchBox {
    pub editing: bool,
    pub text: String,
    /// The outcome of the last search, for the box's hint line.
    pub result: Option<String>,
}

/// A search to run once the display is ready (`--search`).
#[derive(Resource, Debug, Clone)]
pub struct ScriptedSearch(pub String);

/// Run a search.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct Search(pub String);

/// What a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Incident(u64),
    Grid(String),
    Nothing,
}

/// An incident id (digits, optionally after `#`) shown on the map, else a grid unit whose code
/// starts with the text or whose name contains it (the shortest code wins: the biggest unit).
pub fn find(text: &str, incidents: &Incidents, grids: &GridOutlines) -> Found {
    let t = text.trim();
    let t = t.strip_prefix('#').unwrap_or(t);
    if t.is_empty() {
        return Found::Nothing;
    }
    if let Ok(id) = t.parse::<u64>()
        && incidents.by_id.contains_key(&id)
    {
        return Found::Incident(id);
    }
    grids
        .units
        .iter()
        .filter(|u| u.code.starts_with(t) || u.name.contains(t))
        .min_by_key(|u| (u.code.len(), u.code.clone()))
        .map_or(Found::Nothing, |u| Found::Grid(u.code.clone()))
}

/// A toggle in the filter bar.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Stage(IncidentStage),
    Category(ComponentCategory),
    Heatmap,
}

#[derive(Component)]
struct SearchText;

pub struct FiltersPlugin;

impl Plugin for FiltersPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Filters>()
            .init_resource::<SearchBox>()
            .init_resource::<Incidents>()
            .init_resource::<GridOutlines>()
            .init_resource::<Lang>()
            .init_resource::<crate::heatmap::HeatmapOn>()
            .add_message::<Search>()
            .add_message::<Select>()
            .add_systems(Startup, spawn_filter_bar.after(crate::hud::load_font))
            .add_systems(
                Update,
                (
                    type_search.run_if(resource_exists::<ButtonInput<KeyCode>>),
                    search_scripted.run_if(resource_exists::<ScriptedSearch>),
                    run_search,
                    press_toggles,
                    show_toggles,
                    show_search,
                    apply_filters,
                )
                    .chain(),
            );
    }
}

fn spawn_filter_bar(mut commands: Commands, font: Option<Res<HudFont>>, lang: Res<Lang>) {
    let font = |px: f32| TextFont { font: font.as_ref().map(|f| f.0.clone()).unwrap_or_default().into(), font_size: FontSize::Vh(px / 10.8), ..default() };
    let vh = |px: f32| Val::Vh(px / 10.8);
    let l = *lang;
    let button = |label: &str, color: Color, toggle: Toggle| {
        (Button, toggle, Node { padding: UiRect::axes(vh(8.0), vh(3.0)), border: UiRect::all(vh(1.5)), ..default() }, BorderColor::all(color), BackgroundColor(Color::srgba(0.02, 0.06, 0.16, 0.9)), children![(Text::new(label.to_owned()), font(15.0), TextColor(color))])
    };
    commands
        .spawn((
            Node { position_type: PositionType::Absolute, right: vh(24.0), bottom: vh(24.0), max_width: Val::Vw(60.0), flex_direction: FlexDirection::Column, row_gap: vh(6.0), padding: UiRect::all(vh(10.0)), ..default() },
            BackgroundColor(Color::srgba(0.01, 0.04, 0.12, 0.78)),
            Name::new("filter bar"),
            crate::hud::OVER_MAP,
        ))
        .with_children(|p| {
            p.spawn((Text::new(""), font(17.0), TextColor(Color::srgb(0.85, 0.92, 1.0)), SearchText));
            p.spawn(Node { flex_direction: FlexDirection::Row, flex_wrap: FlexWrap::Wrap, column_gap: vh(6.0), row_gap: vh(6.0), ..default() }).with_children(|row| {
                for s in [IncidentStage::Accepted, IncidentStage::Dispatched, IncidentStage::Resolved, IncidentStage::Reviewed] {
                    row.spawn(button(l.pick(s.name_zh(), s.name_en()), stage_color(s), Toggle::Stage(s)));
                }
                row.spawn(button(l.pick("热力图", "heatmap"), Color::srgb(1.0, 0.5, 0.3), Toggle::Heatmap));
            });
            p.spawn(Node { flex_direction: FlexDirection::Row, flex_wrap: FlexWrap::Wrap, column_gap: vh(6.0), row_gap: vh(6.0), ..default() }).with_children(|row| {
                for c in ComponentCategory::ALL {
                    row.spawn(button(l.pick(c.name_zh(), c.name_en()), category_color(c), Toggle::Category(c)));
                }
            });
        });
}

/// Keyboard: `/` opens the search box, Enter searches, Esc closes it; outside the box Esc closes
/// the panel and clears the grid filter.
fn type_search(mut keys: MessageReader<KeyboardInput>, mut search: ResMut<SearchBox>, mut filters: ResMut<Filters>, mut run: MessageWriter<Search>, mut select: MessageWriter<Select>) {
    for k in keys.read() {
        if k.state != ButtonState::Pressed {
            continue;
        }
        if !search.editing {
            if matches!(&k.logical_key, Key::Character(c) if c.as_str() == "/") {
                search.editing = true;
                search.text.clear();
            } else if k.logical_key == Key::Escape {
                // Esc closes the panel and clears the grid filter.
                select.write(Select(None));
                if filters.grid.is_some() {
                    filters.grid = None;
                    search.result = None;
                }
            }
            continue;
        }
        match &k.logical_key {
            Key::Enter => {
                search.editing = false;
                run.write(Search(search.text.clone()));
            }
            Key::Escape => {
                search.editing = false;
                search.text.clear();
            }
            Key::Backspace => {
                search.text.pop();
            }
            Key::Character(c) => search.text.push_str(c),
            Key::Space => search.text.push(' '),
            _ => {}
        }
    }
}

fn search_scripted(ready: Option<Res<crate::capture::Readiness>>, search: Res<ScriptedSearch>, script: Option<ResMut<crate::select::Scripted>>, mut run: MessageWriter<Search>, mut sent: Local<bool>) {
    if !*sent && ready.is_some_and(|r| r.is_ready()) {
        *sent = true;
        run.write(Search(search.0.clone()));
        if let Some(mut s) = script {
            s.start();
        }
    }
}

fn run_search(mut searches: MessageReader<Search>, incidents: Res<Incidents>, grids: Res<GridOutlines>, mut filters: ResMut<Filters>, mut search: ResMut<SearchBox>, mut select: MessageWriter<Select>, lang: Res<Lang>) {
    for Search(text) in searches.read() {
        let found = find(text, &incidents, &grids);
        search.result = Some(match &found {
            Found::Incident(id) => format!("{} #{id}", lang.pick("已定位事件", "found incident")),
            Found::Grid(code) => format!("{} {}（{code}）", lang.pick("已筛选", "filtered to"), grids.unit(code).map_or("", |u| u.name.as_str())),
            Found::Nothing => format!("{} “{text}”", lang.pick("未找到", "nothing matches")),
        });
        match found {
            Found::Incident(id) => {
                select.write(Select(Some(Target::Incident(id))));
            }
            Found::Grid(code) => {
                filters.grid = Some(code.clone());
                select.write(Select(Some(Target::Grid(code))));
            }
            Found::Nothing => {}
        }
    }
}

fn press_toggles(buttons: Query<(&Interaction, &Toggle), Changed<Interaction>>, mut filters: ResMut<Filters>, mut heatmap: ResMut<crate::heatmap::HeatmapOn>) {
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
fn show_toggles(filters: Res<Filters>, heatmap: Res<crate::heatmap::HeatmapOn>, mut buttons: Query<(&Toggle, &mut BackgroundColor)>) {
    if !filters.is_changed() && !heatmap.is_changed() {
        return;
    }
    for (toggle, mut bg) in &mut buttons {
        let on = match *toggle {
            Toggle::Stage(s) => !filters.hidden_stages.contains(&s),
            Toggle::Category(c) => !filters.hidden_categories.contains(&c),
            Toggle::Heatmap => heatmap.0,
        };
        bg.0 = if on { Color::srgba(0.08, 0.2, 0.42, 0.95) } else { Color::srgba(0.02, 0.03, 0.06, 0.6) };
    }
}

fn show_search(search: Res<SearchBox>, filters: Res<Filters>, lang: Res<Lang>, mut text: Query<&mut Text, With<SearchText>>) {
    if !search.is_changed() && !filters.is_changed() {
        return;
    }
    let line = if search.editing {
        format!("{} {}▏", lang.pick("搜索（事件编号/网格编码/名称）:", "search (incident id / grid code / name):"), search.text)
    } else {
        let hint = lang.pick("按 / 搜索 · Esc 清除筛选", "press / to search · Esc clears");
        match &search.result {
            Some(r) => format!("{r} · {hint}"),
            None => hint.to_owned(),
        }
    };
    for mut t in &mut text {
        t.0.clone_from(&line);
    }
}

/// Hides what the filters exclude: everything when the filters change, new markers otherwise.
#[allow(clippy::type_complexity)]
fn apply_filters(
    filters: Res<Filters>,
    mut incidents: Query<(Ref<IncidentMarker>, &mut Visibility), (Without<PatrolMarker>, Without<ComponentMarker>)>,
    mut patrols: Query<(Ref<PatrolMarker>, &mut Visibility), (Without<IncidentMarker>, Without<ComponentMarker>)>,
    mut components: Query<(Ref<ComponentMarker>, &mut Visibility), (Without<IncidentMarker>, Without<PatrolMarker>)>,
) {
    let all = filters.is_changed();
    let shown = |b: bool| if b { Visibility::Inherited } else { Visibility::Hidden };
    for (m, mut vis) in &mut incidents {
        if all || m.is_changed() {
            vis.set_if_neq(shown(filters.shows_incident(m.0.stage, &m.0.grid)));
        }
    }
    for (m, mut vis) in &mut patrols {
        if all || m.is_changed() {
            vis.set_if_neq(shown(filters.shows_patrol(&m.grid)));
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
    use super::*;
    use crate::grids::GridUnit;
    use crate::net::ServerFrame;
    use gridwall_protocol::{ComponentItem, ComponentState, GridLevel, IncidentState, PatrolPos, PatrolRole, PatrolState, PatrolStatus, ServerMessage};

    fn incident(id: u64, stage: IncidentStage, grid: &str) -> IncidentState {
        IncidentState {
            id,
            category: gridwall_protocol::IncidentCategory::Garbage,
            source: gridwall_protocol::IncidentSource::Hotline,
            stage,
            priority: 3,
            x: 0.0,
            y: 0.0,
            lon: None,
            lat: None,
            grid: grid.into(),
            level: GridLevel::Cell,
            created_ms: 0,
            deadline_ms: 0,
            assignee: None,
            description: String::new(),
        }
    }

    fn unit(code: &str, name: &str, level: GridLevel) -> GridUnit {
        GridUnit { code: code.into(), name: name.into(), level, rings: vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]] }
    }

    fn shown(app: &mut App) -> (Vec<u64>, Vec<u32>, Vec<u32>) {
        let vis = |v: &Visibility| *v != Visibility::Hidden;
        let mut i: Vec<u64> = app.world_mut().query::<(&IncidentMarker, &Visibility)>().iter(app.world()).filter(|(_, v)| vis(v)).map(|(m, _)| m.0.id).collect();
        let mut p: Vec<u32> = app.world_mut().query::<(&PatrolMarker, &Visibility)>().iter(app.world()).filter(|(_, v)| vis(v)).map(|(m, _)| m.id).collect();
        let mut c: Vec<u32> = app.world_mut().query::<(&ComponentMarker, &Visibility)>().iter(app.world()).filter(|(_, v)| vis(v)).map(|(m, _)| m.id).collect();
        i.sort_unstable();
        p.sort_unstable();
        c.sort_unstable();
        (i, p, c)
    }

    #[test]
    fn stage_category_and_grid_filters_and_search() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_plugins((crate::incidents::IncidentsPlugin, crate::patrols::PatrolsPlugin, crate::components::ComponentsPlugin, FiltersPlugin));
        app.world_mut().resource_mut::<GridOutlines>().units = vec![unit("370783001", "第1街道", GridLevel::Street), unit("370783001002", "第1街道第2社区", GridLevel::Community), unit("370783002", "第2街道", GridLevel::Street)];
        let patrol = |id: u32, grid: &str| PatrolState { pos: PatrolPos { id, x: 0.0, y: 0.0, lon: None, lat: None }, name: format!("P{id}"), role: PatrolRole::Police, status: PatrolStatus::Patrolling, grid: grid.into() };
        let component = |id: u32, category| ComponentItem { id, code: id.to_string(), category, state: ComponentState::Intact, x: 0.0, y: 0.0 };
        app.world_mut().write_message(ServerFrame(ServerMessage::Snapshot {
            seq: 0,
            tick: 0,
            time_ms: 0,
            patrols: vec![patrol(1, "370783001002003"), patrol(2, "370783002001001")],
            incidents: vec![incident(10, IncidentStage::Accepted, "370783001002003"), incident(11, IncidentStage::Resolved, "370783002001001")],
            components: vec![component(5, ComponentCategory::Manhole), component(6, ComponentCategory::Bench)],
        }));
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
        app.world_mut().write_message(ServerFrame(ServerMessage::Delta {
            tick: 1,
            time_ms: 0,
            moved: vec![],
            entered: vec![],
            left: vec![],
            events: vec![gridwall_protocol::Event { seq: 1, time_ms: 0, kind: gridwall_protocol::EventKind::IncidentOpened { incident: incident(12, IncidentStage::Accepted, "370783002001001") } }],
        }));
        app.update();
        app.update();
        assert_eq!(shown(&mut app).0, vec![10]);
    }

    #[test]
    fn typing_a_search_runs_it_and_esc_clears() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_plugins(FiltersPlugin).init_resource::<ButtonInput<KeyCode>>().add_message::<KeyboardInput>();
        app.world_mut().resource_mut::<GridOutlines>().units = vec![unit("370783002", "第2街道", GridLevel::Street)];
        let press = |app: &mut App, key: Key| {
            let window = Entity::PLACEHOLDER;
            app.world_mut().write_message(KeyboardInput { key_code: KeyCode::Unidentified(bevy::input::keyboard::NativeKeyCode::Unidentified), logical_key: key, state: ButtonState::Pressed, text: None, repeat: false, window });
            app.update();
        };
        press(&mut app, Key::Character("/".into()));
        assert!(app.world().resource::<SearchBox>().editing);
        for c in ["3", "7", "0", "7", "8", "3", "0", "0", "2", "x"] {
            press(&mut app, Key::Character(c.into()));
        }
        press(&mut app, Key::Backspace);
        assert_eq!(app.world().resource::<SearchBox>().text, "370783002");
        press(&mut app, Key::Enter);
        assert!(!app.world().resource::<SearchBox>().editing);
        assert_eq!(app.world().resource::<Filters>().grid.as_deref(), Some("370783002"));
        press(&mut app, Key::Escape);
        assert_eq!(app.world().resource::<Filters>().grid, None);
        let selected: Vec<Select> = app.world_mut().resource_mut::<Messages<Select>>().drain().collect();
        assert_eq!(selected.last(), Some(&Select(None)), "Esc closes the panel");
    }

    #[test]
    fn search_prefers_incidents_then_the_biggest_matching_unit() {
        let grids = GridOutlines { units: vec![unit("370783001002", "社区", GridLevel::Community), unit("370783001", "街道", GridLevel::Street)], ..default() };
        let incidents = Incidents::default();
        assert_eq!(find("3707830", &incidents, &grids), Found::Grid("370783001".into()));
        assert_eq!(find("  ", &incidents, &grids), Found::Nothing);
        assert_eq!(find("42", &incidents, &grids), Found::Nothing);
    }
}
