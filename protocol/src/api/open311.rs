//! Open311 `GeoReport` v2 as gridwall speaks it (`/open311/v2/…`), with gridwall's workflow stage in
//! the `gridwall` extension of each request.

use std::collections::BTreeMap;

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

/// A service definition (`GET /open311/v2/services/{code}.json`): what a request of a service
/// with `metadata: true` may or must say beyond the common fields, submitted as
/// `attribute[code]=value` (`attribute[code][]=value` for each value of a multi-value list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Vec<Attribute>,
}

/// One attribute of a service definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// `false`: information shown to the resident only, not asked for.
    pub variable: bool,
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist` or `multivaluelist`.
    pub datatype: String,
    pub required: bool,
    /// How to fill it in (bounds of a number, length of a text).
    pub datatype_description: String,
    pub order: u32,
    /// The question, in the language asked for.
    pub description: String,
    /// The choices of a list (empty for the other types).
    pub values: Vec<AttributeValue>,
}

/// One choice of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub key: String,
    pub name: String,
}

/// gridwall's extension of a request: the detailed workflow state, and what the request was
/// filed with (shown to those who may read residents' text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub stage: String,
    pub stage_zh: String,
    pub level: String,
    pub grid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    pub escalated: bool,
    /// The service definition's attributes as submitted: code → values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Every photo of the request (`media_url` is the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
}

/// One service request (`GET /open311/v2/requests.json`, `GET /open311/v2/requests/{id}.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRequest {
    pub service_request_id: String,
    /// `open` until 回访结案, then `closed`.
    pub status: String,
    /// The workflow's public steps so far, in the language asked for (no staff notes, no names).
    #[serde(default)]
    pub status_notes: String,
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// Who handles it now: the grid level (网格, 社区, 街道, 市指挥中心) and the cell's code.
    #[serde(default)]
    pub agency_responsible: String,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub lat: f64,
    pub long: f64,
    /// A photo of the request: one uploaded with it (served by this server), else the address
    /// the client gave; empty when there is none or the caller may not see it.
    #[serde(default)]
    pub media_url: String,
    pub gridwall: Extension,
}

/// What an integrator's webhook receives when a request changes state (`POST`, JSON, signed:
/// `X-Gridwall-Signature: sha256=` HMAC-SHA256 of `X-Gridwall-Timestamp`, `.` and the body,
/// keyed with the token's webhook secret). Delivered at least once: the same `id` may come
/// again after a failure, and a receiver that has seen it should answer 2xx and do nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The same on every attempt of this delivery: the city and the event's number.
    pub id: String,
    /// `opened`, `changed` or `escalated`.
    pub event: String,
    /// The event's number in the city's log (increasing).
    pub seq: u64,
    /// When the change happened (RFC 3339).
    pub time: String,
    /// The workflow stage the change led to (gridwall's key: `accepted`, `dispatched`, …).
    pub stage: String,
    /// The request as the token's role may see it, when the delivery was first made.
    pub service_request: ServiceRequest,
}

/// The language of an answer's words: Chinese unless `Accept-Language` prefers English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The language an `Accept-Language` header prefers among Chinese and English (the highest
    /// `q`; the first of equals); Chinese when it names neither.
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',').take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite());
            let lang = match tag.split('-').next() {
                Some("zh") => Lang::Zh,
                Some("en") => Lang::En,
                _ => continue,
            };
            if let Some(q) = q
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Zh, |b| b.1)
    }
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

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn the_language_is_the_preferred_of_chinese_and_english() {
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("fr, en;q=0.5, zh;q=0.4"), Lang::En);
        assert_eq!(Lang::from_accept_language("en;q=0, zh-Hans;q=0.2"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("de, fr"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en;q=NaN, en;q=abc"), Lang::Zh);
    }
}
