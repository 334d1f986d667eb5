//! The 研判 panel itself (egui): its frame under the title, the three pages, and what a click
//! in it does (scope, brush, select, 确认).

use bevy::prelude::*;
use bevy_egui::egui::{self, Align2, Color32, RichText};
use bevy_egui::{EguiContexts, PrimaryEguiContext};
use gridwall_protocol::api::analysis::Warning;
use gridwall_protocol::{AnalysisPeriod, ClientMessage, GridLevel, IncidentCategory, WarningLevel};

use super::charts::{self, TrendPick, color32};
use super::{AnalysisData, AnalysisPanel, HOURS};
use crate::map::{
    AnalysisShown, AnalysisTab, GridMap, HotspotLayer, OpenWarning, OpenWarnings, OverlayAreas, Select, Target,
    TimeRequest,
};
use crate::net::{MayCommand, Outbound, ServerClock};
use crate::theme::prelude::*;
use crate::theme::widgets::ui_scale;

/// The panel's size and place at 1080 p (points at a zoom of 1): under the title, above the
/// ticker.
const WIDTH: f32 = 500.0;
const TOP: f32 = 250.0;
const LEFT: f32 = 16.0;

/// What a click in the panel asks of the rest of the display.
type Writers<'w> = (
    MessageWriter<'w, TimeRequest>,
    MessageWriter<'w, Select>,
    MessageWriter<'w, OpenWarning>,
    MessageWriter<'w, Outbound>,
);

/// Draws the panel (or, closed, its button) once a frame.
pub(super) fn show_panel(
    mut contexts: EguiContexts,
    mut shown: ResMut<AnalysisShown>,
    mut panel: ResMut<AnalysisPanel>,
    data: Res<AnalysisData>,
    warnings: Res<OpenWarnings>,
    mut layer: ResMut<HotspotLayer>,
    grids: Res<GridMap>,
    hud: Res<HudVisible>,
    lang: Res<Lang>,
    clock: Res<ServerClock>,
    time: Res<Time>,
    cameras: Query<&Camera, With<PrimaryEguiContext>>,
    mut styled: Local<bool>,
    mut overlays: ResMut<OverlayAreas>,
    rights: Res<MayCommand>,
    (mut times, mut selects, mut opened, mut outbound): Writers,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if !*styled {
        *styled = true;
        style(ctx);
    }
    // Sizes follow the panel's height like the rest of the HUD (a 4K wall, a small capture).
    if let Some(size) = cameras.iter().next().and_then(Camera::logical_viewport_size) {
        let zoom = (size.y / 1080.0 * ui_scale()).clamp(0.25, 8.0);
        if (ctx.zoom_factor() - zoom).abs() > 1e-3 {
            ctx.set_zoom_factor(zoom);
        }
    }
    // Where the panel is drawn, in the window's logical pixels (picking leaves it alone).
    let origin = cameras.iter().next().and_then(Camera::logical_viewport_rect).map_or(Vec2::ZERO, |r| r.min);
    let zoom = ctx.zoom_factor();
    let mut drawn = |r: egui::Rect| {
        let (min, max) = (Vec2::new(r.min.x, r.min.y) * zoom + origin, Vec2::new(r.max.x, r.max.y) * zoom + origin);
        let area = vec![Rect::from_corners(min, max)];
        if overlays.0 != area {
            overlays.0 = area;
        }
    };
    if !hud.0 {
        if !overlays.0.is_empty() {
            overlays.0.clear();
        }
        return Ok(());
    }
    let lang = *lang;
    if !shown.open {
        let closed = egui::Area::new(egui::Id::new("gridwall-analysis-closed"))
            .anchor(Align2::LEFT_TOP, [LEFT, TOP])
            .show(ctx, |ui| {
                if ui.button(lang.pick("研判 (J)", "Analysis (J)")).clicked() {
                    shown.open = true;
                }
            });
        drawn(closed.response.rect);
        return Ok(());
    }
    let shown_ms = clock.shown_ms(time.elapsed_secs());
    let frame = egui::Frame::window(&ctx.global_style()).fill(color32(palette::PANEL_STRONG)).inner_margin(10.0);
    let window = egui::Window::new("gridwall-analysis")
        .title_bar(false)
        .resizable(false)
        .anchor(Align2::LEFT_TOP, [LEFT, TOP])
        .fixed_size([WIDTH, 0.0])
        .frame(frame)
        .show(ctx, |ui| {
            header(ui, &mut shown, &mut panel, &grids, lang, warnings.0.len());
            ui.separator();
            match shown.tab {
                AnalysisTab::Trend => {
                    trend_page(ui, &mut panel, &data, &mut layer, shown_ms, &mut times, lang);
                }
                AnalysisTab::Ranking => {
                    if let Some(code) = ranking_page(ui, &mut panel, &data, lang) {
                        panel.scope = Some(code.clone());
                        selects.write(Select(Some(Target::Grid(code))));
                        shown.tab = AnalysisTab::Trend;
                    }
                }
                AnalysisTab::Warnings => {
                    warnings_page(
                        ui,
                        &mut panel,
                        &warnings,
                        &mut selects,
                        &mut opened,
                        rights.0.then_some(&mut outbound),
                        &mut shown,
                        lang,
                    );
                }
            }
            if let Some(note) = &panel.note {
                ui.separator();
                ui.label(RichText::new(note).color(color32(palette::NOTE)));
            }
        });
    if let Some(w) = window {
        drawn(w.response.rect);
    }
    Ok(())
}

