//! 预警 on the map and in the ticker: the open warnings as the server sends them (`warnings`
//! after `welcome`, then each change), each warned grid unit outlined in its warning's colour
//! (黄 yellow, 橙 orange, 红 red, pulsing) with its sentence floating over it, a repeated place
//! ringed, and each new warning's sentence at the top of the ticker. (A click on a warned unit
//! opens its warning in the 研判 panel.)

use bevy::prelude::*;
use gridwall_protocol::api::analysis::Warning;
use gridwall_protocol::{ServerMessage, WarningKind};

use crate::AppSystems;
use crate::hud::ticker::Ticker;
use crate::map::grid::centroid;
use crate::map::{FloatingLabel, GridMap, OpenWarnings, to_world};
use crate::net::ServerFrame;
use crate::theme::prelude::*;

#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct WarningLines;

pub struct WarningsPlugin;

impl Plugin for WarningsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OpenWarnings>()
            .init_resource::<GridMap>()
            .init_resource::<Ticker>()
            .add_message::<ServerFrame>()
            .add_systems(Update, take_warnings.in_set(AppSystems::Apply))
            .add_systems(Update, label_warnings.in_set(AppSystems::Present));
        // Drawn where gizmos are (not in the headless tests of the other systems).
        if app.is_plugin_added::<bevy::gizmos::GizmoPlugin>() {
            app.init_gizmo_group::<WarningLines>()
                .add_systems(Startup, set_line_weight)
                .add_systems(Update, draw_warnings.in_set(AppSystems::Present));
        }
    }
}

fn set_line_weight(mut store: ResMut<GizmoConfigStore>) {
    let (config, _) = store.config_mut::<WarningLines>();
    config.line.width = 7.0;
    // In front of the buildings: a warned unit's whole outline shows from any angle.
    config.depth_bias = -0.9;
}

/// The ticker line of a warning raised.
pub fn warning_line(w: &Warning, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("预警（{}）· {}", w.level.name_zh(), w.sentence),
        Lang::En => format!("warning ({}) · {}", w.level.name_en(), w.sentence),
    }
}

fn take_warnings(
    mut frames: MessageReader<ServerFrame>,
    mut open: ResMut<OpenWarnings>,
    mut ticker: ResMut<Ticker>,
    lang: Res<Lang>,
) {
    for ServerFrame(m) in frames.read() {
        let ServerMessage::Warnings { all, warnings, .. } = m else { continue };
        if *all {
            open.0.clear();
        }
        for w in warnings {
            if w.is_open() {
                let new = open.0.insert(w.id, w.clone()).is_none();
                if new && !*all {
                    ticker.lines.push_front(warning_line(w, *lang));
                    ticker.lines.truncate(crate::hud::ticker::TICKER_LINES);
                }
            } else {
                open.0.remove(&w.id);
            }
        }
    }
}

/// A warning's sentence floating over its unit (or its repeated place).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarningLabel(pub u64);

/// Keeps one floating sentence per open warning (the labels feature places them where they fit,
/// above grid names: a warning matters more).
fn label_warnings(
    mut commands: Commands,
    open: Res<OpenWarnings>,
    grids: Res<GridMap>,
    ui: Option<Res<UiFont>>,
    labels: Query<(Entity, &WarningLabel)>,
) {
    if !open.is_changed() && !grids.is_changed() {
        return;
    }
    let mut shown = std::collections::HashSet::new();
    for (e, WarningLabel(id)) in &labels {
        if open.0.contains_key(id) {
            shown.insert(*id);
        } else {
            commands.entity(e).despawn();
        }
    }
    for w in open.0.values().filter(|w| !shown.contains(&w.id)) {
        let at = match (w.place, grids.unit(&w.scope).and_then(|u| u.rings.first())) {
            (Some([x, y]), _) => [x, y],
            (None, Some(ring)) => centroid(ring),
            (None, None) => continue,
        };
        let tint = warning_color(w.level);
        commands.spawn((
            Node {
                position_type: PositionType::Absolute,
                padding: UiRect::axes(hpx(8.0), hpx(3.0)),
                border: UiRect::all(hpx(2.0)),
                max_width: hpx(420.0),
                ..default()
            },
            BackgroundColor(palette::PANEL_STRONG),
            BorderColor::all(tint),
            Visibility::Hidden,
            WarningLabel(w.id),
            FloatingLabel { at: to_world(at[0], at[1], 30.0), rank: 0, wanted: true },
            Name::new(format!("warning {}", w.id)),
            children![(Text::new(w.sentence.clone()), font(ui.as_deref(), 17.0), TextColor(tint))],
        ));
    }
}

