//! `GET /api/v1/cluster`: whether this server leads its city, follows the leader, or is alone
//! (no `--bus`), and how far it has got.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use gridwall_backend::Backend;
use gridwall_bus::Role;
use gridwall_city::access::Permission;
use gridwall_protocol::api::ClusterStatus;

use super::access::Who;
use super::error::ApiResult;

pub async fn status(who: Who, State(backend): State<Arc<Backend>>) -> ApiResult<Json<ClusterStatus>> {
    who.check(Permission::Read)?;
    let (instance, role) = match &backend.bus {
        None => (String::new(), "single"),
        Some(b) => (b.instance.clone(), if b.role() == Role::Leader { "leader" } else { "follower" }),
    };
    let live = backend.live();
    Ok(Json(ClusterStatus { instance, role: role.into(), change: live.change_id(), seq: live.last_seq() }))
}
