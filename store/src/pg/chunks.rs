//! Track chunks in PostgreSQL: the maintenance thread moves each minute that is over out of the
//! journal (`fixes`, one row a fix) into one row per patrol and minute: the fixes in the replay
//! codec (about three bytes each) and the minute's track simplified to a metre for GIS tools.
//! Each window moves in one `REPEATABLE READ` transaction, so a fix that arrives meanwhile stays in
//! the journal (the delete does not see it) and moves with the next round as a further part.

use std::error::Error as StdError;
use std::time::SystemTime;

use bytes::BytesMut;
use geo::{Coord, LineString, Simplify};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use rustc_hash::FxHashMap;

use super::{PostgresStore, StoreError, ms_of, time_of};
use crate::history::codec::{Fix, decode_chunk, encode_chunk};
use crate::history::maintain::Compacted;
use crate::history::{MAX_PARTS, WINDOW_MS, window_of};

/// How far a chunk's drawn track may stray from its fixes (metres).
const SIMPLIFY_M: f64 = 1.0;

/// A chunk's track as EWKB: a `Point` for one position, else a `LineString`.
#[derive(Debug)]
struct Track {
    srid: i32,
    coords: Vec<[f64; 2]>,
}

impl Track {
    fn of(srid: i32, origin: [f64; 2], fixes: &[Fix]) -> Self {
        let line: LineString<f64> = fixes
            .iter()
            .map(|f| {
                let [x, y] = f.metres();
                Coord { x: x + origin[0], y: y + origin[1] }
            })
            .collect();
        let mut coords: Vec<[f64; 2]> = line.simplify(SIMPLIFY_M).0.iter().map(|c| [c.x, c.y]).collect();
        coords.dedup();
        Self { srid, coords }
    }
}

impl ToSql for Track {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&[1]);
        let kind: u32 = if self.coords.len() == 1 { 1 } else { 2 };
        out.extend_from_slice(&(kind | 0x2000_0000).to_le_bytes());
        out.extend_from_slice(&self.srid.to_le_bytes());
        if kind == 2 {
            out.extend_from_slice(&(self.coords.len() as u32).to_le_bytes());
        }
        for c in &self.coords {
            out.extend_from_slice(&c[0].to_le_bytes());
            out.extend_from_slice(&c[1].to_le_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "geometry"
    }

    to_sql_checked!();
}

/// One patrol's part of a window, encoded.
struct Chunk {
    patrol: u32,
    part: i16,
    fixes: Vec<Fix>,
    data: Vec<u8>,
}

/// Writes chunks of window `w` by `COPY … BINARY`.
fn copy_chunks(
    tx: &mut postgres::Transaction,
    geometry: &Type,
    (city, srid, origin): (&str, i32, [f64; 2]),
    w: i64,
    chunks: &[Chunk],
) -> Result<(), postgres::Error> {
    let sink =
        tx.copy_in("COPY track_chunks (city, t, patrol, part, fixes, first_t, last_t, data, geom) FROM STDIN BINARY")?;
    let types = [
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::INT4,
        Type::INT2,
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::BYTEA,
        geometry.clone(),
    ];
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let window = time_of(w);
    for c in chunks {
        let (first, last) = (c.fixes.first().map_or(w, |f| f.t_ms), c.fixes.last().map_or(w, |f| f.t_ms));
        writer.write(&[
            &city,
            &window,
            &(c.patrol as i32),
            &c.part,
            &(c.fixes.len() as i32),
            &time_of(first),
            &time_of(last),
            &c.data,
            &Track::of(srid, origin, &c.fixes),
        ])?;
    }
    writer.finish()?;
    Ok(())
}

impl PostgresStore {
    /// Writes a window's chunks straight (a benchmark's generated history: `bench-history
    /// --store`), each patrol's fixes sorted by time, in one transaction.
    pub fn import_chunks(&mut self, window_ms: i64, patrols: &[(u32, Vec<Fix>)]) -> Result<(), StoreError> {
        self.ensure_partitions([window_ms.div_euclid(super::days::DAY_MS)])?;
        let (city, srid, origin) = (self.city.city.clone(), self.srid, self.city.origin);
        let chunks: Vec<Chunk> = patrols
            .iter()
            .map(|(patrol, fixes)| Chunk {
                patrol: *patrol,
                part: 0,
                data: encode_chunk(window_ms, fixes),
                fixes: fixes.clone(),
            })
            .collect();
        let (client, st) = self.conn()?;
        let mut tx = client.transaction()?;
        copy_chunks(&mut tx, &st.geometry, (&city, srid, origin), window_ms, &chunks)?;
        tx.commit()?;
        Ok(())
    }

    /// Moves every journal fix before `cutoff` into track chunks, one window at a time.
    pub fn compact(&mut self, cutoff: i64) -> Result<Compacted, StoreError> {
        let mut done = Compacted::default();
        while let Some(c) = self.compact_window(cutoff)? {
            done.fixes += c.fixes;
            done.chunks += c.chunks;
            done.chunk_bytes += c.chunk_bytes;
            done.journal_entries += c.journal_entries;
        }
        Ok(done)
    }

