//! PostgreSQL 15 + PostGIS 3 as the store (`serve --store postgres://…`): the same records as
//! the embedded store, in tables that GIS tools read directly (`migrations/`, applied at start by
//! refinery). A commit is durable when it returns (`synchronous_commit = on`).
//!
//! * One database holds many cities; every row carries its city (the scene's name).
//! * Position fixes go in with `COPY … BINARY` (one row each, geometry as EWKB) into a table
//!   partitioned by day; the maintenance thread makes the coming days' partitions and drops
//!   those past the retention.
//! * Fencing: opening the store bumps the city's `epoch`; each transaction checks it, so a server
//!   that another one has taken over from writes nothing more ([`StoreError::Superseded`]).
//! * A lost connection fails the write in progress ([`StoreError::Unavailable`], 503 to the
//!   client) and is opened again by the next write once the database answers.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use super::{IncidentRow, Loaded, PatrolRow, Record, Store, StoreError, TrackPoint};
use crate::access::{AUDIT_KEPT, AuditEntry};
use crate::history::WINDOW_MS;
use crate::history::codec::{Fix, decode_keyframe};

mod embedded {
    refinery::embed_migrations!("migrations");
}

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

/// A point as EWKB (little-endian, with SRID): what PostGIS's binary input takes.
#[derive(Debug, Clone, Copy)]
struct Ewkb {
    srid: i32,
    x: f64,
    y: f64,
}

impl ToSql for Ewkb {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(&(1u32 | 0x2000_0000).to_le_bytes());
        out.extend_from_slice(&self.srid.to_le_bytes());
        out.extend_from_slice(&self.x.to_le_bytes());
        out.extend_from_slice(&self.y.to_le_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "geometry"
    }

    to_sql_checked!();
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

const DAY_MS: i64 = 86_400_000;

/// The partition of `fixes` holding day `day` (days since 1970).
fn partition_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("fixes_d{y:04}{m:02}{d:02}")
}

