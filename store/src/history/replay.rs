//! Replay for one display: the city at a moment of the past, then, as replay time runs at the
//! chosen speed, what changed — the same snapshot and delta messages as live, so a display
//! needs no second code path.
//!
//! A [`Replay`] keeps the [`City`] at its replay time and the fixes of the window it is in
//! (one minute, loaded when it enters it); each step hands out the patrols that moved, changed
//! status, the events and KPIs of the time that passed. A step of more than [`JUMP_WINDOWS`]
//! windows starts again from the keyframe before the new time (a snapshot instead of a delta).

use gridwall_protocol::{Event, Kpis};
use rustc_hash::FxHashMap;

use crate::history::city::City;
use crate::history::codec::Fix;
use crate::history::source::Source;
use crate::history::{HistoryError, WINDOW_MS, window_of};

/// Steps longer than this many windows jump (600× at 10 ticks a second steps one window a tick).
pub const JUMP_WINDOWS: i64 = 10;

/// The speeds a display may ask for (replay ms per server ms); 0 pauses.
pub const MAX_SPEED: f64 = 3_600.0;

/// What one step of replay time changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Patrols at a new position.
    pub moved: Vec<u32>,
    /// Patrols whose role or status changed (or that were registered).
    pub changed: Vec<u32>,
    pub events: Vec<Event>,
    pub kpis: Option<Kpis>,
    /// The step jumped: the display needs a fresh snapshot of [`Replay::city`].
    pub jumped: bool,
}

/// One display's replay.
#[derive(Debug)]
pub struct Replay {
    src: Source,
    pub city: City,
    pub speed: f64,
    /// Replay time `at_ms` was at server time `server_ms`.
    anchor: (i64, i64),
    /// The window whose fixes are loaded, and per patrol its fixes and how many are played.
    window: Option<i64>,
    fixes: FxHashMap<u32, (Vec<Fix>, usize)>,
    /// The display's viewport (local metres), if it does not see the whole city.
    view: Option<[f64; 4]>,
}

/// How far a patrol may get in one window (2 km a minute: a car at 120 km/h). Patrols further
/// than that from a viewport at a window's start cannot enter it during the window: their fixes
/// are not decoded, and they move with the keyframes (each window's) only.
pub const VIEW_MARGIN_M: f64 = 2_000.0;

impl Replay {
    /// Starts a replay of `at_ms` at `speed`, at server time `server_ms`.
    pub fn open(mut src: Source, at_ms: i64, speed: f64, server_ms: i64) -> Result<Self, HistoryError> {
        let city = City::at(&mut src, at_ms)?;
        Ok(Self { src, city, speed, anchor: (server_ms, at_ms), window: None, fixes: FxHashMap::default(), view: None })
    }

    /// Only this viewport (local metres) needs exact positions from now on (`None`: the whole
    /// city). Patrols outside it and its margin move a keyframe at a time; a display that
    /// changes its viewport gets its snapshot from [`Replay::refresh`].
    pub fn set_view(&mut self, view: Option<[f64; 4]>) {
        self.view = view;
        self.window = None;
    }

    /// Rebuilds the city exactly at the replay's time (after a change of viewport).
    pub fn refresh(&mut self) -> Result<(), HistoryError> {
        self.city = City::at(&mut self.src, self.city.t_ms)?;
        self.window = None;
        Ok(())
    }

    /// The replay time now.
    pub fn at_ms(&self) -> i64 {
        self.city.t_ms
    }

    /// Replay time `at` was at server time `server`.
    pub fn anchor(&self) -> (i64, i64) {
        self.anchor
    }

    /// Where replay time should be at server time `server_ms`.
    pub fn target(&self, server_ms: i64) -> i64 {
        let (server, at) = self.anchor;
        at.saturating_add(((server_ms - server) as f64 * self.speed) as i64)
    }

    /// Runs replay time on to `to` (never back).
    pub fn advance(&mut self, to: i64) -> Result<Changes, HistoryError> {
        // One snapshot of the store for the whole step (see `history::snapshot`).
        self.src.begin()?;
        let out = self.advance_now(to);
        self.src.end()?;
        out
    }

    fn advance_now(&mut self, to: i64) -> Result<Changes, HistoryError> {
        let from = self.city.t_ms;
        let mut out = Changes::default();
        if to <= from {
            return Ok(out);
        }
        if window_of(to) > window_of(from) + JUMP_WINDOWS * WINDOW_MS {
            self.city = City::at(&mut self.src, to)?;
            self.window = None;
            out.jumped = true;
            return Ok(out);
        }
        for c in self.src.patrol_changes(from, to)? {
            self.city.change_patrol(&c);
            out.changed.push(c.id);
        }
        let mut w = window_of(from + 1);
        while w <= to {
            if self.window != Some(w) {
                self.load(w, from)?;
            }
            for (&id, (fixes, played)) in &mut self.fixes {
                let n = fixes[*played..].partition_point(|f| f.t_ms <= to);
                if n > 0 {
                    *played += n;
                    self.city.move_patrol(id, fixes[*played - 1]);
                    out.moved.push(id);
                }
            }
            w += WINDOW_MS;
        }
        out.moved.sort_unstable();
        out.moved.dedup();
        out.events = self.src.events_between(from, to)?;
        for e in &out.events {
            self.city.apply(e);
        }
        out.kpis = self.src.kpis_between(from, to)?;
        if let Some(k) = out.kpis {
            self.city.kpis = k;
        }
        self.city.t_ms = to;
        Ok(out)
    }

