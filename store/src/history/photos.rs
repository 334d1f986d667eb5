//! Residents' photos (Open311 uploads, already stripped of metadata by
//! `gridwall_city::photo`): written by the server that took the request, before the incident
//! that lists them is opened, and read by id. In the embedded store's file, or a city's rows
//! in PostgreSQL. A photo is keyed by the SHA-256 of its bytes: the same photo sent twice is
//! kept once.

use super::HistoryError;
use super::source::{Opener, Source};

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    pub mime: String,
    pub bytes: Vec<u8>,
}

impl Opener {
    /// Stores a photo (blocking: call it off the async threads); a photo already there is kept.
    /// Durable when it returns. `max_pages`: the embedded store's cap (`--store-max-pages`).
    pub fn put_photo(
        &self,
        id: &str,
        photo: &StoredPhoto,
        now_ms: i64,
        max_pages: Option<u64>,
    ) -> Result<(), HistoryError> {
        match self {
            Self::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn.execute_batch("PRAGMA synchronous = FULL")?;
                if let Some(pages) = max_pages {
                    conn.pragma_update(None, "max_page_count", pages)?;
                }
                conn.execute(
                    "INSERT OR IGNORE INTO photos (id, mime, bytes, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![id, photo.mime, photo.bytes, now_ms],
                )?;
            }
            Self::Postgres { url, city } => {
                let mut client = url.parse::<postgres::Config>()?.connect(postgres::NoTls)?;
                client.execute(
                    "INSERT INTO photos (city, id, mime, bytes, created) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT DO NOTHING",
                    &[&city.city, &id, &photo.mime, &photo.bytes, &crate::time_of(now_ms)],
                )?;
            }
        }
        Ok(())
    }
}

impl Source {
    /// A photo by id.
    pub fn photo(&mut self, id: &str) -> Result<Option<StoredPhoto>, HistoryError> {
        match self {
            Self::Sqlite(c) => {
                let mut st = c.prepare_cached("SELECT mime, bytes FROM photos WHERE id = ?1")?;
                let mut rows = st.query([id])?;
                Ok(rows
                    .next()?
                    .map(|r| Ok::<_, rusqlite::Error>(StoredPhoto { mime: r.get(0)?, bytes: r.get(1)? }))
                    .transpose()?)
            }
            Self::Postgres(p) => {
                let city = p.city().to_owned();
                let row =
                    p.c().query_opt("SELECT mime, bytes FROM photos WHERE city = $1 AND id = $2", &[&city, &id])?;
                Ok(row.map(|r| StoredPhoto { mime: r.get(0), bytes: r.get(1) }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_is_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(dir.path()).unwrap();
        let opener = Opener::Sqlite(store.path().to_owned());
        let p = StoredPhoto { mime: "image/jpeg".into(), bytes: vec![0xFF, 0xD8, 1, 2, 3] };
        opener.put_photo("ab", &p, 1, None).unwrap();
        opener.put_photo("ab", &StoredPhoto { mime: "image/png".into(), bytes: vec![9] }, 2, None).unwrap();
        let mut src = opener.open().unwrap();
        assert_eq!(src.photo("ab").unwrap(), Some(p), "the first one is kept");
        assert_eq!(src.photo("cd").unwrap(), None);
    }
}
