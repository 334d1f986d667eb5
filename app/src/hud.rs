//! The HUD: title, clock (server time in the operators' zone), link state, city-wide KPIs and
//! the stage legend, in Chinese by default (`--lang en` for English), with a CJK font the
//! project installs (`WenQuanYi Micro Hei`, `scripts/setup-debian.sh`) or `GRIDWALL_FONT`.

use bevy::prelude::*;
use gridwall_protocol::{Event, EventKind, IncidentStage, ServerMessage};

use crate::incidents::stage_color;
use crate::net::{Connection, Kpis, ServerFrame};
use crate::scene::SceneInfo;

/// Where the CJK font is looked for (first hit wins); `GRIDWALL_FONT` overrides.
pub const FONT_PATHS: [&str; 2] = ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"];

/// Operators' time zone for the clock (China Standard Time).
const UTC_OFFSET_MS: i64 = 8 * 3_600_000;

#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }
}

#[derive(Resource, Debug, Clone)]
pub struct HudFont(pub Handle<Font>);

/// The last server time seen, and when (to keep the clock running between frames).
#[derive(Resource, Debug, Default)]
pub struct ServerClock {
    time_ms: Option<i64>,
    seen_at: f32,
}

impl ServerClock {
    /// The server's time now (ms since the Unix epoch), once a frame has told it.
    pub fn now_ms(&self, elapsed_s: f32) -> Option<i64> {
        self.time_ms.map(|t| t + ((elapsed_s - self.seen_at) * 1000.0) as i64)
    }
}

#[derive(Component)]
pub struct HudClock;
#[derive(Component)]
pub struct HudLink;
#[derive(Component)]
pub struct HudKpis;
#[derive(Component)]
pub struct HudTicker;
/// Panels (HUD, ticker, filter bar, detail panel, banner) draw over the labels that float on
/// the map.
pub const OVER_MAP: GlobalZIndex = GlobalZIndex(10);

/// The red banner across the top while the server is unreachable.
#[derive(Component)]
pub struct HudBanner;

/// The latest events, newest first, as ticker lines.
#[derive(Resource, Debug, Default)]
pub struct Ticker(pub std::collections::VecDeque<String>);

/// Lines the ticker shows.
pub const TICKER_LINES: usize = 6;

/// One ticker line for an event.
pub fn ticker_line(e: &Event, lang: Lang) -> String {
    let what = match &e.kind {
        EventKind::IncidentOpened { incident: i } => match lang {
            Lang::Zh => format!("新事件 #{} {} · {}", i.id, i.category.name_zh(), i.source.name_zh()),
            Lang::En => format!("new incident #{} {} · {}", i.id, i.category.name_en(), i.source.name_en()),
        },
        EventKind::IncidentChanged { incident: i, actor, .. } => {
            format!("#{} → {} · {actor}", i.id, lang.pick(i.stage.name_zh(), i.stage.name_en()))
        }
        EventKind::IncidentEscalated { incident, level } => match lang {
            Lang::Zh => format!("#{incident} 超时升级至{}", level.name_zh()),
            Lang::En => format!("#{incident} overdue, escalated to {}", level.name_en()),
        },
        EventKind::PatrolLeftGrid { patrol, grid } => match lang {
            Lang::Zh => format!("巡查人员 {patrol} 离开责任网格 {grid}"),
            Lang::En => format!("patrol {patrol} left its cell {grid}"),
        },
    };
    format!("{} {what}", clock_text(e.time_ms))
}

pub struct HudPlugin;

impl Plugin for HudPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Lang>()
            .init_resource::<ServerClock>()
            .add_message::<Kpis>()
            .add_message::<ServerFrame>()
            .init_resource::<Connection>()
            .add_systems(Startup, (load_font.run_if(resource_exists::<Assets<Font>>), spawn_hud).chain())
            .init_resource::<Ticker>()
            .add_systems(Update, (tick_clock, show_link, show_kpis, show_ticker));
    }
}

