//! Patrols: registration, position reports, recorded tracks, and the k nearest on duty.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/patrols` | register or update patrols → [`Registered`] |
//! | `POST /api/v1/positions` | a batch of position reports (JSON, or the protocol's binary batch as `application/vnd.gridwall.positions`) → 202 [`Accepted`] |
//! | `GET /api/v1/patrols/{id}/track?from=&to=` | a recorded track (default: all the history kept) → [`TrackAnswer`] |
//! | `GET /api/v1/nearest?incident=ID&k=5` (or `x=&y=`) | the k nearest on-duty patrols → [`NearestAnswer`] |

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gridwall_backend::Backend;
use gridwall_city::access::{Caller, Permission};
use gridwall_city::command::Command;
use gridwall_city::ingest::{self, Position};
use gridwall_city::state::Refusal;
use gridwall_city::world::MAX_NEAREST;
use gridwall_protocol::api::{
    Accepted, NearPatrol, NearestAnswer, PatrolRegistration, Registered, TrackAnswer, TrackFix,
};
use gridwall_protocol::binary::POSITIONS_MEDIA_TYPE;
use gridwall_scene::coords::CoordError;

use super::access::{Who, deny};
use super::error::{ApiError, ApiResult, media_type, parse_json, require_json};

pub async fn register(
    who: Who,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Registered>> {
    who.check_command(Permission::Administer, &backend, "register", || "patrols".into())?;
    require_json(&headers)?;
    let regs: Vec<PatrolRegistration> = parse_json(&body?)?;
    let registered = regs.len();
    let ids: Vec<String> = regs.iter().take(20).map(|r| r.patrol_id.clone()).collect();
    backend
        .run_command(Command::Register { patrols: regs }, &who.0, |_| {
            format!("{registered} patrols: {}", ids.join(", "))
        })
        .await?;
    Ok(Json(Registered { registered }))
}

/// How a batch of positions is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchForm {
    /// A JSON array of position objects.
    Json,
    /// The protocol's binary batch ([`gridwall_protocol::binary::PositionBatch`]).
    Binary,
}

/// Validates, applies and commits a batch of positions from `caller` (who must be allowed to
/// report for every patrol in it); how many were accepted.
pub async fn accept_positions(backend: &Backend, caller: &Caller, body: &[u8], form: BatchForm) -> ApiResult<usize> {
    if let Err(e) = caller.check(Permission::Report) {
        return Err(deny(backend, caller, "positions", "a batch".into(), &e));
    }
    let bounds = backend.manifest.bounds.local;
    let parse = match form {
        BatchForm::Json => ingest::parse_positions,
        BatchForm::Binary => ingest::binary_positions,
    };
    let positions: Vec<Position<'_>> = backend
        .with_frame(|f| Ok::<_, CoordError>(parse(body, f, bounds, backend.margin_m)))
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e.to_string()))??;
    for p in &positions {
        if let Err(e) = caller.check_patrol(&p.patrol_id) {
            return Err(deny(backend, caller, "positions", format!("patrol {}", p.patrol_id), &e));
        }
    }
    let n = positions.len();
    backend.ingest(&positions).await?;
    Ok(n)
}

pub async fn report(
    who: Who,
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let form = if media_type(&headers).as_deref() == Some(POSITIONS_MEDIA_TYPE) {
        BatchForm::Binary
    } else {
        require_json(&headers)?;
        BatchForm::Json
    };
    let accepted = accept_positions(&backend, &who.0, &body?, form).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })))
}

pub async fn track(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<TrackAnswer>> {
    who.check(Permission::Read)?;
    let pid =
        backend.live().patrol_id(&id).ok_or_else(|| Refusal::not_found("patrol_id", format!("no patrol {id:?}")))?;
    let mut q = q;
    if !q.contains_key("from") {
        let now = backend.live().now_ms();
        q.insert("from".into(), ingest::format_time(now - backend.retention_ms + 1_000));
    }
    let (from, to) = super::replay::range(&backend, &q, true)?;
    let history = backend.history();
    let fixes = tokio::task::spawn_blocking(move || {
        history.open()?.fixes(from - 1, to, |p| p == pid, super::replay::MAX_FIXES)
    })
    .await
    .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "history", e.to_string()))??;
    let points = fixes
        .get(&pid)
        .map(|v| {
            v.iter()
                .map(|f| {
                    let [x, y] = f.metres();
                    TrackFix { ts: ingest::format_time(f.t_ms), t_ms: f.t_ms, x, y }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(TrackAnswer { patrol_id: id, points }))
}

pub async fn nearest(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<NearestAnswer>> {
    who.check(Permission::Read)?;
    let k: usize = q
        .get("k")
        .map_or(Ok(5), |v| v.parse().map_err(|_| ApiError::bad_request("k", format!("{v:?} is not a count"))))?;
    if k == 0 || k > MAX_NEAREST {
        return Err(ApiError::bad_request("k", format!("must be 1 to {MAX_NEAREST}")));
    }
    let p = if let Some(v) = q.get("incident") {
        let id: u64 = v.parse().map_err(|_| ApiError::bad_request("incident", format!("{v:?} is not an id")))?;
        let rec = backend.incident(id).await?;
        rec.ok_or_else(|| Refusal::not_found("incident", format!("no incident {id}")))?.pos
    } else {
        let num = |k: &str| -> ApiResult<f64> {
            let v = q.get(k).ok_or_else(|| ApiError::bad_request(k, "give incident=ID or x and y (local metres)"))?;
            v.parse().map_err(|_| ApiError::bad_request(k, format!("{v:?} is not a number")))
        };
        let p = [num("x")?, num("y")?];
        if !backend.in_area(p) {
            let [x0, y0, x1, y1] = backend.area();
            return Err(ApiError::bad_request(
                "x",
                format!(
                    "({}, {}) is outside the scene: x {x0:.0} to {x1:.0}, y {y0:.0} to {y1:.0} (local metres)",
                    p[0], p[1]
                ),
            ));
        }
        p
    };
    let near = backend.nearest(p, k).await?;
    let live = backend.live();
    let patrols = near
        .into_iter()
        .map(|(id, d)| {
            let s = live.patrol_state(id);
            NearPatrol {
                id,
                patrol_id: live.patrol_ext(id).unwrap_or_default().to_owned(),
                distance_m: (d * 10.0).round() / 10.0,
                name: s.as_ref().map(|s| s.name.clone()),
                role: s.as_ref().map(|s| s.role),
                status: s.as_ref().map(|s| s.status),
            }
        })
        .collect();
    Ok(Json(NearestAnswer { x: p[0], y: p[1], patrols }))
}
