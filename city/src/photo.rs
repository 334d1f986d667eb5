//! A resident's photo made safe to keep: its type read from its bytes (not from what the client
//! says, which must agree), its size and pixel count bounded, every piece of metadata removed
//! (EXIF with its GPS position, camera serial and owner's name; XMP; IPTC; comments; PNG text
//! and time chunks; anything after the image's end), and what is left decoded once to prove it
//! is the image it claims to be. A JPEG's orientation survives as a minimal EXIF block of that
//! one tag, so a phone's portrait photo still stands upright.

use std::io::Cursor;

/// Largest photo accepted (bytes).
pub const MAX_PHOTO_BYTES: usize = 8 << 20;
/// Most pixels a photo may have (a 12,000 × 12,000 one has more: a decompression bomb).
pub const MAX_PIXELS: u64 = 64_000_000;

/// Why a photo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("larger than {} MiB", MAX_PHOTO_BYTES >> 20)]
    TooLarge,
    #[error("not a JPEG or PNG image (send image/jpeg or image/png)")]
    Unsupported,
    #[error("declared as {declared} but its content is {actual}")]
    Mislabelled { declared: String, actual: &'static str },
    #[error("a damaged {0}: {1}")]
    Damaged(&'static str, String),
    #[error("more than {MAX_PIXELS} pixels")]
    TooManyPixels,
}

/// A photo ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clean {
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The type of an image by its first bytes.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(PNG_SIGNATURE) {
        Some("image/png")
    } else {
        None
    }
}

/// Checks and cleans a photo. `declared`: the type the client gave (a multipart part's
/// `Content-Type`); none, or `application/octet-stream`, leaves it to the content.
pub fn clean(declared: Option<&str>, data: &[u8]) -> Result<Clean, PhotoError> {
    if data.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let actual = sniff(data).ok_or(PhotoError::Unsupported)?;
    if let Some(d) = declared.map(|d| d.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        && !d.is_empty()
        && d != "application/octet-stream"
        && d != actual
        && !(d == "image/jpg" && actual == "image/jpeg")
    {
        let declared: String = d.chars().take(60).collect();
        return Err(PhotoError::Mislabelled { declared, actual });
    }
    let (bytes, format) = if actual == "image/png" {
        (strip_png(data)?, image::ImageFormat::Png)
    } else {
        (strip_jpeg(data)?, image::ImageFormat::Jpeg)
    };
    let (width, height) = decode(&bytes, format)?;
    Ok(Clean { bytes, mime: actual, width, height })
}

/// Decodes the whole image once (its size first, bounded): proof it is one.
fn decode(bytes: &[u8], format: image::ImageFormat) -> Result<(u32, u32), PhotoError> {
    use image::ImageDecoder as _;
    let what = if format == image::ImageFormat::Png { "PNG" } else { "JPEG" };
    let damaged = |e: image::ImageError| PhotoError::Damaged(what, e.to_string());
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits.clone());
    // The header is read once: the size, and the buffer it needs, are checked before the pixels.
    let decoder = reader.into_decoder().map_err(damaged)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS || limits.reserve(decoder.total_bytes()).is_err() {
        return Err(PhotoError::TooManyPixels);
    }
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => PhotoError::TooManyPixels,
        e => damaged(e),
    })?;
    Ok((img.width(), img.height()))
}

