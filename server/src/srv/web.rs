//! The web display (`app/` built for `wasm32` by `scripts/build-web`): the page at `/`, its
//! files at `/web/{file}` (the JS glue, the wasm, the CJK font subset), read from the folder
//! `serve --web` names (`web/dist` by default). The page holds no city data: everything it
//! shows comes through the same endpoints, tokens and roles as the native display's.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Extension;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

use super::access::Access;
use super::error::{ApiError, ApiResult};
use super::signin::{self, CallerAddress};

/// Where the built web display is (an `Extension` the server adds).
#[derive(Debug, Clone)]
pub struct WebDir(pub PathBuf);

/// The files a build writes (nothing else in the folder is served).
const FILES: [(&str, &str); 6] = [
    ("index.html", "text/html; charset=utf-8"),
    ("gridwall.js", "text/javascript; charset=utf-8"),
    ("gridwall_bg.wasm", "application/wasm"),
    ("font.ttf", "font/ttf"),
    ("font-full.ttc", "font/collection"),
    ("build.json", "application/json"),
];

async fn serve(dir: Option<Extension<WebDir>>, file: &str) -> ApiResult<Response> {
    let Some((name, mime)) = FILES.iter().find(|(n, _)| *n == file) else {
        return Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "file",
            format!("{file:?} is not a file of the web display"),
        ));
    };
    let Some(Extension(WebDir(dir))) = dir else {
        return Err(ApiError::status(StatusCode::NOT_FOUND, "web", "this server serves no web display"));
    };
    let mut res = super::scene::stream(&dir.join(name), mime).await.map_err(|e| {
        ApiError::status(
            StatusCode::NOT_FOUND,
            "web",
            format!("the web display is not built in {} ({e}): run scripts/build-web", dir.display()),
        )
    })?;
    // A new build replaces the files under the same names: the browser asks again each time.
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// `GET /`: the page; `/?token=…` signs the browser in first ([`super::signin`]).
pub async fn index(
    dir: Option<Extension<WebDir>>,
    Extension(access): Extension<Arc<Access>>,
    Extension(address): Extension<CallerAddress>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    // Only an address with a token is read: the page's own parameters are the app's to check.
    if let Some(query) = uri.query().filter(|q| q.contains("token")) {
        let params = signin::params(query)?;
        if let Some((_, secret)) = params.iter().find(|(k, _)| k == "token") {
            return Ok(signin::sign_in(&access, &headers, secret.trim(), &params, &address.0));
        }
    }
    serve(dir, "index.html").await
}

/// `GET /web/{file}`.
pub async fn file(dir: Option<Extension<WebDir>>, Path(file): Path<String>) -> ApiResult<Response> {
    serve(dir, &file).await
}
