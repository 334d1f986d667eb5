//! The CJK font every text uses: `WenQuanYi Micro Hei`, installed by `scripts/setup-debian.sh`
//! (`fonts-wqy-microhei`), or the file `GRIDWALL_FONT` names.

use bevy::prelude::*;

/// Where the CJK font is looked for (first hit wins); `GRIDWALL_FONT` overrides.
pub const FONT_PATHS: [&str; 2] =
    ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"];

/// The loaded CJK font.
#[derive(Resource, Debug, Clone)]
pub struct UiFont(pub Handle<Font>);

/// A font handed over by whoever started the app (a browser fetches the page's font).
static PROVIDED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Hands the app its CJK font (before it starts).
pub fn provide_font(bytes: Vec<u8>) {
    let _ = PROVIDED.set(bytes);
}

/// The CJK font file's bytes (a missing font is logged: Chinese would not render).
pub fn font_bytes() -> Option<Vec<u8>> {
    if let Some(bytes) = PROVIDED.get() {
        return Some(bytes.clone());
    }
    let candidates: Vec<String> =
        std::env::var("GRIDWALL_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| (*s).to_owned())).collect();
    let bytes = candidates.iter().find_map(|p| std::fs::read(p).ok());
    if bytes.is_none() {
        error!("no CJK font found ({}); run scripts/setup-debian.sh or set GRIDWALL_FONT", candidates.join(", "));
    }
    bytes
}

/// Reads the CJK font into a font asset.
pub fn load_font(mut commands: Commands, mut fonts: ResMut<Assets<Font>>) {
    if let Some(bytes) = font_bytes() {
        commands.insert_resource(UiFont(fonts.add(Font::from_bytes(bytes))));
    }
}

/// The theme's font at `px` pixels of a 1080-pixel-high screen (it scales with the window, so a
/// 4K wall and a small capture keep the same proportions).
pub fn font(ui: Option<&UiFont>, px: f32) -> TextFont {
    TextFont {
        font: ui.map(|f| f.0.clone()).unwrap_or_default().into(),
        font_size: FontSize::Vh(px * super::widgets::ui_scale() / 10.8),
        ..default()
    }
}
