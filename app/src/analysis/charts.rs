//! The 研判 panel's charts, drawn by `egui_plot`: the trend with its expected band (brushable),
//! the category and source breakdowns, the weekday × hour calendar and the ranking's scores.
//! Each function draws one chart into the panel and says what the commander did with it.

use bevy_egui::egui::{self, Color32, RichText};
use egui_plot::{
    AxisHints, Bar, BarChart, FilledArea, GridMark, Heatmap, HoverPosition, Legend, Line, LineStyle, Plot, PlotPoint,
    PlotPoints, Points, Span, VLine,
};
use gridwall_protocol::api::analysis::{RankEntry, TrendAnswer};

use crate::theme::prelude::*;

const HOUR_MS: f64 = 3_600_000.0;

/// A theme colour for egui.
pub fn color32(c: bevy::color::Color) -> Color32 {
    let s = c.to_srgba();
    Color32::from_rgba_unmultiplied(
        (s.red * 255.0) as u8,
        (s.green * 255.0) as u8,
        (s.blue * 255.0) as u8,
        (s.alpha * 255.0) as u8,
    )
}

/// Where the band is drawn, the observed line, and counts past the band.
pub const BAND: Color32 = Color32::from_rgba_premultiplied(40, 95, 140, 150);
pub const EXPECTED: Color32 = Color32::from_rgb(150, 175, 210);
pub const OBSERVED: Color32 = Color32::from_rgb(140, 217, 255);
pub const BEYOND: Color32 = Color32::from_rgb(255, 70, 60);
pub const BRUSH: Color32 = Color32::from_rgba_premultiplied(90, 70, 10, 90);

/// `MM-DD HH:00` of an hour (hours since the Unix epoch), operators' time.
pub fn hour_label(hours: f64) -> String {
    let ms = (hours * HOUR_MS) as i64;
    let text = date_time_text(ms);
    // `YYYY-MM-DD HH:MM:SS` → `MM-DD HH:00`.
    format!("{} {}:00", &text[5..10], &text[11..13])
}

/// `YYYY-MM-DD` of the day an hour (hours since the Unix epoch) falls in, operators' time.
pub fn day_label(hours: f64) -> String {
    date_time_text((hours * HOUR_MS) as i64)[..10].to_owned()
}

/// What the commander did on the trend: pointed at an hour (show the city then, paused), or
/// brushed a span (play it, then back to live). Times in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrendPick {
    At(i64),
    Span(i64, i64),
}

