//! A selected incident's photos (residents' uploads through Open311) in its panel: asked for
//! once its detail lists them (the first [`MAX_SHOWN`]), decoded off the frame, turned upright by their
//! orientation tag, cut down to [`MAX_SIDE`] pixels (a phone's 12-megapixel photo would be a
//! texture larger than WebGL2 promises) and kept with the selection, which the panel shows.
//! The server serves photos to the reader roles only: a wall's viewer token may see them.

use std::io::Cursor;

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};

use crate::map::{Selection, Target};
use crate::net::{Answer, Ask};
use crate::theme::prelude::*;

/// Photos shown of one incident.
pub const MAX_SHOWN: usize = 2;
/// The longest side of a photo as the panel keeps it (pixels).
pub const MAX_SIDE: u32 = 512;

/// Asks for the photos the selected incident's detail lists, once per selection.
pub fn ask_photos(mut selection: ResMut<Selection>, mut asks: MessageWriter<Ask>) {
    let Some(Target::Incident(id)) = selection.target else { return };
    let Some(detail) = &selection.detail else { return };
    if selection.photos_asked || detail.photos.is_empty() {
        return;
    }
    let files: Vec<String> = detail.photos.iter().take(MAX_SHOWN).cloned().collect();
    for file in &files {
        asks.write(Ask::Photo { incident: id, file: file.clone() });
    }
    selection.asked += u32::try_from(files.len()).unwrap_or(0);
    selection.photos_asked = true;
}

/// Photos being decoded off the frame (a wall keeps drawing meanwhile): the incident, the
/// file, the decoding.
#[derive(Resource, Default)]
pub struct Decoding(Vec<(u64, String, Task<Result<Image, String>>)>);

/// Takes the photos the server sent for the selected incident and starts decoding them.
pub fn take_photos(
    mut answers: MessageReader<Answer>,
    mut selection: ResMut<Selection>,
    mut decoding: ResMut<Decoding>,
    lang: Res<Lang>,
) {
    for a in answers.read() {
        let Some(Target::Incident(selected)) = selection.target else { continue };
        match a {
            Answer::Photo { incident, file, bytes } if *incident == selected => {
                let bytes = bytes.clone();
                let task = AsyncComputeTaskPool::get().spawn(async move { decode(&bytes) });
                decoding.0.push((*incident, file.clone(), task));
                // Answered once decoded.
                continue;
            }
            Answer::Failed { ask: Ask::Photo { incident, .. }, error } if *incident == selected => {
                selection.note = Some(format!("{}{error}", lang.pick("照片加载失败：", "photo failed: ")));
            }
            _ => continue,
        }
        selection.asked = selection.asked.saturating_sub(1);
    }
}

/// Shows the photos decoded since the last frame (of the incident still selected, up to
/// [`MAX_SHOWN`]: an answer to an earlier selection of it may come late).
pub fn finish_photos(
    mut decoding: ResMut<Decoding>,
    mut selection: ResMut<Selection>,
    mut images: Option<ResMut<Assets<Image>>>,
) {
    if decoding.0.is_empty() {
        return;
    }
    let selected = match selection.target {
        Some(Target::Incident(id)) => Some(id),
        _ => None,
    };
    let mut still = Vec::new();
    for (incident, file, mut task) in decoding.0.drain(..) {
        let Some(done) = block_on(poll_once(&mut task)) else {
            if selected == Some(incident) {
                still.push((incident, file, task));
            }
            continue;
        };
        if selected != Some(incident) {
            continue;
        }
        match (done, &mut images) {
            (Ok(image), Some(images)) if selection.photos.len() < MAX_SHOWN => {
                selection.photos.push(images.add(image));
            }
            // (A display without rendering, as in tests, keeps no images.)
            (Ok(_), _) => {}
            (Err(e), _) => warn!("photo {file} of incident {incident}: {e}"),
        }
        selection.asked = selection.asked.saturating_sub(1);
    }
    decoding.0 = still;
}

/// A JPEG or PNG as a texture: upright, at most [`MAX_SIDE`] pixels a side.
pub fn decode(bytes: &[u8]) -> Result<Image, String> {
    use image::ImageDecoder as _;
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let orientation = decoder.orientation().map_err(|e| e.to_string())?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    img.apply_orientation(orientation);
    if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
        img = img.thumbnail(MAX_SIDE, MAX_SIDE);
    }
    let rgba = img.to_rgba8();
    let (width, height) = rgba.dimensions();
    Ok(Image::new(
        Extent3d { width, height, depth_or_array_layers: 1 },
        TextureDimension::D2,
        rgba.into_raw(),
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_photo_is_cut_down_and_turned_upright() {
        // 1200 × 600, stored sideways: orientation 6 (turn 90° clockwise to view).
        let img = image::RgbImage::from_fn(1200, 600, |x, _| image::Rgb([if x < 600 { 255 } else { 0 }, 0, 0]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let shown = decode(&png).unwrap();
        assert_eq!((shown.width(), shown.height()), (512, 256));
        let jpeg = gridwall_testkit::photos::jpeg_with_metadata(6);
        let cleaned = gridwall_city::photo::clean(None, &jpeg).unwrap();
        let upright = decode(&cleaned.bytes).unwrap();
        assert_eq!((upright.width(), upright.height()), (48, 64), "a 64 × 48 photo shown turned");
        assert!(decode(b"not a photo").is_err());
    }
}
