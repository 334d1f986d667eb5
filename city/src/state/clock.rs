//! The server's clock.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The server's clock: wall time, optionally running faster (demos; tests of time limits).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_ms: i64,
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        let start_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Self { start: Instant::now(), start_ms, speed }
    }

    /// Server milliseconds per real millisecond.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn now_ms(&self) -> i64 {
        self.start_ms + (self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as i64
    }
}