/// The trend: observed counts per hour (or day) over the band between the expectation and its
/// upper bound, buckets past the band marked red, the time the display shows as a line, and
/// the brushed span. Dragging across an hourly trend brushes; a click picks an hour. A daily
/// trend reaches past the history kept for replay: it is looked at, not brushed.
pub fn trend(
    ui: &mut egui::Ui,
    answer: &TrendAnswer,
    shown_ms: Option<i64>,
    brush: &mut Option<(f64, f64)>,
    height: f32,
    lang: Lang,
) -> Option<TrendPick> {
    let bucket_h = (answer.bucket_ms as f64 / HOUR_MS).max(1.0);
    let daily = bucket_h > 1.0;
    let label = move |x: f64| if daily { day_label(x) } else { hour_label(x.floor()) };
    let xs: Vec<f64> = answer.points.iter().map(|p| p.t_ms as f64 / HOUR_MS + bucket_h / 2.0).collect();
    let expected: Vec<f64> = answer.points.iter().map(|p| p.expected).collect();
    let upper: Vec<f64> = answer.points.iter().map(|p| p.upper.max(p.expected)).collect();
    let observed: Vec<[f64; 2]> = answer.points.iter().zip(&xs).map(|(p, &x)| [x, f64::from(p.observed)]).collect();
    let beyond: Vec<[f64; 2]> = answer
        .points
        .iter()
        .zip(&xs)
        .filter(|(p, _)| f64::from(p.observed) > p.upper && p.upper > 0.0)
        .map(|(p, &x)| [x, f64::from(p.observed)])
        .collect();
    let names = (
        lang.pick("常态区间", "normal band"),
        lang.pick("期望", "expected"),
        lang.pick("受理", "reported"),
        lang.pick("超出上限", "past the band"),
    );
    let shown = shown_ms.map(|t| t as f64 / HOUR_MS);
    let current = *brush;
    let response = Plot::new("gridwall-trend")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .include_y(0.0)
        .y_axis_min_width(24.0)
        .x_axis_formatter(move |m: GridMark, _| if daily { day_label(m.value) } else { hour_label(m.value) })
        .label_formatter(|hover: &HoverPosition<'_>| {
            Some(match hover {
                HoverPosition::NearDataPoint { plot_name, position, .. } if !plot_name.is_empty() => {
                    format!("{plot_name}\n{} · {:.1}", label(position.x), position.y)
                }
                HoverPosition::NearDataPoint { position, .. } | HoverPosition::Elsewhere { position } => {
                    label(position.x)
                }
            })
        })
        .show(ui, |plot| {
            if !xs.is_empty() {
                plot.add(FilledArea::new(names.0, &xs, &expected, &upper).fill_color(BAND));
            }
            plot.line(
                Line::new(names.1, xs.iter().zip(&expected).map(|(&x, &y)| [x, y]).collect::<PlotPoints>())
                    .color(EXPECTED)
                    .style(LineStyle::dashed_dense()),
            );
            plot.line(Line::new(names.2, PlotPoints::from(observed)).color(OBSERVED).width(2.0));
            plot.points(Points::new(names.3, PlotPoints::from(beyond)).color(BEYOND).radius(3.5));
            if let Some((a, b)) = current {
                plot.span(Span::new("", a.min(b)..=a.max(b)).fill(BRUSH));
            }
            if let Some(t) = shown {
                plot.vline(VLine::new("", t).color(color32(palette::NOTE)).width(1.5));
            }
            let r = plot.response();
            (plot.pointer_coordinate(), r.drag_started(), r.dragged(), r.drag_stopped(), r.clicked())
        });
    let (pointer, started, dragging, stopped, clicked) = response.inner;
    if daily {
        *brush = None;
        return None;
    }
    let x = pointer.map(|p: PlotPoint| p.x);
    match (x, started, dragging, stopped, clicked) {
        (Some(x), true, ..) => *brush = Some((x, x)),
        (Some(x), _, true, ..) => {
            if let Some((a, _)) = *brush {
                *brush = Some((a, x));
            }
        }
        (_, _, _, true, _) => {
            if let Some((a, b)) = *brush {
                let (from, to) = (a.min(b), a.max(b));
                if to - from >= 0.25 {
                    return Some(TrendPick::Span((from * HOUR_MS) as i64, (to * HOUR_MS) as i64));
                }
                *brush = None;
                return Some(TrendPick::At((from * HOUR_MS) as i64));
            }
        }
        (Some(x), _, _, _, true) => {
            *brush = None;
            return Some(TrendPick::At((x * HOUR_MS) as i64));
        }
        _ => {}
    }
    None
}

/// Horizontal bars of named counts, largest first (the category and source breakdowns).
pub fn breakdown(ui: &mut egui::Ui, id: &str, rows: &[(String, u32)], color: Color32, height: f32) {
    let mut rows: Vec<&(String, u32)> = rows.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(6);
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let n = rows.len();
    let bars: Vec<Bar> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| Bar::new((n - 1 - k) as f64, f64::from(r.1)).name(&r.0).width(0.7).fill(color))
        .collect();
    Plot::new(id)
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .show_grid([true, false])
        .include_x(0.0)
        .y_grid_spacer(move |_| marks(0..n, 1.0))
        // A name at every bar, however close (the default hides labels under 20 points apart).
        .custom_y_axes(vec![
            AxisHints::new_y()
                .formatter(move |m: GridMark, _| {
                    let k = m.value.round();
                    if (m.value - k).abs() > 0.01 || k < 0.0 || k as usize >= n {
                        return String::new();
                    }
                    names.get(n - 1 - k as usize).cloned().unwrap_or_default()
                })
                .label_spacing(8.0..=10.0)
                .tick_label_font(egui::FontId::proportional(12.0))
                .min_thickness(72.0),
        ])
        .show(ui, |plot| plot.bar_chart(BarChart::new("", bars).horizontal()));
}

