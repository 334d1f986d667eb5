//! The shared look of the display: the big-screen palette, the CJK font, sizes in viewport units,
//! the HUD language and text formats, and the widgets panels are built from. Every feature
//! takes its look from here (`use crate::theme::prelude::*`), not from another feature.

#[cfg(target_arch = "wasm32")]
mod fallback;
pub mod font;
pub mod lang;
pub mod palette;
pub mod widgets;

use bevy::prelude::*;

/// What features import.
pub mod prelude {
    pub use super::font::{UiFont, font};
    pub use super::lang::{Lang, clock_text, date_time_text, hms, rfc3339_ms, time_left_text};
    pub use super::palette::{self, category_color, glow, level_color, role_color, stage_color, warning_color};
    pub use super::widgets::{HudVisible, OVER_MAP, Place, hpx, panel_node};
}

/// Loads the font and sets the clear colour and the ambient light of the theme.
pub struct ThemePlugin;

impl Plugin for ThemePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<lang::Lang>()
            .init_resource::<widgets::HudVisible>()
            .insert_resource(ClearColor(palette::BACKGROUND))
            .insert_resource(GlobalAmbientLight { color: Color::srgb(0.55, 0.65, 1.0), brightness: 120.0, ..default() })
            .add_systems(PreStartup, font::load_font.run_if(resource_exists::<Assets<Font>>));
        #[cfg(target_arch = "wasm32")]
        app.add_plugins(fallback::FallbackFontPlugin);
    }
}
