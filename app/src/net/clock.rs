//! The server's clock as this display knows it: read from ping round trips (or, until the first
//! pong, from frames' time stamps), followed at the server's clock rate, and the replay shown
//! instead of live.

use bevy::prelude::*;
use gridwall_protocol::wall::WallReplay;

/// The server's clock as this display knows it: from ping round trips (a reading of the
/// server's clock taken from the quickest recent round trip, followed at the server's clock rate
/// — a demo server may run faster than real time), or, until the first pong, from the time stamps
/// of frames.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq)]
pub struct ServerClock {
    reading: Option<Reading>,
    /// The last frame's time stamp and when it was seen (seconds of [`Time`]).
    frame: Option<(i64, f32)>,
    /// Server milliseconds per real millisecond, as the server said (0 until it did: 1).
    rate: f64,
    /// The replay shown instead of live (from the server's `timeline`), if any.
    replay: Option<WallReplay>,
}

/// The server's clock read at one moment of this machine's.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    /// Both clocks, in ms since the Unix epoch.
    server: f64,
    local: f64,
    /// The round trip it was measured with (ms; grows as the reading ages).
    round_trip: f64,
}

impl ServerClock {
    /// The server said it was `time_ms` at `elapsed_s` (seconds of [`Time`]).
    pub fn set(&mut self, time_ms: i64, elapsed_s: f32) {
        self.frame = Some((time_ms, elapsed_s));
    }

    /// Server milliseconds per real millisecond (1 until the server said).
    pub fn rate(&self) -> f64 {
        if self.rate > 0.0 { self.rate } else { 1.0 }
    }

    /// A ping's round trip: the server's clock read `server_ms` at about `local_ms` here (the
    /// round trip's middle). Keeps the reading of the quickest one (a slow round trip says less
    /// about when the server answered); older readings age, so the clock follows drift.
    pub fn sync(&mut self, server_ms: f64, local_ms: f64, rtt_ms: f64, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.rate = rate;
        }
        let keep = self.reading.is_some_and(|r| r.round_trip * 1.05 + 0.5 < rtt_ms);
        if keep {
            if let Some(r) = &mut self.reading {
                r.round_trip *= 1.05;
            }
        } else {
            self.reading = Some(Reading { server: server_ms, local: local_ms, round_trip: rtt_ms });
        }
    }

    /// The server's time now (ms since the Unix epoch), once a pong or a frame has told it.
    pub fn now_ms(&self, elapsed_s: f32) -> Option<i64> {
        self.at_local(local_ms() as f64, elapsed_s)
    }

    fn at_local(&self, local: f64, elapsed_s: f32) -> Option<i64> {
        match (self.reading, self.frame) {
            (Some(r), _) => Some((r.server + (local - r.local) * self.rate()).round() as i64),
            (None, Some((t, seen))) => Some(t + (f64::from(elapsed_s - seen) * 1000.0 * self.rate()) as i64),
            (None, None) => None,
        }
    }

    /// The time the display shows: the server's now, or during a replay the replay's time.
    /// Countdowns, overdue marks and the HUD clock follow it.
    pub fn shown_ms(&self, elapsed_s: f32) -> Option<i64> {
        let now = self.now_ms(elapsed_s)?;
        Some(self.replay.map_or(now, |r| r.at(now)))
    }

    /// The replay shown, if any.
    pub fn replay(&self) -> Option<WallReplay> {
        self.replay
    }

    /// The server said what time the display shows (`None`: live).
    pub fn set_replay(&mut self, replay: Option<WallReplay>) {
        self.replay = replay;
    }

    /// The round trip the reading was taken with (ms), once pinged.
    pub fn round_trip_ms(&self) -> Option<f64> {
        self.reading.map(|r| r.round_trip)
    }
}

/// This machine's clock (ms since the Unix epoch).
#[cfg(not(target_arch = "wasm32"))]
pub fn local_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The page's clock (ms since the Unix epoch; a browser has no `SystemTime`).
#[cfg(target_arch = "wasm32")]
pub fn local_ms() -> i64 {
    js_sys::Date::now() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_clock_follows_its_rate_and_the_quickest_round_trip() {
        let mut c = ServerClock::default();
        assert_eq!(c.at_local(0.0, 0.0), None);
        // Until a pong: the frames' time stamps, at real time.
        c.set(5_000, 1.0);
        assert_eq!(c.at_local(0.0, 3.0), Some(7_000));
        // A demo server thirty times faster than real time, read at local 1,000 ms.
        c.sync(1_000_000.0, 1_000.0, 4.0, 30.0);
        assert_eq!(c.at_local(3_000.0, 0.0), Some(1_060_000), "two real seconds are a minute there");
        // A slower round trip does not replace the reading; a quick one does.
        c.sync(2_000_000.0, 2_000.0, 40.0, 30.0);
        assert_eq!(c.at_local(3_000.0, 0.0), Some(1_060_000));
        c.sync(1_100_000.0, 4_000.0, 3.0, 30.0);
        assert_eq!(c.at_local(5_000.0, 0.0), Some(1_130_000));
        assert_eq!(c.round_trip_ms(), Some(3.0));
    }
}