/// Year, month, day of a day number (days since 1970-01-01; Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl PostgresStore {
    /// Connects, applies the migrations and, with `take_over`, takes over writing `city`
    /// (bumping its epoch; servers on a bus take it over when they win the lease). A city
    /// stored with another CRS or origin is refused.
    pub fn open(url: &str, city: CityKey, take_over: bool) -> Result<Self, StoreError> {
        let shown = shown_url(url);
        let srid = city.srid().ok_or_else(|| StoreError::Crs { crs: city.crs.clone() })?;
        let mut client = connect(url, &shown)?;
        embedded::migrations::runner()
            .set_migration_table_name("gridwall_migrations")
            .run(&mut client)
            .map_err(|source| StoreError::Migrate { db: shown.clone(), source: Box::new(source) })?;
        let pg = |source| StoreError::Postgres { db: shown.clone(), source };
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

    /// Makes the day partitions of `fixes` that `days` need (each in its own short transaction,
    /// before the write that needs it; two servers making the same one is fine).
    fn ensure_partitions(&mut self, days: impl IntoIterator<Item = i64>) -> Result<(), StoreError> {
        let missing: Vec<i64> = days.into_iter().filter(|d| !self.days.contains(d)).collect();
        for day in missing {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF fixes FOR VALUES FROM ('{}') TO ('{}')",
                partition_name(day),
                iso_day(day),
                iso_day(day + 1)
            );
            let done = self.conn()?.0.batch_execute(&sql);
            match done {
                Ok(()) => {}
                // Made by another server meanwhile.
                Err(e) if e.code() == Some(&postgres::error::SqlState::DUPLICATE_TABLE) => {}
                Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => return Err(self.fail(e)),
            }
            self.days.insert(day);
        }
        Ok(())
    }

    fn write_now(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let (city, srid, [ox, oy], epoch) = (self.city.city.clone(), self.srid, self.city.origin, self.epoch);
        let (client, st) = self.conn()?;
        let mut tx = client.transaction()?;
        // Only the city's writer changes its shared state; fixes and audit entries are every
        // server's own.
        let shared = records.iter().any(|r| !matches!(r, Record::Track(_) | Record::Audit(_)));
        if shared {
            let now: i64 = tx.query_one(&st.fence, &[&city])?.get(0);
            if now != epoch {
                tx.rollback()?;
                return Err(StoreError::Superseded { city, ours: epoch, theirs: now });
            }
        }
        let mut fixes: Vec<&TrackPoint> = Vec::new();
        for record in records {
            match record {
                Record::Patrol(p) => {
                    let (id, at) = (p.id as i32, time_of(p.at_ms));
                    tx.execute(&st.patrol, &[&city, &id, &p.ext_id, &p.name, &p.role, &p.grid, &p.status, &at])?;
                    tx.execute(&st.patrol_log, &[&city, &at, &id, &p.role, &p.status])?;
                }
                Record::Incident(i) => {
                    let json = serde_json::to_string(&i.case).expect("a case serialises");
                    let geom = Ewkb { srid, x: i.x + ox, y: i.y + oy };
                    let deadline = i.case.deadline_ms.map(time_of);
                    tx.execute(
                        &st.incident,
                        &[
                            &city,
                            &(i.id as i64),
                            &i.category,
                            &i.source,
                            &i.x,
                            &i.y,
                            &geom,
                            &i.grid,
                            &i.description,
                            &i.case.stage.key(),
                            &time_of(i.case.created_ms),
                            &deadline,
                            &json,
                        ],
                    )?;
                    for (n, t) in i.case.timeline.iter().enumerate() {
                        tx.execute(
                            &st.transition,
                            &[
                                &city,
                                &(i.id as i64),
                                &(n as i32),
                                &t.from.key(),
                                &t.to.key(),
                                &t.action,
                                &t.actor,
                                &t.note,
                                &time_of(t.at_ms),
                            ],
                        )?;
                    }
                }
                Record::Event { seq, time_ms, json } => {
                    let kind = event_kind(json);
                    tx.execute(&st.event, &[&city, &(*seq as i64), &time_of(*time_ms), &kind, json])?;
                }
                Record::Track(points) => fixes.extend(points.iter()),
                Record::Audit(a) => {
                    tx.execute(
                        &st.audit,
                        &[&city, &time_of(a.t_ms), &a.actor, &a.role, &a.address, &a.action, &a.target, &a.outcome],
                    )?;
                }
                Record::Keyframe { t_ms, seq, patrols, incidents } => {
                    tx.execute(&st.keyframe, &[&city, &time_of(*t_ms), &(*seq as i64), patrols, incidents])?;
                }
                Record::Kpis { t_ms, json } => {
                    tx.execute(&st.kpis, &[&city, &time_of(*t_ms), json])?;
                }
                Record::Change(c) => {
                    let body = serde_json::to_string(c).expect("a change serialises");
                    tx.execute(&st.change, &[&city, &(c.id as i64), &body])?;
                }
            }
        }
        if !fixes.is_empty() {
            let sink = tx.copy_in("COPY fixes (city, patrol, t, geom) FROM STDIN BINARY")?;
            let mut w =
                BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT4, Type::TIMESTAMPTZ, st.geometry.clone()]);
            for p in fixes {
                let geom = Ewkb { srid, x: p.x + ox, y: p.y + oy };
                w.write(&[&city, &(p.patrol as i32), &time_of(p.t_ms), &geom])?;
            }
            w.finish()?;
        }
        tx.commit()?;
        Ok(())
    }

    fn load_now(&mut self, events: usize) -> Result<Loaded, StoreError> {
        let (city, [ox, oy]) = (self.city.city.clone(), self.city.origin);
        let shown = self.shown.clone();
        let (client, _) = self.conn()?;
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut out = Loaded::default();
        for r in
            tx.query("SELECT id, ext_id, name, role, grid, status FROM patrols WHERE city = $1 ORDER BY id", &[&city])?
        {
            out.patrols.push(PatrolRow {
                id: r.get::<_, i32>(0) as u32,
                ext_id: r.get(1),
                name: r.get(2),
                role: r.get(3),
                grid: r.get(4),
                status: r.get(5),
                at_ms: 0,
            });
        }
        for r in tx.query(
            "SELECT id, category, source, x, y, grid, description, case_json::text FROM incidents \
             WHERE city = $1 ORDER BY id",
            &[&city],
        )? {
            out.incidents.push(incident_row(&r).map_err(|source| StoreError::Damaged {
                path: shown.clone().into(),
                detail: format!("incident {} cannot be read back: {source}", r.get::<_, i64>(0)),
            })?);
        }
        for r in tx.query(
            "SELECT seq, at, body::text FROM (SELECT * FROM events WHERE city = $1 ORDER BY seq DESC LIMIT $2) e \
             ORDER BY seq",
            &[&city, &(events as i64)],
        )? {
            out.events.push((r.get::<_, i64>(0) as u64, ms_of(r.get(1)), r.get(2)));
        }
        for r in tx.query(
            "SELECT at, actor, role, address, action, target, outcome FROM \
             (SELECT * FROM audit WHERE city = $1 ORDER BY id DESC LIMIT $2) a ORDER BY id",
            &[&city, &(AUDIT_KEPT as i64)],
        )? {
            out.audit.push(AuditEntry {
                t_ms: ms_of(r.get(0)),
                actor: r.get(1),
                role: r.get(2),
                address: r.get(3),
                action: r.get(4),
                target: r.get(5),
                outcome: r.get(6),
            });
        }
        // Each patrol's newest fix: the last keyframe, then the fixes after the window before it
        // (a fix stamped before the keyframe may have arrived after it was written).
        let mut latest: rustc_hash::FxHashMap<u32, TrackPoint> = rustc_hash::FxHashMap::default();
        let kf = tx.query_opt("SELECT t, patrols FROM keyframes WHERE city = $1 ORDER BY t DESC LIMIT 1", &[&city])?;
        let after = match kf {
            Some(r) => {
                let t = ms_of(r.get(0)) - WINDOW_MS;
                let bytes: Vec<u8> = r.get(1);
                let patrols = decode_keyframe(&bytes).map_err(|e| StoreError::Damaged {
                    path: shown.clone().into(),
                    detail: format!("a keyframe: {e}"),
                })?;
                for p in patrols {
                    let [x, y] = Fix { t_ms: t, x_cm: p.x_cm, y_cm: p.y_cm }.metres();
                    latest.insert(p.id, TrackPoint { patrol: p.id, t_ms: t, x, y });
                }
                t
            }
            // No keyframe yet: every fix (the database holds none from before 1970).
            None => 0,
        };
        for r in tx.query(
            "SELECT DISTINCT ON (patrol) patrol, t, ST_X(geom), ST_Y(geom) FROM fixes \
             WHERE city = $1 AND t > $2 ORDER BY patrol, t DESC, n DESC",
            &[&city, &time_of(after)],
        )? {
            let patrol = r.get::<_, i32>(0) as u32;
            let t = ms_of(r.get(1));
            if latest.get(&patrol).is_none_or(|l| l.t_ms <= t) {
                let (x, y): (f64, f64) = (r.get(2), r.get(3));
                latest.insert(patrol, TrackPoint { patrol, t_ms: t, x: x - ox, y: y - oy });
            }
        }
        out.positions = latest.into_values().collect();
        out.positions.sort_by_key(|p| p.patrol);
        let change: Option<i64> = tx.query_one("SELECT max(id) FROM changes WHERE city = $1", &[&city])?.get(0);
        out.change_id = change.unwrap_or(0) as u64;
        tx.commit()?;
        Ok(out)
    }

    /// The earliest keyframe with the open incidents: where replay can start.
    pub fn earliest_keyframe(&mut self) -> Result<Option<i64>, StoreError> {
        let city = self.city.city.clone();
        let done = self
            .conn()?
            .0
            .query_one("SELECT min(t) FROM keyframes WHERE city = $1 AND incidents IS NOT NULL", &[&city]);
        let t: Option<SystemTime> = done.map_err(|e| self.fail(e))?.get(0);
        Ok(t.map(ms_of))
    }

    /// Makes the partitions of the coming days and drops those wholly before `before`; removes
    /// keyframes, logs and events older than it (the newest `keep_events` events stay: displays
    /// resume from them). What it removed: (partitions, rows).
    pub fn prune(&mut self, now_ms: i64, before: i64, keep_events: u64) -> Result<(usize, u64), StoreError> {
        let today = now_ms.div_euclid(DAY_MS);
        self.ensure_partitions([today, today + 1])?;
        let city = self.city.city.clone();
        let (client, _) = self.conn()?;
        let parts: Vec<String> = client
            .query(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'fixes'",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let edge_day = before.div_euclid(DAY_MS);
        let mut dropped = Vec::new();
        for name in parts {
            // Only whole days before the edge (the cities of one database share a retention).
            if let Some(day) = day_of_partition(&name)
                && day < edge_day
            {
                client.batch_execute(&format!("DROP TABLE IF EXISTS {name}"))?;
                dropped.push(day);
            }
        }
        for day in &dropped {
            self.days.remove(day);
        }
        let dropped = dropped.len();
        let (client, _) = self.conn()?;
        let mut tx = client.transaction()?;
        let t = time_of(before);
        let mut rows = 0;
        // A replay of `before` starts from the keyframe with the incidents before it.
        let kf: Option<SystemTime> = tx
            .query_one(
                "SELECT max(t) FROM keyframes WHERE city = $1 AND t <= $2 AND incidents IS NOT NULL",
                &[&city, &t],
            )?
            .get(0);
        let kf_edge = kf.map_or(t, |k| k.min(t));
        rows += tx.execute("DELETE FROM keyframes WHERE city = $1 AND t < $2", &[&city, &kf_edge])?;
        rows += tx.execute("DELETE FROM patrol_log WHERE city = $1 AND t < $2", &[&city, &t])?;
        rows += tx.execute(
            "DELETE FROM kpi_log WHERE city = $1 AND t < (SELECT max(t) FROM kpi_log WHERE city = $1 AND t <= $2)",
            &[&city, &t],
        )?;
        rows += tx.execute("DELETE FROM audit WHERE city = $1 AND at < $2", &[&city, &t])?;
        rows += tx.execute("DELETE FROM changes WHERE city = $1 AND at < $2", &[&city, &kf_edge])?;
        let newest: Option<i64> = tx.query_one("SELECT max(seq) FROM events WHERE city = $1", &[&city])?.get(0);
        if let Some(newest) = newest {
            rows += tx.execute(
                "DELETE FROM events WHERE city = $1 AND at < $2 AND seq <= $3",
                &[&city, &kf_edge, &(newest - keep_events as i64)],
            )?;
        }
        tx.commit()?;
        Ok((dropped, rows))
    }
}

