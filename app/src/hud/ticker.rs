//! The event ticker (bottom left): the latest events, newest first, one line each; a burst of
//! patrols leaving their cells in one tick is one line, so incidents stay readable.

use bevy::prelude::*;
use gridwall_protocol::{Event, EventKind, ServerMessage};

use crate::AppSystems;
use crate::net::ServerFrame;
use crate::theme::prelude::*;

/// The ticker's lines.
#[derive(Component)]
pub struct HudTicker;

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
            p.spawn((Text::new(lang.pick("实时事件", "live events")), font(20.0), TextColor(palette::ACCENT)));
            p.spawn((
                Text::new(lang.pick("等待事件…", "waiting for events…")),
                font(17.0),
                TextColor(palette::BODY),
                HudTicker,
            ));
        });
}

fn show_ticker(
    mut frames: MessageReader<ServerFrame>,
    mut ticker: ResMut<Ticker>,
    lang: Res<Lang>,
    mut text: Query<&mut Text, With<HudTicker>>,
) {
    let mut changed = false;
    for ServerFrame(m) in frames.read() {
        if let ServerMessage::Delta { events, .. } = m {
            // Patrols leaving their cells come in bursts in a big city: more than two in one
            // tick make one line, so incidents stay readable.
            let left: Vec<&Event> =
                events.iter().filter(|e| matches!(e.kind, EventKind::PatrolLeftGrid { .. })).collect();
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
                ticker.0.push_front(format!(
                    "{} {}",
                    clock_text(last.time_ms),
                    match *lang {
                        Lang::Zh => format!("{n} 名巡查人员离开责任网格"),
                        Lang::En => format!("{n} patrols left their cells"),
                    }
                ));
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