/// Reads the CJK font into a font asset (a missing font is logged: Chinese would not render).
pub fn load_font(mut commands: Commands, mut fonts: ResMut<Assets<Font>>) {
    let candidates: Vec<String> = std::env::var("GRIDWALL_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| (*s).to_owned())).collect();
    if let Some(bytes) = candidates.iter().find_map(|p| std::fs::read(p).ok()) {
        commands.insert_resource(HudFont(fonts.add(Font::from_bytes(bytes))));
    } else {
        error!("no CJK font found ({}); run scripts/setup-debian.sh or set GRIDWALL_FONT", candidates.join(", "));
    }
}

fn spawn_hud(mut commands: Commands, font: Option<Res<HudFont>>, lang: Res<Lang>, scene: Option<Res<SceneInfo>>) {
    // Sizes follow the window height (given here as pixels at 1080 p), so the HUD keeps its share
    // of the screen on a 4K wall and on a small test capture alike.
    let font = |px: f32| TextFont { font: font.as_ref().map(|f| f.0.clone()).unwrap_or_default().into(), font_size: FontSize::Vh(px / 10.8), ..default() };
    let vh = |px: f32| Val::Vh(px / 10.8);
    let title = match (&scene, *lang) {
        (Some(s), Lang::Zh) => format!("{} · 网格化管理指挥中心", s.display_name),
        (Some(s), Lang::En) => format!("{} · Grid Management Command Center", s.name),
        (None, l) => l.pick("网格化管理指挥中心", "Grid Management Command Center").to_owned(),
    };
    let accent = Color::srgb(0.55, 0.85, 1.0);
    commands
        .spawn((
            Node { position_type: PositionType::Absolute, left: vh(24.0), top: vh(20.0), flex_direction: FlexDirection::Column, row_gap: vh(6.0), padding: UiRect::all(vh(14.0)), ..default() },
            BackgroundColor(Color::srgba(0.01, 0.04, 0.12, 0.78)),
            Name::new("hud"),
            crate::hud::OVER_MAP,
        ))
        .with_children(|p| {
            p.spawn((Text::new(title), font(30.0), TextColor(accent)));
            p.spawn((Text::new("--:--:--"), font(26.0), TextColor(Color::WHITE), HudClock));
            p.spawn((Text::new(link_text(&Connection::Connecting, *lang)), font(20.0), TextColor(Color::srgb(1.0, 0.8, 0.3)), HudLink));
            p.spawn((Text::new(kpi_text(None, *lang)), font(22.0), TextColor(Color::srgb(0.85, 0.92, 1.0)), HudKpis));
            let legend = [IncidentStage::Accepted, IncidentStage::Dispatched, IncidentStage::Resolved, IncidentStage::Reviewed];
            p.spawn(Node { flex_direction: FlexDirection::Row, column_gap: vh(14.0), margin: UiRect::top(vh(6.0)), ..default() }).with_children(|row| {
                for s in legend {
                    row.spawn((Text::new(format!("■ {}", lang.pick(s.name_zh(), s.name_en()))), font(18.0), TextColor(stage_color(s))));
                }
            });
        });
    commands.spawn((
        Node { position_type: PositionType::Absolute, top: vh(20.0), left: Val::Percent(50.0), margin: UiRect::left(Val::Vh(-420.0 / 10.8)), width: vh(840.0), justify_content: JustifyContent::Center, padding: UiRect::all(vh(12.0)), ..default() },
        BackgroundColor(Color::srgba(0.75, 0.05, 0.05, 0.92)),
        Visibility::Hidden,
        HudBanner,
        Name::new("link banner"),
            crate::hud::OVER_MAP,
        children![(Text::new(""), font(24.0), TextColor(Color::WHITE))],
    ));
    commands
        .spawn((
            Node { position_type: PositionType::Absolute, left: vh(24.0), bottom: vh(24.0), flex_direction: FlexDirection::Column, row_gap: vh(4.0), padding: UiRect::all(vh(12.0)), ..default() },
            BackgroundColor(Color::srgba(0.01, 0.04, 0.12, 0.78)),
            Name::new("ticker"),
            crate::hud::OVER_MAP,
        ))
        .with_children(|p| {
            p.spawn((Text::new(lang.pick("实时事件", "live events")), font(20.0), TextColor(accent)));
            p.spawn((Text::new(lang.pick("等待事件…", "waiting for events…")), font(17.0), TextColor(Color::srgb(0.85, 0.92, 1.0)), HudTicker));
        });
}

fn show_ticker(mut frames: MessageReader<ServerFrame>, mut ticker: ResMut<Ticker>, lang: Res<Lang>, mut text: Query<&mut Text, With<HudTicker>>) {
    let mut changed = false;
    for ServerFrame(m) in frames.read() {
        if let ServerMessage::Delta { events, .. } = m {
            // Patrols leaving their cells come in bursts in a big city: more than two in one
            // tick make one line, so incidents stay readable.
            let left: Vec<&Event> = events.iter().filter(|e| matches!(e.kind, EventKind::PatrolLeftGrid { .. })).collect();
            for e in events {
                if left.len() <= 2 || !matches!(e.kind, EventKind::PatrolLeftGrid { .. }) {
                    ticker.0.push_front(ticker_line(e, *lang));
                    changed = true;
                }
            }
            if let [.., last] = left[..]
                && left.len() > 2
            {
                let n = left.len();
                ticker.0.push_front(format!("{} {}", clock_text(last.time_ms), match *lang {
                    Lang::Zh => format!("{n} 名巡查人员离开责任网格"),
                    Lang::En => format!("{n} patrols left their cells"),
                }));
                changed = true;
            }
            ticker.0.truncate(TICKER_LINES);
        }
    }
    if changed {
        let joined = ticker.0.iter().cloned().collect::<Vec<_>>().join("\n");
        for mut t in &mut text {
            t.0.clone_from(&joined);
        }
    }
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
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
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
        pct(k.closure_rate),
        l[4],
        pct(k.on_time_rate),
        l[5],
        pct(k.satisfaction_rate)
    )
}

