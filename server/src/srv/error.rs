//! Refused requests: a status and a JSON body naming the field ([`ErrorBody`], or a list of
//! [`Open311Error`] on the Open311 routes). A refused request changes nothing.

use std::collections::HashMap;

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gridwall_backend::CommitError;
use gridwall_city::ingest::{self, IngestError};
use gridwall_city::state::{Refusal, RefusalKind};
use gridwall_protocol::api::open311::{self, Open311Error};
use gridwall_protocol::api::{ErrorBody, ErrorDetail};
use gridwall_store::StoreError;

/// A refused request: status plus a JSON body naming the field.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    refusal: Refusal,
    /// On the Open311 routes: the spec's error list, in the format asked for.
    open311: Option<Format>,
}

/// The format of an Open311 answer: the extension of the path (`.json`, `.xml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The format a name asks for and the name without it: `requests.xml` → (XML, `requests`);
    /// a name without `.json` or `.xml` is JSON.
    pub fn split(name: &str) -> (Self, &str) {
        if let Some(base) = name.strip_suffix(".xml") {
            (Self::Xml, base)
        } else {
            (Self::Json, name.strip_suffix(".json").unwrap_or(name))
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(status: StatusCode, field: &str, message: impl Into<String>) -> Self {
        Self { status, refusal: Refusal::invalid(field, message), open311: None }
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::status(StatusCode::BAD_REQUEST, field, message)
    }

    /// The same refusal in Open311's error shape, in `format`.
    #[must_use]
    pub fn open311_as(mut self, format: Format) -> Self {
        self.open311 = Some(format);
        self
    }

    /// The body's `error` member.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail::from(&self.refusal)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let status = match r.kind {
            RefusalKind::Invalid => StatusCode::BAD_REQUEST,
            RefusalKind::NotFound => StatusCode::NOT_FOUND,
            RefusalKind::Conflict => StatusCode::CONFLICT,
        };
        Self { status, refusal: r, open311: None }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::status(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string())
    }
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Refused(r) => r.into(),
            CommitError::Store(e) => e.into(),
            CommitError::Bus(e) => Self::status(StatusCode::SERVICE_UNAVAILABLE, "leader", e.to_string()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        Self::status(e.status(), "body", e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.body();
        // The store is busy or failing: nothing was applied; the client may try again.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        res
    }
}

impl ApiError {
    fn body(&self) -> Response {
        if let Some(format) = self.open311 {
            let body = vec![Open311Error {
                code: self.status.as_u16(),
                description: self.refusal.to_string(),
                field: self.refusal.field.clone(),
            }];
            return match format {
                Format::Json => (self.status, axum::Json(body)).into_response(),
                Format::Xml => xml(self.status, open311::xml::errors(&body)),
            };
        }
        (self.status, axum::Json(ErrorBody { error: self.detail() })).into_response()
    }
}

/// An XML answer.
pub fn xml(status: StatusCode, body: String) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, open311::xml::MEDIA_TYPE)], body).into_response()
}

/// The media type of a request's body, lower case, without parameters (`None` without one).
pub fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// Refuses a body that does not say it is JSON (415): a web page cannot send JSON to another
/// site without the browser asking first, but it can send a form or text.
pub fn require_json(headers: &axum::http::HeaderMap) -> ApiResult<()> {
    match media_type(headers).as_deref() {
        Some("application/json") => Ok(()),
        other => Err(ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            format!("{}: send Content-Type: application/json", other.unwrap_or("no content type")),
        )),
    }
}

/// A JSON request body.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("body", format!("malformed JSON: {e}")))
}

/// An optional RFC 3339 time in the query.
pub fn time_param(q: &HashMap<String, String>, k: &str) -> ApiResult<Option<i64>> {
    q.get(k).map(|v| ingest::parse_time(v).map_err(|e| ApiError::bad_request(k, e.to_string()))).transpose()
}

/// An incident id in the path (`17` or `17.json`).
pub fn incident_id(v: &str) -> ApiResult<u64> {
    v.trim_end_matches(".json")
        .parse()
        .map_err(|_| Refusal::not_found("id", format!("{v:?} is not an incident id")).into())
}