/// The dark command-centre look and the CJK font (egui's own fonts stay as fallbacks).
fn style(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if let Some(bytes) = crate::theme::font::font_bytes() {
        fonts.font_data.insert("wqy".into(), egui::FontData::from_owned(bytes).into());
        for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
            fonts.families.entry(family).or_default().insert(0, "wqy".into());
        }
    }
    ctx.set_fonts(fonts);
    let mut visuals = egui::Visuals::dark();
    visuals.override_text_color = Some(color32(palette::BODY));
    visuals.window_fill = color32(palette::PANEL_STRONG);
    visuals.panel_fill = color32(palette::PANEL);
    visuals.extreme_bg_color = Color32::from_rgba_premultiplied(2, 8, 24, 200);
    visuals.selection.bg_fill = color32(palette::TOGGLE_ON);
    visuals.hyperlink_color = color32(palette::ACCENT);
    ctx.set_visuals(visuals);
    ctx.all_styles_mut(|s| {
        for (text_style, size) in [
            (egui::TextStyle::Body, 15.0),
            (egui::TextStyle::Button, 15.0),
            (egui::TextStyle::Small, 12.0),
            (egui::TextStyle::Heading, 20.0),
        ] {
            if let Some(f) = s.text_styles.get_mut(&text_style) {
                f.size = size;
            }
        }
    });
}

fn header(
    ui: &mut egui::Ui,
    shown: &mut AnalysisShown,
    panel: &mut AnalysisPanel,
    grids: &GridMap,
    lang: Lang,
    open_warnings: usize,
) {
    ui.horizontal(|ui| {
        let scope = panel
            .scope
            .as_deref()
            .and_then(|c| grids.unit(c))
            .map_or_else(|| lang.pick("全市", "whole city").to_owned(), |u| u.name.clone());
        ui.heading(
            RichText::new(format!("{} · {scope}", lang.pick("研判", "Analysis"))).color(color32(palette::ACCENT)),
        );
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("✕").on_hover_text(lang.pick("关闭 (J)", "close (J)")).clicked() {
                shown.open = false;
            }
            if panel.scope.is_some() && ui.button(lang.pick("全市", "city")).clicked() {
                panel.scope = None;
                panel.brush = None;
            }
        });
    });
    ui.horizontal(|ui| {
        let warn = format!("{} {open_warnings}", lang.pick("预警", "Warnings"));
        for (tab, name) in [
            (AnalysisTab::Trend, lang.pick("趋势", "Trend").to_owned()),
            (AnalysisTab::Ranking, lang.pick("排名", "Ranking").to_owned()),
            (AnalysisTab::Warnings, warn),
        ] {
            ui.selectable_value(&mut shown.tab, tab, name);
        }
    });
}

