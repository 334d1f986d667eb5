//! Reading a city back at a restart: patrols, incidents, the newest events and audit entries,
//! each patrol's newest position, the newest change.

use gridwall_city::access::{AUDIT_KEPT, AuditEntry};
use gridwall_city::records::{IncidentRow, Loaded, PatrolRow, TrackPoint};

use gridwall_city::tally::{DayTally, Tally};

use super::{PostgresStore, StoreError, ms_of, time_of};
use crate::LoadFrom;
use crate::history::WINDOW_MS;
use crate::history::codec::{Fix, decode_keyframe};

impl PostgresStore {
    /// A city written before the KPI rows existed: its incidents counted into them once (in
    /// one transaction that holds the city's row: servers starting together count it once).
    pub(super) fn count_once(&mut self, utc_offset_ms: i64) -> Result<(), StoreError> {
        let city = self.city.city.clone();
        let shown = self.shown.clone();
        let (client, st) = self.conn()?;
        let mut tx = client.transaction()?;
        let done: bool = tx.query_one("SELECT kpi_counted FROM cities WHERE city = $1 FOR UPDATE", &[&city])?.get(0);
        if done {
            return Ok(());
        }
        let mut counted = gridwall_city::tally::DayRows::default();
        for r in tx.query("SELECT id, grid, case_json::text FROM incidents WHERE city = $1", &[&city])? {
            let case: gridwall_city::workflow::Case =
                serde_json::from_str(r.get::<_, &str>(2)).map_err(|e| StoreError::Damaged {
                    path: shown.clone().into(),
                    detail: format!("incident {} cannot be read back: {e}", r.get::<_, i64>(0)),
                })?;
            counted.add(r.get(1), &case, utc_offset_ms);
        }
        super::write::write_tally(&mut tx, st, &city, &counted.into_rows())?;
        tx.execute("UPDATE cities SET kpi_counted = true WHERE city = $1", &[&city])?;
        tx.commit()?;
        Ok(())
    }

    pub(super) fn load_now(&mut self, from: LoadFrom) -> Result<Loaded, StoreError> {
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
             WHERE city = $1 AND stage <> 'closed' ORDER BY id",
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
            &[&city, &(from.events as i64)],
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
        // The newest of each patrol's minutes moved into chunks since (a chunk's track ends at
        // its last fix) and of the journal's fixes (of one time, the journal's came later).
        for r in tx.query(
            "SELECT DISTINCT ON (patrol) patrol, t, x, y FROM ( \
               SELECT patrol, last_t AS t, ST_X(COALESCE(ST_EndPoint(geom), geom)) AS x, \
                      ST_Y(COALESCE(ST_EndPoint(geom), geom)) AS y, 0 AS src, part::bigint AS n \
               FROM track_chunks WHERE city = $1 AND t >= $2 AND last_t > $3 \
               UNION ALL \
               SELECT patrol, t, ST_X(geom), ST_Y(geom), 1, n FROM fixes WHERE city = $1 AND t > $3 \
             ) f ORDER BY patrol, t DESC, src DESC, n DESC",
            &[&city, &time_of(crate::history::window_of(after)), &time_of(after)],
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
        let max: Option<i64> = tx.query_one("SELECT max(id) FROM incidents WHERE city = $1", &[&city])?.get(0);
        out.max_incident = max.unwrap_or(0) as u64;
        let cols = Tally::COLUMNS.join(", ");
        for r in tx.query(&format!("SELECT grid, {cols} FROM kpi_all WHERE city = $1"), &[&city])? {
            out.tally_all.push((r.get(0), tally_at(&r, 1)));
        }
        let since = i32::try_from(from.since_day).unwrap_or(i32::MIN);
        for r in tx.query(
            &format!("SELECT day, grid, closed_in, {cols} FROM kpi_days WHERE city = $1 AND day >= $2"),
            &[&city, &since],
        )? {
            out.tally_days.push(DayTally {
                day: i64::from(r.get::<_, i32>(0)),
                grid: r.get(1),
                closed_in: r.get(2),
                tally: tally_at(&r, 3),
            });
        }
        let change: Option<i64> = tx.query_one("SELECT max(id) FROM changes WHERE city = $1", &[&city])?.get(0);
        out.change_id = change.unwrap_or(0) as u64;
        tx.commit()?;
        Ok(out)
    }
}

/// The tally in the [`Tally::COLUMNS`] of a row, starting at column `at`.
pub(crate) fn tally_at(r: &postgres::Row, at: usize) -> Tally {
    Tally::from_counters(std::array::from_fn(|i| r.get(at + i)))
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
