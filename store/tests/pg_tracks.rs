//! Tracks in PostgreSQL at province scale: the journal's closed minutes move into track chunks
//! (one row per patrol and minute, a few bytes a fix with the index), late fixes become further
//! parts, replay reads back every fix in order from chunks and journal alike, a restart finds
//! each patrol's newest fix, and the two track views still read as lines and points in the
//! scene's SRID. A real PostgreSQL 15 + PostGIS server is started for the test.

use gridwall_city::records::{PatrolRow, Record, TrackPoint};
use gridwall_store::history::source::Opener;
use gridwall_store::history::{WINDOW_MS, window_of};
use gridwall_store::{CityKey, LoadFrom, PostgresStore, Store};
use gridwall_testkit::now_ms;
use gridwall_testkit::postgres::TempPostgres;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PATROLS: u32 = 2_000;

fn city() -> CityKey {
    CityKey { city: "tracks".into(), crs: "EPSG:32635".into(), origin: [385_945.0, 6_672_301.0] }
}

/// Two minutes of every patrol walking (1.4 m/s, turning now and then), one fix a second, the
/// last of them ending three minutes ago.
fn walks(end: i64) -> Vec<TrackPoint> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut out = Vec::new();
    for patrol in 0..PATROLS {
        let (mut x, mut y) = (rng.random_range(-2000.0..2000.0), rng.random_range(-2000.0..2000.0));
        let mut heading: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        for s in 0..120 {
            if rng.random_bool(0.05) {
                heading += std::f64::consts::FRAC_PI_2;
            }
            x += 1.4 * heading.cos() + rng.random_range(-0.05..0.05);
            y += 1.4 * heading.sin() + rng.random_range(-0.05..0.05);
            out.push(TrackPoint { patrol, t_ms: end - 120_000 + s * 1000, x, y });
        }
    }
    out
}

fn rounded(p: &TrackPoint) -> (u32, i64, i64, i64) {
    (p.patrol, p.t_ms, (p.x * 100.0).round() as i64, (p.y * 100.0).round() as i64)
}

#[test]
fn tracks_move_into_chunks_and_read_back_whole() {
    let pg = TempPostgres::start();
    let mut store = PostgresStore::open(&pg.url(), city(), true).unwrap();
    let regs: Vec<Record> = (0..PATROLS)
        .map(|id| {
            Record::Patrol(PatrolRow {
                id,
                ext_id: format!("P-{id}"),
                name: format!("巡逻{id}"),
                role: "police".into(),
                grid: String::new(),
                status: "patrolling".into(),
                at_ms: 0,
            })
        })
        .collect();
    store.write(&regs).unwrap();
    let end = window_of(now_ms()) - 2 * WINDOW_MS;
    let fixes = walks(end);
    for batch in fixes.chunks(10_000) {
        store.write(&[Record::Track(batch.to_vec())]).unwrap();
    }
    let journal = |pg: &TempPostgres| pg.psql("gridwall", "SELECT count(*) FROM fixes").parse::<u64>().unwrap();
    assert_eq!(journal(&pg), fixes.len() as u64);

    // The minutes that are over move; a fix of the current minute stays in the journal.
    let fresh = TrackPoint { patrol: 7, t_ms: now_ms(), x: 1.0, y: 2.0 };
    store.write(&[Record::Track(vec![fresh])]).unwrap();
    let moved = store.compact(window_of(now_ms()) - WINDOW_MS).unwrap();
    assert_eq!(moved.fixes, fixes.len() as u64);
    assert_eq!(journal(&pg), 1, "only the current minute's fix is left");
    let chunks: u64 = pg.psql("gridwall", "SELECT count(*) FROM track_chunks").parse().unwrap();
    assert!(chunks >= u64::from(PATROLS) * 2 && chunks <= u64::from(PATROLS) * 3, "{chunks} chunks");

    // At province scale what counts is bytes a fix, indexes included.
    let bytes: f64 = pg
        .psql(
            "gridwall",
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'track_chunks'",
        )
        .parse()
        .unwrap();
    let per_fix = bytes / fixes.len() as f64;
    eprintln!("track chunks: {per_fix:.2} bytes a fix with indexes ({chunks} chunks)");
    assert!(per_fix <= 8.0, "{per_fix:.2} bytes a fix");

    // A late fix for a minute already moved becomes a further part of it.
    let late = TrackPoint { patrol: 3, t_ms: end - 30_500, x: 9.0, y: 9.0 };
    store.write(&[Record::Track(vec![late])]).unwrap();
    store.compact(window_of(now_ms()) - WINDOW_MS).unwrap();
    assert_eq!(
        pg.psql(
            "gridwall",
            &format!(
                "SELECT max(part) FROM track_chunks WHERE patrol = 3 AND t = to_timestamp({})",
                window_of(late.t_ms) / 1000
            )
        ),
        "1"
    );

    // Replay reads every fix back, chunks and journal alike, each patrol's in time order.
    let mut source = Opener::Postgres { url: pg.url(), city: city() }.open().unwrap();
    let got = source.fixes(end - 200_000, now_ms() + 1000, |_| true, 10_000_000).unwrap();
    let mut want: Vec<TrackPoint> = fixes.clone();
    want.extend([fresh, late]);
    let mut want: Vec<_> = want.iter().map(rounded).collect();
    want.sort_unstable();
    let mut back: Vec<_> = got
        .iter()
        .flat_map(|(&patrol, v)| {
            assert!(v.is_sorted_by_key(|f| f.t_ms));
            v.iter().map(move |f| (patrol, f.t_ms, f.x_cm, f.y_cm))
        })
        .collect();
    back.sort_unstable();
    assert_eq!(back, want);

    // A restart finds each patrol's newest fix, wherever it lies.
    store.write(&[Record::Keyframe { t_ms: end - 60_000, seq: 0, patrols: Vec::new(), incidents: None }]).unwrap();
    let loaded = store.load(LoadFrom::at(now_ms(), 0, 10)).unwrap();
    assert_eq!(loaded.positions.len(), PATROLS as usize);
    let newest = |patrol: u32| fixes.iter().rfind(|p| p.patrol == patrol).map(rounded);
    for p in &loaded.positions {
        let want = if p.patrol == 7 { rounded(&fresh) } else { newest(p.patrol).unwrap() };
        assert_eq!(rounded(p), want, "patrol {}", p.patrol);
    }

    // GIS tools: tracks as lines, positions as points, in the scene's SRID.
    let kinds = pg.psql(
        "gridwall",
        "SELECT DISTINCT ST_GeometryType(geom) || ':' || ST_SRID(geom) FROM patrol_tracks_hourly ORDER BY 1",
    );
    assert_eq!(kinds, "ST_LineString:32635");
    let fixes_in_views: u64 = pg.psql("gridwall", "SELECT sum(fixes) FROM patrol_tracks_hourly").parse().unwrap();
    assert_eq!(fixes_in_views, fixes.len() as u64 + 2);
    let positions = pg.psql(
        "gridwall",
        "SELECT count(*) || ':' || min(ST_GeometryType(geom)) || ':' || min(ST_SRID(geom)) FROM patrol_positions",
    );
    assert_eq!(positions, format!("{PATROLS}:ST_Point:32635"));
}
