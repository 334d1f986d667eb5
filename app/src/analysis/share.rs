//! The 研判 panel on a wall: a desk or a leader writes its panel into [`SharedAnalysis`] each
//! frame (wall sync publishes it with the group's view); a follower panel takes the group's
//! panel from it, page, scope, span, ranking and warning opened, and shows the same.

use bevy::prelude::*;
use gridwall_protocol::wall::WallAnalysis;

use super::AnalysisPanel;
use crate::map::{AnalysisShown, CameraControl, SharedAnalysis};

/// The panel as a wall group shares it.
pub fn shared_of(shown: &AnalysisShown, panel: &AnalysisPanel) -> Option<WallAnalysis> {
    shown.open.then(|| WallAnalysis {
        tab: shown.tab,
        scope: panel.scope.clone(),
        category: panel.category,
        hours: panel.hours,
        level: panel.level,
        desks: panel.desks,
        period: panel.period,
        focus: panel.focus,
    })
}

/// A follower takes the group's panel when it changes; any other display says what its panel
/// shows.
pub fn share(
    control: Res<CameraControl>,
    mut shared: ResMut<SharedAnalysis>,
    mut shown: ResMut<AnalysisShown>,
    mut panel: ResMut<AnalysisPanel>,
) {
    if *control != CameraControl::Wall {
        let now = shared_of(&shown, &panel);
        if shared.0 != now {
            shared.0 = now;
        }
        return;
    }
    if !shared.is_changed() {
        return;
    }
    let Some(a) = shared.0.clone() else {
        shown.set_if_neq(AnalysisShown { open: false, tab: shown.tab });
        return;
    };
    shown.set_if_neq(AnalysisShown { open: true, tab: a.tab });
    if shared_of(&AnalysisShown { open: true, tab: a.tab }, &panel).as_ref() != Some(&a) {
        let p = &mut *panel;
        if p.scope != a.scope || p.hours != a.hours || p.category != a.category {
            p.brush = None;
        }
        (p.scope, p.category, p.hours, p.level, p.desks, p.period, p.focus) =
            (a.scope, a.category, a.hours, a.level, a.desks, a.period, a.focus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalysisPlugin;
    use crate::map::AnalysisTab;
    use crate::testing::app_with;
    use gridwall_protocol::{AnalysisPeriod, GridLevel, IncidentCategory};

    #[test]
    fn a_desk_shares_its_panel_and_a_follower_shows_the_groups() {
        let mut desk = app_with(AnalysisPlugin);
        desk.update();
        assert_eq!(desk.world().resource::<SharedAnalysis>().0, None, "closed: nothing shared");
        *desk.world_mut().resource_mut::<AnalysisShown>() = AnalysisShown { open: true, tab: AnalysisTab::Ranking };
        desk.world_mut().resource_mut::<AnalysisPanel>().period = AnalysisPeriod::Month;
        desk.update();
        let shared = desk.world().resource::<SharedAnalysis>().0.clone().expect("shared once open");
        assert_eq!((shared.tab, shared.period), (AnalysisTab::Ranking, AnalysisPeriod::Month));

        let mut wall = app_with(AnalysisPlugin);
        wall.insert_resource(CameraControl::Wall);
        wall.update();
        let group = WallAnalysis {
            tab: AnalysisTab::Trend,
            scope: Some("370783001".into()),
            category: Some(IncidentCategory::PipeBlockage),
            hours: 24 * 365,
            level: GridLevel::Street,
            desks: true,
            period: AnalysisPeriod::Year,
            focus: Some(7),
        };
        wall.world_mut().resource_mut::<SharedAnalysis>().0 = Some(group.clone());
        wall.update();
        assert_eq!(*wall.world().resource::<AnalysisShown>(), AnalysisShown { open: true, tab: AnalysisTab::Trend });
        let shown = shared_of(wall.world().resource::<AnalysisShown>(), wall.world().resource::<AnalysisPanel>());
        assert_eq!(shown, Some(group), "the follower shows the group's question");
        // The leader closes it: so does the wall.
        wall.world_mut().resource_mut::<SharedAnalysis>().0 = None;
        wall.update();
        assert!(!wall.world().resource::<AnalysisShown>().open);
    }
}
