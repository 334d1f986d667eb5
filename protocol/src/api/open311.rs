//! Open311 `GeoReport` v2 as gridwall speaks it (`/open311/v2/…`), with gridwall's workflow stage in
//! the `gridwall` extension of each request.

use serde::{Deserialize, Serialize};

/// One service (`GET /open311/v2/services.json`): an incident category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    pub metadata: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub keywords: String,
    pub group: String,
}

/// gridwall's extension of a request: the detailed workflow state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub stage: String,
    pub stage_zh: String,
    pub level: String,
    pub grid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    pub escalated: bool,
}

/// One service request (`GET /open311/v2/requests.json`, `GET /open311/v2/requests/{id}.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRequest {
    pub service_request_id: String,
    /// `open` until 回访结案, then `closed`.
    pub status: String,
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub lat: f64,
    pub long: f64,
    pub gridwall: Extension,
}

/// The answer to `POST /open311/v2/requests.json` (201), one per request made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCreated {
    pub service_request_id: String,
    pub service_notice: String,
    pub account_id: Option<String>,
}

/// An Open311 error (the body is a list of them), with the offending field as an extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open311Error {
    pub code: u16,
    pub description: String,
    pub field: String,
}
