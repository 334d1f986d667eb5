//! The HUD: title, clock (server time in the operators' zone), link state, city-wide KPIs (from
//! the socket) and the stage legend, a red banner across the top while the link is lost, and the
//! event [`ticker`]. Chinese by default (`--lang en` for English).

pub mod caption;
pub mod ticker;

use bevy::prelude::*;
use gridwall_protocol::{IncidentStage, Kpis, ServerMessage};

use crate::AppSystems;
use crate::map::Presentation;
use crate::net::{Connection, ServerClock, ServerFrame};
use crate::scene::SceneInfo;
use crate::theme::prelude::*;
use gridwall_protocol::wall::Highlight;

#[derive(Component)]
pub struct HudClock;
#[derive(Component)]
pub struct HudLink;
#[derive(Component)]
pub struct HudKpis;

/// The red banner across the top while the server is unreachable.
#[derive(Component)]
pub struct HudBanner;

pub struct HudPlugin;

impl Plugin for HudPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Lang>()
            .init_resource::<Presentation>()
            .init_resource::<ServerClock>()
            .init_resource::<Connection>()
            .add_message::<ServerFrame>()
            .add_systems(Startup, spawn_hud)
            .add_systems(Update, (show_clock, show_link, show_kpis).in_set(AppSystems::Present))
            .add_plugins((ticker::TickerPlugin, caption::CaptionPlugin));
    }
}

fn spawn_hud(mut commands: Commands, ui: Option<Res<UiFont>>, lang: Res<Lang>, scene: Option<Res<SceneInfo>>) {
    // Sizes follow the window height (given here as pixels at 1080 p), so the HUD keeps its share
    // of the screen on a 4K wall and on a small test capture alike.
    let font = |px: f32| font(ui.as_deref(), px);
    let title = match (&scene, *lang) {
        (Some(s), Lang::Zh) => format!("{} · 网格化管理指挥中心", s.manifest.display_name),
        (Some(s), Lang::En) => format!("{} · Grid Management Command Center", s.manifest.name),
        (None, l) => l.pick("网格化管理指挥中心", "Grid Management Command Center").to_owned(),
    };
    commands
        .spawn((
            Node { left: hpx(24.0), top: hpx(20.0), ..panel_node(14.0, 6.0) },
            BackgroundColor(palette::PANEL),
            Name::new("hud"),
            Place::Title,
            OVER_MAP,
        ))
        .with_children(|p| {
            p.spawn((Text::new(title), font(30.0), TextColor(palette::ACCENT)));
            p.spawn((Text::new("--:--:--"), font(26.0), TextColor(Color::WHITE), HudClock));
            p.spawn((
                Text::new(link_text(&Connection::Connecting, *lang)),
                font(20.0),
                TextColor(palette::NOTE),
                HudLink,
            ));
            p.spawn((Text::new(kpi_text(None, *lang)), font(22.0), TextColor(palette::BODY), HudKpis));
            // Every stage of the loop, 受理 to 回访结案 (closed cases leave the map; the panel and the
            // tour still show them).
            let legend = IncidentStage::ALL;
            p.spawn(Node {
                flex_direction: FlexDirection::Row,
                column_gap: hpx(14.0),
                margin: UiRect::top(hpx(6.0)),
                ..default()
            })
            .with_children(|row| {
                for s in legend {
                    row.spawn((
                        Text::new(format!("■ {}", lang.pick(s.name_zh(), s.name_en()))),
                        font(18.0),
                        TextColor(stage_color(s)),
                    ));
                }
            });
        });
    commands.spawn((
        Node {
            position_type: PositionType::Absolute,
            top: hpx(20.0),
            left: Val::Percent(50.0),
            margin: UiRect::left(hpx(-420.0)),
            width: hpx(840.0),
            justify_content: JustifyContent::Center,
            padding: UiRect::all(hpx(12.0)),
            ..default()
        },
        BackgroundColor(palette::ALARM),
        Visibility::Hidden,
        HudBanner,
        Name::new("link banner"),
        Place::Banner,
        // Over the time bar, which shares the top centre.
        GlobalZIndex(OVER_MAP.0 + 1),
        children![(Text::new(""), font(24.0), TextColor(Color::WHITE))],
    ));
}

