//! 研判: the analysis panel on the desk and the wall (`J`, or `--analysis TAB`), drawn with egui
//! and `egui_plot`.
//! * 趋势: the hourly (past four weeks: daily) reports of the selected grid unit (the city when
//!   none) over its expected band, hours past the band in red, with the category and source breakdowns and the
//!   weekday × hour calendar of the same hours. Selecting a unit on the map scopes the charts;
//!   dragging across the trend brushes a span and plays it on the time bar (a click shows that
//!   hour, paused) — the views are linked.
//! * 排名: 一季一排名, the best and worst units of a level with their rank changes (↑ ↓).
//! * 预警: the open warnings, worst first; one opened shows its figures, the incidents behind
//!   it (a click selects one on the map) and 确认 for commanders (the server refuses a viewer).
//! * The emerging hot spot layer on the map with its legend ([`hotspots`]).
//! * On a wall group, followers show the leader's panel ([`share`]).
//!
//! It also asks, every minute, how far each community and street is from its normal count: the
//! overview's aggregates are tinted by that deviation ([`crate::map::Deviations`]).
//!
//! Questions go out as [`Ask`]s through `net`; the panel shows the last answers.

pub mod charts;
pub mod hotspots;
mod panel;
pub mod share;

use bevy::prelude::*;
use bevy_egui::{EguiGlobalSettings, EguiPlugin, EguiPrimaryContextPass, PrimaryEguiContext};
use gridwall_protocol::api::analysis::{DeskRankingAnswer, RankingAnswer, TrendAnswer};
use gridwall_protocol::{AnalysisPeriod, GridLevel, IncidentCategory, ServerMessage};

use crate::AppSystems;
use crate::loading::LoadProgress;
use crate::map::{
    AnalysisShown, AnalysisTab, CameraControl, Deviations, GridMap, HotspotLayer, OpenWarning, OpenWarnings, Selection,
    SharedAnalysis, Target, Tile, Typing, WallShape,
};
use crate::net::{Answer, Ask, NetConfig, ServerFrame};
use crate::theme::prelude::*;
use crate::wall::WallLayout;

/// What readiness waits for when the panel opens at start (`--analysis`).
const FIRST_ANSWERS: &str = "研判 answers";
/// How often what is shown is asked again (seconds of the display's clock).
const REFRESH_S: f32 = 60.0;
const RANKING_REFRESH_S: f32 = 300.0;
const HOTSPOT_REFRESH_S: f32 = 600.0;
/// How many units the ranking lists at each end (红榜, 黑榜).
pub const RANK_TOP: u32 = 5;
/// The trend's spans offered (hours).
pub const HOURS: [u32; 6] = [24, 72, 168, 672, 24 * 91, 24 * 365];

/// What the panel shows: its scope, the trend's category and span, the ranking's level and
/// period, the warning opened, and the last outcome to show.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct AnalysisPanel {
    /// A grid code; none for the city.
    pub scope: Option<String>,
    pub category: Option<IncidentCategory>,
    pub hours: u32,
    pub level: GridLevel,
    /// The ranking lists the desks (patrols and departments) instead of grid units.
    pub desks: bool,
    pub period: AnalysisPeriod,
    /// The warning opened on the 预警 page.
    pub focus: Option<u64>,
    /// The span brushed on the trend (hours since the Unix epoch).
    pub brush: Option<(f64, f64)>,
    pub note: Option<String>,
    /// The 确认 sent and not yet replied to: (request, warning).
    pub acking: Option<(u64, u64)>,
    next_request: u64,
}

impl Default for AnalysisPanel {
    fn default() -> Self {
        Self {
            scope: None,
            category: None,
            hours: 72,
            level: GridLevel::Community,
            desks: false,
            period: AnalysisPeriod::Quarter,
            focus: None,
            brush: None,
            note: None,
            acking: None,
            // Apart from the numbers other features give their requests.
            next_request: 1 << 40,
        }
    }
}

