//! The time bar on screen: its nodes (track, fill, label, buttons, the replay badge), and
//! showing the server's timeline on them.

use bevy::prelude::*;
use bevy::ui::RelativeCursorPosition;

use super::{REFUSAL_SHOWN_S, Refused, SPEEDS, Timeline, WallRole};
use crate::net::ServerClock;
use crate::theme::prelude::*;

#[derive(Component)]
pub(super) struct TimebarRoot;
/// The track: click or drag to seek.
#[derive(Component)]
pub(super) struct Track;
#[derive(Component)]
pub(super) struct TrackFill;
#[derive(Component)]
pub(super) struct TimeLabel;
#[derive(Component, Clone, Copy, PartialEq)]
pub(super) enum TimeButton {
    Back,
    PlayPause,
    Forward,
    Speed(f64),
    Live,
}
#[derive(Component)]
pub(super) struct ReplayBadge;

pub(super) fn spawn_timebar(mut commands: Commands, ui: Option<Res<UiFont>>, lang: Res<Lang>) {
    let font = |px: f32| font(ui.as_deref(), px);
    let l = *lang;
    let button = |label: String, b: TimeButton| {
        (
            Button,
            b,
            Node { padding: UiRect::axes(hpx(9.0), hpx(2.0)), ..default() },
            BackgroundColor(palette::BUTTON),
            children![(Text::new(label), font(17.0), TextColor(palette::ACCENT))],
        )
    };
    commands
        .spawn((
            // Top centre: the bottom corners hold the ticker and the filters, the bottom centre
            // a tour's caption.
            Node {
                left: Val::Percent(50.0),
                margin: UiRect::left(hpx(-380.0)),
                width: hpx(760.0),
                top: hpx(20.0),
                ..panel_node(10.0, 6.0)
            },
            BackgroundColor(palette::PANEL),
            // Shown once connected (`show_bar`).
            Visibility::Hidden,
            TimebarRoot,
            Place::Timebar,
            OVER_MAP,
            Name::new("time bar"),
        ))
        .with_children(|p| {
            p.spawn(Node {
                flex_direction: FlexDirection::Row,
                column_gap: hpx(8.0),
                align_items: AlignItems::Center,
                ..default()
            })
            .with_children(|row| {
                row.spawn(button(l.pick("◀ 1分", "◀ 1 min").into(), TimeButton::Back));
                row.spawn(button(l.pick("播放/暂停", "play/pause").into(), TimeButton::PlayPause));
                row.spawn(button(l.pick("1分 ▶", "1 min ▶").into(), TimeButton::Forward));
                for s in SPEEDS {
                    row.spawn(button(format!("{s}×"), TimeButton::Speed(s)));
                }
                row.spawn(button(l.pick("实时", "live").into(), TimeButton::Live));
                row.spawn((Text::new(""), font(17.0), TextColor(palette::BODY), TimeLabel));
            });
            p.spawn((
                Button,
                Track,
                RelativeCursorPosition::default(),
                Node { width: Val::Percent(100.0), height: hpx(14.0), ..default() },
                BackgroundColor(palette::TOGGLE_OFF),
            ))
            .with_child((
                TrackFill,
                Node { width: Val::Percent(100.0), height: Val::Percent(100.0), ..default() },
                BackgroundColor(palette::ACCENT.with_alpha(0.55)),
            ));
        });
    commands.spawn((
        Node {
            position_type: PositionType::Absolute,
            top: hpx(100.0),
            left: Val::Percent(50.0),
            margin: UiRect::left(hpx(-300.0)),
            width: hpx(600.0),
            justify_content: JustifyContent::Center,
            padding: UiRect::all(hpx(10.0)),
            ..default()
        },
        BackgroundColor(palette::REPLAY),
        Visibility::Hidden,
        ReplayBadge,
        Place::Banner,
        OVER_MAP,
        Name::new("replay badge"),
        children![(Text::new(""), font(28.0), TextColor(Color::WHITE))],
    ));
}