/// "已连接" / "连接中…" / "重连中…", from the link's state.
pub fn link_text(c: &Connection, lang: Lang) -> String {
    match c {
        Connection::Connecting => lang.pick("○ 正在连接服务器…", "○ connecting…").to_owned(),
        Connection::Connected => lang.pick("● 实时数据已连接", "● live").to_owned(),
        Connection::Reconnecting { attempt, retry_in, .. } => match lang {
            Lang::Zh => format!("✕ 服务器连接中断，{:.1} 秒后第 {attempt} 次重连", retry_in.as_secs_f32()),
            Lang::En => format!("✕ server lost; reconnecting (attempt {attempt}) in {:.1} s", retry_in.as_secs_f32()),
        },
    }
}

/// The KPI block.
pub fn kpi_text(k: Option<&Kpis>, lang: Lang) -> String {
    // A rate of nothing is no rate: "—", never 0.0 %.
    let pct = |v: f64, of: u64| if of == 0 { "—".to_owned() } else { format!("{:.1}%", v * 100.0) };
    let Some(k) = k else { return lang.pick("指标加载中…", "loading KPIs…").to_owned() };
    let l = match lang {
        Lang::Zh => ["在办事件", "今日办结", "超期", "结案率", "按期结案率", "满意率"],
        Lang::En => ["open", "closed today", "overdue", "closure", "on time", "satisfaction"],
    };
    format!(
        "{} {}   {} {}   {} {}\n{} {}   {} {}   {} {}",
        l[0],
        k.open,
        l[1],
        k.closed_today,
        l[2],
        k.overdue,
        l[3],
        pct(k.closure_rate, k.total),
        l[4],
        pct(k.on_time_rate, k.closed),
        l[5],
        pct(k.satisfaction_rate, k.closed)
    )
}

fn show_clock(clock: Res<ServerClock>, time: Res<Time>, mut text: Query<&mut Text, With<HudClock>>) {
    if let Some(t) = clock.shown_ms(time.elapsed_secs()) {
        let shown = clock_text(t);
        for mut tx in &mut text {
            if tx.0 != shown {
                tx.0.clone_from(&shown);
            }
        }
    }
}

fn show_link(
    state: Res<Connection>,
    lang: Res<Lang>,
    mut text: Query<&mut Text, With<HudLink>>,
    mut banner: Query<(&mut Visibility, &Children), With<HudBanner>>,
    mut banner_text: Query<&mut Text, Without<HudLink>>,
) {
    if !state.is_changed() {
        return;
    }
    for mut t in &mut text {
        t.0 = link_text(&state, *lang);
    }
    // A lost link is shouted across the wall, not only whispered in the HUD corner.
    for (mut vis, children) in &mut banner {
        let lost = matches!(*state, Connection::Reconnecting { .. });
        vis.set_if_neq(if lost { Visibility::Inherited } else { Visibility::Hidden });
        if let Connection::Reconnecting { attempt, .. } = &*state
            && let Some(mut t) = children.first().and_then(|&c| banner_text.get_mut(c).ok())
        {
            t.0 = match *lang {
                Lang::Zh => format!("与指挥中心服务器的连接已中断 · 正在第 {attempt} 次重连 · 画面为最后收到的状态"),
                Lang::En => format!(
                    "Connection to the command-center server lost · reconnecting (attempt {attempt}) · showing the last state received"
                ),
            };
        }
    }
}

