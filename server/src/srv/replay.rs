//! The retained past for third-party tools (GIS, spreadsheets): patrol tracks and incident
//! histories between two times, read from the store's history on a connection of their own.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/replay/patrols.geojson?from=&to=&bbox=` | tracks as `LineString`s (WGS84) with per-vertex `times` |
//! | `GET /api/v1/replay/incidents.geojson?from=&to=` | incidents with a workflow step in the range, each with its timeline |
//! | `GET /api/v1/replay/incidents.csv?from=&to=` | the same as one row per workflow step |
//!
//! `from`/`to` are RFC 3339 (default: the last hour; tracks within the retention, incidents of
//! any age); `bbox` is `west,south,east,north` in
//! WGS84. At most [`MAX_FIXES`] fixes or [`MAX_INCIDENTS`] incidents an answer (400 past them:
//! narrow the range).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::ingest::{format_time, format_time_ms};
use gridwall_protocol::{Bbox, BboxCrs};
use gridwall_store::history::HistoryError;
use serde_json::{Value, json};

use super::access::Who;
use super::error::{ApiError, ApiResult, time_param};

/// Most position fixes one export answers with.
pub const MAX_FIXES: usize = 2_000_000;
/// Most incidents one export answers with.
pub const MAX_INCIDENTS: usize = 100_000;
/// The longest range of an incident export (incidents of any age, a quarter at a time).
pub const MAX_INCIDENT_SPAN_MS: i64 = 92 * 86_400_000;

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::BeforeHistory { .. } | HistoryError::Future { .. } | HistoryError::TooMany { .. } => {
                Self::bad_request("from", e.to_string())
            }
            e => Self::status(StatusCode::INTERNAL_SERVER_ERROR, "history", e.to_string()),
        }
    }
}

/// `from` and `to` of a query (default: the hour before now), within the history kept (tracks;
/// incidents are kept for good: `retained` false).
pub fn range(backend: &Backend, q: &HashMap<String, String>, retained: bool) -> ApiResult<(i64, i64)> {
    let now = backend.live().now_ms();
    let to = time_param(q, "to")?.unwrap_or(now).min(now);
    let from = time_param(q, "from")?.unwrap_or(to - 3_600_000);
    if from > to {
        return Err(ApiError::bad_request("from", "from is after to"));
    }
    if retained && from < now - backend.retention_ms {
        return Err(ApiError::bad_request(
            "from",
            format!(
                "{} is before the history kept ({:.0} h: from {} on)",
                format_time(from),
                backend.retention_ms as f64 / 3_600_000.0,
                format_time(now - backend.retention_ms)
            ),
        ));
    }
    Ok((from, to))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, HistoryError> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "history", e.to_string()))?
        .map_err(ApiError::from)
}

fn geojson(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], v.to_string()).into_response()
}

fn wgs84(backend: &Backend, pts: impl Iterator<Item = [f64; 2]>) -> ApiResult<Vec<[f64; 2]>> {
    backend
        .with_frame(|f| {
            pts.map(|[x, y]| f.to_wgs84(x, y).map(|(lon, lat)| [(lon * 1e7).round() / 1e7, (lat * 1e7).round() / 1e7]))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e.to_string()))
}

