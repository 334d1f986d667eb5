//! Signing a browser in: the web display's page cannot put a bearer header on the requests the
//! browser makes for it (the model Bevy loads, the socket), so a browser signs in once and
//! carries its token in a cookie — `HttpOnly` (the page's scripts never read it),
//! `SameSite=Strict` (another site's page cannot send it), `Secure` over TLS, and ending with the
//! browser's session. [`super::access::identify`] reads it after the header and `?token=`.
//!
//! - `POST /login` (a form: `token=…`) and `GET /?token=…` (an address a wall's kiosk opens)
//!   check the token, set the cookie and send the browser to `/` without the token in its
//!   address (nor in its history). A token the server does not know sets nothing and sends the
//!   browser to `/?signin=refused`, where the page says why and shows the form again. A sign-in
//!   another site's page started (`Origin`, `Sec-Fetch-Site`) is refused (`?signin=elsewhere`).
//! - `POST /logout` clears it, from the server's own page only.
//! - The cookie stands for its token on reads only (GET, the socket's handshake):
//!   [`super::access::identify`].

use std::sync::Arc;

use axum::Extension;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::access::{Access, COOKIE, same_origin};
use super::error::{ApiError, ApiResult, media_type};
use crate::auth::MAX_SECRET;

/// The page's own query parameters kept across a sign-in (`lang`, `analysis`); anything else
/// (the token above all) is dropped.
const KEPT: [&str; 2] = ["lang", "analysis"];

/// Longest query string or form read here.
const MAX_FORM: usize = 4 * MAX_SECRET + 1024;

/// The parameters of a query string or form body, or a 400.
pub fn params(text: &str) -> ApiResult<Vec<(String, String)>> {
    if text.len() > MAX_FORM {
        return Err(ApiError::bad_request("query", format!("longer than {MAX_FORM} bytes")));
    }
    serde_urlencoded::from_str(text).map_err(|e| ApiError::bad_request("query", format!("malformed: {e}")))
}

/// `/`, with the kept parameters of `params` and `extra`.
fn page(params: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let kept = params
        .iter()
        .filter(|(k, v)| KEPT.contains(&k.as_str()) && !v.is_empty() && v.len() <= 32)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra);
    let query = serde_urlencoded::to_string(kept.collect::<Vec<_>>()).unwrap_or_default();
    if query.is_empty() { "/".to_owned() } else { format!("/?{query}") }
}

/// A 303 to `to`, setting `cookie` if given.
fn see_other(to: &str, cookie: Option<String>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie {
        set_cookie(&mut res, &c);
    }
    res
}

/// Adds `cookie` (made by [`cookie`]) to a response.
pub fn set_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// The cookie that carries `secret` (an empty one that expires at once: signed out).
pub fn cookie(secret: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match secret {
        Some(s) => format!("{COOKIE}={s}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Whether a browser says the request came from another site's page (or a sibling's on this
/// host): `Sec-Fetch-Site` `cross-site` or `same-site`. A typed address, a kiosk's start page
/// (`none`), the server's own page and programs (no such header) are not.
pub fn from_elsewhere(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site" || v == "same-site")
}

/// Whether a form was posted from anywhere but the server's own page (or an allowed origin):
/// its `Origin`, or [`from_elsewhere`].
fn posted_elsewhere(access: &Access, headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_some_and(|o| !same_origin(headers, o, &access.allowed_origins))
        || from_elsewhere(headers)
}

/// Signs the browser in with `secret` and sends it to the page (keeping `params`' page
/// parameters), or to the page saying the token was refused (a cookie it had is left alone).
/// A sign-in that another site's page started is refused: it could sign the browser in as the
/// other site's holder.
pub fn sign_in(
    access: &Access,
    headers: &HeaderMap,
    secret: &str,
    params: &[(String, String)],
    address: &str,
) -> Response {
    if from_elsewhere(headers) {
        return see_other(&page(params, Some(("signin", "elsewhere"))), None);
    }
    let Some(tokens) = &access.tokens else {
        // Everyone is the local operator here: there is nothing to sign in to.
        return see_other(&page(params, None), None);
    };
    // A cookie holds only what a token can be (tokens are `gw_` and hex): nothing that could
    // end the header or add an attribute.
    let plain = secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match tokens.caller(secret, address) {
        Some(caller) if plain => {
            tracing::info!("{} signed in a browser from {address}", caller.name);
            see_other(&page(params, None), Some(cookie(Some(secret), access.secure_cookies)))
        }
        _ => see_other(&page(params, Some(("signin", "refused"))), None),
    }
}

/// `POST /login`: a form with `token`.
pub async fn login(
    Extension(access): Extension<Arc<Access>>,
    Extension(address): Extension<CallerAddress>,
    headers: HeaderMap,
    body: String,
) -> ApiResult<Response> {
    // Another site's page could otherwise sign this browser in as someone else.
    if posted_elsewhere(&access, &headers) {
        return Err(ApiError::status(StatusCode::FORBIDDEN, "origin", "sign in from the server's own page"));
    }
    if media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            "send the sign-in form (application/x-www-form-urlencoded)",
        ));
    }
    let form = params(&body)?;
    let Some((_, secret)) = form.iter().find(|(k, _)| k == "token") else {
        return Err(ApiError::bad_request("token", "the form has no token"));
    };
    Ok(sign_in(&access, &headers, secret.trim(), &form, &address.0))
}

/// `POST /logout`: forgets the cookie (only from the server's own page: another site's form
/// could sign a wall out).
pub async fn logout(Extension(access): Extension<Arc<Access>>, headers: HeaderMap) -> ApiResult<Response> {
    if posted_elsewhere(&access, &headers) {
        return Err(ApiError::status(StatusCode::FORBIDDEN, "origin", "sign out from the server's own page"));
    }
    Ok(see_other("/", Some(cookie(None, access.secure_cookies))))
}

/// The caller's address as the access layer saw it (for the log and the caller).
#[derive(Debug, Clone)]
pub struct CallerAddress(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_keeps_only_its_own_parameters() {
        let p = params("token=gw_x&lang=en&analysis=trend&evil=1").unwrap();
        assert_eq!(page(&p, None), "/?lang=en&analysis=trend");
        assert_eq!(page(&[], Some(("signin", "refused"))), "/?signin=refused");
        assert_eq!(page(&params("lang=en").unwrap(), Some(("signin", "refused"))), "/?lang=en&signin=refused");
        assert_eq!(page(&params("lang=&token=x").unwrap(), None), "/", "the form's empty language");
        assert!(params(&"a".repeat(MAX_FORM + 1)).is_err());
    }

    #[test]
    fn the_cookie_is_for_this_site_only_and_hidden_from_scripts() {
        let c = cookie(Some("gw_ab"), true);
        assert_eq!(c, "gridwall_token=gw_ab; Path=/; HttpOnly; SameSite=Strict; Secure");
        assert!(cookie(None, false).contains("Max-Age=0"));
        assert!(!cookie(None, false).contains("Secure"));
    }
}
