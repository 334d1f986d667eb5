//! Replay for one display: the city at a moment of the past, then, as replay time runs at the
//! chosen speed, what changed — the same snapshot and delta messages as live, so a display
//! needs no second code path.
//!
//! A [`Replay`] keeps the [`City`] at its replay time and the fixes of the window it is in
//! (one minute, loaded when it enters it); each step hands out the patrols that moved, changed
//! status, the events and KPIs of the time that passed. A step of more than [`JUMP_WINDOWS`]
//! windows starts again from the keyframe before the new time (a snapshot instead of a delta).

use std::path::Path;

use gridwall_protocol::{Event, Kpis};
use rusqlite::Connection;
use rustc_hash::FxHashMap;

use crate::history::city::City;
use crate::history::codec::Fix;
use crate::history::{HistoryError, WINDOW_MS, open_reader, reader, window_of};

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
    conn: Connection,
    pub city: City,
    pub speed: f64,
    /// Replay time `at_ms` was at server time `server_ms`.
    anchor: (i64, i64),
    /// The window whose fixes are loaded, and per patrol its fixes and how many are played.
    window: Option<i64>,
    fixes: FxHashMap<u32, (Vec<Fix>, usize)>,
}

impl Replay {
    /// Starts a replay of `at_ms` at `speed`, at server time `server_ms`.
    pub fn open(path: &Path, at_ms: i64, speed: f64, server_ms: i64) -> Result<Self, HistoryError> {
        let conn = open_reader(path)?;
        let city = City::at(&conn, at_ms)?;
        Ok(Self { conn, city, speed, anchor: (server_ms, at_ms), window: None, fixes: FxHashMap::default() })
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
        self.conn.execute_batch("SAVEPOINT history_read")?;
        let out = self.advance_now(to);
        self.conn.execute_batch("RELEASE history_read")?;
        out
    }

    fn advance_now(&mut self, to: i64) -> Result<Changes, HistoryError> {
        let from = self.city.t_ms;
        let mut out = Changes::default();
        if to <= from {
            return Ok(out);
        }
        if window_of(to) > window_of(from) + JUMP_WINDOWS * WINDOW_MS {
            self.city = City::at(&self.conn, to)?;
            self.window = None;
            out.jumped = true;
            return Ok(out);
        }
        for c in reader::patrol_changes(&self.conn, from, to)? {
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
        out.events = reader::events_between(&self.conn, from, to)?;
        for e in &out.events {
            self.city.apply(e);
        }
        out.kpis = reader::kpis_between(&self.conn, from, to)?;
        if let Some(k) = out.kpis {
            self.city.kpis = k;
        }
        self.city.t_ms = to;
        Ok(out)
    }

    /// Loads the fixes of window `w`, those up to `played_to` counted as played.
    fn load(&mut self, w: i64, played_to: i64) -> Result<(), HistoryError> {
        let fixes = reader::fixes(&self.conn, w - 1, w + WINDOW_MS - 1, |_| true, usize::MAX)?;
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