/// `GET /api/v1/replay/patrols.geojson`
pub async fn patrols_geojson(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    let (from, to) = range(&backend, &q, true)?;
    let bbox = match q.get("bbox") {
        None => None,
        Some(v) => {
            let n: Vec<f64> =
                v.split(',').map(|s| s.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| {
                    ApiError::bad_request("bbox", format!("{v:?} is not west,south,east,north in degrees"))
                })?;
            let b: [f64; 4] = n
                .try_into()
                .map_err(|_| ApiError::bad_request("bbox", "four numbers: west,south,east,north in degrees"))?;
            let local = gridwall_backend::session::to_local_bbox(Bbox(b), BboxCrs::Wgs84, &backend)
                .map_err(|e| ApiError::bad_request("bbox", e.to_string()))?;
            Some(local)
        }
    };
    let history = backend.history();
    let tracks = blocking(move || history.open()?.fixes(from - 1, to, |_| true, MAX_FIXES)).await?;
    let mut ids: Vec<u32> = tracks.keys().copied().collect();
    ids.sort_unstable();
    let mut features = Vec::new();
    for id in ids {
        let fixes: Vec<_> = tracks[&id]
            .iter()
            .filter(|f| bbox.is_none_or(|b| b.contains(f.metres()[0], f.metres()[1])))
            .copied()
            .collect();
        if fixes.is_empty() {
            continue;
        }
        let coords = wgs84(&backend, fixes.iter().map(gridwall_store::history::codec::Fix::metres))?;
        let (ext, name, role) = {
            let live = backend.live();
            let p = live.world.patrols.get(&id);
            (
                live.patrol_ext(id).unwrap_or_default().to_owned(),
                p.map(|p| p.name.clone()).unwrap_or_default(),
                p.map(|p| p.role.key()).unwrap_or_default(),
            )
        };
        let geometry = if coords.len() == 1 {
            json!({"type": "Point", "coordinates": coords[0]})
        } else {
            json!({"type": "LineString", "coordinates": coords})
        };
        features.push(json!({
            "type": "Feature",
            "geometry": geometry,
            "properties": {
                "patrol_id": ext,
                "name": name,
                "role": role,
                "times": fixes.iter().map(|f| format_time_ms(f.t_ms)).collect::<Vec<_>>(),
                "t_ms": fixes.iter().map(|f| f.t_ms).collect::<Vec<_>>(),
            },
        }));
    }
    Ok(geojson(&json!({
        "type": "FeatureCollection",
        "from": format_time_ms(from),
        "to": format_time_ms(to),
        "features": features,
    })))
}

/// The incidents of an export's range (for a caller who may read), each with its WGS84 point.
async fn incidents(
    who: &Who,
    backend: &Backend,
    q: &HashMap<String, String>,
) -> ApiResult<Vec<(gridwall_city::records::IncidentRow, [f64; 2])>> {
    who.check(Permission::Read)?;
    let (from, to) = range(backend, q, false)?;
    if to - from > MAX_INCIDENT_SPAN_MS {
        return Err(ApiError::bad_request(
            "from",
            format!(
                "at most {} days of incidents an export: ask for a shorter range",
                MAX_INCIDENT_SPAN_MS / 86_400_000
            ),
        ));
    }
    let history = backend.history();
    let (rows, more) = blocking(move || history.open()?.incidents_between(from, to, MAX_INCIDENTS)).await?;
    if more {
        return Err(ApiError::bad_request(
            "from",
            format!("more than {MAX_INCIDENTS} incidents in the range: ask for a shorter time"),
        ));
    }
    let coords = wgs84(backend, rows.iter().map(|r| [r.x, r.y]))?;
    Ok(rows.into_iter().zip(coords).collect())
}

/// `GET /api/v1/replay/incidents.geojson`
pub async fn incidents_geojson(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let rows = incidents(&who, &backend, &q).await?;
    let features: Vec<Value> = rows
        .iter()
        .map(|(r, c)| {
            json!({
                "type": "Feature",
                "id": r.id,
                "geometry": {"type": "Point", "coordinates": c},
                "properties": {
                    "id": r.id,
                    "category": r.category,
                    "source": r.source,
                    "grid": r.grid,
                    "description": r.description,
                    "stage": r.case.stage.key(),
                    "level": r.case.level.key(),
                    "created": format_time_ms(r.case.created_ms),
                    "x": r.x,
                    "y": r.y,
                    "timeline": r.case.timeline.iter().map(|t| json!({
                        "from": t.from.key(),
                        "to": t.to.key(),
                        "action": t.action,
                        "actor": t.actor,
                        "note": t.note,
                        "at": format_time_ms(t.at_ms),
                    })).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    Ok(geojson(&json!({"type": "FeatureCollection", "features": features})))
}

/// A CSV field, quoted when it needs to be (RFC 4180).
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

/// `GET /api/v1/replay/incidents.csv`
pub async fn incidents_csv(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let rows = incidents(&who, &backend, &q).await?;
    let mut out = String::from("incident,category,source,grid,lon,lat,x,y,step,from_stage,to_stage,action,actor,at\n");
    for (r, [lon, lat]) in &rows {
        for (n, t) in r.case.timeline.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{},{},{},{lon},{lat},{},{},{n},{},{},{},{},{}",
                r.id,
                csv(&r.category),
                csv(&r.source),
                csv(&r.grid),
                r.x,
                r.y,
                t.from.key(),
                t.to.key(),
                csv(&t.action),
                csv(&t.actor),
                format_time_ms(t.at_ms)
            );
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
}