/// Every minute until `shutdown`: the coming days' partitions, and pruning past the retention
/// (on a connection of its own; a database that is away is tried again a minute later).
pub fn spawn_pg_maintenance(
    url: String,
    city: CityKey,
    clock: crate::state::Clock,
    retention_ms: i64,
    keep_events: u64,
    shutdown: tokio::sync::watch::Receiver<bool>,
    earliest: std::sync::Arc<std::sync::atomic::AtomicI64>,
) {
    let run = move || {
        let mut store: Option<PostgresStore> = None;
        let mut last: Option<std::time::Instant> = None;
        while !*shutdown.borrow() {
            if last.is_none_or(|t| t.elapsed() >= Duration::from_mins(1)) {
                last = Some(std::time::Instant::now());
                if store.is_none() {
                    store = PostgresStore::attach(&url, city.clone())
                        .inspect_err(|e| tracing::warn!("history maintenance: {e}"))
                        .ok();
                }
                if let Some(s) = &mut store {
                    let now = clock.now_ms();
                    match s.prune(now, now - retention_ms, keep_events).map_err(|e| s.named(e)) {
                        Ok((parts, rows)) if parts + rows as usize > 0 => {
                            tracing::debug!(partitions = parts, rows, "history pruned");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("history maintenance: {e}"),
                    }
                    match s.earliest_keyframe() {
                        Ok(Some(t)) => earliest.store(t, std::sync::atomic::Ordering::Release),
                        Ok(None) => {}
                        Err(e) => tracing::debug!("history maintenance: {e}"),
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    std::thread::Builder::new()
        .name("gridwall-pg-maintenance".into())
        .spawn(run)
        .expect("spawn the maintenance thread");
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
        geometry,
    })
}

/// An incident from a row of `id, category, source, x, y, grid, description, case_json::text`.
pub(crate) fn incident_row(r: &postgres::Row) -> Result<IncidentRow, serde_json::Error> {
    Ok(IncidentRow {
        id: r.get::<_, i64>(0) as u64,
        category: r.get(1),
        source: r.get(2),
        x: r.get(3),
        y: r.get(4),
        grid: r.get(5),
        description: r.get(6),
        case: serde_json::from_str(r.get::<_, &str>(7))?,
    })
}

/// The kind of an event (its JSON's `event`, for analysts' queries), without parsing all of it.
fn event_kind(json: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "event", default)]
        kind: String,
    }
    serde_json::from_str::<Kind>(json).map(|k| k.kind).unwrap_or_default()
}

fn iso_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} 00:00:00+00")
}

