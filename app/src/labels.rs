//! Where floating labels go: every label that wants to show ([`FloatingLabel`]) is placed, most
//! important first, on the panel its point falls on — unless it would overlap a label placed
//! before it or a panel (HUD, ticker, filter bar, detail panel). One pass for every kind of
//! label, so grid names and incident countdowns never pile on each other. With `--hud off` none
//! show.

use std::collections::HashMap;

use bevy::prelude::*;
use bevy::ui::{ComputedUiTargetCamera, UiGlobalTransform, UiTargetCamera};

use crate::AppSystems;
use crate::map::FloatingLabel;
use crate::theme::prelude::*;
use crate::wall::on_screen;

pub struct LabelsPlugin;

impl Plugin for LabelsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<HudVisible>().add_systems(Update, place_labels.in_set(AppSystems::Label));
    }
}

/// Screen rectangles already taken by labels, bucketed in 64-pixel cells so a new label is only
/// checked against its neighbours.
#[derive(Debug, Default)]
pub struct Declutter {
    cells: HashMap<(i32, i32), Vec<Rect>>,
}

impl Declutter {
    const CELL: f32 = 64.0;

    /// Takes `r` if it overlaps nothing taken before; says whether it did.
    pub fn place(&mut self, r: Rect) -> bool {
        let span = |a: f32, b: f32| (a / Self::CELL).floor() as i32..=(b / Self::CELL).floor() as i32;
        let cells: Vec<(i32, i32)> =
            span(r.min.x, r.max.x).flat_map(|x| span(r.min.y, r.max.y).map(move |y| (x, y))).collect();
        if cells.iter().any(|c| self.cells.get(c).is_some_and(|taken| taken.iter().any(|t| !t.intersect(r).is_empty())))
        {
            return false;
        }
        for c in cells {
            self.cells.entry(c).or_default().push(r);
        }
        true
    }
}

/// Places the labels that want to show, most important first, each on the panel its point falls
/// on; a label that would overlap one placed before or a panel stays hidden.
fn place_labels(
    mut commands: Commands,
    hud: Res<HudVisible>,
    cameras: Query<(Entity, &Camera, &GlobalTransform)>,
    panels: Query<
        (&ComputedNode, &UiGlobalTransform, &InheritedVisibility, &ComputedUiTargetCamera),
        With<GlobalZIndex>,
    >,
    mut labels: Query<(Entity, &FloatingLabel, &mut Node, &mut Visibility, &ComputedNode, Option<&UiTargetCamera>)>,
) {
    let several = cameras.iter().count() > 1;
    // Each panel's screen is its own: its own taken space, seeded with the panels drawn on it.
    let mut taken: HashMap<Entity, Declutter> = HashMap::new();
    for (node, tf, shown, target) in &panels {
        if let (true, Some(cam)) = (shown.get(), target.get()) {
            let k = node.inverse_scale_factor();
            taken.entry(cam).or_default().place(Rect::from_center_size(tf.translation * k, node.size() * k));
        }
    }
    let mut order: Vec<_> = labels.iter_mut().collect();
    order.sort_by_key(|(_, l, ..)| l.rank);
    for (e, label, mut node, mut vis, computed, target) in order {
        let half = computed.size() * computed.inverse_scale_factor() / 2.0;
        let spot = (hud.0 && label.wanted).then(|| on_screen(cameras.iter(), label.at)).flatten();
        match spot.filter(|(cam, p)| taken.entry(*cam).or_default().place(Rect::from_center_half_size(*p, half))) {
            Some((cam, p)) => {
                node.left = Val::Px(p.x - half.x);
                node.top = Val::Px(p.y - half.y);
                vis.set_if_neq(Visibility::Inherited);
                if several && target.is_none_or(|t| t.0 != cam) {
                    commands.entity(e).insert(UiTargetCamera(cam));
                }
            }
            None => {
                vis.set_if_neq(Visibility::Hidden);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_would_overlap_are_refused() {
        let mut d = Declutter::default();
        assert!(d.place(Rect::new(0.0, 0.0, 100.0, 20.0)));
        assert!(!d.place(Rect::new(90.0, 10.0, 150.0, 30.0)), "overlaps the first");
        assert!(d.place(Rect::new(100.5, 0.0, 200.0, 20.0)), "beside it");
        assert!(d.place(Rect::new(-300.0, -50.0, -200.0, -30.0)), "off screen to the top left");
        assert!(!d.place(Rect::new(150.0, 5.0, 160.0, 15.0)), "inside the third, across bucket borders");
    }
}