/// A JPEG without metadata: from the start to the end of the image (`EOI`), only the segments
/// decoding needs (frames, Huffman and quantisation tables, scans, restart intervals and the
/// number of lines, an ICC profile, Adobe's colour transform, JFIF's header without its
/// thumbnail); EXIF, XMP, IPTC, makers' blocks, comments and unknown segments go. The
/// orientation, if not upright, stays as a minimal EXIF block.
fn strip_jpeg(data: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let bad = |m: &str| PhotoError::Damaged("JPEG", m.to_owned());
    // The kept segments and scans after SOI (the orientation goes in when done).
    let mut out = Vec::with_capacity(data.len());
    let mut orientation = 1;
    let mut i = 2;
    loop {
        // A marker: 0xFF, fill bytes, its code.
        if data.get(i) != Some(&0xFF) {
            return Err(bad("a segment does not start with a marker"));
        }
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        let code = *data.get(i).ok_or_else(|| bad("ends inside a marker"))?;
        i += 1;
        match code {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Ok(with_orientation(out, orientation));
            }
            0xD0..=0xD7 | 0x01 => {
                out.extend_from_slice(&[0xFF, code]);
                continue;
            }
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([
            *data.get(i).ok_or_else(|| bad("ends inside a segment"))?,
            *data.get(i + 1).ok_or_else(|| bad("ends inside a segment"))?,
        ]));
        if len < 2 || i + len > data.len() {
            return Err(bad("a segment runs past the end"));
        }
        let body = &data[i + 2..i + len];
        // Only what decoding needs: frames, tables, scans, restart intervals, an ICC profile
        // (colours), Adobe's colour transform, and JFIF without its thumbnail.
        match code {
            0xE1 => {
                if let Some(o) = exif_orientation(body) {
                    orientation = o;
                }
            }
            0xE0 if body.starts_with(b"JFIF\0") && body.len() >= 14 => {
                out.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
                out.extend_from_slice(&body[..12]);
                out.extend_from_slice(&[0, 0]);
            }
            0xE2 if body.starts_with(b"ICC_PROFILE\0") => out.extend_from_slice(&data[i - 2..i + len]),
            0xEE if body.starts_with(b"Adobe") && body.len() <= 12 => out.extend_from_slice(&data[i - 2..i + len]),
            0xC0..=0xC7 | 0xC9..=0xCF | 0xDA..=0xDD => out.extend_from_slice(&data[i - 2..i + len]),
            _ => {}
        }
        i += len;
        if code == 0xDA {
            // Entropy-coded data up to the next marker that is not a stuffed 0xFF or a restart.
            let start = i;
            while i + 1 < data.len() && !(data[i] == 0xFF && data[i + 1] != 0 && !(0xD0..=0xD7).contains(&data[i + 1]))
            {
                i += 1;
            }
            if i + 1 >= data.len() {
                return Err(bad("no end of image"));
            }
            out.extend_from_slice(&data[start..i]);
        }
    }
}

/// SOI, a leading JFIF segment (APP0), the orientation unless upright, the rest.
fn with_orientation(rest: Vec<u8>, orientation: u16) -> Vec<u8> {
    let jfif = if rest.starts_with(&[0xFF, 0xE0]) && rest.len() >= 4 {
        (2 + usize::from(u16::from_be_bytes([rest[2], rest[3]]))).min(rest.len())
    } else {
        0
    };
    let mut out = Vec::with_capacity(rest.len() + 40);
    out.extend_from_slice(&[0xFF, 0xD8]);
    out.extend_from_slice(&rest[..jfif]);
    if (2..=8).contains(&orientation) {
        out.extend_from_slice(&orientation_segment(orientation));
    }
    out.extend_from_slice(&rest[jfif..]);
    out
}

