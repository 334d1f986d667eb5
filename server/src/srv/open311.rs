//! Open311 `GeoReport` v2: incident intake and the public view of requests, in both of the
//! specification's formats: the path's extension picks JSON (`.json`) or XML (`.xml`), errors
//! included. `jurisdiction_id` is accepted everywhere (this server serves one: the scene's name).
//!
//! | route | what |
//! |---|---|
//! | `GET /open311/v2/services.{json,xml}` | the incident categories as services → [`Service`] list |
//! | `GET /open311/v2/services/{code}.{json,xml}` | a service's definition (its attributes) → [`ServiceDefinition`] |
//! | `POST /open311/v2/requests.{json,xml}` | a new request (form, JSON, or multipart with photos) → 201 [`RequestCreated`] list |
//! | `GET /open311/v2/requests.{json,xml}?status=&service_code=&start_date=&end_date=&updated_after=&updated_before=&service_request_id=` | requests → [`ServiceRequest`] list |
//! | `GET /open311/v2/requests/{id}.{json,xml}` | one request |
//! | `GET /open311/discovery.{json,xml}` (also under `/open311/v2/`) | the discovery document → [`Discovery`] |
//! | `GET /open311/v2/media/{id}.{jpg,png}` | a photo of a request (reader roles; `photos.rs`) |
//!
//! What a request was filed with beyond its category and place (description, attributes, a
//! photo's address) is residents' text: shown to the reader roles, to the public only where
//! the server is configured to publish it; photos to the reader roles only.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use gridwall_backend::Backend;
use gridwall_city::access::{Caller, Permission};
use gridwall_city::command::Command;
use gridwall_city::ingest;
use gridwall_city::open311 as open311_out;
use gridwall_city::state::Refusal;
use gridwall_city::world::IncidentRec;
use gridwall_city::{fields, services};
use gridwall_protocol::api::open311::{
    self, Discovery, Endpoint, Lang, RequestCreated, ServiceDefinition, ServiceRequest,
};
use gridwall_protocol::{IncidentCategory, IncidentSource};
use gridwall_scene::coords::CoordError;
use gridwall_store::history::incidents::RequestQuery;

use super::access::{Access, Who};
use super::error::{ApiError, ApiResult, Format, media_type, time_param, xml};
use super::photos;

/// Most ids one `service_request_id=` query may name.
const MAX_IDS: usize = 100;

/// A request as the public (or a reader) sees it: residents' free text (description,
/// attributes, a photo's address) only for those who may read the live picture, unless the
/// server is configured to publish it; uploaded photos only for those who may read.
fn shown(r: ServiceRequest, caller: &Caller, access: &Access) -> ServiceRequest {
    let (text, photos) = open311_out::visible(caller.may(Permission::Read), access.open311_public_text);
    open311_out::redact(r, text, photos)
}

/// This server as outsiders reach it: `public_url` if configured, else as the client reached it
/// (`http://host:port`; a proxy in front says so in `Host`).
fn base_url(headers: &HeaderMap, access: &Access) -> String {
    if let Some(url) = &access.public_url {
        return url.clone();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or("localhost");
    let scheme = if access.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// The language of the words in an answer (`Accept-Language`: Chinese unless English is
/// preferred).
fn language(headers: &HeaderMap) -> Lang {
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Lang::Zh, Lang::from_accept_language)
}

/// An answer in the format asked for.
fn answer<T: serde::Serialize>(format: Format, status: StatusCode, value: &T, as_xml: fn(&T) -> String) -> Response {
    let mut res = match format {
        Format::Json => (status, Json(value)).into_response(),
        Format::Xml => xml(status, as_xml(value)),
    };
    // The words (service names, status notes) follow Accept-Language.
    res.headers_mut().insert(axum::http::header::VARY, axum::http::HeaderValue::from_static("accept-language"));
    res
}

/// A resource by name, one of `known`: `services.xml` → (XML, `services`).
fn resource<'a>(name: &'a str, known: &[&str]) -> ApiResult<(Format, &'a str)> {
    let (format, base) = Format::split(name);
    if name == base || !known.contains(&base) {
        return Err(
            ApiError::status(StatusCode::NOT_FOUND, "path", format!("no Open311 resource {name:?}")).open311_as(format)
        );
    }
    Ok((format, base))
}

/// Refuses a `jurisdiction_id` other than this server's (the scene's name). An empty one counts
/// as none: clients configured without a jurisdiction send `jurisdiction_id=`.
fn check_jurisdiction(backend: &Backend, given: Option<&String>, format: Format) -> ApiResult<()> {
    match given {
        Some(j) if !j.is_empty() && *j != backend.manifest.name => Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "jurisdiction_id",
            format!("this server serves the jurisdiction {:?} only", backend.manifest.name),
        )
        .open311_as(format)),
        _ => Ok(()),
    }
}