fn trend_page(
    ui: &mut egui::Ui,
    panel: &mut AnalysisPanel,
    data: &AnalysisData,
    layer: &mut HotspotLayer,
    shown_ms: Option<i64>,
    times: &mut MessageWriter<TimeRequest>,
    lang: Lang,
) {
    ui.horizontal(|ui| {
        let all = lang.pick("全部类别", "all categories");
        let name = |c: Option<IncidentCategory>| c.map_or(all, |c| lang.pick(c.name_zh(), c.name_en()));
        egui::ComboBox::from_id_salt("gridwall-category").selected_text(name(panel.category)).show_ui(ui, |ui| {
            ui.selectable_value(&mut panel.category, None, all);
            for c in IncidentCategory::ALL {
                ui.selectable_value(&mut panel.category, Some(c), name(Some(c)));
            }
        });
        for h in HOURS {
            let label = if h < 48 {
                format!("{h}{}", lang.pick("小时", " h"))
            } else {
                format!("{}{}", h / 24, lang.pick("天", " d"))
            };
            if ui.selectable_label(panel.hours == h, label).clicked() {
                panel.hours = h;
                panel.brush = None;
            }
        }
        ui.checkbox(&mut layer.on, lang.pick("热点", "hot spots"));
    });
    let Some(trend) = &data.trend else {
        ui.label(lang.pick("等待趋势数据…", "waiting for the trend…"));
        return;
    };
    let total: u32 = trend.points.iter().map(|p| p.observed).sum();
    let expected: f64 = trend.points.iter().map(|p| p.expected).sum();
    let beyond = trend.points.iter().filter(|p| f64::from(p.observed) > p.upper && p.upper > 0.0).count();
    let daily = trend.bucket_ms > 3_600_000;
    ui.label(match (lang, daily) {
        (Lang::Zh, false) => {
            format!("受理 {total} 件 · 常态 {expected:.0} 件 · {beyond} 个小时超出上限 · 拖选时段回放")
        }
        (Lang::En, false) => {
            format!("{total} reported · {expected:.0} expected · {beyond} hours past the band · drag to replay")
        }
        (Lang::Zh, true) => format!("按日 · 受理 {total} 件 · 按当前常态 {expected:.0} 件 · {beyond} 天超出上限"),
        (Lang::En, true) => {
            format!("daily · {total} reported · {expected:.0} at today's normal · {beyond} days past the band")
        }
    });
    match charts::trend(ui, trend, shown_ms, &mut panel.brush, 140.0, lang) {
        Some(TrendPick::At(at_ms)) => {
            times.write(TimeRequest::Replay { at_ms, speed: 0.0 });
        }
        Some(TrendPick::Span(from_ms, to_ms)) => {
            times.write(TimeRequest::Incident { from_ms, to_ms });
        }
        None => {}
    }
    ui.columns(2, |cols| {
        cols[0].label(lang.pick("类别", "By category"));
        let by_category: Vec<(String, u32)> =
            trend.by_category.iter().map(|(c, n)| (lang.pick(c.name_zh(), c.name_en()).to_owned(), *n)).collect();
        charts::breakdown(&mut cols[0], "gridwall-by-category", &by_category, charts::OBSERVED, 145.0);
        cols[1].label(lang.pick("来源", "By source"));
        let by_source: Vec<(String, u32)> =
            trend.by_source.iter().map(|(s, n)| (lang.pick(s.name_zh(), s.name_en()).to_owned(), *n)).collect();
        charts::breakdown(&mut cols[1], "gridwall-by-source", &by_source, color32(palette::NOTE), 145.0);
    });
    ui.label(lang.pick("星期 × 小时", "Weekday × hour"));
    charts::calendar(ui, &trend.weekday_hour, 190.0, lang);
    if layer.on {
        super::hotspots::legend(ui, layer, lang);
    }
}

/// Returns the unit clicked.
fn ranking_page(ui: &mut egui::Ui, panel: &mut AnalysisPanel, data: &AnalysisData, lang: Lang) -> Option<String> {
    ui.horizontal(|ui| {
        for (level, name) in [
            (GridLevel::Street, lang.pick("街道", "streets")),
            (GridLevel::Community, lang.pick("社区", "communities")),
            (GridLevel::Cell, lang.pick("网格", "cells")),
        ] {
            if ui.selectable_label(!panel.desks && panel.level == level, name).clicked() {
                panel.level = level;
                panel.desks = false;
            }
        }
        if ui.selectable_label(panel.desks, lang.pick("处置部门", "desks")).clicked() {
            panel.desks = true;
        }
        ui.separator();
        for (period, name) in [
            (AnalysisPeriod::Week, lang.pick("本周", "week")),
            (AnalysisPeriod::Month, lang.pick("本月", "month")),
            (AnalysisPeriod::Quarter, lang.pick("本季", "quarter")),
            (AnalysisPeriod::Year, lang.pick("本年", "year")),
        ] {
            ui.selectable_value(&mut panel.period, period, name);
        }
    });
    // Grid units or desks: the same shape of list.
    let list = if panel.desks {
        data.desks.as_ref().map(|d| (&d.span, d.ranked, d.min_cases, &d.best, &d.worst))
    } else {
        data.ranking.as_ref().map(|r| (&r.span, r.ranked, r.min_cases, &r.best, &r.worst))
    };
    let Some((span, ranked, min_cases, best, worst)) = list else {
        ui.label(lang.pick("等待排名…", "waiting for the ranking…"));
        return None;
    };
    ui.label(match lang {
        Lang::Zh => format!("{} · 综合指标 · {ranked} 个参与排名（受理不少于 {min_cases} 件）", span.label),
        Lang::En => format!("{} · composite score · {ranked} ranked (≥ {min_cases} cases)", span.label),
    });
    if ranked == 0 {
        ui.label(lang.pick("本期尚无足够案件", "not enough cases this period"));
        return None;
    }
    ui.label(RichText::new(lang.pick("红榜", "Best")).color(Color32::from_rgb(255, 110, 90)).strong());
    let mut picked = charts::ranking_rows(ui, "gridwall-best", best, lang);
    // Fewer ranked than both lists hold: the worst list goes on where the best ended.
    let last_best = best.last().map_or(0, |e| e.rank);
    let worst: Vec<_> = worst.iter().filter(|e| e.rank > last_best).cloned().collect();
    if !worst.is_empty() {
        ui.add_space(6.0);
        ui.label(RichText::new(lang.pick("黑榜", "Worst")).color(color32(palette::DIM)).strong());
        picked = picked.or(charts::ranking_rows(ui, "gridwall-worst", &worst, lang));
    }
    // A desk is not a place: only grid units scope the trend.
    picked.filter(|_| !panel.desks)
}