    /// Moves the oldest window before `cutoff`; `None` when there is none.
    fn compact_window(&mut self, cutoff: i64) -> Result<Option<Compacted>, StoreError> {
        let (city, srid, origin) = (self.city.city.clone(), self.srid, self.city.origin);
        let shown = self.shown.clone();
        let (client, st) = self.conn()?;
        let mut tx = client.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
        // Every server of a city runs this: one at a time moves its minutes, the others find
        // them moved.
        let ours: bool =
            tx.query_one("SELECT pg_try_advisory_xact_lock(hashtext('gridwall compact ' || $1))", &[&city])?.get(0);
        if !ours {
            return Ok(None);
        }
        let oldest: Option<SystemTime> =
            tx.query_one("SELECT min(t) FROM fixes WHERE city = $1 AND t < $2", &[&city, &time_of(cutoff)])?.get(0);
        let Some(oldest) = oldest else { return Ok(None) };
        let w = window_of(ms_of(oldest));
        let end = time_of(cutoff.min(w + WINDOW_MS));
        // Each patrol's fixes of the window, in patrol order (as the rows come).
        let mut groups: Vec<(u32, Vec<Fix>)> = Vec::new();
        let mut rows = tx.query_raw(
            "SELECT patrol, t, ST_X(geom), ST_Y(geom) FROM fixes WHERE city = $1 AND t < $2 ORDER BY patrol, t, n",
            [&city as &(dyn ToSql + Sync), &end],
        )?;
        while let Some(r) = rows.next()? {
            let patrol = r.get::<_, i32>(0) as u32;
            let (x, y): (f64, f64) = (r.get(2), r.get(3));
            let fix = Fix::from_metres(ms_of(r.get(1)), x - origin[0], y - origin[1]);
            match groups.last_mut() {
                Some((p, fixes)) if *p == patrol => fixes.push(fix),
                _ => groups.push((patrol, vec![fix])),
            }
        }
        drop(rows);
        let window = time_of(w);
        // Parts already moved for this window (late fixes): the next part, or all merged.
        let mut next_part: FxHashMap<u32, i16> = FxHashMap::default();
        for r in tx.query(
            "SELECT patrol, max(part) FROM track_chunks WHERE city = $1 AND t = $2 GROUP BY patrol",
            &[&city, &window],
        )? {
            next_part.insert(r.get::<_, i32>(0) as u32, r.get::<_, i16>(1) + 1);
        }
        let mut done = Compacted::default();
        let mut chunks = Vec::with_capacity(groups.len());
        for (patrol, mut fixes) in groups {
            let mut part = next_part.get(&patrol).copied().unwrap_or(0);
            if i64::from(part) >= MAX_PARTS {
                let mut all = Vec::new();
                for r in tx.query(
                    "DELETE FROM track_chunks WHERE city = $1 AND t = $2 AND patrol = $3 RETURNING data",
                    &[&city, &window, &(patrol as i32)],
                )? {
                    decode_chunk(w, r.get(0), &mut all)
                        .map_err(|e| StoreError::Damaged { path: shown.clone().into(), detail: e.to_string() })?;
                }
                all.append(&mut fixes);
                fixes = all;
                part = 0;
            }
            fixes.sort_by_key(|f| f.t_ms);
            let data = encode_chunk(w, &fixes);
            done.fixes += fixes.len() as u64;
            done.chunks += 1;
            done.chunk_bytes += data.len() as u64;
            chunks.push(Chunk { patrol, part, fixes, data });
        }
        copy_chunks(&mut tx, &st.geometry, (&city, srid, origin), w, &chunks)?;
        done.journal_entries = tx.execute("DELETE FROM fixes WHERE city = $1 AND t < $2", &[&city, &end])?;
        tx.commit()?;
        Ok(Some(done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_drawn_as_a_line_within_a_metre_or_a_point() {
        let walk: Vec<Fix> =
            (0..60).map(|i| Fix::from_metres(i * 1000, f64::from(i as i32) * 1.4, 0.02 * (i % 2) as f64)).collect();
        let t = Track::of(32635, [1000.0, 2000.0], &walk);
        assert_eq!(t.coords.len(), 2, "a straight walk is two points: {:?}", t.coords);
        assert!((t.coords[1][0] - 1082.6).abs() < 1e-9 && (t.coords[1][1] - 2000.02).abs() < 1e-9, "{:?}", t.coords);
        let still = vec![Fix::from_metres(0, 5.0, 5.0); 30];
        assert_eq!(Track::of(32635, [0.0, 0.0], &still).coords, vec![[5.0, 5.0]]);
        let mut b = BytesMut::new();
        Track::of(4326, [0.0, 0.0], &still).to_sql(&Type::BYTEA, &mut b).unwrap();
        assert_eq!(b.len(), 1 + 4 + 4 + 16, "a point");
    }
}