impl AnalysisPanel {
    pub fn next_request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }
}

/// The server's last answers, and what was asked when (to ask again when the question changes
/// or the answer ages).
#[derive(Resource, Debug, Default)]
pub struct AnalysisData {
    pub trend: Option<TrendAnswer>,
    pub ranking: Option<RankingAnswer>,
    pub desks: Option<DeskRankingAnswer>,
    asked_trend: Option<(Ask, f32)>,
    asked_ranking: Option<(Ask, f32)>,
    asked_hotspots: Option<f32>,
    asked_deviation: Option<f32>,
}

/// `--analysis TAB`: the panel open at start.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisStart(pub AnalysisTab);

pub struct AnalysisPlugin;

impl Plugin for AnalysisPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<AnalysisPanel>()
            .init_resource::<crate::net::MayCommand>()
            .init_resource::<AnalysisData>()
            .init_resource::<AnalysisShown>()
            .init_resource::<OpenWarnings>()
            .init_resource::<Deviations>()
            .init_resource::<HotspotLayer>()
            .init_resource::<Selection>()
            .init_resource::<Typing>()
            .init_resource::<Lang>()
            .init_resource::<LoadProgress>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .add_message::<ServerFrame>()
            .add_message::<OpenWarning>()
            .add_systems(Startup, open_at_start)
            .add_systems(Update, take_answers.in_set(AppSystems::Apply))
            .add_systems(Update, toggle.run_if(resource_exists::<ButtonInput<KeyCode>>).in_set(AppSystems::Input))
            .init_resource::<SharedAnalysis>()
            .init_resource::<CameraControl>()
            .add_systems(
                Update,
                (follow_selection, open_warnings, share::share, ask).chain().in_set(AppSystems::Select),
            );
        // The panel is drawn where there is a renderer (not in the headless tests of the rest).
        if app.is_plugin_added::<bevy::render::RenderPlugin>() {
            app.insert_resource(EguiGlobalSettings {
                auto_create_primary_context: false,
                enable_absorb_bevy_input_system: true,
                ..default()
            })
            .add_plugins(EguiPlugin::default())
            .add_systems(Update, attach_context.in_set(AppSystems::Present))
            .add_systems(EguiPrimaryContextPass, panel::show_panel);
        }
        if app.is_plugin_added::<bevy::gizmos::GizmoPlugin>() {
            app.add_plugins(hotspots::HotspotsPlugin);
        }
    }
}

fn open_at_start(
    start: Option<Res<AnalysisStart>>,
    net: Option<Res<NetConfig>>,
    mut shown: ResMut<AnalysisShown>,
    mut progress: ResMut<LoadProgress>,
) {
    let Some(start) = start else { return };
    *shown = AnalysisShown { open: true, tab: start.0 };
    if net.is_some() {
        progress.wait_for(FIRST_ANSWERS);
    }
}

/// `J` opens and closes the panel.
fn toggle(keys: Res<ButtonInput<KeyCode>>, typing: Res<Typing>, mut shown: ResMut<AnalysisShown>) {
    if !typing.0 && keys.just_pressed(KeyCode::KeyJ) {
        shown.open = !shown.open;
    }
}

/// A grid unit selected on the map (or found by a search) scopes the charts; a click on a
/// warned unit opens its worst warning.
fn follow_selection(
    selection: Res<Selection>,
    grids: Res<GridMap>,
    warnings: Res<OpenWarnings>,
    mut panel: ResMut<AnalysisPanel>,
    mut opened: MessageWriter<OpenWarning>,
) {
    if !selection.is_changed() {
        return;
    }
    let Some(Target::Grid(code)) = &selection.target else { return };
    if panel.scope.as_ref() != Some(code) && grids.unit(code).is_some_and(|u| u.level != GridLevel::Cell) {
        panel.scope = Some(code.clone());
        panel.brush = None;
    }
    if let Some(w) = warnings.0.values().filter(|w| &w.scope == code).max_by_key(|w| (w.level, w.since_ms)) {
        opened.write(OpenWarning(w.id));
    }
}