/// `GET /open311/v2/{services,requests,discovery}.{json,xml}`.
pub async fn get_resource(
    who: Who,
    access: Extension<Arc<Access>>,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (format, base) = resource(&name, &["services", "requests", "discovery"])?;
    check_jurisdiction(&backend, q.get("jurisdiction_id"), format)?;
    match base {
        "services" => {
            Ok(answer(format, StatusCode::OK, &services::services(language(&headers)), |s| open311::xml::services(s)))
        }
        "discovery" => Ok(discovery_answer(&backend, &headers, &access, format)),
        _ => list(&who, &access, &backend, (&q, &headers), format).await.map_err(|e| e.open311_as(format)),
    }
}

/// `GET /open311/discovery.{json,xml}`.
pub async fn discovery(
    access: Extension<Arc<Access>>,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let (format, _) = resource(&name, &["discovery"])?;
    Ok(discovery_answer(&backend, &headers, &access, format))
}

/// `GET /open311/v2/services/{code}.{json,xml}`: the definition of a service with
/// `metadata: true`.
pub async fn definition(
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (format, code) = Format::split(&name);
    check_jurisdiction(&backend, q.get("jurisdiction_id"), format)?;
    let not_found = |m: String| ApiError::status(StatusCode::NOT_FOUND, "service_code", m).open311_as(format);
    let category: IncidentCategory =
        code.parse().map_err(|_| not_found(format!("{code:?} is not a service; see services.{}", ext(format))))?;
    let d = services::definition(category, language(&headers))
        .ok_or_else(|| not_found(format!("{code} has no attributes (metadata is false)")))?;
    Ok(answer(format, StatusCode::OK, &d, |d: &ServiceDefinition| open311::xml::definition(d)))
}

fn ext(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

fn discovery_answer(backend: &Backend, headers: &HeaderMap, access: &Access, format: Format) -> Response {
    let changeset = ingest::format_time(backend.started_ms);
    let d = Discovery {
        changeset: changeset.clone(),
        contact: String::new(),
        key_service: String::new(),
        endpoints: vec![Endpoint {
            specification: open311::SPECIFICATION.into(),
            url: format!("{}/open311/v2", base_url(headers, access)),
            changeset,
            kind: "production".into(),
            formats: vec!["text/xml".into(), "application/json".into()],
        }],
    };
    answer(format, StatusCode::OK, &d, open311::xml::discovery)
}

/// `POST /open311/v2/requests.{json,xml}`.
pub async fn post_resource(
    who: Who,
    Extension(access): Extension<Arc<Access>>,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let (format, base) = resource(&name, &["services", "requests", "discovery"])?;
    if base != "requests" {
        return Err(ApiError::status(StatusCode::METHOD_NOT_ALLOWED, "method", format!("{name} is read only"))
            .open311_as(format));
    }
    create(who, &backend, (&headers, &access), body, format).await.map_err(|e| e.open311_as(format))
}

fn crs_error(e: &CoordError) -> ApiError {
    ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e.to_string())
}

async fn create(
    who: Who,
    backend: &Arc<Backend>,
    (headers, access): (&HeaderMap, &Access),
    body: Body,
    format: Format,
) -> ApiResult<Response> {
    // The caller first: the body is read only for those who may send one.
    who.check_command(Permission::Intake, backend, "open311 request", || "a new request".into())?;
    let kind = media_type(headers);
    // Photos make a request larger than other bodies may be.
    let limit = if kind.as_deref() == Some("multipart/form-data") {
        access.max_body.max(photos::MAX_UPLOAD)
    } else {
        access.max_body
    };
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, "body", format!("larger than {limit} bytes, or cut short"))
    })?;
    let (fields, uploads) = match kind.as_deref() {
        Some("application/json") => (fields::json_fields(&body)?, Vec::new()),
        Some("application/x-www-form-urlencoded") => (fields::form_fields(&body)?, Vec::new()),
        Some("multipart/form-data") => photos::read_multipart(headers, body).await?,
        other => {
            let message = format!(
                "{}: send a form (application/x-www-form-urlencoded, or multipart/form-data with photos) or \
                 application/json",
                other.unwrap_or("no content type")
            );
            return Err(ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type", message));
        }
    };
    let field = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v);
    check_jurisdiction(backend, field("jurisdiction_id"), format)?;
    let bounds = backend.manifest.bounds.local;
    let mut req = backend
        .with_frame(|f| Ok::<_, CoordError>(ingest::parse_request(&fields, f, bounds)))
        .map_err(|e| crs_error(&e))??;
    let source = field("gridwall_source").and_then(|s| s.parse().ok()).unwrap_or(IncidentSource::MiniProgram);
    // The photos are stored first: the case that lists them is opened only once they are.
    req.intake.photos = photos::keep(backend, uploads).await?;
    let key = req.category.key();
    let cmd = Command::Open {
        category: req.category,
        source,
        x: req.x,
        y: req.y,
        description: req.description,
        intake: req.intake,
    };
    let done =
        backend.run_command(cmd, &who.0, |d| format!("incident {} ({key})", d.incident.unwrap_or_default())).await?;
    let id = done.incident.expect("the incident was opened");
    let created =
        vec![RequestCreated {
            service_request_id: id.to_string(), service_notice: "已受理".into(), account_id: None
        }];
    Ok(answer(format, StatusCode::CREATED, &created, |c| open311::xml::created(c)))
}

