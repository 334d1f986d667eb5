//! Incidents: one with its timeline, and workflow steps.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/incidents/{id}` | an incident with its timeline, open or closed long ago → [`IncidentDetail`] |
//! | `POST /api/v1/incidents/{id}/transitions` | a workflow step → [`TransitionAnswer`] |

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use gridwall_backend::Backend;
use gridwall_city::access::Permission;
use gridwall_city::command::Command;
use gridwall_city::state::Refusal;
use gridwall_city::workflow::Action;
use gridwall_protocol::api::{IncidentDetail, TransitionAnswer};
use serde::Deserialize;

use super::access::Who;
use super::error::{ApiError, ApiResult, incident_id, parse_json, require_json};

pub async fn detail(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentDetail>> {
    who.check(Permission::Read)?;
    let id = incident_id(&id)?;
    // Open: from memory; closed (however long ago): from the store, off the live lock.
    let rec = backend.incident(id).await?.ok_or_else(|| Refusal::not_found("id", format!("no incident {id}")))?;
    let live = backend.live();
    let now = live.now_ms();
    Ok(Json(IncidentDetail {
        incident: live.incident_state(&rec),
        overdue: rec.case.is_overdue(now),
        time_left_ms: rec.case.deadline_ms.map(|d| d - now),
        assignee: rec.case.assignee.clone(),
        reworks: rec.case.reworks,
        satisfaction: rec.case.satisfaction,
        timeline: rec.case.timeline.clone(),
        attributes: gridwall_city::services::describe(rec.category, &rec.case.intake.attributes),
        photos: rec.case.intake.photos.iter().map(gridwall_city::open311::photo_file).collect(),
    }))
}

/// `{"action":"dispatch","assignee":"P-1","note":"…"}` (or `resolve`, `review_pass`,
/// `review_reject`, `close` with `satisfaction`). An `actor` is read only on a server without
/// tokens; otherwise the actor is the token's holder.
#[derive(Deserialize)]
struct TransitionIn {
    #[serde(flatten)]
    action: Action,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    note: String,
}

pub async fn transition(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TransitionAnswer>> {
    who.check_command(Permission::Command, &backend, "transition", || format!("incident {id}"))?;
    require_json(&headers)?;
    let id = incident_id(&id)?;
    let value: serde_json::Value = parse_json(&body?)?;
    let action = value.get("action").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    if !["dispatch", "resolve", "review_pass", "review_reject", "close"].contains(&action.as_str()) {
        return Err(ApiError::bad_request(
            "action",
            format!("{action:?}: use dispatch, resolve, review_pass, review_reject or close"),
        ));
    }
    let t: TransitionIn = serde_json::from_value(value).map_err(|e| {
        let field = if e.to_string().contains("satisfaction") {
            "satisfaction"
        } else if e.to_string().contains("assignee") {
            "assignee"
        } else {
            "actor"
        };
        ApiError::bad_request(field, e.to_string())
    })?;
    let actor = who.0.actor(&t.actor);
    let cmd = Command::Apply { incident: id, action: t.action, actor, note: t.note };
    backend.run_command(cmd, &who.0, |_| format!("incident {id}")).await?;
    // A step that closed it let it go from memory: the store has it.
    let rec = backend.incident(id).await?.ok_or_else(|| Refusal::not_found("id", format!("no incident {id}")))?;
    Ok(Json(TransitionAnswer { incident: backend.live().incident_state(&rec) }))
}
