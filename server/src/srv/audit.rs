//! The audit trail, for admins.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/audit?since=&actor=&limit=` | commands, newest first (default 100, at most 1000; since RFC 3339) → [`AuditAnswer`] |

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use gridwall_backend::Backend;
use gridwall_city::access::{MAX_NAME, Permission};
use gridwall_protocol::api::AuditAnswer;

use super::access::Who;
use super::error::{ApiError, ApiResult, time_param};

pub async fn trail(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<AuditAnswer>> {
    who.check(Permission::Administer)?;
    let since = time_param(&q, "since")?.unwrap_or(i64::MIN);
    let limit = match q.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit", "must be 1 to 1000"))?,
    };
    let actor = q.get("actor").map(String::as_str);
    if actor.is_some_and(|a| a.chars().count() > MAX_NAME) {
        return Err(ApiError::bad_request("actor", format!("at most {MAX_NAME} characters")));
    }
    Ok(Json(AuditAnswer { entries: backend.live().audit_trail(since, actor, limit) }))
}
