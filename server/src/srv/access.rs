//! Who is calling, and may they. [`identify`] runs before every handler: it turns the request's
//! token (`Authorization: Bearer …`, else `?token=` where a client cannot set headers, else the
//! web display's sign-in cookie, [`super::signin`]) into a [`Caller`], answers 401 at once for a
//! token the server does not know, and refuses a cross-origin WebSocket handshake. The web
//! display's page and files are public (they hold no city data) and sign a browser in
//! themselves. Handlers take the caller as [`Who`] and check the
//! permission they need ([`Who::check`]: 401 without a token, 403 for the wrong role). Without a
//! token file (a loopback-only server) everyone is the local operator.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gridwall_backend::Backend;
use gridwall_city::access::{Caller, Denied, Permission};

use super::error::ApiError;
use super::limits::{Connections, SocketLimits};
use crate::auth::{MAX_SECRET, Tokens};

/// How a server admits callers.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `None`: no tokens; the server listens on loopback only and everyone may do everything.
    pub tokens: Option<Arc<Tokens>>,
    /// Origins (`https://host[:port]`) whose web pages may open the sockets; a handshake with
    /// any other `Origin` is refused. Clients that are not browsers send none.
    pub allowed_origins: Vec<String>,
    /// Whether the public Open311 list shows the free text of requests.
    pub open311_public_text: bool,
    /// Socket sizes, rates and counts.
    pub sockets: SocketLimits,
    /// Largest request body (and device socket message), bytes.
    pub max_body: usize,
    /// Longest a request may take, body included (not socket upgrades).
    pub request_timeout: std::time::Duration,
    /// The sockets open now.
    pub connections: Arc<Connections>,
    /// Whether the sign-in cookie is marked `Secure` (the server speaks TLS).
    pub secure_cookies: bool,
    /// Where outsiders reach the server (`public_url`): the start of the addresses it gives
    /// (photos, the discovery document); else the `Host` the client used.
    pub public_url: Option<String>,
}

/// The web display's sign-in cookie.
pub const COOKIE: &str = "gridwall_token";

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Header,
    Query,
    Cookie,
}

/// The caller of this request (put there by [`identify`]).
#[derive(Debug, Clone)]
pub struct Who(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().map(Who).ok_or_else(|| {
            ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "caller", "the request was not identified")
        })
    }
}

impl Who {
    /// `Ok` when the caller may do `p`.
    pub fn check(&self, p: Permission) -> Result<(), ApiError> {
        self.0.check(p).map_err(ApiError::from)
    }

    /// Like [`Who::check`] for a command: a refusal is noted in the audit trail.
    pub fn check_command(
        &self,
        p: Permission,
        backend: &Backend,
        action: &str,
        target: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        self.0.check(p).map_err(|e| deny(backend, &self.0, action, target(), &e))
    }
}

/// Notes a token holder's refused command in the audit trail; the refusal to answer. Callers
/// without a token are not written down: anyone could fill the disk that way.
pub fn deny(backend: &Backend, caller: &Caller, action: &str, target: String, e: &Denied) -> ApiError {
    if matches!(e, Denied::Forbidden { .. }) {
        backend.record_later(|live| vec![live.audit(caller, action, target, format!("refused: {e}"))]);
    }
    ApiError::from(e.clone())
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        let status = match e {
            Denied::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Denied::Forbidden { .. } => StatusCode::FORBIDDEN,
        };
        ApiError::status(status, "authorization", e.to_string())
    }
}

/// The token of a request: the `Authorization: Bearer` header, else a `token` query parameter,
/// else the sign-in cookie — on reads only (GET, HEAD; a socket's handshake is a GET and its
/// `Origin` is checked). `SameSite=Strict` keeps other sites' pages from sending the cookie, not
/// pages on another port of the same host or a sibling subdomain: a form there could POST. The
/// web display sends its commands over the socket and never POSTs with the cookie.
fn secret_of(req: &Request) -> Option<(String, Source)> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, secret) = v.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| (secret.trim().to_owned(), Source::Header));
    }
    let query = req.uri().query().filter(|q| q.len() <= 4 * MAX_SECRET + 4096);
    let from_query = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|q| q.into_iter().find(|(k, _)| k == "token"))
        .map(|(_, v)| (v, Source::Query));
    let read = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    from_query.or_else(|| cookie_of(req.headers()).filter(|_| read).map(|s| (s, Source::Cookie)))
}

/// The sign-in cookie's value, if the request carries one.
fn cookie_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        // Other programs on this host (any port) share its cookies: only ours is looked at.
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == COOKIE && v.len() <= MAX_SECRET)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether `origin` is the server's own (`http(s)://` and the request's `Host`) or one of
/// `allowed`.
pub fn same_origin(headers: &axum::http::HeaderMap, origin: &header::HeaderValue, allowed: &[String]) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let own =
        |o: &str| !host.is_empty() && [format!("http://{host}"), format!("https://{host}")].iter().any(|s| s == o);
    origin.to_str().is_ok_and(|o| own(o) || allowed.iter().any(|a| a == o))
}

/// The web display's page, files and sign-in: public, never refused for a token.
fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/login" | "/logout") || path.starts_with("/web/")
}

/// The middleware: identifies the caller, refuses unknown tokens (401) and foreign origins on
/// socket handshakes (403).
pub async fn identify(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let address =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.to_string());
    req.extensions_mut().insert(super::signin::CallerAddress(address.clone()));
    let caller = match &access.tokens {
        None => Caller::local(address),
        Some(_) if is_page(req.uri().path()) => Caller::anonymous(address),
        Some(tokens) => {
            let has_header = req.headers().contains_key(header::AUTHORIZATION);
            match secret_of(&req) {
                Some((secret, from)) => match tokens.caller(&secret, &address) {
                    Some(c) => c,
                    None if from == Source::Cookie => {
                        // Its token was taken away since: the page signs in again.
                        let mut res = unauthorized("this browser's sign-in is no longer valid: sign in again");
                        super::signin::set_cookie(&mut res, &super::signin::cookie(None, access.secure_cookies));
                        return res;
                    }
                    None => return unauthorized("this token is not known to the server"),
                },
                None if has_header => return unauthorized("use Authorization: Bearer <token>"),
                None => Caller::anonymous(address),
            }
        }
    };
    let upgrade = req.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade && let Some(origin) = req.headers().get(header::ORIGIN) {
        // The server's own page (the web display) may, as may the origins configured.
        if !same_origin(req.headers(), origin, &access.allowed_origins) {
            return ApiError::status(
                StatusCode::FORBIDDEN,
                "origin",
                format!(
                    "sockets from the web page {:?} are not allowed (allowed_origins in the server's configuration)",
                    String::from_utf8_lossy(origin.as_bytes()).chars().take(200).collect::<String>()
                ),
            )
            .into_response();
        }
    }
    req.extensions_mut().insert(caller);
    let limit = access.request_timeout;
    req.extensions_mut().insert(access);
    if upgrade {
        return next.run(req).await;
    }
    // A client that sends its body slowly (or not at all) holds nothing for longer than this.
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::status(
            StatusCode::REQUEST_TIMEOUT,
            "request",
            format!("not complete within {} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut res = ApiError::status(StatusCode::UNAUTHORIZED, "authorization", message).into_response();
    res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    res
}
