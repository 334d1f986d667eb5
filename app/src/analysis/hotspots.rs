//! The emerging hot spot layer on the map (the 研判 panel's 热点 switch): each classified cell
//! filled in its category's colour just above the ground — reds for hot spots, blues for cold,
//! darker the more insistent (new, consecutive, intensifying, persistent) — and its legend in
//! the panel.

use std::collections::HashMap;

use bevy::prelude::*;
use bevy_egui::egui::{self, RichText};
use gridwall_protocol::HotspotClass;

use super::charts::color32;
use crate::AppSystems;
use crate::map::grid::area_mesh;
use crate::map::{GridMap, HotspotLayer};
use crate::theme::prelude::*;

/// A cell's fill on the layer.
#[derive(Component, Debug, Clone)]
pub struct HotspotArea {
    pub code: String,
    pub class: HotspotClass,
}

pub struct HotspotsPlugin;

impl Plugin for HotspotsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, show_layer.in_set(AppSystems::Present));
    }
}

/// A category's colour (`ArcGIS`'s reds and blues: the strongest for new and intensifying,
/// paler for sporadic, oscillating and historical).
pub fn class_color(class: HotspotClass) -> Color {
    use HotspotClass as H;
    match class {
        H::None => Color::srgba(0.5, 0.5, 0.5, 0.0),
        H::NewHot => Color::srgb(0.85, 0.0, 0.0),
        H::ConsecutiveHot => Color::srgb(0.95, 0.25, 0.2),
        H::IntensifyingHot => Color::srgb(1.0, 0.1, 0.35),
        H::PersistentHot => Color::srgb(1.0, 0.45, 0.25),
        H::DiminishingHot => Color::srgb(1.0, 0.65, 0.45),
        H::SporadicHot => Color::srgb(1.0, 0.8, 0.55),
        H::OscillatingHot => Color::srgb(0.85, 0.55, 0.75),
        H::HistoricalHot => Color::srgb(0.85, 0.75, 0.65),
        H::NewCold => Color::srgb(0.0, 0.25, 0.85),
        H::ConsecutiveCold => Color::srgb(0.2, 0.4, 0.95),
        H::IntensifyingCold => Color::srgb(0.1, 0.55, 1.0),
        H::PersistentCold => Color::srgb(0.3, 0.6, 0.9),
        H::DiminishingCold => Color::srgb(0.5, 0.75, 1.0),
        H::SporadicCold => Color::srgb(0.65, 0.85, 1.0),
        H::OscillatingCold => Color::srgb(0.55, 0.55, 0.9),
        H::HistoricalCold => Color::srgb(0.7, 0.75, 0.85),
    }
}

/// Fills the classified cells while the layer is on (made again when the answer changes).
fn show_layer(
    mut commands: Commands,
    layer: Res<HotspotLayer>,
    grids: Res<GridMap>,
    areas: Query<Entity, With<HotspotArea>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut looks: Local<HashMap<HotspotClass, Handle<StandardMaterial>>>,
) {
    if !layer.is_changed() {
        return;
    }
    for e in &areas {
        commands.entity(e).despawn();
    }
    let (true, Some(answer)) = (layer.on, &layer.answer) else { return };
    for cell in &answer.cells {
        let Some(unit) = grids.unit(&cell.code) else { continue };
        let Some(mesh) = area_mesh(&unit.rings, 1.2) else { continue };
        let material = looks
            .entry(cell.class)
            .or_insert_with(|| {
                materials.add(StandardMaterial {
                    base_color: class_color(cell.class).with_alpha(0.45),
                    unlit: true,
                    alpha_mode: AlphaMode::Blend,
                    cull_mode: None,
                    double_sided: true,
                    ..default()
                })
            })
            .clone();
        commands.spawn((
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(material),
            Transform::default(),
            HotspotArea { code: cell.code.clone(), class: cell.class },
            Name::new(format!("hot spot {}", cell.code)),
        ));
    }
}

/// The layer's legend: the days analysed and each category shown with its number of cells.
pub fn legend(ui: &mut egui::Ui, layer: &HotspotLayer, lang: Lang) {
    let Some(answer) = &layer.answer else {
        ui.label(lang.pick("等待热点图层…", "waiting for the hot spot layer…"));
        return;
    };
    ui.label(match lang {
        Lang::Zh => {
            format!("时空热点（{} 至 {}，{} 天，Gi* 与 Mann-Kendall）", answer.first_day, answer.last_day, answer.days)
        }
        Lang::En => format!(
            "Emerging hot spots ({} to {}, {} days, Gi* and Mann-Kendall)",
            answer.first_day, answer.last_day, answer.days
        ),
    });
    let mut counts: Vec<(HotspotClass, usize)> = HotspotClass::ALL
        .into_iter()
        .map(|c| (c, answer.cells.iter().filter(|cell| cell.class == c).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by_key(|(c, _)| c.index());
    if counts.is_empty() {
        ui.label(lang.pick("无显著热点或冷点", "no significant hot or cold spots"));
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for (class, n) in counts {
            ui.label(RichText::new("■").color(color32(class_color(class))));
            ui.label(format!("{} {n}", lang.pick(class.name_zh(), class.name_en())));
        }
    });
}