async fn list(
    who: &Who,
    access: &Access,
    backend: &Arc<Backend>,
    (q, headers): (&HashMap<String, String>, &HeaderMap),
    format: Format,
) -> ApiResult<Response> {
    let bad = |k: &str, m: String| ApiError::bad_request(k, m);
    let status = q.get("status").map(String::as_str);
    if status.is_some_and(|s| s != "open" && s != "closed") {
        return Err(bad("status", "use open or closed".into()));
    }
    let codes: Option<Vec<IncidentCategory>> = q
        .get("service_code")
        .map(|s| {
            s.split(',')
                .map(|c| {
                    c.parse::<IncidentCategory>().map_err(|_| bad("service_code", format!("{c:?} is not a service")))
                })
                .collect()
        })
        .transpose()?;
    let ids: Option<Vec<u64>> = q
        .get("service_request_id")
        .map(|s| {
            s.split(',')
                .map(|c| c.parse::<u64>().map_err(|_| bad("service_request_id", format!("{c:?} is not an id"))))
                .collect()
        })
        .transpose()?;
    if ids.as_ref().is_some_and(|ids| ids.len() > MAX_IDS) {
        return Err(bad("service_request_id", format!("at most {MAX_IDS} ids")));
    }
    let start = time_param(q, "start_date")?;
    let end = time_param(q, "end_date")?;
    let updated_after = time_param(q, "updated_after")?;
    let updated_before = time_param(q, "updated_before")?;
    let now = backend.live().now_ms();
    // GeoReport v2 default window: the last 90 days, at most 1000 requests; not when asking
    // for ids or for what changed (an integrator polling with updated_after wants every request
    // that changed, however old). Asked of the store (indexed by acceptance time and by
    // transition time), off the live lock: the city's age costs nothing here.
    let whole = ids.is_some() || updated_after.is_some() || updated_before.is_some();
    let query = RequestQuery {
        from_ms: start.unwrap_or(if whole { i64::MIN } else { now - 90 * 86_400_000 }),
        to_ms: end.unwrap_or(i64::MAX),
        updated_after_ms: updated_after,
        updated_before_ms: updated_before,
        ids,
        categories: codes.map(|mut c| {
            c.sort_unstable();
            c.dedup();
            c.iter().map(|c| c.key().to_owned()).collect()
        }),
        closed: status.map(|s| s == "closed"),
        limit: 1000,
    };
    let recs = backend.requests(query).await?;
    let out = requests_out(backend, &recs, headers, &who.0, access)?;
    Ok(answer(format, StatusCode::OK, &out, |r| open311::xml::requests(r)))
}

/// Incidents as the caller may see them as Open311 requests, in the language asked for.
fn requests_out(
    backend: &Backend,
    recs: &[IncidentRec],
    headers: &HeaderMap,
    caller: &Caller,
    access: &Access,
) -> ApiResult<Vec<ServiceRequest>> {
    let (lang, zone) = (language(headers), backend.live().utc_offset_ms);
    let media = format!("{}/open311/v2/media", base_url(headers, access));
    backend
        .with_frame(|f| {
            Ok::<_, CoordError>(
                recs.iter()
                    .map(|r| shown(open311_out::request_out(r, f, lang, zone, &media), caller, access))
                    .collect(),
            )
        })
        .map_err(|e| crs_error(&e))
}

/// `GET /open311/v2/requests/{id}.{json,xml}`.
pub async fn one(
    who: Who,
    Extension(access): Extension<Arc<Access>>,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (format, id) = Format::split(&id);
    check_jurisdiction(&backend, q.get("jurisdiction_id"), format)?;
    one_in(&who, &access, &backend, &headers, id)
        .await
        .map(|out| answer(format, StatusCode::OK, &out, |r| open311::xml::requests(r)))
        .map_err(|e| e.open311_as(format))
}

/// One request by id, as the caller may see it.
async fn one_in(
    who: &Who,
    access: &Access,
    backend: &Arc<Backend>,
    headers: &HeaderMap,
    id: &str,
) -> ApiResult<Vec<ServiceRequest>> {
    let id: u64 =
        id.parse().map_err(|_| Refusal::not_found("service_request_id", format!("{id:?} is not a request id")))?;
    let rec = backend
        .incident(id)
        .await?
        .ok_or_else(|| Refusal::not_found("service_request_id", format!("no request {id}")))?;
    requests_out(backend, std::slice::from_ref(&rec), headers, &who.0, access)
}
