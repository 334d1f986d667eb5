//! Grid units (街道 street, 社区 community, 网格 cell).
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/grids` | every unit's outline in local metres, for displays → [`GridOutlines`] |
//! | `GET /api/v1/grids/{code}` | a unit with its patrols, open incidents, components and KPIs → [`GridSummary`] |

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::state::Refusal;
use gridwall_protocol::KpiPeriod;
use gridwall_protocol::api::GridSummary;

use super::access::Who;
use super::error::ApiResult;

/// The outlines never change while a server runs: built once, answered from that copy without
/// taking the live state's lock.
pub async fn outlines(who: Who, State(backend): State<Arc<Backend>>) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], axum::body::Bytes::copy_from_slice(backend.grid_outlines_json()))
        .into_response())
}

pub async fn summary(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Path(code): Path<String>,
) -> ApiResult<Json<GridSummary>> {
    who.check(Permission::Read)?;
    let live = backend.live();
    let g = live.world.grid(&code).ok_or_else(|| Refusal::not_found("code", format!("no grid unit {code:?}")))?;
    let (components, patrols, incidents) = live.world.in_grid(&code);
    Ok(Json(GridSummary {
        name: g.name.clone(),
        level: g.level,
        parent: g.parent.clone(),
        components: components.len(),
        patrols: patrols.iter().filter_map(|&id| live.patrol_state(id)).collect(),
        incidents: incidents.iter().filter_map(|&id| live.world.incident(id)).map(|r| live.incident_state(r)).collect(),
        kpis: live.kpis_for(Some(&code), KpiPeriod::All).unwrap_or_default(),
        code,
    }))
}
