//! KPIs (结案率, 按期结案率, 满意率, …) city-wide or for a grid unit.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/kpis?scope=CODE&period=P` | KPIs city-wide or for a street, community or cell, since the start or this `year`, `quarter`, `month`, `day` → [`KpisAnswer`] |
//!
//! Answered from counters: O(1), whatever the city's age or its open work.
//!
//! Displays get the city-wide KPIs on their socket instead, whenever they change.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::state::Refusal;
use gridwall_protocol::KpiPeriod;
use gridwall_protocol::api::KpisAnswer;

use super::access::Who;
use super::error::{ApiError, ApiResult};

pub async fn kpis(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<KpisAnswer>> {
    who.check(Permission::Read)?;
    let period: KpiPeriod = match q.get("period").filter(|p| !p.is_empty()) {
        None => KpiPeriod::All,
        Some(p) => p.parse().map_err(|_| {
            ApiError::bad_request(
                "period",
                format!("{:?}: use all, year, quarter, month or day", p.chars().take(32).collect::<String>()),
            )
        })?,
    };
    let scope = q.get("scope").filter(|s| !s.is_empty()).cloned();
    let live = backend.live();
    let kpis = live.kpis_for(scope.as_deref(), period).ok_or_else(|| {
        Refusal::not_found("scope", format!("no grid unit {:?}", scope.as_deref().unwrap_or_default()))
    })?;
    Ok(Json(KpisAnswer { scope, period, time_ms: live.now_ms(), kpis }))
}
