//! Asking the store, off the live state's lock: old incidents (the live state holds the open
//! ones only), Open311 lists, anything a request wants of the past. Each question runs on a
//! blocking thread with a pooled reader connection of its own, so a slow query delays its own
//! request only, never a tick or a position report.

use std::sync::Arc;

use gridwall_city::records::IncidentRow;
use gridwall_city::state::incident_rec;
use gridwall_city::world::IncidentRec;
use gridwall_store::history::HistoryError;
use gridwall_store::history::codec::Damaged;
use gridwall_store::history::incidents::RequestQuery;
use gridwall_store::history::photos::StoredPhoto;
use gridwall_store::history::source::Source;

use crate::Backend;

/// Reader connections kept open between questions.
pub(crate) const READERS: usize = 4;

impl Backend {
    /// Runs `f` on a reader connection to the store, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Source) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        // At most READERS questions at once: a burst of requests waits here rather than opening
        // a connection each (PostgreSQL's connections are few, and the writer needs one).
        let _turn = self.reading.acquire().await.expect("never closed");
        let backend = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let pooled = backend.readers.lock().expect("readers").pop();
            let mut source = match pooled {
                Some(s) => s,
                None => backend.history().open()?,
            };
            let out = f(&mut source);
            // After an error the connection may be gone: a new one next time.
            if out.is_ok() {
                let mut pool = backend.readers.lock().expect("readers");
                if pool.len() < READERS {
                    pool.push(source);
                }
            }
            out
        });
        task.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// An incident of any age: from memory while open, else from the store.
    pub async fn incident(self: &Arc<Self>, id: u64) -> Result<Option<IncidentRec>, HistoryError> {
        if let Some(rec) = self.live().world.incident(id) {
            return Ok(Some(rec.clone()));
        }
        let row = self.read(move |s| s.incident(id)).await?;
        row.as_ref().map(rec_of).transpose()
    }

    /// Incidents as an Open311 list asks for them, newest accepted first, from the store.
    pub async fn requests(self: &Arc<Self>, query: RequestQuery) -> Result<Vec<IncidentRec>, HistoryError> {
        let rows = self.read(move |s| s.requests(&query)).await?;
        rows.iter().map(rec_of).collect()
    }
}

impl Backend {
    /// Stores a resident's photo (already cleaned), durably, before the request that lists it
    /// is opened; on a connection of its own, off the async threads, taking a reader's turn.
    pub async fn put_photo(self: &Arc<Self>, id: String, photo: StoredPhoto) -> Result<(), HistoryError> {
        let _turn = self.reading.acquire().await.expect("never closed");
        let (opener, now, pages) = (self.history(), self.live().now_ms(), self.store_max_pages);
        tokio::task::spawn_blocking(move || opener.put_photo(&id, &photo, now, pages))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// A stored photo by id.
    pub async fn photo(self: &Arc<Self>, id: String) -> Result<Option<StoredPhoto>, HistoryError> {
        self.read(move |s| s.photo(&id)).await
    }
}

/// A stored incident as the world keeps it (one whose category or source this version does not
/// know is damaged).
fn rec_of(row: &IncidentRow) -> Result<IncidentRec, HistoryError> {
    incident_rec(row)
        .map_err(|_| HistoryError::Damaged(Damaged { what: "incident", why: "an unknown category or source" }))
}
