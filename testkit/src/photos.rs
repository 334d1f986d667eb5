//! Photos for the intake tests: a JPEG carrying the metadata a phone writes (a GPS position,
//! an owner's name, XMP, a comment, bytes after its end), a PNG, and `multipart/form-data`
//! bodies as a citizen's app sends them.

use std::io::Cursor;

/// A small JPEG with an EXIF block holding a GPS position, an owner's name and an
/// orientation, an XMP block and a comment, and bytes after its end.
pub fn jpeg_with_metadata(orientation: u16) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg).unwrap();
    // EXIF, little-endian: IFD0 with Orientation, Artist (at 50) and the GPS IFD pointer
    // (to 70), whose one entry is a latitude reference; the artist's name follows.
    let mut tiff: Vec<u8> = b"II\x2a\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&3u16.to_le_bytes());
    for (tag, kind, count, value) in
        [(0x0112u16, 3u16, 1u32, u32::from(orientation)), (0x013B, 2, 20, 50), (0x8825, 4, 1, 70)]
    {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value.to_le_bytes());
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(b"Zhang San 1380013800");
    tiff.extend_from_slice(&[1, 0, 1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let seg = |code: u8, body: &[u8]| {
        let mut s = vec![0xFF, code];
        s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let mut out = plain[..2].to_vec();
    out.extend(seg(0xE1, &app1));
    out.extend(seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>GPSLatitude 36.5</x:xmpmeta>"));
    out.extend(seg(0xFE, b"shot by Zhang San"));
    out.extend_from_slice(&plain[2..]);
    out.extend_from_slice(b"TRAILER Zhang San");
    out
}

/// A plain PNG of `w` × `h` pixels.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 3) as u8, 40]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// A `multipart/form-data` body: text fields, then files (field name, file name, content
/// type, bytes). The content type to send it with, and the body.
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "gridwall-test-boundary-7d93a1";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    for (name, file, ctype, data) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: {ctype}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
