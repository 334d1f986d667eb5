//! Why an operation or a restart was refused.

use gridwall_protocol::UnknownKey;
use gridwall_protocol::api::ErrorDetail;

/// Why an operation was refused; becomes a 4xx answer naming the field (and travels from a
/// city's leader to the server that asked, over the bus).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{field}: {message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub index: Option<usize>,
    pub field: String,
    pub message: String,
}

impl From<&Refusal> for ErrorDetail {
    fn from(r: &Refusal) -> Self {
        Self { index: r.index, field: r.field.clone(), message: r.message.clone() }
    }
}

/// Why the stored state could not be taken back into memory.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("stored patrol {id}: {source}")]
    Patrol { id: u32, source: UnknownKey },
    #[error("stored patrol ids are not dense at {0}")]
    SparseIds(u32),
    #[error("stored incident {id}: {source}")]
    Incident { id: u64, source: UnknownKey },
    #[error("stored event {seq}: {source}")]
    Event { seq: u64, source: serde_json::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// Malformed or out-of-range input (400).
    Invalid,
    /// An id that does not exist (404).
    NotFound,
    /// Valid input that the current state does not allow, e.g. a workflow step (409).
    Conflict,
}

impl Refusal {
    pub fn new(kind: RefusalKind, field: &str, message: impl Into<String>) -> Self {
        Self { kind, index: None, field: field.to_owned(), message: message.into() }
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Invalid, field, message)
    }
    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::NotFound, field, message)
    }
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Conflict, field, message)
    }
}

impl From<crate::ingest::IngestError> for Refusal {
    fn from(e: crate::ingest::IngestError) -> Self {
        Self { kind: RefusalKind::Invalid, index: e.index, field: e.field, message: e.message }
    }
}
