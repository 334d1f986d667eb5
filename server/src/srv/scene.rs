//! `GET /scene/{file}`: the scene's files (`scene.toml`, `city.glb`, `grids.geojson`,
//! `components.csv`, `roads.geojson`) for displays.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::state::Refusal;

use super::access::Who;
use super::error::{ApiError, ApiResult};

pub async fn file(who: Who, State(backend): State<Arc<Backend>>, Path(file): Path<String>) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    if !backend.manifest.file_names().contains(&file.as_str()) {
        return Err(Refusal::not_found("file", format!("{file:?} is not a file of this scene")).into());
    }
    let path = backend.scene_dir.join(&file);
    let mime = match std::path::Path::new(&file).extension().and_then(|e| e.to_str()) {
        Some("glb") => "model/gltf-binary",
        Some("geojson") => "application/geo+json",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    stream(&path, mime).await.map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "file", e.to_string()))
}

/// A file as a response of type `mime`, streamed in 64 KiB pieces: a big city's model (or the
/// web display's wasm) is never held whole per request.
pub(super) async fn stream(path: &std::path::Path, mime: &'static str) -> std::io::Result<Response> {
    let f = tokio::fs::File::open(path).await?;
    let len = f.metadata().await.map(|m| m.len()).ok();
    let chunks = futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 64 << 10];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut res = ([(header::CONTENT_TYPE, mime)], axum::body::Body::from_stream(chunks)).into_response();
    if let Some(len) = len {
        res.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    Ok(res)
}
