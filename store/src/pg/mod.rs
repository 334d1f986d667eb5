//! PostgreSQL 15 + PostGIS 3 as the store (`serve --store postgres://…`): the same records as
//! the embedded store, in tables that GIS tools read directly (`migrations/`, applied at start by
//! refinery). A commit is durable when it returns (`synchronous_commit = on`).
//!
//! * One database holds many cities; every row carries its city (the scene's name).
//! * Position fixes go in with `COPY … BINARY` (one row each, geometry as EWKB) into the journal
//!   `fixes`; the maintenance thread moves each minute that is over into `track_chunks` (one row
//!   per patrol and minute, `chunks.rs`), makes the coming days' partitions of both and drops
//!   those past the retention.
//! * Incidents of any age are the store's (the live state holds the open ones); the KPI
//!   counters' day rows (`kpi_days`, `kpi_all`) are added with each workflow event.
//! * The migrations run under an advisory lock: servers starting together take turns.
//! * Fencing: opening the store bumps the city's `epoch`; each transaction checks it, so a server
//!   that another one has taken over from writes nothing more ([`StoreError::Superseded`]).
//! * A lost connection fails the write in progress ([`StoreError::Unavailable`], 503 to the
//!   client) and is opened again by the next write once the database answers.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridwall_city::records::{Change, IncidentRow, Loaded, Record};
use gridwall_city::tally::{DayTally, Tally};
use postgres::types::Type;
use postgres::{Client, NoTls, Statement};

use crate::{LoadFrom, Store, StoreError};
use days::DAY_MS;

mod chunks;
mod days;
mod load;
mod maintain;
mod write;

pub(crate) use load::{incident_row, tally_at};
pub use maintain::spawn_pg_maintenance;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The advisory lock the migrations are applied under ("gridwall" as a number).
const MIGRATION_LOCK: i64 = 0x6772_6964_7761_6c6c;

/// Which city a store holds and where its local metres lie.
#[derive(Debug, Clone, PartialEq)]
pub struct CityKey {
    /// The scene's name.
    pub city: String,
    /// `EPSG:NNNN`.
    pub crs: String,
    /// Projected coordinates of the local origin.
    pub origin: [f64; 2],
}

impl CityKey {
    /// The SRID of `EPSG:NNNN` (PostGIS's `spatial_ref_sys` uses the EPSG codes).
    pub fn srid(&self) -> Option<i32> {
        self.crs.strip_prefix("EPSG:").and_then(|c| c.parse().ok())
    }
}

/// The prepared statements of one connection.
struct Prepared {
    fence: Statement,
    patrol: Statement,
    patrol_log: Statement,
    incident: Statement,
    transition: Statement,
    event: Statement,
    audit: Statement,
    keyframe: Statement,
    kpis: Statement,
    change: Statement,
    kpi_day: Statement,
    kpi_all: Statement,
    warning: Statement,
    geometry: Type,
}

