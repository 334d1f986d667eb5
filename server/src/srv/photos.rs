//! Residents' photos on the Open311 routes: read from a `multipart/form-data` request beside its
//! fields, checked and stripped of metadata (`gridwall_city::photo`), stored before the request
//! is opened, and served back at `GET /open311/v2/media/{id}.{jpg,png}` to those who may read
//! residents' text (the reader roles; never the public, whatever `open311_public_text` says:
//! a photo shows faces and number plates).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::photo::{self, MAX_PHOTO_BYTES, PhotoError};
use gridwall_city::services::{MAX_PHOTOS, Photo, is_photo_id};
use gridwall_store::history::photos::StoredPhoto;
use sha2::{Digest as _, Sha256};

use super::access::Who;
use super::error::{ApiError, ApiResult};

/// Longest text field of a multipart request (the description is the longest: 4,000
/// characters of up to 4 bytes).
const MAX_TEXT_FIELD: u64 = 16 * 1024;
/// Most parts one multipart request may have (its text fields are also held to
/// `gridwall_city::fields::MAX_FIELDS`).
const MAX_PARTS: usize = 64;
/// The largest multipart request: every photo at its largest, and the fields.
pub const MAX_UPLOAD: usize = MAX_PHOTOS * MAX_PHOTO_BYTES + (1 << 20);

/// A photo as it came: the type the client said and the bytes.
pub struct Upload {
    pub declared: Option<String>,
    pub data: Bytes,
}

/// The fields (in the order sent) and the photos of a `multipart/form-data` body. A part is a
/// photo when it is named `media` (or `media[]`, `photo`) or carries a file name; every other
/// part is a text field.
pub async fn read_multipart(headers: &HeaderMap, body: Bytes) -> ApiResult<(Vec<(String, String)>, Vec<Upload>)> {
    let bad = |m: String| ApiError::bad_request("body", m);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|e| bad(format!("multipart: {e}")))?;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_UPLOAD as u64).per_field(MAX_PHOTO_BYTES as u64 + 1));
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::with_constraints(stream, boundary, constraints);
    let (mut fields, mut uploads) = (Vec::new(), Vec::new());
    let mut count = 0;
    while let Some(part) = parts.next_field().await.map_err(|e| multipart_error(&e))? {
        count += 1;
        if count > MAX_PARTS {
            return Err(bad(format!("more than {MAX_PARTS} parts")));
        }
        let name = part.name().unwrap_or_default().chars().take(200).collect::<String>();
        let is_photo = matches!(name.as_str(), "media" | "media[]" | "photo") || part.file_name().is_some();
        let declared = part.content_type().map(ToString::to_string);
        if is_photo {
            let data = part.bytes().await.map_err(|e| multipart_error(&e))?;
            // A form's file input left empty sends a part with no bytes.
            if data.is_empty() {
                continue;
            }
            if uploads.len() == MAX_PHOTOS {
                return Err(ApiError::bad_request("media", format!("at most {MAX_PHOTOS} photos")));
            }
            if data.len() > MAX_PHOTO_BYTES {
                return Err(photo_error(&PhotoError::TooLarge));
            }
            uploads.push(Upload { declared, data });
        } else {
            let data = part.bytes().await.map_err(|e| multipart_error(&e))?;
            if data.len() as u64 > MAX_TEXT_FIELD {
                return Err(ApiError::bad_request(&name, format!("longer than {MAX_TEXT_FIELD} bytes")));
            }
            let text = String::from_utf8(data.to_vec()).map_err(|_| bad(format!("{name}: not UTF-8 text")))?;
            fields.push((name, text));
        }
    }
    Ok((fields, uploads))
}

fn multipart_error(e: &multer::Error) -> ApiError {
    match e {
        multer::Error::FieldSizeExceeded { .. } => photo_error(&PhotoError::TooLarge),
        multer::Error::StreamSizeExceeded { .. } => {
            ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, "body", format!("larger than {MAX_UPLOAD} bytes"))
        }
        e => ApiError::bad_request("body", format!("malformed multipart body: {e}")),
    }
}

/// A refused photo: 413 too large, 415 not an image this server takes or not what it claims.
fn photo_error(e: &PhotoError) -> ApiError {
    let status = match e {
        PhotoError::TooLarge | PhotoError::TooManyPixels => StatusCode::PAYLOAD_TOO_LARGE,
        PhotoError::Unsupported | PhotoError::Mislabelled { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        PhotoError::Damaged(..) => StatusCode::BAD_REQUEST,
    };
    ApiError::status(status, "media", e.to_string())
}

/// Requests whose photos are being decoded at once (each photo may take up to 256 MB while it
/// is: more would wait).
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Checks and cleans the photos (off the async threads: each is decoded once), then stores
/// them; what the case will list.
pub async fn keep(backend: &Arc<Backend>, uploads: Vec<Upload>) -> ApiResult<Vec<Photo>> {
    if uploads.is_empty() {
        return Ok(Vec::new());
    }
    let turn = DECODING.acquire().await.expect("never closed");
    let cleaned = tokio::task::spawn_blocking(move || {
        uploads.iter().map(|u| photo::clean(u.declared.as_deref(), &u.data)).collect::<Result<Vec<_>, _>>()
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    .map_err(|e| photo_error(&e))?;
    drop(turn);
    let mut photos = Vec::with_capacity(cleaned.len());
    for c in cleaned {
        let id = crate::auth::hex(&Sha256::digest(&c.bytes));
        let bytes = u32::try_from(c.bytes.len()).unwrap_or(u32::MAX);
        let (mime, width, height) = (c.mime.to_owned(), c.width, c.height);
        backend
            .put_photo(id.clone(), StoredPhoto { mime: mime.clone(), bytes: c.bytes })
            .await
            .map_err(|e| ApiError::status(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()))?;
        photos.push(Photo { id, mime, bytes, width, height });
    }
    Ok(photos)
}

/// `GET /open311/v2/media/{id}.{jpg,png}`: a stored photo, to the reader roles.
pub async fn serve(who: Who, State(backend): State<Arc<Backend>>, Path(file): Path<String>) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    let id = file.split_once('.').map_or(file.as_str(), |(id, _)| id);
    let not_found = || ApiError::status(StatusCode::NOT_FOUND, "media", "no such photo");
    if !is_photo_id(id) {
        return Err(not_found());
    }
    let photo = backend.photo(id.to_owned()).await?.ok_or_else(not_found)?;
    let mut res = (StatusCode::OK, photo.bytes).into_response();
    let h = res.headers_mut();
    let mime = HeaderValue::from_str(&photo.mime).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, mime);
    // The bytes never change (the id is their hash), but only the caller may keep them.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    Ok(res)
}