/// The orientation tag (0x0112) of an APP1 EXIF block's first directory.
fn exif_orientation(app1: &[u8]) -> Option<u16> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let big = match tiff.get(..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |o: usize| {
        let b = [*tiff.get(o)?, *tiff.get(o + 1)?];
        Some(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |o: usize| {
        let b = [*tiff.get(o)?, *tiff.get(o + 1)?, *tiff.get(o + 2)?, *tiff.get(o + 3)?];
        Some(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?).min(512);
    (0..entries).find_map(|k| {
        let e = ifd + 2 + 12 * k;
        (u16_at(e)? == 0x0112 && u16_at(e + 2)? == 3).then(|| u16_at(e + 8)).flatten()
    })
}

/// An APP1 segment holding only the orientation tag.
fn orientation_segment(orientation: u16) -> Vec<u8> {
    let mut s = vec![0xFF, 0xE1, 0, 34];
    s.extend_from_slice(b"Exif\0\0MM\0\x2a\0\0\0\x08");
    s.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    s.extend_from_slice(&orientation.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    s
}

/// Chunks a PNG may keep: the image, its colour and its pixel size (everything else, text and
/// time and EXIF among them, goes).
const PNG_KEPT: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"bKGD", b"pHYs", b"cICP",
];

/// A PNG without metadata: its chunks up to `IEND`, the kept ones only. An unknown critical
/// chunk (one a decoder must understand) refuses it.
fn strip_png(data: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let bad = |m: &str| PhotoError::Damaged("PNG", m.to_owned());
    let mut out = PNG_SIGNATURE.to_vec();
    let mut i = PNG_SIGNATURE.len();
    loop {
        let head = data.get(i..i + 8).ok_or_else(|| bad("ends inside a chunk"))?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let end =
            i.checked_add(12 + len).filter(|&e| e <= data.len()).ok_or_else(|| bad("a chunk runs past the end"))?;
        if PNG_KEPT.contains(&&kind) {
            out.extend_from_slice(&data[i..end]);
        } else if kind[0].is_ascii_uppercase() {
            return Err(bad("a critical chunk this server does not know"));
        }
        i = end;
        if &kind == b"IEND" {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use gridwall_testkit::photos::jpeg_with_metadata;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_jpeg_loses_its_metadata_but_not_its_orientation() {
        let dirty = jpeg_with_metadata(6);
        assert!(contains(&dirty, b"Zhang San") && contains(&dirty, b"GPSLatitude"));
        assert_eq!(exif_orientation(&dirty[6..]), Some(6));
        let c = clean(Some("image/jpeg"), &dirty).unwrap();
        assert_eq!((c.mime, c.width, c.height), ("image/jpeg", 64, 48));
        for private in [&b"Zhang San"[..], b"GPSLatitude", b"xap", b"TRAILER"] {
            assert!(!contains(&c.bytes, private), "{}", String::from_utf8_lossy(private));
        }
        // The one tag kept, in a block a reader finds after JFIF.
        assert_eq!(&c.bytes[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        let at = 4 + usize::from(u16::from_be_bytes([c.bytes[4], c.bytes[5]]));
        assert_eq!(&c.bytes[at..at + 4], &[0xFF, 0xE1, 0, 34]);
        assert_eq!(exif_orientation(&c.bytes[at + 4..at + 36]), Some(6));
        assert!(c.bytes.ends_with(&[0xFF, 0xD9]));
        // Upright: no EXIF at all.
        let c = clean(None, &jpeg_with_metadata(1)).unwrap();
        assert!(!contains(&c.bytes, b"Exif"));
        // Cleaning what is clean changes nothing.
        assert_eq!(clean(None, &c.bytes).unwrap().bytes, c.bytes);
    }

    #[test]
    fn a_png_keeps_its_pixels_and_loses_its_text() {
        let img = image::RgbaImage::from_fn(10, 7, |x, y| image::Rgba([x as u8 * 20, y as u8 * 30, 7, 255]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(img.clone())
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // A tEXt chunk after IHDR (13 bytes of data: ends at 8 + 25).
        let text = b"Author\0Zhang San";
        let mut chunk = u32::try_from(text.len()).unwrap().to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(text);
        chunk.extend_from_slice(&[0, 0, 0, 0]);
        let mut dirty = png[..33].to_vec();
        dirty.extend(chunk);
        dirty.extend_from_slice(&png[33..]);
        let c = clean(Some("image/png"), &dirty).unwrap();
        assert!(!contains(&c.bytes, b"Zhang San"));
        assert_eq!((c.width, c.height), (10, 7));
        let back = image::load_from_memory(&c.bytes).unwrap().to_rgba8();
        assert_eq!(back, img, "the pixels are untouched");
    }

    #[test]
    fn what_is_not_a_photo_or_lies_about_its_type_is_refused() {
        let jpeg = jpeg_with_metadata(1);
        assert!(matches!(clean(Some("image/png"), &jpeg), Err(PhotoError::Mislabelled { actual: "image/jpeg", .. })));
        assert!(clean(Some("image/jpg"), &jpeg).is_ok());
        assert!(clean(Some("application/octet-stream"), &jpeg).is_ok());
        assert_eq!(clean(Some("image/jpeg"), b"<html><script>alert(1)</script>"), Err(PhotoError::Unsupported));
        assert_eq!(clean(None, b"GIF89a......"), Err(PhotoError::Unsupported));
        // JPEG's first bytes and then nothing of an image.
        let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        fake.extend_from_slice(&[0xFF, 0xD9]);
        assert!(matches!(clean(None, &fake), Err(PhotoError::Damaged("JPEG", _))));
        // Cut short.
        assert!(matches!(clean(None, &jpeg[..jpeg.len() / 2]), Err(PhotoError::Damaged("JPEG", _))));
        assert_eq!(clean(None, &vec![0xFF; MAX_PHOTO_BYTES + 1]), Err(PhotoError::TooLarge));
    }
}