/// The KPIs the server sent last (on connecting, and whenever they change); a tour that points
/// at them turns them gold.
fn show_kpis(
    mut frames: MessageReader<ServerFrame>,
    lang: Res<Lang>,
    presentation: Res<Presentation>,
    mut text: Query<(&mut Text, &mut TextColor), With<HudKpis>>,
) {
    if presentation.is_changed() {
        let lit = presentation.highlight == Some(Highlight::Kpis);
        for (_, mut c) in &mut text {
            c.0 = if lit { palette::NOTE } else { palette::BODY };
        }
    }
    let last = frames
        .read()
        .filter_map(|ServerFrame(m)| if let ServerMessage::Kpis { kpis, .. } = m { Some(*kpis) } else { None })
        .last();
    if let Some(k) = last {
        for (mut t, _) in &mut text {
            t.0 = kpi_text(Some(&k), *lang);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app_with;
    use gridwall_protocol::EventKind;
    use std::time::Duration;

    fn text_of<C: Component>(app: &mut App) -> String {
        app.world_mut().query_filtered::<&Text, With<C>>().single(app.world()).unwrap().0.clone()
    }

    #[test]
    fn the_hud_shows_kpis_link_state_and_server_time_in_chinese() {
        let mut app = app_with(HudPlugin);
        app.update();
        assert_eq!(text_of::<HudKpis>(&mut app), "指标加载中…");
        let kpis = Kpis {
            total: 40,
            open: 12,
            closed: 28,
            closed_today: 30,
            overdue: 2,
            closure_rate: 0.99,
            on_time_rate: 0.955,
            satisfaction_rate: 0.93,
            mean_handling_min: 40.0,
        };
        app.world_mut().write_message(ServerFrame(ServerMessage::Kpis { time_ms: 1_795_248_005_000, kpis }));
        *app.world_mut().resource_mut::<Connection>() =
            Connection::Reconnecting { attempt: 3, retry_in: Duration::from_secs(2), reason: "gone".into() };
        // 2026-11-22T08:00:05Z is 16:00:05 in Beijing.
        let now = app.world().resource::<Time>().elapsed_secs();
        app.world_mut().resource_mut::<ServerClock>().set(1_795_248_005_000, now);
        app.update();
        assert_eq!(
            text_of::<HudKpis>(&mut app),
            "在办事件 12   今日办结 30   超期 2\n结案率 99.0%   按期结案率 95.5%   满意率 93.0%"
        );
        assert_eq!(text_of::<HudLink>(&mut app), "✕ 服务器连接中断，2.0 秒后第 3 次重连");
        assert!(text_of::<HudClock>(&mut app).starts_with("16:00:0"));

        // Events run through the ticker, newest first, at most TICKER_LINES.
        let opened = |id: u64| gridwall_protocol::Event {
            seq: id,
            time_ms: 1_795_248_005_000,
            kind: EventKind::IncidentEscalated {
                incident: id,
                level: gridwall_protocol::GridLevel::Community,
                deadline_ms: 0,
            },
        };
        app.world_mut().write_message(ServerFrame(ServerMessage::Delta {
            tick: 2,
            time_ms: 1_795_248_005_000,
            moved: vec![],
            entered: vec![],
            left: vec![],
            events: (1..=8).map(opened).collect(),
        }));
        app.update();
        let ticker = text_of::<ticker::HudTicker>(&mut app);
        assert_eq!(ticker.lines().count(), ticker::TICKER_LINES);
        assert_eq!(ticker.lines().next().unwrap(), "16:00:05 #8 超时升级至社区");

        // Patrols leaving their cells never push incidents out: they are one line below them,
        // counted over the last minute.
        let left = |p: u32, s: i64| gridwall_protocol::Event {
            seq: 100 + u64::from(p),
            time_ms: 1_795_248_006_000 + s * 1000,
            kind: EventKind::PatrolLeftGrid { patrol: p, grid: format!("g{p}") },
        };
        let send = |app: &mut App, events: Vec<gridwall_protocol::Event>| {
            app.world_mut().write_message(ServerFrame(ServerMessage::Delta {
                tick: 3,
                time_ms: 1_795_248_006_000,
                moved: vec![],
                entered: vec![],
                left: vec![],
                events,
            }));
            app.update();
            text_of::<ticker::HudTicker>(app)
        };
        let ticker = send(&mut app, (1..=5).map(|p| left(p, 0)).collect());
        let lines: Vec<&str> = ticker.lines().collect();
        assert_eq!(lines.len(), ticker::TICKER_LINES + 1);
        assert_eq!(lines[0], "16:00:05 #8 超时升级至社区");
        assert_eq!(lines[6], "巡查 · 近1分钟 5 人次离开责任网格（最近：5 号离开 g5）");
        // A minute and a half later only the new exits count.
        let ticker = send(&mut app, vec![left(9, 80), left(10, 90)]);
        assert_eq!(ticker.lines().last().unwrap(), "巡查 · 近1分钟 2 人次离开责任网格（最近：10 号离开 g10）");
        assert_eq!(ticker.lines().next().unwrap(), "16:00:05 #8 超时升级至社区");
    }

    #[test]
    fn english_on_request() {
        assert_eq!(link_text(&Connection::Connected, Lang::En), "● live");
        let none = kpi_text(Some(&Kpis::default()), Lang::En);
        assert!(none.starts_with("open 0"));
        assert!(none.ends_with("closure —   on time —   satisfaction —"), "no data is no rate: {none}");
        let one_open = Kpis { total: 1, open: 1, ..Kpis::default() };
        assert!(kpi_text(Some(&one_open), Lang::Zh).contains("结案率 0.0%   按期结案率 —"));
        assert_eq!(clock_text(0), "08:00:00");
    }
}