/// A warning opened (from its list or a script): its page, its unit and category on the trend.
fn open_warnings(
    mut opened: MessageReader<OpenWarning>,
    warnings: Res<OpenWarnings>,
    grids: Res<GridMap>,
    mut panel: ResMut<AnalysisPanel>,
    mut shown: ResMut<AnalysisShown>,
) {
    for OpenWarning(id) in opened.read() {
        let Some(w) = warnings.0.get(id) else { continue };
        *shown = AnalysisShown { open: true, tab: AnalysisTab::Warnings };
        panel.focus = Some(*id);
        if grids.unit(&w.scope).is_some() {
            panel.scope = Some(w.scope.clone());
        }
        panel.category = w.category;
        panel.brush = None;
    }
}

/// Asks for what the panel shows when the question changed or its answer aged, and for the
/// overview's deviations every minute, of real time (a display drawing a frame a second would
/// see the virtual clock, which skips long frames, run at a quarter of the pace).
fn ask(
    shown: Res<AnalysisShown>,
    panel: Res<AnalysisPanel>,
    mut data: ResMut<AnalysisData>,
    mut layer: ResMut<HotspotLayer>,
    net: Option<Res<NetConfig>>,
    time: Res<Time<Real>>,
    mut asks: MessageWriter<Ask>,
) {
    if net.is_none() {
        return;
    }
    let now = time.elapsed_secs();
    let stale = |asked: Option<&(Ask, f32)>, q: &Ask, every: f32| asked.is_none_or(|(a, t)| a != q || now - t >= every);
    if data.asked_deviation.is_none_or(|t| now - t >= REFRESH_S) {
        data.asked_deviation = Some(now);
        for level in [GridLevel::Community, GridLevel::Street] {
            asks.write(Ask::Deviation { level, hours: 24 });
        }
    }
    if layer.on && data.asked_hotspots.is_none_or(|t| now - t >= HOTSPOT_REFRESH_S) {
        data.asked_hotspots = Some(now);
        asks.write(Ask::Hotspots { category: None });
    }
    if !layer.on && layer.answer.is_some() {
        data.asked_hotspots = None;
        layer.answer = None;
    }
    if !shown.open {
        return;
    }
    let trend = Ask::Trend { scope: panel.scope.clone(), category: panel.category, hours: panel.hours };
    if stale(data.asked_trend.as_ref(), &trend, REFRESH_S) {
        data.asked_trend = Some((trend.clone(), now));
        asks.write(trend);
    }
    let ranking = if panel.desks {
        Ask::Desks { period: panel.period, top: RANK_TOP }
    } else {
        Ask::Ranking { level: panel.level, period: panel.period, top: RANK_TOP }
    };
    if stale(data.asked_ranking.as_ref(), &ranking, RANKING_REFRESH_S) {
        data.asked_ranking = Some((ranking.clone(), now));
        asks.write(ranking);
    }
}