/// `HH:MM:SS` of a Unix time in ms, in the operators' zone.
pub fn clock_text(time_ms: i64) -> String {
    let s = (time_ms + UTC_OFFSET_MS).div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn tick_clock(mut frames: MessageReader<ServerFrame>, mut clock: ResMut<ServerClock>, time: Res<Time>, mut text: Query<&mut Text, With<HudClock>>) {
    let now = time.elapsed_secs();
    for ServerFrame(m) in frames.read() {
        if let ServerMessage::Snapshot { time_ms, .. } | ServerMessage::Delta { time_ms, .. } = m {
            *clock = ServerClock { time_ms: Some(*time_ms), seen_at: now };
        }
    }
    if let Some(t) = clock.now_ms(now) {
        let shown = clock_text(t);
        for mut tx in &mut text {
            if tx.0 != shown {
                tx.0.clone_from(&shown);
            }
        }
    }
}

fn show_link(state: Res<Connection>, lang: Res<Lang>, mut text: Query<&mut Text, With<HudLink>>, mut banner: Query<(&mut Visibility, &Children), With<HudBanner>>, mut banner_text: Query<&mut Text, Without<HudLink>>) {
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
                Lang::En => format!("Connection to the command-center server lost · reconnecting (attempt {attempt}) · showing the last state received"),
            };
        }
    }
}

fn show_kpis(mut kpis: MessageReader<Kpis>, lang: Res<Lang>, mut text: Query<&mut Text, With<HudKpis>>) {
    if let Some(k) = kpis.read().last() {
        for mut t in &mut text {
            t.0 = kpi_text(Some(k), *lang);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text_of<C: Component>(app: &mut App) -> String {
        app.world_mut().query_filtered::<&Text, With<C>>().single(app.world()).unwrap().0.clone()
    }

    #[test]
    fn the_hud_shows_kpis_link_state_and_server_time_in_chinese() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins).add_plugins(HudPlugin);
        app.update();
        assert_eq!(text_of::<HudKpis>(&mut app), "指标加载中…");
        app.world_mut().write_message(Kpis { open: 12, closed_today: 30, overdue: 2, closure_rate: 0.99, on_time_rate: 0.955, satisfaction_rate: 0.93, mean_handling_min: 40.0 });
        *app.world_mut().resource_mut::<Connection>() = Connection::Reconnecting { attempt: 3, retry_in: Duration::from_secs(2), reason: "gone".into() };
        // 2026-11-22T08:00:05Z is 16:00:05 in Beijing.
        app.world_mut().write_message(ServerFrame(ServerMessage::Delta { tick: 1, time_ms: 1_795_248_005_000, moved: vec![], entered: vec![], left: vec![], events: vec![] }));
        app.update();
        assert_eq!(text_of::<HudKpis>(&mut app), "在办事件 12   今日办结 30   超期 2\n结案率 99.0%   按期结案率 95.5%   满意率 93.0%");
        assert_eq!(text_of::<HudLink>(&mut app), "✕ 服务器连接中断，2.0 秒后第 3 次重连");
        assert!(text_of::<HudClock>(&mut app).starts_with("16:00:0"));

        // Events run through the ticker, newest first, at most TICKER_LINES.
        let opened = |id: u64| gridwall_protocol::Event {
            seq: id,
            time_ms: 1_795_248_005_000,
            kind: EventKind::IncidentEscalated { incident: id, level: gridwall_protocol::GridLevel::Community },
        };
        app.world_mut().write_message(ServerFrame(ServerMessage::Delta { tick: 2, time_ms: 1_795_248_005_000, moved: vec![], entered: vec![], left: vec![], events: (1..=8).map(opened).collect() }));
        app.update();
        let ticker = text_of::<HudTicker>(&mut app);
        assert_eq!(ticker.lines().count(), TICKER_LINES);
        assert_eq!(ticker.lines().next().unwrap(), "16:00:05 #8 超时升级至社区");

        // A burst of patrols leaving their cells is one line.
        let left = |p: u32| gridwall_protocol::Event { seq: 100 + u64::from(p), time_ms: 1_795_248_006_000, kind: EventKind::PatrolLeftGrid { patrol: p, grid: "g".into() } };
        app.world_mut().write_message(ServerFrame(ServerMessage::Delta { tick: 3, time_ms: 1_795_248_006_000, moved: vec![], entered: vec![], left: vec![], events: (1..=5).map(left).collect() }));
        app.update();
        let ticker = text_of::<HudTicker>(&mut app);
        assert_eq!(ticker.lines().take(2).collect::<Vec<_>>(), ["16:00:06 5 名巡查人员离开责任网格", "16:00:05 #8 超时升级至社区"]);
    }

    #[test]
    fn english_on_request() {
        assert_eq!(link_text(&Connection::Connected, Lang::En), "● live");
        assert!(kpi_text(Some(&Kpis::default()), Lang::En).starts_with("open 0"));
        assert_eq!(clock_text(0), "08:00:00");
    }
}