/// The bar shows while the server is there to replay (the lost-link banner takes the top centre
/// otherwise), on a desk or a wall's leader with a server.
pub(super) fn show_bar(
    state: Option<Res<crate::net::Connection>>,
    role: Option<Res<WallRole>>,
    net: Option<Res<crate::net::NetConfig>>,
    mut bar: Query<&mut Visibility, With<TimebarRoot>>,
) {
    let connected = state.is_some_and(|s| *s == crate::net::Connection::Connected);
    let shown = connected && net.is_some() && role.is_none_or(|r| r.lead);
    for mut v in &mut bar {
        v.set_if_neq(if shown { Visibility::Inherited } else { Visibility::Hidden });
    }
}

/// The bar's fill, label and active speed; the badge while replaying.
#[allow(clippy::too_many_arguments)]
pub(super) fn show_time(
    clock: Res<ServerClock>,
    time: Res<Time>,
    timeline: Res<Timeline>,
    lang: Res<Lang>,
    mut fill: Query<&mut Node, With<TrackFill>>,
    mut label: Query<&mut Text, (With<TimeLabel>, Without<ReplayBadge>)>,
    mut buttons: Query<(&TimeButton, &mut BackgroundColor)>,
    mut badge: Query<(&mut Visibility, &Children), With<ReplayBadge>>,
    mut badge_text: Query<&mut Text, Without<TimeLabel>>,
    refused: Res<Refused>,
) {
    let (Some(now), Some(at)) = (clock.now_ms(time.elapsed_secs()), clock.shown_ms(time.elapsed_secs())) else {
        return;
    };
    let replay = clock.replay();
    let earliest = timeline.earliest_ms.min(now);
    let f = if now > earliest { (at - earliest) as f32 / (now - earliest) as f32 } else { 1.0 };
    for mut n in &mut fill {
        let w = Val::Percent(100.0 * f.clamp(0.0, 1.0));
        if n.width != w {
            n.width = w;
        }
    }
    let l = *lang;
    let refusal =
        refused.0.as_ref().filter(|(_, at)| time.elapsed_secs() - at < REFUSAL_SHOWN_S).map(|(m, _)| format!("✕ {m}"));
    let text = match replay {
        _ if refusal.is_some() => refusal.unwrap_or_default(),
        None => format!("{} {}", l.pick("● 实时", "● live"), clock_text(now)),
        Some(r) if r.speed == 0.0 => format!("{} {}", l.pick("已暂停", "paused"), date_time_text(at)),
        Some(r) => format!("▶ {}× {}", r.speed, date_time_text(at)),
    };
    for mut t in &mut label {
        if t.0 != text {
            t.0.clone_from(&text);
        }
    }
    for (b, mut bg) in &mut buttons {
        let on = match (b, replay) {
            (TimeButton::Live, None) => true,
            (TimeButton::Speed(s), Some(r)) => (*s - r.speed).abs() < 1e-9,
            (TimeButton::PlayPause, Some(r)) => r.speed == 0.0,
            _ => false,
        };
        let c = if on { palette::TOGGLE_ON } else { palette::BUTTON };
        if bg.0 != c {
            bg.0 = c;
        }
    }
    for (mut vis, children) in &mut badge {
        vis.set_if_neq(if replay.is_some() { Visibility::Inherited } else { Visibility::Hidden });
        if let (Some(r), Some(mut t)) = (replay, children.first().and_then(|&c| badge_text.get_mut(c).ok())) {
            let speed =
                if r.speed == 0.0 { l.pick("已暂停", "paused").to_owned() } else { format!("{}×", r.speed) };
            let shown = format!("{} {} · {speed}", l.pick("回放", "REPLAY"), &date_time_text(at)[..16]);
            if t.0 != shown {
                t.0 = shown;
            }
        }
    }
}
