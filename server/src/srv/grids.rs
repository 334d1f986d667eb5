//! Grid units (街道 street, 社区 community, 网格 cell).
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/grids` | every unit's outline in local metres, for displays → [`GridOutlines`] |
//! | `GET /api/v1/grids/{code}` | a unit with its patrols, incidents, components and KPIs → [`GridSummary`] |

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use gridwall_live::access::Permission;
use gridwall_live::backend::Backend;
use gridwall_live::state::Refusal;
use gridwall_protocol::api::{GridOutline, GridOutlines, GridSummary};

use super::access::Who;
use super::error::ApiResult;

pub async fn outlines(who: Who, State(backend): State<Arc<Backend>>) -> ApiResult<Json<GridOutlines>> {
    who.check(Permission::Read)?;
    let live = backend.live();
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let grids = live
        .world
        .grids
        .iter()
        .map(|g| GridOutline {
            code: g.code.clone(),
            name: g.name.clone(),
            level: g.level,
            parent: g.parent.clone(),
            rings: g
                .shape
                .iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .map(|ls| ls.coords().map(|c| [round(c.x), round(c.y)]).collect())
                .collect(),
        })
        .collect();
    Ok(Json(GridOutlines { grids }))
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
        incidents: incidents.iter().map(|id| live.incident_state(&live.world.incidents[id])).collect(),
        kpis: live.kpis(Some(&code)),
        code,
    }))
}