/// Takes the server's answers (a failure is shown on the panel; the deviations and the hot
/// spots stay as they were) and the replies to 确认.
fn take_answers(
    mut answers: MessageReader<Answer>,
    mut frames: MessageReader<ServerFrame>,
    mut data: ResMut<AnalysisData>,
    mut panel: ResMut<AnalysisPanel>,
    mut deviations: ResMut<Deviations>,
    mut layer: ResMut<HotspotLayer>,
    mut progress: ResMut<LoadProgress>,
    grids: Res<GridMap>,
    lang: Res<Lang>,
) {
    for a in answers.read() {
        match a {
            Answer::Trend(t) => data.trend = Some((**t).clone()),
            Answer::Ranking(r) => data.ranking = Some((**r).clone()),
            Answer::Desks(d) => data.desks = Some((**d).clone()),
            Answer::Hotspots(h) => layer.answer = Some((**h).clone()),
            Answer::Deviation(d) => {
                // The answer replaces its level's units (the other level's stay).
                deviations.0.retain(|code, _| !grids.is_unit(code, d.level));
                for u in &d.units {
                    deviations.0.insert(u.code.clone(), u.clone());
                }
            }
            Answer::Failed {
                ask: ask @ (Ask::Trend { .. } | Ask::Ranking { .. } | Ask::Desks { .. } | Ask::Hotspots { .. }),
                error,
            } => {
                let what = match ask {
                    Ask::Trend { .. } => lang.pick("趋势", "trend"),
                    Ask::Ranking { .. } | Ask::Desks { .. } => lang.pick("排名", "ranking"),
                    _ => lang.pick("热点", "hot spots"),
                };
                panel.note = Some(format!("{what}{}{error}", lang.pick("：", ": ")));
            }
            Answer::Failed { ask: Ask::Deviation { level, .. }, error } => {
                warn!("the deviations of each {level}: {error}");
                continue;
            }
            _ => continue,
        }
        if data.trend.is_some() && (data.ranking.is_some() || data.desks.is_some()) || panel.note.is_some() {
            progress.done(FIRST_ANSWERS);
        }
    }
    for ServerFrame(m) in frames.read() {
        if let ServerMessage::Reply { request, ok, error } = m
            && let Some((r, _)) = panel.acking
            && r == *request
        {
            panel.acking = None;
            panel.note = Some(if *ok {
                lang.pick("已确认", "acknowledged").to_owned()
            } else {
                format!(
                    "{}{}",
                    lang.pick("确认被拒绝：", "acknowledgement refused: "),
                    error.clone().unwrap_or_default()
                )
            });
        }
    }
}

