//! Signing a browser in: the web display's page cannot put a bearer header on the requests the
//! browser makes for it (the model Bevy loads, the socket), so a browser signs in once and
//! carries its token in a cookie — `HttpOnly` (the page's scripts never read it),
//! `SameSite=Strict` (another site's page cannot send it), `Secure` over TLS, and ending with the
//! browser's session. [`super::access::identify`] reads it after the header and `?token=`.
//!
//! - `POST /login` (a form: `token=…`) and `GET /?token=…` (an address a wall's kiosk opens)
//!   check the token, set the cookie and send the browser to `/` without the token in its
//!   address (nor in its history). A token the server does not know sets nothing and sends the
//!   browser to `/?signin=refused`, where the page says why and shows the form again.
//! - `POST /logout` clears it.

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
        .filter(|(k, v)| KEPT.contains(&k.as_str()) && v.len() <= 32)
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
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The cookie that carries `secret` (an empty one that expires at once: signed out).
pub fn cookie(secret: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match secret {
        Some(s) => format!("{COOKIE}={s}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Signs the browser in with `secret` and sends it to the page (keeping `params`' page
/// parameters), or to the page saying the token was refused.
pub fn sign_in(access: &Access, secret: &str, params: &[(String, String)], address: &str) -> Response {
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
        _ => see_other(&page(params, Some(("signin", "refused"))), Some(cookie(None, access.secure_cookies))),
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
    if let Some(origin) = headers.get(header::ORIGIN)
        && !same_origin(&headers, origin, &access.allowed_origins)
    {
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
    Ok(sign_in(&access, secret.trim(), &form, &address.0))
}

/// `POST /logout`: forgets the cookie.
pub async fn logout(Extension(access): Extension<Arc<Access>>) -> Response {
    see_other("/", Some(cookie(None, access.secure_cookies)))
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
