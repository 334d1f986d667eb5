//! Open311 `GeoReport` v2 as gridwall speaks it (`/open311/v2/…`), with gridwall's workflow stage in
//! the `gridwall` extension of each request.

use serde::{Deserialize, Serialize};

pub mod xml;

/// The specification every endpoint of the discovery document follows.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

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

/// The discovery document (`GET /open311/discovery.json` or `.xml`): where the API is and what
/// it speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// When this document last changed (RFC 3339).
    pub changeset: String,
    pub contact: String,
    pub key_service: String,
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of the discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub specification: String,
    /// The base URL (append `services.json`, `requests.xml`, …).
    pub url: String,
    pub changeset: String,
    /// `production` or `test`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Media types: `text/xml`, `application/json`.
    pub formats: Vec<String>,
}