/// Weekday × hour-of-day counts (日历热力): Monday at the top, hours left to right.
pub fn calendar(ui: &mut egui::Ui, weekday_hour: &[[u32; 24]], height: f32, lang: Lang) {
    if weekday_hour.len() != 7 {
        return;
    }
    // Rows go up from the heatmap's corner: Sunday first, so Monday is the top row.
    let values: Vec<f64> = weekday_hour.iter().rev().flat_map(|row| row.iter().map(|&n| f64::from(n))).collect();
    let max = values.iter().copied().fold(1.0, f64::max);
    let days: [&str; 7] = match lang {
        Lang::Zh => ["一", "二", "三", "四", "五", "六", "日"],
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    };
    Plot::new("gridwall-calendar")
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .show_grid(false)
        .default_x_bounds(-0.5, 23.5)
        .default_y_bounds(-0.5, 6.5)
        .x_grid_spacer(|_| marks((0..24).step_by(3), 3.0))
        .y_grid_spacer(|_| marks(0..7, 1.0))
        .custom_x_axes(vec![
            AxisHints::new_x()
                .formatter(|m: GridMark, _| {
                    let h = m.value.round();
                    if (m.value - h).abs() < 0.01 && (0.0..24.0).contains(&h) { format!("{h}") } else { String::new() }
                })
                .label_spacing(16.0..=20.0)
                .tick_label_font(egui::FontId::proportional(12.0)),
        ])
        .custom_y_axes(vec![
            AxisHints::new_y()
                .formatter(move |m: GridMark, _| {
                    // Rows from the top: Monday at y = 6.
                    let k = m.value.round();
                    if (m.value - k).abs() < 0.01 && (0.0..7.0).contains(&k) {
                        days[6 - k as usize].to_owned()
                    } else {
                        String::new()
                    }
                })
                .label_spacing(8.0..=10.0)
                .tick_label_font(egui::FontId::proportional(12.0))
                .min_thickness(28.0),
        ])
        .show(ui, |plot| {
            let heat = Heatmap::new(values, 24)
                .range(0.0, max)
                .palette(&[
                    Color32::from_rgb(8, 20, 48),
                    Color32::from_rgb(30, 110, 170),
                    Color32::from_rgb(255, 200, 60),
                    BEYOND,
                ])
                .at(PlotPoint::new(-0.5, -0.5))
                .tile_size(1.0, 1.0)
                .show_labels(false)
                .name(lang.pick("受理（按星期、小时）", "reports by weekday and hour"));
            plot.heatmap(heat);
        });
}

/// A mark at each of `values` (every bar and weekday labelled, not what the axis would pick).
fn marks(values: impl Iterator<Item = usize>, step_size: f64) -> Vec<GridMark> {
    values.map(|v| GridMark { value: v as f64, step_size }).collect()
}

/// The ranking's rows: place, name, score as a bar, and the change since the previous period
/// (↑ green up, ↓ red down). Returns the unit clicked.
pub fn ranking_rows(ui: &mut egui::Ui, id: &str, rows: &[RankEntry], lang: Lang) -> Option<String> {
    let mut picked = None;
    egui::Grid::new(id).num_columns(4).spacing([8.0, 2.0]).striped(true).show(ui, |ui| {
        for e in rows {
            ui.label(RichText::new(format!("{}", e.rank)).color(color32(palette::DIM)));
            if ui.link(RichText::new(&e.name).color(color32(palette::BODY))).clicked() {
                picked = Some(e.code.clone());
            }
            ui.add(
                egui::ProgressBar::new((e.score / 100.0) as f32)
                    .desired_width(110.0)
                    .text(format!("{:.1}", e.score))
                    .fill(color32(palette::TOGGLE_ON)),
            );
            let (text, color) = match e.change {
                Some(c) if c > 0 => (format!("↑{c}"), Color32::from_rgb(80, 220, 120)),
                Some(c) if c < 0 => (format!("↓{}", -c), BEYOND),
                Some(_) => ("–".to_owned(), color32(palette::DIM)),
                None => (lang.pick("新", "new").to_owned(), color32(palette::NOTE)),
            };
            ui.label(RichText::new(text).color(color).strong());
            ui.end_row();
        }
    });
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_labelled_in_the_operators_time() {
        // 2026-11-29 13:00 UTC is 21:00 in China.
        let t = 1_795_957_200_000_i64;
        assert_eq!(hour_label(t as f64 / HOUR_MS), "11-29 21:00");
    }
}
