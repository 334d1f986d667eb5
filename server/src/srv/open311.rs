//! Open311 `GeoReport` v2: incident intake and the public view of requests.
//!
//! | route | what |
//! |---|---|
//! | `GET /open311/v2/services.json` | the incident categories as services → [`Service`] list |
//! | `POST /open311/v2/requests.json` | a new request (form or JSON) → 201 [`RequestCreated`] list |
//! | `GET /open311/v2/requests.json?status=&service_code=&start_date=&end_date=&service_request_id=` | requests → [`ServiceRequest`] list |
//! | `GET /open311/v2/requests/{id}.json` | one request |

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gridwall_backend::Backend;
use gridwall_city::access::{Caller, Permission};
use gridwall_city::command::Command;
use gridwall_city::ingest;
use gridwall_city::state::Refusal;
use gridwall_protocol::api::open311::{RequestCreated, Service, ServiceRequest};
use gridwall_protocol::{IncidentCategory, IncidentSource};
use gridwall_scene::coords::CoordError;
use gridwall_store::history::incidents::RequestQuery;

use super::access::{Access, Who};
use super::error::{ApiError, ApiResult, incident_id, media_type, parse_json, time_param};

/// Most ids one `service_request_id=` query may name.
const MAX_IDS: usize = 100;

/// A request as the public (or a reader) sees it: residents' free text only for those who may
/// read the live picture, unless the server is configured to publish it.
fn shown(mut r: ServiceRequest, caller: &Caller, access: &Access) -> ServiceRequest {
    if !(access.open311_public_text || caller.may(Permission::Read)) {
        r.description.clear();
    }
    r
}

pub async fn services() -> Json<Vec<Service>> {
    Json(ingest::services())
}

fn crs_error(e: &CoordError) -> ApiError {
    ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e.to_string()).open311()
}

pub async fn create(
    who: Who,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Vec<RequestCreated>>)> {
    who.check_command(Permission::Intake, &backend, "open311 request", || "a new request".into())
        .map_err(ApiError::open311)?;
    let body = body.map_err(|e| ApiError::from(e).open311())?;
    let is_json = match media_type(&headers).as_deref() {
        Some("application/json") => true,
        Some("application/x-www-form-urlencoded") => false,
        other => {
            let message = format!(
                "{}: send a form (application/x-www-form-urlencoded) or application/json",
                other.unwrap_or("no content type")
            );
            return Err(ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type", message).open311());
        }
    };
    let fields: BTreeMap<String, String> = if is_json {
        let v: serde_json::Map<String, serde_json::Value> = parse_json(&body).map_err(ApiError::open311)?;
        v.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
    } else {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::bad_request("body", format!("malformed form: {e}")).open311())?
    };
    let bounds = backend.manifest.bounds.local;
    let req = backend
        .with_frame(|f| Ok::<_, CoordError>(ingest::parse_request(&fields, f, bounds)))
        .map_err(|e| crs_error(&e))?
        .map_err(|e| ApiError::from(e).open311())?;
    let source = fields.get("gridwall_source").and_then(|s| s.parse().ok()).unwrap_or(IncidentSource::MiniProgram);
    let key = req.category.key();
    let cmd = Command::Open { category: req.category, source, x: req.x, y: req.y, description: req.description };
    let done = backend
        .run_command(cmd, &who.0, |d| format!("incident {} ({key})", d.incident.unwrap_or_default()))
        .await
        .map_err(|e| ApiError::from(e).open311())?;
    let id = done.incident.expect("the incident was opened");
    Ok((
        StatusCode::CREATED,
        Json(vec![RequestCreated {
            service_request_id: id.to_string(),
            service_notice: "已受理".into(),
            account_id: None,
        }]),
    ))
}

pub async fn list(
    who: Who,
    Extension(access): Extension<Arc<Access>>,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<ServiceRequest>>> {
    let bad = |k: &str, m: String| ApiError::bad_request(k, m).open311();
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
    let start = time_param(&q, "start_date").map_err(ApiError::open311)?;
    let end = time_param(&q, "end_date").map_err(ApiError::open311)?;
    let now = backend.live().now_ms();
    // GeoReport v2 default window: the last 90 days, at most 1000 requests. Asked of the store
    // (indexed by acceptance time), off the live lock: the city's age costs nothing here.
    let query = RequestQuery {
        from_ms: start.unwrap_or(if ids.is_some() { i64::MIN } else { now - 90 * 86_400_000 }),
        to_ms: end.unwrap_or(i64::MAX),
        ids,
        categories: codes.map(|mut c| {
            c.sort_unstable();
            c.dedup();
            c.iter().map(|c| c.key().to_owned()).collect()
        }),
        closed: status.map(|s| s == "closed"),
        limit: 1000,
    };
    let recs = backend.requests(query).await.map_err(|e| ApiError::from(e).open311())?;
    let out = backend.with_frame(|f| {
        Ok::<_, CoordError>(recs.iter().map(|r| shown(ingest::request_out(r, f), &who.0, &access)).collect())
    });
    Ok(Json(out.map_err(|e| crs_error(&e))?))
}

pub async fn one(
    who: Who,
    Extension(access): Extension<Arc<Access>>,
    State(backend): State<Arc<Backend>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ServiceRequest>>> {
    let id = incident_id(&id).map_err(ApiError::open311)?;
    let rec = backend.incident(id).await.map_err(|e| ApiError::from(e).open311())?.ok_or_else(|| {
        ApiError::from(Refusal::not_found("service_request_id", format!("no request {id}"))).open311()
    })?;
    let out = backend.with_frame(|f| Ok::<_, CoordError>(ingest::request_out(&rec, f))).map_err(|e| crs_error(&e))?;
    Ok(Json(vec![shown(out, &who.0, &access)]))
}
