//! KPIs (结案率, 按期结案率, 满意率, …) city-wide or for a grid unit.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/kpis?scope=CODE` | KPIs city-wide or for a street, community or cell → [`KpisAnswer`] |
//!
//! Displays get the city-wide KPIs on their socket instead, whenever they change.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::state::Refusal;
use gridwall_protocol::api::KpisAnswer;

use super::access::Who;
use super::error::ApiResult;

pub async fn kpis(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<KpisAnswer>> {
    who.check(Permission::Read)?;
    let live = backend.live();
    let scope = q.get("scope").filter(|s| !s.is_empty()).cloned();
    if let Some(s) = &scope
        && live.world.grid(s).is_none()
    {
        return Err(Refusal::not_found("scope", format!("no grid unit {s:?}")).into());
    }
    let kpis = live.kpis(scope.as_deref());
    Ok(Json(KpisAnswer { scope, time_ms: live.now_ms(), kpis }))
}
