//! The full CJK font behind the page's subset (`wasm32` only). The page ships a subset of the
//! font (`web/font.ttf`: the display's own text, the scenes' names, GB2312), enough for the
//! city at once. A name outside it — 堃 in a patrol's name, a rare character in a resident's
//! report — would draw as an empty box. So once the city is ready, the full font
//! (`web/font-full.ttc`, 5 MB) is fetched in the background and added as the text layout's
//! fallback for Chinese, Japanese and Korean script. Every text is then laid out again, so a
//! name drawn before it came is drawn whole.

use std::cell::RefCell;

use bevy::prelude::*;
use bevy::text::FontCx;
use parley::fontique::{FallbackKey, Script};

use crate::loading::Readiness;

/// Where the page's server keeps the full font (`scripts/build-web`).
const FULL_FONT_URL: &str = "web/font-full.ttc";

/// The scripts the full font stands behind.
const SCRIPTS: [[u8; 4]; 5] = [*b"Hani", *b"Bopo", *b"Hira", *b"Kana", *b"Hang"];

thread_local! {
    /// The fetched font's bytes, until the app takes them.
    static FETCHED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

pub(super) struct FallbackFontPlugin;

impl Plugin for FallbackFontPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(OnEnter(Readiness::Ready), fetch_full_font)
            .add_systems(Update, adopt_full_font.run_if(resource_exists::<FontCx>));
    }
}

/// Fetches the full font without holding anything up (the city is drawn already).
fn fetch_full_font() {
    let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) else { return };
    wasm_bindgen_futures::spawn_local(async move {
        match crate::net::web_get(&format!("{origin}/{FULL_FONT_URL}")).await {
            Ok((200, bytes)) => FETCHED.with_borrow_mut(|f| *f = Some(bytes)),
            Ok((status, _)) => warn!("no full CJK font (HTTP {status}): rare characters draw as boxes"),
            Err(e) => warn!("no full CJK font ({e}): rare characters draw as boxes"),
        }
    });
}

/// Where the full font is: not yet here, added as an asset (Bevy registers it in its font
/// collection under the asset's alias), or the fallback. The handle is kept: a font asset
/// dropped is removed, and Bevy then rebuilds its collection without the fallback.
#[derive(Default)]
enum Adopted {
    #[default]
    Waiting,
    Added(Handle<Font>),
    Done(#[expect(dead_code, reason = "held so the font stays loaded")] Handle<Font>),
}

fn adopt_full_font(
    mut adopted: Local<Adopted>,
    mut fonts: ResMut<Assets<Font>>,
    mut cx: ResMut<FontCx>,
    mut texts: Query<&mut TextFont>,
) {
    match &*adopted {
        Adopted::Waiting => {
            if let Some(bytes) = FETCHED.with_borrow_mut(Option::take) {
                *adopted = Adopted::Added(fonts.add(Font::from_bytes(bytes)));
            }
        }
        Adopted::Added(handle) => {
            // Bevy gives the font its alias when it registers it (its own system, this frame or
            // the next).
            let Some(alias) = fonts.get(handle).map(|f| f.alias.clone()).filter(|a| !a.is_empty()) else { return };
            let Some(family) = cx.collection.family_id(&alias) else { return };
            for script in SCRIPTS {
                cx.collection
                    .append_fallbacks(FallbackKey::new(Script::from_bytes(script), None), std::iter::once(family));
            }
            for mut t in &mut texts {
                t.set_changed();
            }
            info!("the full CJK font stands behind the page's subset");
            *adopted = Adopted::Done(handle.clone());
        }
        Adopted::Done(_) => {}
    }
}