fn draw_warnings(open: Res<OpenWarnings>, grids: Res<GridMap>, time: Res<Time>, mut gizmos: Gizmos<WarningLines>) {
    if open.0.is_empty() {
        return;
    }
    // A slow pulse: the eye finds what changes.
    let pulse = 0.65 + 0.35 * (time.elapsed_secs() * 3.0).sin().abs();
    for w in open.0.values() {
        let tint = warning_color(w.level).with_alpha(pulse);
        if w.kind == WarningKind::Repeat {
            if let Some([x, y]) = w.place {
                let at = to_world(x, y, 2.2);
                gizmos.circle(Isometry3d::new(at, Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)), 40.0, tint);
            }
            continue;
        }
        let Some(unit) = grids.units.iter().find(|u| u.code == w.scope) else { continue };
        for ring in &unit.rings {
            gizmos.linestrip(ring.iter().map(|p| to_world(p[0], p[1], 2.0)), tint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwall_protocol::{GridLevel, IncidentCategory, WarningLevel};

    fn warning(id: u64, level: WarningLevel, closed: bool) -> Warning {
        Warning {
            id,
            kind: WarningKind::Volume,
            level,
            scope: "c".into(),
            scope_name: "第1街道第2社区".into(),
            scope_level: Some(GridLevel::Community),
            category: Some(IncidentCategory::PipeBlockage),
            window: "近1小时".into(),
            observed: 6.0,
            expected: 0.2,
            upper: 3.0,
            since_ms: 1,
            updated_ms: 1,
            closed_ms: closed.then_some(2),
            sentence: "第1街道第2社区 · 管道堵塞 · 近1小时 6 件，常态 0.2 件（上限 3）".into(),
            place: None,
            incidents: vec![],
            acked_by: None,
            acked_ms: None,
        }
    }

    #[test]
    fn warnings_follow_the_server_and_new_ones_reach_the_ticker() {
        let mut app = crate::testing::app_with(WarningsPlugin);
        app.insert_resource(Lang::Zh);
        let frame = |all, warnings| ServerFrame(ServerMessage::Warnings { time_ms: 0, all, warnings });
        app.world_mut().write_message(frame(true, vec![warning(1, WarningLevel::Yellow, false)]));
        app.update();
        assert_eq!(app.world().resource::<OpenWarnings>().0.len(), 1);
        assert!(app.world().resource::<Ticker>().lines.is_empty(), "the list after welcome is not news");
        app.world_mut().write_message(frame(false, vec![warning(2, WarningLevel::Red, false)]));
        app.update();
        let line = app.world().resource::<Ticker>().lines.front().cloned().unwrap();
        assert!(line.starts_with("预警（红色）· 第1街道第2社区 · 管道堵塞"), "{line}");
        app.world_mut().write_message(frame(false, vec![warning(1, WarningLevel::Yellow, true)]));
        app.update();
        assert_eq!(app.world().resource::<OpenWarnings>().0.keys().copied().collect::<Vec<_>>(), [2]);
        let labels = |app: &mut App| -> Vec<u64> {
            app.world_mut().query::<&WarningLabel>().iter(app.world()).map(|l| l.0).collect()
        };
        assert!(labels(&mut app).is_empty(), "no unit c on the map: nowhere to float the sentence");
        app.world_mut().resource_mut::<GridMap>().units =
            vec![crate::filters::search::tests::unit("c", "第1街道第2社区", GridLevel::Community)];
        app.update();
        assert_eq!(labels(&mut app), [2], "the open warning's sentence floats over its unit");
        app.world_mut().write_message(frame(true, vec![]));
        app.update();
        assert!(app.world().resource::<OpenWarnings>().0.is_empty(), "a fresh list replaces");
        assert!(labels(&mut app).is_empty(), "and its sentence goes");
    }
}