fn level_chip(ui: &mut egui::Ui, level: WarningLevel, lang: Lang) {
    let c = warning_color(level);
    ui.label(
        RichText::new(lang.pick(level.name_zh(), level.name_en())).background_color(color32(c)).color(Color32::BLACK),
    );
}

#[allow(clippy::too_many_arguments)]
fn warnings_page(
    ui: &mut egui::Ui,
    panel: &mut AnalysisPanel,
    warnings: &OpenWarnings,
    selects: &mut MessageWriter<Select>,
    opened: &mut MessageWriter<OpenWarning>,
    outbound: Option<&mut MessageWriter<Outbound>>,
    shown: &mut AnalysisShown,
    lang: Lang,
) {
    if warnings.0.is_empty() {
        ui.label(lang.pick("当前无预警", "no open warnings"));
        return;
    }
    let mut list: Vec<&Warning> = warnings.0.values().collect();
    list.sort_by(|a, b| b.level.cmp(&a.level).then(b.since_ms.cmp(&a.since_ms)));
    egui::ScrollArea::vertical().max_height(180.0).show(ui, |ui| {
        for w in &list {
            ui.horizontal(|ui| {
                level_chip(ui, w.level, lang);
                let text = RichText::new(&w.sentence).color(color32(palette::BODY));
                if ui.selectable_label(panel.focus == Some(w.id), text).clicked() {
                    opened.write(OpenWarning(w.id));
                }
            });
        }
    });
    let Some(w) = panel.focus.and_then(|id| warnings.0.get(&id)) else {
        ui.label(lang.pick("点击一条预警查看详情", "click a warning to open it"));
        return;
    };
    ui.separator();
    ui.horizontal(|ui| {
        level_chip(ui, w.level, lang);
        ui.label(RichText::new(&w.scope_name).strong());
        ui.label(RichText::new(w.window.clone()).color(color32(palette::DIM)));
    });
    ui.label(match lang {
        Lang::Zh => format!(
            "观测 {:.0} · 常态 {:.1} · 上限 {:.0} · 自 {} 起",
            w.observed,
            w.expected,
            w.upper,
            clock_text(w.since_ms)
        ),
        Lang::En => format!(
            "observed {:.0} · normal {:.1} · bound {:.0} · since {}",
            w.observed,
            w.expected,
            w.upper,
            clock_text(w.since_ms)
        ),
    });
    ui.horizontal_wrapped(|ui| {
        ui.label(lang.pick("相关事件：", "incidents: "));
        for id in w.incidents.iter().take(12) {
            if ui.link(format!("#{id}")).clicked() {
                selects.write(Select(Some(Target::Incident(*id))));
            }
        }
    });
    ui.horizontal(|ui| {
        if ui.button(lang.pick("看趋势", "trend")).clicked() {
            shown.tab = AnalysisTab::Trend;
        }
        if let (Some(by), Some(at)) = (&w.acked_by, w.acked_ms) {
            let text = format!("{} {by} {}", lang.pick("已确认：", "acknowledged by"), clock_text(at));
            ui.label(RichText::new(text).color(color32(palette::DIM)));
        } else if let Some(outbound) = outbound {
            let pending = panel.acking.is_some();
            if ui.add_enabled(!pending, egui::Button::new(lang.pick("确认", "acknowledge"))).clicked() {
                let request = panel.next_request();
                panel.acking = Some((request, w.id));
                panel.note = Some(lang.pick("确认已发送…", "acknowledgement sent…").to_owned());
                outbound.write(Outbound(ClientMessage::AckWarning { request, warning: w.id }));
            }
        }
    });
}