/// The PostgreSQL store of one city.
pub struct PostgresStore {
    url: String,
    /// The address without credentials, for messages.
    shown: String,
    city: CityKey,
    srid: i32,
    epoch: i64,
    conn: Option<(Client, Prepared)>,
    /// Day partitions of `fixes` known to exist (days since 1970, UTC).
    days: HashSet<i64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("db", &self.shown).field("city", &self.city.city).finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` without the secret.
pub fn shown_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Milliseconds since 1970 as a timestamp.
pub(crate) fn time_of(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// A timestamp as milliseconds since 1970.
pub(crate) fn ms_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

impl PostgresStore {
    /// Connects, applies the migrations and, with `take_over`, takes over writing `city`
    /// (bumping its epoch; servers on a bus take it over when they win the lease). A city
    /// stored with another CRS or origin is refused.
    pub fn open(url: &str, city: CityKey, take_over: bool) -> Result<Self, StoreError> {
        let shown = shown_url(url);
        let srid = city.srid().ok_or_else(|| StoreError::Crs { crs: city.crs.clone() })?;
        let mut client = connect(url, &shown)?;
        let pg = |source| StoreError::Postgres { db: shown.clone(), source };
        // Servers starting together on a fresh database take turns: one applies the
        // migrations, the others then find them applied (the lock is the session's, let go of
        // when it ends if this one dies half way).
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(pg)?;
        let migrated = embedded::migrations::runner()
            .set_migration_table_name("gridwall_migrations")
            .run(&mut client)
            .map_err(|source| StoreError::Migrate { db: shown.clone(), source: Box::new(source) });
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).map_err(pg)?;
        migrated?;
        let row = client
            .query_one(
                "INSERT INTO cities (city, crs, srid, origin_x, origin_y) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (city) DO UPDATE SET epoch = cities.epoch + $6 \
                 RETURNING epoch, crs, origin_x, origin_y",
                &[&city.city, &city.crs, &srid, &city.origin[0], &city.origin[1], &i64::from(take_over)],
            )
            .map_err(pg)?;
        let (epoch, crs, ox, oy): (i64, String, f64, f64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        if crs != city.crs || ox != city.origin[0] || oy != city.origin[1] {
            return Err(StoreError::WrongCity {
                db: shown,
                city: city.city,
                stored: format!("{crs} around ({ox}, {oy})"),
                scene: format!("{} around ({}, {})", city.crs, city.origin[0], city.origin[1]),
            });
        }
        let prepared = prepare(&mut client).map_err(pg)?;
        Ok(Self { url: url.to_owned(), shown, city, srid, epoch, conn: Some((client, prepared)), days: HashSet::new() })
    }

    /// A second connection to a city's store that does not take over writing it (for the
    /// maintenance thread: it only prunes).
    pub fn attach(url: &str, city: CityKey) -> Result<Self, StoreError> {
        let shown = shown_url(url);
        let srid = city.srid().ok_or_else(|| StoreError::Crs { crs: city.crs.clone() })?;
        let mut client = connect(url, &shown)?;
        let prepared = prepare(&mut client).map_err(|source| StoreError::Postgres { db: shown.clone(), source })?;
        Ok(Self {
            url: url.to_owned(),
            shown,
            city,
            srid,
            epoch: 0,
            conn: Some((client, prepared)),
            days: HashSet::new(),
        })
    }

    /// The database's address without credentials.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The connection, opened again if it was lost.
    fn conn(&mut self) -> Result<&mut (Client, Prepared), StoreError> {
        if self.conn.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let mut client = connect(&self.url, &self.shown)?;
            let prepared = prepare(&mut client).map_err(|source| self.fail(source))?;
            tracing::info!("the database {} answers again", self.shown);
            self.conn = Some((client, prepared));
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    /// The error for a failed statement: a lost connection is dropped (the next write opens a
    /// new one) and reported as [`StoreError::Unavailable`].
    fn fail(&mut self, source: postgres::Error) -> StoreError {
        if is_connection_error(&source) || self.conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            self.conn = None;
            StoreError::Unavailable { db: self.shown.clone(), source }
        } else {
            StoreError::Postgres { db: self.shown.clone(), source }
        }
    }
}

/// For `?` in the store's own methods, which [`PostgresStore::named`] then names and sorts.
impl From<postgres::Error> for StoreError {
    fn from(source: postgres::Error) -> Self {
        StoreError::Postgres { db: String::new(), source }
    }
}

/// Whether an error means the server went away (rather than refusing the statement).
fn is_connection_error(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08: connection exceptions; 57P01-57P03: the server is shutting down or starting.
        return code.code().starts_with("08") || code.code().starts_with("57P");
    }
    // No SQL state: an I/O error of the connection.
    let text = e.to_string();
    text.contains("connection")
        || text.contains("error communicating")
        || e.source().is_some_and(<dyn StdError>::is::<std::io::Error>)
}

fn connect(url: &str, shown: &str) -> Result<Client, StoreError> {
    let mut config: postgres::Config =
        url.parse().map_err(|source| StoreError::Postgres { db: shown.to_owned(), source })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(3));
    }
    config.application_name("gridwall-server");
    let mut client =
        config.connect(NoTls).map_err(|source| StoreError::Unavailable { db: shown.to_owned(), source })?;
    // A commit returns once it is on the database's disk, whatever the server's default.
    client
        .batch_execute("SET synchronous_commit = on; SET TIME ZONE 'UTC'")
        .map_err(|source| StoreError::Unavailable { db: shown.to_owned(), source })?;
    Ok(client)
}

fn prepare(client: &mut Client) -> Result<Prepared, postgres::Error> {
    let geometry = client.prepare("SELECT $1::geometry")?.params()[0].clone();
    Ok(Prepared {
        fence: client.prepare("SELECT epoch FROM cities WHERE city = $1 FOR SHARE")?,
        patrol: client.prepare(
            "INSERT INTO patrols (city, id, ext_id, name, role, grid, status, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (city, id) DO UPDATE SET \
             ext_id = EXCLUDED.ext_id, name = EXCLUDED.name, role = EXCLUDED.role, grid = EXCLUDED.grid, \
             status = EXCLUDED.status, updated = EXCLUDED.updated",
        )?,
        patrol_log: client.prepare("INSERT INTO patrol_log (city, t, id, role, status) VALUES ($1, $2, $3, $4, $5)")?,
        incident: client.prepare(
            "INSERT INTO incidents (city, id, category, source, x, y, geom, grid, description, stage, opened, deadline, case_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb) ON CONFLICT (city, id) DO UPDATE SET \
             category = EXCLUDED.category, source = EXCLUDED.source, x = EXCLUDED.x, y = EXCLUDED.y, geom = EXCLUDED.geom, \
             grid = EXCLUDED.grid, description = EXCLUDED.description, stage = EXCLUDED.stage, opened = EXCLUDED.opened, \
             deadline = EXCLUDED.deadline, case_json = EXCLUDED.case_json",
        )?,
        transition: client.prepare(
            "INSERT INTO transitions (city, incident, n, from_stage, to_stage, action, actor, note, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )?,
        event: client.prepare(
            "INSERT INTO events (city, seq, at, kind, body) VALUES ($1, $2, $3, $4, $5::text::jsonb) \
             ON CONFLICT (city, seq) DO UPDATE SET at = EXCLUDED.at, kind = EXCLUDED.kind, body = EXCLUDED.body",
        )?,
        audit: client.prepare(
            "INSERT INTO audit (city, at, actor, role, address, action, target, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )?,
        keyframe: client.prepare(
            "INSERT INTO keyframes (city, t, seq, patrols, incidents) VALUES ($1, $2, $3, $4, $5::text::jsonb) \
             ON CONFLICT (city, t) DO UPDATE SET seq = EXCLUDED.seq, patrols = EXCLUDED.patrols, incidents = EXCLUDED.incidents",
        )?,
        kpis: client.prepare(
            "INSERT INTO kpi_log (city, t, body) VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (city, t) DO UPDATE SET body = EXCLUDED.body",
        )?,
        change: client.prepare("INSERT INTO changes (city, id, body) VALUES ($1, $2, $3::text::jsonb)")?,
        kpi_day: client.prepare(&format!(
            "INSERT INTO kpi_days (city, day, grid, closed_in, {}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (city, day, grid) DO UPDATE SET closed_in = kpi_days.closed_in + EXCLUDED.closed_in, {}",
            Tally::COLUMNS.join(", "),
            Tally::COLUMNS.map(|c| format!("{c} = kpi_days.{c} + EXCLUDED.{c}")).join(", ")
        ))?,
        kpi_all: client.prepare(&format!(
            "INSERT INTO kpi_all (city, grid, {}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (city, grid) DO UPDATE SET {}",
            Tally::COLUMNS.join(", "),
            Tally::COLUMNS.map(|c| format!("{c} = kpi_all.{c} + EXCLUDED.{c}")).join(", ")
        ))?,
        warning: client.prepare(
            "INSERT INTO warnings (city, id, kind, level, scope, category, since, closed, acked_by, acked, sentence, geom, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb) ON CONFLICT (city, id) DO UPDATE SET \
             kind = EXCLUDED.kind, level = EXCLUDED.level, scope = EXCLUDED.scope, category = EXCLUDED.category, \
             since = EXCLUDED.since, closed = EXCLUDED.closed, acked_by = EXCLUDED.acked_by, acked = EXCLUDED.acked, \
             sentence = EXCLUDED.sentence, geom = EXCLUDED.geom, body = EXCLUDED.body",
        )?,
        geometry,
    })
}

impl Store for PostgresStore {
    fn load(&mut self, from: LoadFrom) -> Result<Loaded, StoreError> {
        self.count_once(from.utc_offset_ms).map_err(|e| self.named(e))?;
        self.load_now(from).map_err(|e| self.named(e))
    }

    fn import(&mut self, incidents: &[IncidentRow], tally: &[DayTally]) -> Result<(), StoreError> {
        self.import_now(incidents, tally).map_err(|e| self.named(e))
    }

    fn take_over(&mut self) -> Result<(), StoreError> {
        let city = self.city.city.clone();
        let done =
            self.conn()?.0.query_one("UPDATE cities SET epoch = epoch + 1 WHERE city = $1 RETURNING epoch", &[&city]);
        let epoch: i64 = done.map_err(|e| self.fail(e))?.get(0);
        self.epoch = epoch;
        Ok(())
    }

    fn changes_after(&mut self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let city = self.city.city.clone();
        let limit = limit.min(100_000) as i64;
        let rows = self.conn()?.0.query(
            "SELECT body::text FROM changes WHERE city = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[&city, &(after as i64), &limit],
        );
        let rows = rows.map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|r| {
                let body: String = r.get(0);
                serde_json::from_str(&body).map_err(|e| StoreError::Damaged {
                    path: self.shown.clone().into(),
                    detail: format!("a change cannot be read back: {e}"),
                })
            })
            .collect()
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        let done = self.conn()?.0.simple_query("SELECT 1").map(|_| ());
        done.map_err(|e| self.fail(e))
    }

    fn write(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let days: HashSet<i64> = records
            .iter()
            .filter_map(|r| if let Record::Track(p) = r { Some(p) } else { None })
            .flatten()
            .map(|p| p.t_ms.div_euclid(DAY_MS))
            .collect();
        self.ensure_partitions(days)?;
        self.write_now(records).map_err(|e| self.named(e))
    }
}

impl PostgresStore {
    /// Names the database in an error made by `?` (which cannot know it), tells a lost
    /// connection (and forgets it) from a refused statement.
    fn named(&mut self, e: StoreError) -> StoreError {
        match e {
            StoreError::Postgres { source, .. } => self.fail(source),
            // Already named (connecting failed), or not the database's.
            e => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(shown_url("postgres://gw:s3cret@db.local:5432/gridwall"), "postgres://gw@db.local:5432/gridwall");
        assert_eq!(shown_url("postgres://db.local/gridwall"), "postgres://db.local/gridwall");
    }

    #[test]
    fn times_round_trip() {
        for ms in [-86_400_001, -1, 0, 1, 1_764_936_000_123] {
            assert_eq!(ms_of(time_of(ms)), ms);
        }
    }
}