/// The day of a partition named by [`partition_name`].
fn day_of_partition(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("fixes_d")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (digits[..4].parse().ok()?, digits[4..6].parse().ok()?, digits[6..].parse().ok()?);
    Some(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Store for PostgresStore {
    fn load(&mut self, events: usize) -> Result<Loaded, StoreError> {
        self.load_now(events).map_err(|e| self.named(e))
    }

    fn take_over(&mut self) -> Result<(), StoreError> {
        let city = self.city.city.clone();
        let done =
            self.conn()?.0.query_one("UPDATE cities SET epoch = epoch + 1 WHERE city = $1 RETURNING epoch", &[&city]);
        let epoch: i64 = done.map_err(|e| self.fail(e))?.get(0);
        self.epoch = epoch;
        Ok(())
    }

    fn changes_after(&mut self, after: u64, limit: usize) -> Result<Vec<crate::state::Change>, StoreError> {
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
    fn days_and_partition_names() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 12, 5), 20_792);
        assert_eq!(civil_from_days(20_792), (2026, 12, 5));
        for day in [-1000, 0, 59, 60, 20_792, 40_000] {
            assert_eq!(day_of_partition(&partition_name(day)), Some(day));
        }
        assert_eq!(partition_name(20_792), "fixes_d20261205");
        assert_eq!(day_of_partition("fixes_default"), None);
        assert_eq!(iso_day(20_792), "2026-12-05 00:00:00+00");
    }

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
