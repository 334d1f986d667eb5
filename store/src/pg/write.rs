//! Writing one group of records in one transaction: the rows of the shared state behind the
//! epoch fence, position fixes by `COPY … BINARY`.

use std::error::Error as StdError;

use bytes::BytesMut;
use std::fmt::Write as _;

use gridwall_city::ingest::format_time_ms;
use gridwall_city::records::{IncidentRow, Record, TrackPoint};
use gridwall_city::tally::DayTally;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::{PostgresStore, StoreError, time_of};
use crate::history::codec::encode_keyframe;

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

impl PostgresStore {
    pub(super) fn write_now(&mut self, records: &[Record]) -> Result<(), StoreError> {
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
                    tx.execute(
                        &st.keyframe,
                        &[&city, &time_of(*t_ms), &(*seq as i64), &encode_keyframe(patrols), incidents],
                    )?;
                }
                Record::Kpis { t_ms, json } => {
                    tx.execute(&st.kpis, &[&city, &time_of(*t_ms), json])?;
                }
                Record::Tally(rows) => write_tally(&mut tx, st, &city, rows)?,
                Record::Warning(w) => {
                    let body = serde_json::to_string(w).expect("a warning serialises");
                    let geom = w.place.map(|[x, y]| Ewkb { srid, x: x + ox, y: y + oy });
                    tx.execute(
                        &st.warning,
                        &[
                            &city,
                            &(w.id as i64),
                            &w.kind.key(),
                            &w.level.key(),
                            &w.scope,
                            &w.category.map(gridwall_protocol::IncidentCategory::key),
                            &time_of(w.since_ms),
                            &w.closed_ms.map(time_of),
                            &w.acked_by,
                            &w.acked_ms.map(time_of),
                            &w.sentence,
                            &geom,
                            &body,
                        ],
                    )?;
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
}

impl PostgresStore {
    /// Writes a past in bulk: incidents and their steps by `COPY … csv`, the KPI rows as usual,
    /// in one transaction (a year of a megacity in minutes, not hours of single inserts).
    pub(super) fn import_now(&mut self, incidents: &[IncidentRow], tally: &[DayTally]) -> Result<(), StoreError> {
        let (city, srid, [ox, oy]) = (self.city.city.clone(), self.srid, self.city.origin);
        let shown = self.shown.clone();
        let (client, st) = self.conn()?;
        let mut tx = client.transaction()?;
        let (mut rows, mut steps) = (String::new(), String::new());
        let q = csv_text;
        for i in incidents {
            let json = serde_json::to_string(&i.case).expect("a case serialises");
            let deadline = i.case.deadline_ms.map(format_time_ms).unwrap_or_default();
            let _ = writeln!(
                rows,
                "{},{},{},{},{},{},SRID={srid};POINT({} {}),{},{},{},{},{},{}",
                q(&city),
                i.id,
                q(&i.category),
                q(&i.source),
                i.x,
                i.y,
                i.x + ox,
                i.y + oy,
                q(&i.grid),
                q(&i.description),
                q(i.case.stage.key()),
                format_time_ms(i.case.created_ms),
                deadline,
                q(&json)
            );
            for (n, t) in i.case.timeline.iter().enumerate() {
                let _ = writeln!(
                    steps,
                    "{},{},{n},{},{},{},{},{},{}",
                    q(&city),
                    i.id,
                    q(t.from.key()),
                    q(t.to.key()),
                    q(&t.action),
                    q(&t.actor),
                    q(&t.note),
                    format_time_ms(t.at_ms)
                );
            }
        }
        let mut copy = |sql: &str, text: &str| -> Result<(), StoreError> {
            let mut w = tx.copy_in(sql)?;
            std::io::Write::write_all(&mut w, text.as_bytes())
                .map_err(|source| StoreError::Io { path: shown.clone().into(), source })?;
            w.finish()?;
            Ok(())
        };
        copy(
            "COPY incidents (city, id, category, source, x, y, geom, grid, description, stage, opened, deadline, case_json) \
             FROM STDIN (FORMAT csv)",
            &rows,
        )?;
        copy(
            "COPY transitions (city, incident, n, from_stage, to_stage, action, actor, note, at) FROM STDIN (FORMAT csv)",
            &steps,
        )?;
        write_tally(&mut tx, st, &city, tally)?;
        tx.commit()?;
        Ok(())
    }
}

/// A text as one quoted CSV field.
fn csv_text(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Adds KPI day rows to `kpi_days` and their sums to `kpi_all`.
pub(super) fn write_tally(
    tx: &mut postgres::Transaction,
    st: &super::Prepared,
    city: &str,
    rows: &[DayTally],
) -> Result<(), postgres::Error> {
    for r in rows {
        let day = i32::try_from(r.day).unwrap_or(i32::MAX);
        let c = r.tally.counters();
        let mut day_params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&city, &day, &r.grid, &r.closed_in];
        day_params.extend(c.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)));
        tx.execute(&st.kpi_day, &day_params)?;
        if !r.tally.is_zero() {
            let mut all_params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&city, &r.grid];
            all_params.extend(c.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)));
            tx.execute(&st.kpi_all, &all_params)?;
        }
    }
    Ok(())
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