    /// Loads the fixes of window `w`, those up to `played_to` counted as played: of every patrol,
    /// or with a viewport, of the patrols that can reach it during the window (the others take
    /// their position from the window's keyframe).
    fn load(&mut self, w: i64, played_to: i64) -> Result<(), HistoryError> {
        let mut near: Option<rustc_hash::FxHashSet<u32>> = None;
        if let Some([x0, y0, x1, y1]) = self.view {
            let m = VIEW_MARGIN_M;
            let inside = |f: Option<Fix>| {
                f.is_some_and(|f| {
                    let [x, y] = f.metres();
                    x >= x0 - m && x <= x1 + m && y >= y0 - m && y <= y1 + m
                })
            };
            if let Some(kf) = self.src.keyframe_at_or_before(w + WINDOW_MS - 1)?
                && kf.t_ms >= w - WINDOW_MS
            {
                // Patrols outside the margin (none of them on screen) move with the keyframes;
                // those inside it were played exactly and stay so.
                for p in &kf.patrols {
                    let fix = Fix { t_ms: kf.t_ms - WINDOW_MS, x_cm: p.x_cm, y_cm: p.y_cm };
                    if let Some(c) = self.city.patrols.get_mut(&p.id)
                        && !inside(c.fix)
                    {
                        c.fix = Some(fix);
                    }
                }
            }
            near = Some(self.city.patrols.iter().filter(|(_, p)| inside(p.fix)).map(|(id, _)| *id).collect());
        }
        let only = |p: u32| near.as_ref().is_none_or(|n| n.contains(&p));
        let fixes = self.src.fixes(w - 1, w + WINDOW_MS - 1, only, usize::MAX)?;
        self.fixes = fixes
            .into_iter()
            .map(|(id, v)| {
                let played = v.partition_point(|f| f.t_ms <= played_to);
                (id, (v, played))
            })
            .collect();
        self.window = Some(w);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteStore, Store as _};
    use gridwall_city::records::{KeyPatrol, Record, TrackPoint};
    use gridwall_protocol::{PatrolRole, PatrolStatus};

    #[test]
    fn a_viewport_replay_plays_nearby_patrols_exactly_and_moves_far_ones_by_keyframe() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let t0 = 1_790_000_000_000 - 1_790_000_000_000 % (10 * WINDOW_MS);
        // Patrol 0 walks east through the viewport; patrol 1 walks far away (8 km off).
        let at = |p: u32, s: i64| TrackPoint {
            patrol: p,
            t_ms: t0 + s * 1000,
            x: f64::from(p) * 8_000.0 + 1.25 * s as f64 - 50.0,
            y: f64::from(p) * 8_000.0,
        };
        for s in 0..240 {
            store.write(&[Record::Track(vec![at(0, s), at(1, s)])]).unwrap();
        }
        for m in 0..4 {
            let key: Vec<KeyPatrol> = (0..2)
                .map(|p| {
                    let f = Fix::from_metres(0, at(p, m * 60).x, at(p, m * 60).y);
                    KeyPatrol {
                        id: p,
                        role: PatrolRole::Police,
                        status: PatrolStatus::Patrolling,
                        x_cm: f.x_cm,
                        y_cm: f.y_cm,
                    }
                })
                .collect();
            store
                .write(&[Record::Keyframe {
                    t_ms: t0 + m * WINDOW_MS,
                    seq: 0,
                    patrols: key,
                    incidents: (m == 0).then(|| "[]".to_owned()),
                }])
                .unwrap();
        }
        let mut conn = rusqlite::Connection::open(store.path()).unwrap();
        crate::history::maintain::compact(&mut conn, t0 + 3 * WINDOW_MS).unwrap();
        let src = crate::history::source::Opener::Sqlite(store.path().to_owned()).open().unwrap();
        let mut r = Replay::open(src, t0 + 1_000, 60.0, 0).unwrap();
        r.set_view(Some([-100.0, -100.0, 100.0, 100.0]));
        let mut moved_far = false;
        for k in 1..=20 {
            let to = t0 + 1_000 + k * 10_000;
            let c = r.advance(to).unwrap();
            moved_far |= c.moved.contains(&1);
            let s = (to - t0) / 1000;
            let near = r.city.patrols[&0].fix.unwrap().metres();
            assert_eq!(near, [at(0, s).x, at(0, s).y], "the patrol in view is exact at {s} s");
        }
        assert!(!moved_far, "the far patrol's fixes are not played");
        // It moved with the keyframes all the same (the one of minute 3 at least).
        let far = r.city.patrols[&1].fix.unwrap().metres();
        assert_eq!(far, [at(1, 180).x, at(1, 180).y]);
        // A new viewport over it: exact again.
        r.set_view(Some([7_900.0, 7_900.0, 8_300.0, 8_100.0]));
        r.refresh().unwrap();
        assert_eq!(r.city.patrols[&1].fix.unwrap().metres(), [at(1, 201).x, at(1, 201).y]);
    }
}
