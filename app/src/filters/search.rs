//! The search (press `/`, type, Enter; Esc clears): an incident by id, or a grid unit by code or
//! name. It selects what it found (the camera flies there) and, for a grid unit, filters the map
//! to it. `--search TEXT` runs one once the display is ready (see `automation`).

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

use crate::AppSystems;
use crate::map::{Filters, GridMap, Incidents, Search, Select, Target, Typing};
use crate::theme::prelude::*;

/// The search box's text while it has the keyboard.
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchBox {
    pub editing: bool,
    pub text: String,
    /// The outcome of the last search, for the box's hint line.
    pub result: Option<String>,
}

/// The line in the filter bar that shows the box (or the last result and a hint).
#[derive(Component)]
pub struct SearchLine;

/// What a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Incident(u64),
    Grid(String),
    Nothing,
}

/// An incident id (digits, optionally after `#`) shown on the map, else a grid unit whose code
/// starts with the text or whose name contains it (the shortest code wins: the biggest unit).
pub fn find(text: &str, incidents: &Incidents, grids: &GridMap) -> Found {
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

pub struct SearchPlugin;

impl Plugin for SearchPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SearchBox>()
            .init_resource::<Typing>()
            .init_resource::<Filters>()
            .init_resource::<Incidents>()
            .init_resource::<GridMap>()
            .init_resource::<Lang>()
            .add_message::<Search>()
            .add_message::<Select>()
            .add_systems(Update, type_search.run_if(resource_exists::<ButtonInput<KeyCode>>).in_set(AppSystems::Input))
            .add_systems(Update, run_search.in_set(AppSystems::Select))
            .add_systems(Update, show_search.in_set(AppSystems::Present));
        // In a browser the text comes from the page's field (input methods, paste).
        #[cfg(target_arch = "wasm32")]
        app.add_systems(Update, super::page_input::follow_page_field.after(type_search).in_set(AppSystems::Input));
    }
}

/// Keyboard: `/` opens the search box, Enter searches, Esc closes it; outside the box Esc closes
/// the panel and clears the grid filter.
fn type_search(
    mut keys: MessageReader<KeyboardInput>,
    mut search: ResMut<SearchBox>,
    mut typing: ResMut<Typing>,
    mut filters: ResMut<Filters>,
    mut run: MessageWriter<Search>,
    mut select: MessageWriter<Select>,
) {
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
    typing.set_if_neq(Typing(search.editing));
}

fn run_search(
    mut searches: MessageReader<Search>,
    incidents: Res<Incidents>,
    grids: Res<GridMap>,
    mut filters: ResMut<Filters>,
    mut search: ResMut<SearchBox>,
    mut select: MessageWriter<Select>,
    lang: Res<Lang>,
) {
    for Search(text) in searches.read() {
        let found = find(text, &incidents, &grids);
        search.result = Some(match &found {
            Found::Incident(id) => format!("{} #{id}", lang.pick("已定位事件", "found incident")),
            Found::Grid(code) => format!(
                "{} {}（{code}）",
                lang.pick("已筛选", "filtered to"),
                grids.unit(code).map_or("", |u| u.name.as_str())
            ),
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

fn show_search(
    search: Res<SearchBox>,
    filters: Res<Filters>,
    lang: Res<Lang>,
    mut text: Query<&mut Text, With<SearchLine>>,
) {
    if !search.is_changed() && !filters.is_changed() {
        return;
    }
    let line = if search.editing {
        format!(
            "{} {}▏",
            lang.pick("搜索（事件编号/网格编码/名称）:", "search (incident id / grid code / name):"),
            search.text
        )
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::app_with;
    use gridwall_protocol::GridLevel;
    use gridwall_protocol::api::GridOutline;

    pub(crate) fn unit(code: &str, name: &str, level: GridLevel) -> GridOutline {
        GridOutline {
            code: code.into(),
            name: name.into(),
            level,
            parent: None,
            rings: vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
        }
    }

    #[test]
    fn typing_a_search_runs_it_and_esc_clears() {
        let mut app = app_with(SearchPlugin);
        app.init_resource::<ButtonInput<KeyCode>>().add_message::<KeyboardInput>();
        app.world_mut().resource_mut::<GridMap>().units = vec![unit("370783002", "第2街道", GridLevel::Street)];
        let press = |app: &mut App, key: Key| {
            let window = Entity::PLACEHOLDER;
            app.world_mut().write_message(KeyboardInput {
                key_code: KeyCode::Unidentified(bevy::input::keyboard::NativeKeyCode::Unidentified),
                logical_key: key,
                state: ButtonState::Pressed,
                text: None,
                repeat: false,
                window,
            });
            app.update();
        };
        press(&mut app, Key::Character("/".into()));
        assert!(app.world().resource::<SearchBox>().editing);
        assert!(app.world().resource::<Typing>().0, "keys go to the box, not the map");
        for c in ["3", "7", "0", "7", "8", "3", "0", "0", "2", "x"] {
            press(&mut app, Key::Character(c.into()));
        }
        press(&mut app, Key::Backspace);
        assert_eq!(app.world().resource::<SearchBox>().text, "370783002");
        press(&mut app, Key::Enter);
        assert!(!app.world().resource::<SearchBox>().editing);
        assert!(!app.world().resource::<Typing>().0);
        assert_eq!(app.world().resource::<Filters>().grid.as_deref(), Some("370783002"));
        press(&mut app, Key::Escape);
        assert_eq!(app.world().resource::<Filters>().grid, None);
        let selected: Vec<Select> = app.world_mut().resource_mut::<Messages<Select>>().drain().collect();
        assert_eq!(selected.last(), Some(&Select(None)), "Esc closes the panel");
    }

    #[test]
    fn search_prefers_incidents_then_the_biggest_matching_unit() {
        let grids = GridMap {
            units: vec![
                unit("370783001002", "社区", GridLevel::Community),
                unit("370783001", "街道", GridLevel::Street),
            ],
            ..default()
        };
        let incidents = Incidents::default();
        assert_eq!(find("3707830", &incidents, &grids), Found::Grid("370783001".into()));
        assert_eq!(find("  ", &incidents, &grids), Found::Nothing);
        assert_eq!(find("42", &incidents, &grids), Found::Nothing);
    }
}