/// Gives the panel's egui context to the camera of the wall panel the layout puts it on (a
/// desk's only camera); a process that does not show that panel draws no 研判 panel.
fn attach_context(
    mut commands: Commands,
    shape: Option<Res<WallShape>>,
    layout: Res<WallLayout>,
    cameras: Query<(Entity, &Tile), With<Camera>>,
    attached: Query<(), With<PrimaryEguiContext>>,
) {
    if !attached.is_empty() {
        return;
    }
    let tile = match shape.as_deref().filter(|s| s.is_wall()) {
        Some(shape) => layout.tile(Place::Analysis, shape),
        None => UVec2::ZERO,
    };
    if let Some((camera, _)) = cameras.iter().find(|(_, t)| t.0 == tile) {
        commands.entity(camera).insert(PrimaryEguiContext);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::search::tests::unit;
    use gridwall_protocol::api::analysis::{DeviationAnswer, UnitDeviation, Warning};
    use gridwall_protocol::{WarningKind, WarningLevel};

    fn asks(app: &mut App) -> Vec<Ask> {
        app.world_mut().resource_mut::<Messages<Ask>>().drain().collect()
    }

    fn deviation(level: GridLevel, codes: &[&str]) -> Answer {
        let units =
            codes.iter().map(|c| UnitDeviation { code: (*c).into(), observed: 9, expected: 4.0, upper: 8.0 }).collect();
        Answer::Deviation(Box::new(DeviationAnswer { level, hours: 24, to_ms: 0, units }))
    }

    #[test]
    fn the_panel_asks_for_its_scope_follows_the_map_and_opens_warnings() {
        let mut app = crate::testing::app_with(AnalysisPlugin);
        app.insert_resource(NetConfig { url: "ws://x/ws".into(), token: None, trust: crate::remote::Trust::default() });
        app.world_mut().resource_mut::<GridMap>().units = vec![
            unit("370783001", "第1街道", GridLevel::Street),
            unit("370783001001", "第1街道第1社区", GridLevel::Community),
            unit("370783002001", "第2街道第1社区", GridLevel::Community),
            unit("370783001001001", "网格", GridLevel::Cell),
        ];
        // Closed, it only asks for the overview's deviations, of both levels.
        app.update();
        let first = asks(&mut app);
        assert_eq!(
            first,
            [
                Ask::Deviation { level: GridLevel::Community, hours: 24 },
                Ask::Deviation { level: GridLevel::Street, hours: 24 }
            ]
        );
        app.update();
        assert!(asks(&mut app).is_empty(), "not again within the minute");
        // A minute of real time later, however few frames were drawn meanwhile.
        let later = std::time::Instant::now() + std::time::Duration::from_secs(61);
        app.insert_resource(bevy::time::TimeUpdateStrategy::ManualInstant(later));
        app.update();
        assert_eq!(asks(&mut app), first, "again after a minute");

        // Opened: the city's trend and the quarter's ranking.
        app.world_mut().resource_mut::<AnalysisShown>().open = true;
        app.update();
        assert_eq!(
            asks(&mut app),
            [
                Ask::Trend { scope: None, category: None, hours: 72 },
                Ask::Ranking { level: GridLevel::Community, period: AnalysisPeriod::Quarter, top: RANK_TOP },
            ]
        );
        // The desks instead of grid units: their own ranking.
        app.world_mut().resource_mut::<AnalysisPanel>().desks = true;
        app.update();
        assert_eq!(asks(&mut app), [Ask::Desks { period: AnalysisPeriod::Quarter, top: RANK_TOP }]);
        // A community selected on the map scopes the trend; a cell does not.
        app.world_mut().resource_mut::<Selection>().target = Some(Target::Grid("370783001001".into()));
        app.update();
        assert_eq!(asks(&mut app), [Ask::Trend { scope: Some("370783001001".into()), category: None, hours: 72 }]);
        app.world_mut().resource_mut::<Selection>().target = Some(Target::Grid("370783001001001".into()));
        app.update();
        assert!(asks(&mut app).is_empty());
        assert_eq!(app.world().resource::<AnalysisPanel>().scope.as_deref(), Some("370783001001"));

        // Deviations: an answer replaces its own level's units only.
        app.world_mut().write_message(deviation(GridLevel::Community, &["370783001001", "370783002001"]));
        app.world_mut().write_message(deviation(GridLevel::Street, &["370783001"]));
        app.update();
        app.world_mut().write_message(deviation(GridLevel::Community, &["370783002001"]));
        app.update();
        let mut kept: Vec<String> = app.world().resource::<Deviations>().0.keys().cloned().collect();
        kept.sort();
        assert_eq!(kept, ["370783001", "370783002001"]);

        // A warning opened: its page, its unit and its category on the trend.
        let w = Warning {
            id: 7,
            kind: WarningKind::Volume,
            level: WarningLevel::Orange,
            scope: "370783002001".into(),
            scope_name: "第2街道第1社区".into(),
            scope_level: Some(GridLevel::Community),
            category: Some(IncidentCategory::PipeBlockage),
            window: "近1小时".into(),
            observed: 6.0,
            expected: 0.4,
            upper: 3.0,
            since_ms: 0,
            updated_ms: 0,
            closed_ms: None,
            sentence: String::new(),
            place: None,
            incidents: vec![1, 2],
            acked_by: None,
            acked_ms: None,
        };
        app.world_mut().resource_mut::<OpenWarnings>().0.insert(7, w);
        // Clicking the warned unit on the map opens it.
        app.world_mut().resource_mut::<Selection>().target = Some(Target::Grid("370783002001".into()));
        app.update();
        assert_eq!(*app.world().resource::<AnalysisShown>(), AnalysisShown { open: true, tab: AnalysisTab::Warnings });
        let panel = app.world().resource::<AnalysisPanel>();
        assert_eq!((panel.focus, panel.scope.as_deref()), (Some(7), Some("370783002001")));
        assert_eq!(
            asks(&mut app),
            [Ask::Trend {
                scope: Some("370783002001".into()),
                category: Some(IncidentCategory::PipeBlockage),
                hours: 72
            }]
        );
    }
}
