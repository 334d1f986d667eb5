//! A tour's caption (or the wall group's), across the bottom of the wall: Chinese above, English
//! below.

use bevy::prelude::*;

use crate::AppSystems;
use crate::map::Presentation;
use crate::theme::prelude::*;

/// The caption's box and its two lines.
#[derive(Component)]
pub struct CaptionBox;
#[derive(Component)]
pub struct CaptionZh;
#[derive(Component)]
pub struct CaptionEn;

const WIDTH: f32 = 1000.0;

pub struct CaptionPlugin;

impl Plugin for CaptionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Presentation>()
            .add_systems(Startup, spawn_caption)
            .add_systems(Update, show_caption.in_set(AppSystems::Present));
    }
}

fn spawn_caption(mut commands: Commands, ui: Option<Res<UiFont>>) {
    let font = |px: f32| font(ui.as_deref(), px);
    commands.spawn((
        Node {
            left: Val::Percent(50.0),
            margin: UiRect::left(hpx(-WIDTH / 2.0)),
            width: hpx(WIDTH),
            bottom: hpx(150.0),
            align_items: AlignItems::Center,
            ..panel_node(16.0, 6.0)
        },
        BackgroundColor(palette::PANEL_STRONG),
        Visibility::Hidden,
        CaptionBox,
        Place::Caption,
        OVER_MAP,
        Name::new("caption"),
        children![
            (Text::new(""), font(36.0), TextColor(Color::WHITE), TextLayout::justify(Justify::Center), CaptionZh),
            (Text::new(""), font(22.0), TextColor(palette::ACCENT), TextLayout::justify(Justify::Center), CaptionEn),
        ],
    ));
}

fn show_caption(
    presentation: Res<Presentation>,
    mut boxes: Query<&mut Visibility, With<CaptionBox>>,
    mut zh: Query<&mut Text, (With<CaptionZh>, Without<CaptionEn>)>,
    mut en: Query<&mut Text, (With<CaptionEn>, Without<CaptionZh>)>,
) {
    if !presentation.is_changed() {
        return;
    }
    let caption = presentation.caption.as_ref();
    for mut vis in &mut boxes {
        vis.set_if_neq(if caption.is_some() { Visibility::Inherited } else { Visibility::Hidden });
    }
    if let Some(c) = caption {
        for mut t in &mut zh {
            t.0.clone_from(&c.zh);
        }
        for mut t in &mut en {
            t.0.clone_from(&c.en);
        }
    }
}
