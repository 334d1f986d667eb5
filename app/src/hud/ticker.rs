//! The event ticker (bottom left): the latest incident events, newest first, one line each;
//! below them one line sums up patrols leaving their cells (a geofence exit is routine for a
//! walking patrol and, in a big city, comes by the dozen), so incidents are never drowned.

use std::collections::VecDeque;

use bevy::prelude::*;
use gridwall_protocol::{Event, EventKind, ServerMessage};

use crate::AppSystems;
use crate::net::ServerFrame;
use crate::theme::prelude::*;

/// The ticker's lines.
#[derive(Component)]
pub struct HudTicker;

/// The latest incident events, newest first, as ticker lines, and the recent geofence exits.
#[derive(Resource, Debug, Default)]
pub struct Ticker {
    pub lines: VecDeque<String>,
    /// Server times of the patrols' exits in the last [`EXIT_WINDOW_MS`], and the latest one.
    exits: VecDeque<i64>,
    last_exit: Option<Event>,
}

/// Incident lines the ticker shows.
pub const TICKER_LINES: usize = 6;
/// Geofence exits are counted over this long.
pub const EXIT_WINDOW_MS: i64 = 60_000;

impl Ticker {
    /// Takes one tick's events.
    pub fn take(&mut self, events: &[Event], lang: Lang) {
        for e in events {
            if matches!(e.kind, EventKind::PatrolLeftGrid { .. }) {
                self.exits.push_back(e.time_ms);
                self.last_exit = Some(e.clone());
            } else {
                self.lines.push_front(ticker_line(e, lang));
            }
        }
        self.lines.truncate(TICKER_LINES);
        if let Some(now) = events.last().map(|e| e.time_ms) {
            while self.exits.front().is_some_and(|&t| t < now - EXIT_WINDOW_MS) {
                self.exits.pop_front();
            }
        }
    }

    /// What the ticker shows: incident lines, then the exits' summary.
    pub fn text(&self, lang: Lang) -> String {
        let mut out: Vec<String> = self.lines.iter().cloned().collect();
        if let (Some(last), n @ 1..) = (&self.last_exit, self.exits.len()) {
            let EventKind::PatrolLeftGrid { patrol, grid } = &last.kind else { unreachable!("only exits") };
            out.push(match lang {
                Lang::Zh => format!("巡查 · 近1分钟 {n} 人次离开责任网格（最近：{patrol} 号离开 {grid}）"),
                Lang::En => format!("patrols · {n} left their cells in the last minute (latest: {patrol} left {grid})"),
            });
        }
        if out.is_empty() {
            return lang.pick("等待事件…", "waiting for events…").to_owned();
        }
        out.join("\n")
    }
}

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
        EventKind::IncidentEscalated { incident, level, .. } => match lang {
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

pub struct TickerPlugin;

impl Plugin for TickerPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Ticker>()
            .init_resource::<Lang>()
            .add_message::<ServerFrame>()
            .add_systems(Startup, spawn_ticker)
            .add_systems(Update, show_ticker.in_set(AppSystems::Present));
    }
}

fn spawn_ticker(mut commands: Commands, ui: Option<Res<UiFont>>, lang: Res<Lang>) {
    let font = |px: f32| font(ui.as_deref(), px);
    commands
        .spawn((
            Node { left: hpx(24.0), bottom: hpx(24.0), ..panel_node(12.0, 4.0) },
            BackgroundColor(palette::PANEL),
            Name::new("ticker"),
            Place::Ticker,
            OVER_MAP,
        ))
        .with_children(|p| {
            p.spawn((
                Text::new(lang.pick("实时事件", "live events")),
                font(20.0),
                TextColor(palette::ACCENT),
                TickerTitle,
            ));
            p.spawn((
                Text::new(lang.pick("等待事件…", "waiting for events…")),
                font(17.0),
                TextColor(palette::BODY),
                HudTicker,
            ));
        });
}

/// The ticker's title ("实时事件", or "回放事件" while replaying).
#[derive(Component)]
struct TickerTitle;

fn show_ticker(
    mut frames: MessageReader<ServerFrame>,
    mut ticker: ResMut<Ticker>,
    lang: Res<Lang>,
    mut text: Query<&mut Text, (With<HudTicker>, Without<TickerTitle>)>,
    mut title: Query<&mut Text, With<TickerTitle>>,
) {
    let mut changed = false;
    for ServerFrame(m) in frames.read() {
        match m {
            ServerMessage::Delta { events, .. } if !events.is_empty() => {
                ticker.take(events, *lang);
                changed = true;
            }
            // Live and each replay (a seek too) start a fresh list: times never mix.
            ServerMessage::Timeline { live, .. } => {
                *ticker = Ticker::default();
                changed = true;
                for mut t in &mut title {
                    let shown = if *live {
                        lang.pick("实时事件", "live events")
                    } else {
                        lang.pick("回放事件", "replayed events")
                    };
                    shown.clone_into(&mut t.0);
                }
            }
            _ => {}
        }
    }
    if changed {
        let shown = ticker.text(*lang);
        for mut t in &mut text {
            if t.0 != shown {
                t.0.clone_from(&shown);
            }
        }
    }
}
